"""Raters and their answers: what is stored on each submit, and where a rater resumes.

One submit stores every question of one item in one SQLite transaction, so
a server killed mid-submit leaves either all of the item's answers or none.
The key (study, item, rater, question) makes a second submit of an item
replace the first: the last answer is kept and counted once, and every
submit is also appended to ``answer_history`` (a rater may review and change
an answer; what they answered before is kept).  Each item's answers carry a
version: a submit names the version its page showed, and one made from a
stale page (a second tab, a back button) is refused instead of overwriting.
Raters never touch each other's rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.human_eval.study import CHOICES, QUESTIONS, Item, Study, connect, now_iso

RATER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}")
MAX_COMMENT = 4000


@dataclass
class Answer:
    """One rater's choice on one question of one item; ``winner`` is the run id chosen, or None for a tie."""

    item_no: int
    rater: str
    question: str
    choice: str
    winner: str | None
    answered_at: str
    version: int = 1


class StaleAnswer(HarnessError):
    """A submit made from a page older than the item's stored answers (another tab or device answered since)."""


@dataclass
class ItemAnswers:
    """A rater's current answers to one item (version 0: not answered yet)."""

    version: int
    choices: dict[str, str]
    comment: str


def check_rater(name: str) -> str:
    """A stored rater id (``r1``...; older studies and the Python API may use other ASCII ids)."""
    name = (name or "").strip()
    if not RATER_NAME.fullmatch(name):
        raise HarnessError(f"rater name '{name[:60]}': use 1-40 letters, digits, spaces, '_', '.' or '-', "
                           "starting with a letter or digit")
    return name


def save_item_answers(study: Study, rater: str, item_no: int, choices: dict[str, str], comment: str = "",
                      version: int | None = None) -> int:
    """Store all answers of one item by one rater atomically; returns the new version.

    ``version``: the version of the answers the rater's page showed (0 when it
    showed none); a different stored version raises :class:`StaleAnswer` and
    stores nothing.  None skips the check (scripts that own the study).
    """
    rater = check_rater(rater)
    study.item(item_no)  # names the item range when there is no such item
    missing = [q for q in QUESTIONS if q not in choices]
    extra = [q for q in choices if q not in QUESTIONS]
    if missing or extra:
        raise HarnessError(f"answers must cover exactly {', '.join(QUESTIONS)}"
                           + (f"; missing {', '.join(missing)}" if missing else "")
                           + (f"; unknown {', '.join(extra)}" if extra else ""))
    for question, choice in choices.items():
        if choice not in CHOICES:
            raise HarnessError(f"answer to '{question}' must be one of {', '.join(CHOICES)}, got '{choice[:20]}'")
    if len(comment) > MAX_COMMENT:
        raise HarnessError(f"comment is {len(comment)} characters; at most {MAX_COMMENT}")
    return write_answers(study, rater, item_no, [(q, choices[q]) for q in QUESTIONS], comment.strip(), version)


def write_answers(study: Study, rater: str, item_no: int, rows, comment: str, expected_version: int | None = None
                  ) -> int:
    """The one transaction of a submit (answers, comment, history); any failure rolls every row of it back."""
    stamp = now_iso()
    conn = connect(study.path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            key = (study.study_id, item_no, rater)
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM answers WHERE study_id = ? AND "
                                   "item_no = ? AND rater = ?", key).fetchone()[0]
            if expected_version is not None and expected_version != current:
                raise StaleAnswer(
                    f"item {item_no} was answered again since this page was loaded (stored version {current}, "
                    f"this page showed version {expected_version}: another tab or device?); nothing was "
                    "changed: reload to see the stored answers and change them there")
            version, written = current + 1, {}
            for question, choice in rows:
                written[question] = choice
                conn.execute(
                    "INSERT INTO answers (study_id, item_no, rater, question, choice, answered_at, version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (study_id, item_no, rater, question) DO UPDATE SET "
                    "choice = excluded.choice, answered_at = excluded.answered_at, version = excluded.version",
                    (*key, question, choice, stamp, version))
            conn.execute("DELETE FROM comments WHERE study_id = ? AND item_no = ? AND rater = ?", key)
            if comment:
                conn.execute("INSERT INTO comments VALUES (?, ?, ?, ?)", (*key, comment))
            conn.execute("INSERT INTO answer_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (*key, version, json.dumps(written), comment, stamp))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return version


def item_answers(study: Study, rater: str, item_no: int) -> ItemAnswers:
    """The rater's current answers to one item, to show them for review."""
    conn = connect(study.path)
    try:
        key = (study.study_id, item_no, rater)
        rows = conn.execute("SELECT question, choice, version FROM answers WHERE study_id = ? AND item_no = ? "
                            "AND rater = ?", key).fetchall()
        comment = conn.execute("SELECT comment FROM comments WHERE study_id = ? AND item_no = ? AND rater = ?",
                               key).fetchone()
    finally:
        conn.close()
    return ItemAnswers(max((r[2] for r in rows), default=0), {r[0]: r[1] for r in rows}, comment[0] if comment else "")


def history(study: Study) -> list[dict]:
    """Every submit ever made, oldest first: one row per (item, rater, version) with its choices."""
    conn = connect(study.path)
    try:
        rows = conn.execute("SELECT * FROM answer_history WHERE study_id = ? ORDER BY item_no, rater, version",
                            (study.study_id,)).fetchall()
    finally:
        conn.close()
    return [{"item": r["item_no"], "rater": r["rater"], "version": r["version"],
             "choices": json.loads(r["choices_json"]), "comment": r["comment"], "answered_at": r["answered_at"]}
            for r in rows]


def answered_items(study: Study, rater: str) -> set[int]:
    """Items the rater has answered completely."""
    conn = connect(study.path)
    try:
        rows = conn.execute("SELECT item_no FROM answers WHERE study_id = ? AND rater = ? GROUP BY item_no "
                            "HAVING COUNT(*) = ?", (study.study_id, rater, len(QUESTIONS))).fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows}


def next_item(study: Study, rater: str):
    """The first item the rater has not answered (where a reload or restart resumes), or None when done."""
    return first_unanswered(study, answered_items(study, rater))


def first_unanswered(study: Study, done: set[int]) -> Item | None:
    return next((item for item in study.shown if item.item_no not in done), None)


def read_answers(study: Study) -> list[Answer]:
    """Every rater's current answers, check items included (statistics keep only :attr:`Study.items`)."""
    items = {item.item_no: item for item in study.shown}
    conn = connect(study.path)
    try:
        rows = conn.execute("SELECT * FROM answers WHERE study_id = ? ORDER BY item_no, rater, question",
                            (study.study_id,)).fetchall()
    finally:
        conn.close()
    out = []
    for r in rows:
        item = items[r["item_no"]]
        winner = {"A": item.run_left, "B": item.run_right}.get(r["choice"])
        out.append(Answer(r["item_no"], r["rater"], r["question"], r["choice"], winner, r["answered_at"],
                          r["version"]))
    return out


def read_comments(study: Study) -> dict[tuple[int, str], str]:
    conn = connect(study.path)
    try:
        rows = conn.execute("SELECT item_no, rater, comment FROM comments WHERE study_id = ?",
                            (study.study_id,)).fetchall()
    finally:
        conn.close()
    return {(r[0], r[1]): r[2] for r in rows}
