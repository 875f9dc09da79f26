"""Train/eval overlap (contamination): exact and near-duplicate prompts between a training side and eval tasks.

Texts are compared after :func:`normalize`: Unicode NFKC, case-folded, every
punctuation character (Unicode category P*) removed, runs of whitespace
collapsed to one space, ends stripped.  Two texts are an **exact** overlap when
their normalised forms are equal (matched by hash).  A **near** overlap is a
pair that is not exact whose word n-gram shingle sets (``ngram`` words, default
3; a text shorter than ``ngram`` words is one shingle) have a Jaccard similarity
of at least ``threshold``.  Candidates come from MinHash LSH (``datasketch``,
``num_perm`` permutations, an LSH threshold ``lsh_margin`` below ``threshold``
so that pairs near the threshold are not missed) and every candidate is checked
by the exact Jaccard of its shingle sets, so each reported pair is a true
near-duplicate; LSH can still miss a pair (its recall is high, not 1).
Texts that normalise to the empty string match nothing.

Overlap is measured on prompts (the text a guard classifies; a response task's
prompt seen in training counts).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import unicodedata
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import HarnessError

#: Text fields tried, in order, when a training file's field is not named.
TEXT_FIELDS = ("text", "prompt")
SHOWN_IDS = 5

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case-fold, drop punctuation (Unicode P*), collapse whitespace: the rule both sides share."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub(" ", text).strip()


def text_hash(normalized: str) -> str:
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=16).hexdigest()


def shingles(normalized: str, n: int) -> frozenset:
    """Word n-grams of a normalised text (the whole text when it has fewer than n words)."""
    words = normalized.split(" ")
    if len(words) <= n:
        return frozenset([normalized])
    return frozenset(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


@dataclass(frozen=True)
class OverlapSettings:
    """How near-duplicates are found; every field is stated in reports."""

    threshold: float = 0.8
    ngram: int = 3
    num_perm: int = 128
    lsh_margin: float = 0.1
    seed: int = 1
    near: bool = True

    def __post_init__(self):
        if not 0 < self.threshold <= 1:
            raise HarnessError(f"overlap threshold must be in (0, 1] (a Jaccard similarity), got {self.threshold}")
        if self.ngram < 1:
            raise HarnessError(f"overlap n-gram size must be at least 1, got {self.ngram}")
        if self.num_perm < 16:
            raise HarnessError(f"overlap num_perm must be at least 16, got {self.num_perm}")


@dataclass
class TextSet:
    """One side of the check: named (id, text) items."""

    name: str
    items: list  # [(id, text)]


@dataclass(frozen=True)
class Match:
    train_id: str
    similarity: float
    kind: str  # "exact" or "near"


@dataclass
class EvalOverlap:
    """One eval item that overlaps the training side, with every training item it matches."""

    eval_id: str
    matches: list  # [Match], best first

    @property
    def kind(self) -> str:
        return "exact" if any(m.kind == "exact" for m in self.matches) else "near"


@dataclass
class OverlapReport:
    """Overlap of one eval set with the training side."""

    train: str
    eval: str
    settings: OverlapSettings
    train_size: int
    train_distinct: int
    eval_size: int
    eval_distinct: int
    overlaps: list = field(default_factory=list)  # [EvalOverlap]
    exact_distinct: int = 0  # distinct normalised texts among the exact overlaps

    @property
    def exact(self) -> int:
        """Eval items whose normalised text is in the training side."""
        return sum(1 for o in self.overlaps if o.kind == "exact")

    @property
    def near(self) -> int:
        """Eval items with only near-duplicates (Jaccard >= threshold) in the training side."""
        return sum(1 for o in self.overlaps if o.kind == "near")

    @property
    def ids(self) -> list[str]:
        return [o.eval_id for o in self.overlaps]

    def summary(self) -> dict:
        return {"train": self.train, "eval": self.eval, "train_size": self.train_size,
                "train_distinct": self.train_distinct, "eval_size": self.eval_size,
                "eval_distinct": self.eval_distinct, "exact": self.exact, "exact_distinct": self.exact_distinct,
                "near": self.near,
                "overlapping": len(self.overlaps), "settings": asdict(self.settings)}

    def to_dict(self) -> dict:
        return {**self.summary(), "overlaps": [
            {"eval_id": o.eval_id, "kind": o.kind, "matches": [asdict(m) for m in o.matches]} for o in self.overlaps]}

    def pair_rows(self) -> list[dict]:
        """One row per (eval item, training item) pair: the --out JSONL and --exclude-ids format."""
        return [{"eval_task": self.eval, "eval_id": o.eval_id, "train": self.train, "train_id": m.train_id,
                 "similarity": m.similarity, "kind": m.kind} for o in self.overlaps for m in o.matches]


# -- the check ----------------------------------------------------------------------


class _TrainIndex:
    """The training side hashed (exact) and MinHash-indexed (near)."""

    def __init__(self, train: TextSet, settings: OverlapSettings, progress: bool):
        self.settings = settings
        self.by_hash: dict[str, list[str]] = defaultdict(list)
        self.shingles: dict[str, frozenset] = {}
        self.ids_of: dict[str, list[str]] = defaultdict(list)  # shingle-set key -> train ids
        self.lsh = None
        norm = [(tid, normalize(text)) for tid, text in train.items]
        for tid, n in norm:
            if n:
                self.by_hash[text_hash(n)].append(tid)
        self.size, self.distinct = len(norm), len(self.by_hash)
        if not settings.near:
            return
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=max(0.05, settings.threshold - settings.lsh_margin),
                              num_perm=settings.num_perm)
        for h, n in _progress(((text_hash(n), n) for _, n in norm if n), len(norm), f"indexing {train.name}",
                              progress):
            if h in self.shingles:
                continue
            self.shingles[h] = shingles(n, settings.ngram)
            self.lsh.insert(h, _minhash(self.shingles[h], settings))

    def query(self, normalized: str) -> list[Match]:
        if not normalized:
            return []
        h = text_hash(normalized)
        found = {tid: Match(tid, 1.0, "exact") for tid in self.by_hash.get(h, [])}
        if self.lsh is not None:
            mine = shingles(normalized, self.settings.ngram)
            for key in self.lsh.query(_minhash(mine, self.settings)):
                if key == h:
                    continue
                sim = jaccard(mine, self.shingles[key])
                if sim >= self.settings.threshold:
                    for tid in self.by_hash[key]:
                        found.setdefault(tid, Match(tid, round(sim, 4), "near"))
        return sorted(found.values(), key=lambda m: (-m.similarity, m.kind != "exact", m.train_id))


def _minhash(shingle_set: frozenset, settings: OverlapSettings):
    from datasketch import MinHash

    m = MinHash(num_perm=settings.num_perm, seed=settings.seed)
    m.update_batch([s.encode("utf-8") for s in shingle_set])
    return m


def _progress(iterable, total, desc, enabled):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="text", file=sys.stderr, dynamic_ncols=True,
                disable=not enabled or total < 2000)


def check_overlap(train: TextSet, evals: list[TextSet], settings: OverlapSettings | None = None,
                  progress: bool = False) -> list[OverlapReport]:
    """One report per eval set: which of its items the training side holds exactly or nearly."""
    settings = settings or OverlapSettings()
    index = _TrainIndex(train, settings, progress)
    reports = []
    for ev in evals:
        overlaps, distinct, shared = [], set(), set()
        for eid, text in _progress(ev.items, len(ev.items), f"checking {ev.name}", progress):
            n = normalize(text)
            if n:
                distinct.add(text_hash(n))
            matches = index.query(n)
            if matches:
                overlaps.append(EvalOverlap(str(eid), matches))
                if overlaps[-1].kind == "exact":
                    shared.add(text_hash(n))
        reports.append(OverlapReport(train.name, ev.name, settings, index.size, index.distinct, len(ev.items),
                                     len(distinct), overlaps, len(shared)))
    return reports


# -- the two sides ------------------------------------------------------------------


def task_texts(task_name: str, data_dir=None, limit=None, seed=0) -> TextSet:
    """A task's prompts (its label-stratified ``limit`` subset when given, as ``harness eval`` picks it)."""
    from harness.tasks import get_task
    from harness.tasks.task import stratified_subset

    task = get_task(task_name)
    samples = stratified_subset(task.load(data_dir), limit, seed=seed)
    return TextSet(task.name, [(s.id, s.prompt) for s in samples])


