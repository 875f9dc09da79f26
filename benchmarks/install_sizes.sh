#!/usr/bin/env bash
# Time and size of each install in a fresh venv (benchmarks/RESULTS.md, "Install times and sizes").
# Run from the repository root: bash benchmarks/install_sizes.sh [light hf train dev]
set -u
repo=$(pwd)
measure() {  # name, pip arguments...
  name=$1; shift
  venv=$(mktemp -d)/venv
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
  start=$(date +%s)
  "$venv/bin/pip" install -q --no-cache-dir "$@" >"$venv.pip.log" 2>&1
  rc=$?
  echo "$name rc=$rc seconds=$(( $(date +%s) - start )) size=$(du -sh "$venv" | cut -f1) (log $venv.pip.log)"
}
for which in "${@:-light hf train}"; do
  for w in $which; do
    case $w in
      light) measure light -e "$repo" ;;
      hf) measure hf torch==2.13.0 -e "$repo[hf]" ;;
      train) measure train torch==2.13.0 -e "$repo[train]" ;;
      dev) measure dev torch==2.13.0 -e "$repo[dev]" ;;
    esac
  done
done
