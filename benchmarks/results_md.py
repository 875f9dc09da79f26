"""The one writer of benchmarks/RESULTS.md: each benchmark owns one ``## `` section and replaces it in place."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(heading: str, text: str, path: Path = RESULTS):
    """Replace the section that starts with ``heading`` by ``text`` (which starts with it), or append it."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if heading in old:
        head, _, rest = old.partition(heading)
        nxt = rest.find("\n## ")
        new = head.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n" + (rest[nxt:] if nxt >= 0 else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(new, encoding="utf-8")