def file_texts(path, text_field: str | None = None, id_field: str = "id") -> TextSet:
    """A JSON list or JSONL file's texts; ids from ``id_field`` when present, else the record index."""
    from harness.tasks.sources import read_rows

    path = Path(path)
    rows = read_rows(path, "jsonl" if path.suffix == ".jsonl" else "json")
    first = rows[0][0]
    name = text_field or next((f for f in TEXT_FIELDS if f in first), None)
    if name is None:
        raise HarnessError(f"{rows[0][1]}: no text field ({' or '.join(TEXT_FIELDS)}); name it with --text-field "
                           f"(the record has: {', '.join(sorted(first))})")
    items = []
    for i, (row, where) in enumerate(rows):
        if not isinstance(row.get(name), str):
            raise HarnessError(f"{where}: field '{name}' must be text, got "
                               f"{'nothing' if name not in row else type(row[name]).__name__}")
        items.append((str(row[id_field]) if id_field in row else str(i), row[name]))
    return TextSet(str(path), items)


def train_texts(spec: str, data_dir=None, text_field=None, limit=None, seed=0) -> TextSet:
    """The training side: a .json/.jsonl file when ``spec`` is one, else a task name (or task YAML)."""
    p = Path(spec)
    if p.suffix in {".json", ".jsonl"}:
        if not p.is_file():
            raise HarnessError(f"{spec}: training file not found")
        return file_texts(p, text_field)
    if text_field:
        raise HarnessError(f"--text-field applies to a training file; '{spec}' is a task (its prompts are used)")
    return task_texts(spec, data_dir, limit, seed)


