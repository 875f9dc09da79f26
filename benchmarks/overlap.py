"""Train/eval overlap among the shared data sets (issue 15), through `harness overlap` itself.

For each training side (wizard101's training/mega_train.json and
training/combined_train.json, and the guardreasoner_test_5k task that the
retraining loop samples its prompts from) it runs

    harness overlap --train SIDE --eval EVERY_TASK --threshold 0.8 --json --quiet

as a subprocess and tabulates the exact and near-duplicate overlaps per eval task.

    HARNESS_DATA_DIR=../shared/data python benchmarks/overlap.py [--threshold 0.8] [--no-write]

Writes its figures to benchmarks/RESULTS.md (section "Train/eval overlap").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from results_md import write_section  # noqa: E402

SECTION = "## Train/eval overlap among the shared sets (issue 15)"
TRAIN_FILES = ("wizard101/training/mega_train.json", "wizard101/training/combined_train.json")
TRAIN_TASKS = ("guardreasoner_test_5k",)


def harness(*args) -> str:
    out = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=REPO, check=False)
    if out.returncode:
        sys.exit(f"harness {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def eval_tasks() -> list[str]:
    """Every registered task whose data is in the data directory."""
    return [row["task"] for row in json.loads(harness("tasks", "--json")) if row["n"]]


def measure(train: str, tasks: list[str], threshold: float, ngram: int) -> tuple[list[str], list[dict], float]:
    cmd = ["overlap", "--train", train, "--eval", ",".join(t for t in tasks if t != train),
           "--threshold", str(threshold), "--ngram", str(ngram), "--json", "--quiet"]
    start = time.perf_counter()
    reports = json.loads(harness(*cmd))
    return cmd, reports, time.perf_counter() - start


def render(results, reverse, tasks, threshold, ngram, data_dir) -> str:
    lines = [SECTION, "",
             f"Machine: 2-core CPU (development machine). Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
             f"datasketch MinHash LSH, 128 permutations, word {ngram}-gram shingles. Data: `HARNESS_DATA_DIR={data_dir}`.",
             "Command (`python benchmarks/overlap.py` runs it once per training side):", ""]
    for cmd, _, seconds in results:
        shown = ["$TASKS" if prev == "--eval" else c.replace(data_dir, "$HARNESS_DATA_DIR")
                 for prev, c in zip([""] + cmd, cmd)]
        lines.append(f"    harness {' '.join(shown)}    # {seconds:.1f} s")
    lines += ["", f"TASKS = every task with data (`harness tasks`), less the training side itself: "
              f"{', '.join(tasks)}.", "",
              "Texts are compared after NFKC, case-folding, removing punctuation (Unicode P*) and collapsing "
              "whitespace. *exact*: eval items whose normalised prompt is on the training side (*distinct*: how many "
              f"different texts those are). *near*: further eval items with a training prompt at Jaccard >= {threshold} "
              f"on word {ngram}-grams (LSH candidates checked exactly). Only pairs with some overlap are listed.", "",
              "| training side | eval task | eval items | distinct | exact | exact distinct | near | overlapping |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    clean = {}
    for cmd, reports, _ in results:
        train = reports[0]["train"]
        short = train.replace(data_dir, "").lstrip("/")
        for r in reports:
            if r["overlapping"]:
                lines.append(f"| {short} ({r['train_size']:,}, {r['train_distinct']:,} distinct) | {r['eval']} | "
                             f"{r['eval_size']:,} | {r['eval_distinct']:,} | {r['exact']:,} | {r['exact_distinct']:,} | "
                             f"{r['near']:,} | {r['overlapping']:,} |")
            else:
                clean.setdefault(short, []).append(r["eval"])
    lines.append("")
    for short, names in clean.items():
        lines.append(f"No overlap between {short} and: {', '.join(names)}.")
    lines += ["", "Against issue 15's figures (exact, same rule):", ""] + [f"- {line}" for line in issue_check(results, reverse)]
    return "\n".join(lines) + "\n"


def issue_check(results, reverse) -> list[str]:
    """The issue's four exact-overlap claims next to what was measured."""
    by = {(r["train"].split("/")[-1], r["eval"]): r for _, reports, _ in results for r in reports}
    wg, bt, tc = by[("mega_train.json", "wildguard")], by[("guardreasoner_test_5k", "beavertails")], \
        by[("guardreasoner_test_5k", "toxicchat")]
    return [
        f"WildGuard test prompts in mega_train.json: issue 1,554 of 1,554; measured {wg['exact']:,} of {wg['eval_size']:,}.",
        f"guardreasoner_test_5k distinct prompts: issue 4,817 of 5,000; measured {bt['train_distinct']:,} of "
        f"{bt['train_size']:,}.",
        f"shared with BeaverTails: issue 306; measured {bt['exact']:,} BeaverTails items, {reverse['exact']:,} "
        f"guardreasoner_test_5k items, {bt['exact_distinct']:,} distinct texts (`harness overlap --train beavertails "
        f"--eval guardreasoner_test_5k --exact-only` for the middle figure)."
        + ("" if 306 in {bt["exact"], reverse["exact"], bt["exact_distinct"]} else " None of these is 306."),
        f"shared with ToxicChat: issue 10; measured {tc['exact']:,} ToxicChat items, {tc['exact_distinct']:,} distinct "
        f"texts.",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--ngram", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args()
    data_dir = os.environ.get("HARNESS_DATA_DIR")
    if not data_dir:
        sys.exit("set HARNESS_DATA_DIR to the shared data folder (e.g. ../shared/data)")
    tasks = eval_tasks()
    sides = [str(Path(data_dir) / f) for f in TRAIN_FILES] + list(TRAIN_TASKS)
    results = [measure(side, tasks, args.threshold, args.ngram) for side in sides]
    [reverse] = json.loads(harness("overlap", "--train", "beavertails", "--eval", "guardreasoner_test_5k", "--exact-only",
                                   "--json", "--quiet"))
    text = render(results, reverse, tasks, args.threshold, args.ngram, data_dir)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
