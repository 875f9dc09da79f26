"""The one owner of stored pairwise judgments: ``runs/pairwise/<pair>.jsonl`` and ``<pair>.json``.

A pairwise result belongs to a :class:`PairIdentity`: the judge's identity,
the two run ids in the order judged (A, B) and the pairwise settings (e.g. a
score judge's margin).  The ``.jsonl`` holds one :class:`PairRecord` per shared
sample; the ``.json`` the summary, which also counts the samples that could not
be paired (in one run only, or without a completion) so none is lost silently.
Judging the same pair again replaces both.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.records import JudgeIdentity

PAIRWISE_DIR = "pairwise"


@dataclass(frozen=True)
class PairIdentity:
    """What makes two pairwise results the same: judge identity, run A, run B and the pairwise settings."""

    judge: JudgeIdentity
    run_a: str
    run_b: str
    settings: str = ""  # e.g. "margin=0.05" for a score judge; "" for a judge with its own pairwise mode

    @property
    def key(self) -> str:
        return f"{self.judge.key}|{self.run_a}|{self.run_b}|{self.settings}"

    @property
    def file_stem(self) -> str:
        """A file name: readable run ids and judge name, and a hash of the whole key (ids may be long)."""
        readable = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.judge.judge}--{self.run_a}--vs--{self.run_b}")[:150]
        return f"{readable}--{hashlib.sha256(self.key.encode()).hexdigest()[:12]}"

    def to_dict(self) -> dict:
        return {"judge": self.judge.key, "run_a": self.run_a, "run_b": self.run_b, "settings": self.settings}


@dataclass
class PairRecord:
    """One shared sample judged in both orders; winners are in A/B terms ("A", "B", "tie"), None = failed."""

    id: str
    a_first: str | None
    b_first: str | None
    explanation: str = ""
    error: str | None = None

    @property
    def flipped(self) -> bool:
        return self.error is None and self.a_first != self.b_first


def identity_label(identity: dict) -> str:
    """How a pair's judging is named to people: the judge's identity key and, if any, its pairwise settings."""
    return identity["judge"] + (f" [{identity['settings']}]" if identity.get("settings") else "")


@dataclass
class PairSummary:
    identity: dict  # PairIdentity.to_dict()
    n_shared: int
    n_failed: int
    counts: dict  # wins_a, wins_b, ties, flips over the judged samples
    unpaired: dict  # a_only, b_only, no_completion: samples not judged because they have no pair
    stats: dict = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)  # the .json it was read from (not written)

    @property
    def label(self) -> str:
        return identity_label(self.identity)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "path"}


def pairwise_dir(runs_root) -> Path:
    return Path(runs_root) / PAIRWISE_DIR


def write(runs_root, identity: PairIdentity, records: list[PairRecord], summary: PairSummary) -> Path:
    """Write the pair's records and summary (replacing an earlier judging of the same identity)."""
    folder = pairwise_dir(runs_root)
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / f"{identity.file_stem}.jsonl"
    tmp = jsonl.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(jsonl)
    path = folder / f"{identity.file_stem}.json"
    path.with_suffix(".json.tmp").write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")
    path.with_suffix(".json.tmp").replace(path)
    return path


def read_records(summary: PairSummary) -> list[PairRecord]:
    """The per-sample records stored beside a summary read by :func:`summaries_for`."""
    path = summary.path.with_suffix(".jsonl")
    if not path.exists():
        raise HarnessError(f"{path}: missing; its summary {summary.path.name} has no per-sample records "
                           f"(judge the pair again with `harness judge --pairwise {summary.identity['run_a']} "
                           f"{summary.identity['run_b']}`)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            out.append(PairRecord(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise HarnessError(f"{path}:{n}: not a pairwise record ({exc})") from None
    return out


def summaries_for(runs_root, run_a: str, run_b: str) -> list[PairSummary]:
    """Every stored summary of a pairwise judging of these two runs, in either order, by file name."""
    folder = pairwise_dir(runs_root)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            summary = PairSummary(dict(data["identity"]), int(data["n_shared"]), int(data["n_failed"]),
                                  dict(data["counts"]), dict(data["unpaired"]), dict(data.get("stats") or {}), path)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{path}: not a pairwise summary ({type(exc).__name__}: {exc})") from None
        if {summary.identity.get("run_a"), summary.identity.get("run_b")} == {run_a, run_b}:
            out.append(summary)
    return out