# -- the gate before training -------------------------------------------------------


def gate(train: TextSet, evals: list[TextSet], *, max_overlap: int = 0, settings: OverlapSettings | None = None,
         report_path: Path, progress: bool = False) -> list[OverlapReport]:
    """Stop (HarnessError) when more than ``max_overlap`` eval items overlap the training prompts.

    The full list of pairs goes to ``report_path`` (the ``harness overlap --out``
    format, which ``harness eval --exclude-ids`` reads) whether or not it stops.
    """
    if max_overlap < 0:
        raise HarnessError(f"overlap max must be 0 or more, got {max_overlap}")
    reports = check_overlap(train, evals, settings, progress)
    write_pairs(reports, report_path)
    ids = [f"{r.eval}:{i}" for r in reports for i in r.ids]
    if len(ids) > max_overlap:
        s = reports[0].settings
        parts = ", ".join(f"{r.eval} {r.exact} exact + {r.near} near" for r in reports if r.overlaps)
        more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
        raise HarnessError(
            f"{len(ids)} eval item{'s overlap' if len(ids) != 1 else ' overlaps'} the training prompts of {train.name} ({parts}; near = Jaccard >= "
            f"{s.threshold} on word {s.ngram}-grams), above the allowed {max_overlap}: "
            f"{', '.join(ids[:SHOWN_IDS])}{more}. Full list: {report_path}. Evaluate on other tasks, drop them with "
            f"`harness eval --exclude-ids {report_path}`, or raise the allowed overlap.")
    return reports


OVERLAP_KEYS = {"max", "threshold"}


def gate_settings(section, where: str) -> tuple[int, OverlapSettings]:
    """A pipeline config's ``overlap: {max: N, threshold: J}`` section (both optional) checked."""
    from harness.config import check_keys, expect_type

    section = section or {}
    check_keys(f"{where}: overlap", section, OVERLAP_KEYS)
    max_overlap = expect_type(f"{where}: overlap", "max", section.get("max", 0), int, "a whole number >= 0")
    threshold = expect_type(f"{where}: overlap", "threshold", section.get("threshold", 0.8), (int, float),
                            "a Jaccard similarity in (0, 1]")
    if max_overlap < 0:
        raise HarnessError(f"{where}: overlap.max must be 0 or more, got {max_overlap}")
    return max_overlap, OverlapSettings(threshold=float(threshold))


def gate_tasks(train_task: str, eval_tasks: list[str], *, report_path, max_overlap=0, settings=None, train_limit=None,
               train_seed=0, eval_limit=None, eval_seed=0, data_dir=None, progress=False) -> list[OverlapReport]:
    """:func:`gate` on the prompts a pairs step samples and the eval subsets a pipeline scores."""
    train = task_texts(train_task, data_dir, train_limit, train_seed)
    evals = [task_texts(t, data_dir, eval_limit, eval_seed) for t in eval_tasks]
    return gate(train, evals, max_overlap=max_overlap, settings=settings, report_path=Path(report_path),
                progress=progress)


def write_pairs(reports: list[OverlapReport], path, option: str = "overlap report", inputs=()) -> Path:
    from harness.store.outputs import atomic_output

    path = Path(path)
    with atomic_output(path, option, inputs) as fh:
        fh.writelines(json.dumps(row) + "\n" for r in reports for row in r.pair_rows())
    return path


# -- excluding ids from an eval -----------------------------------------------------


@dataclass
class ExcludeList:
    """Ids to leave out of an eval: for every task, or per task (an overlap report's ``eval_task``)."""

    path: str
    sha256: str
    everywhere: frozenset
    by_task: dict  # task -> frozenset

    def ids_for(self, task: str) -> frozenset:
        return self.everywhere | self.by_task.get(task, frozenset())


def read_exclude_ids(path) -> ExcludeList:
    """Plain text (one id a line, '#' comments) or JSONL with ``eval_id`` (and ``eval_task``), e.g. --out of overlap."""
    from harness.tasks.sources import file_sha256, read_text

    path = Path(path)
    everywhere, by_task = set(), defaultdict(set)
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
            if "eval_id" not in row:
                raise HarnessError(f"{path}:{lineno}: a JSON line needs 'eval_id' (and optionally 'eval_task')")
            if row.get("eval_task"):
                by_task[str(row["eval_task"])].add(str(row["eval_id"]))
            else:
                everywhere.add(str(row["eval_id"]))
        elif line.startswith(("[", '"')) or line in ("null", "true", "false"):
            raise HarnessError(f"{path}:{lineno}: a JSON {line[:20]!r} is not an id; use one id a line or "
                               "JSON objects with 'eval_id'")
        else:
            everywhere.add(line)
    if not everywhere and not by_task:
        raise HarnessError(f"{path}: holds no ids to exclude")
    return ExcludeList(str(path), file_sha256(path), frozenset(everywhere),
                       {t: frozenset(v) for t, v in by_task.items()})
