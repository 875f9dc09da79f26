"""Raters and their answers: what is stored on each submit, and where a rater resumes.

One submit stores every question of one item in one SQLite transaction, so
a server killed mid-submit leaves either all of the item's answers or none.
The key (study, item, rater, question) makes a second submit of an item
replace the first: the last answer is kept and counted once.  Raters never
touch each other's rows.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.human_eval.study import CHOICES, QUESTIONS, Study, connect, now_iso

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


def check_rater(name: str) -> str:
    name = (name or "").strip()
    if not RATER_NAME.fullmatch(name):
        raise HarnessError(f"rater name '{name[:60]}': use 1-40 letters, digits, spaces, '_', '.' or '-', "
                           "starting with a letter or digit")
    return name


def rater_token(study: Study, rater: str) -> str:
    """The rater's CSRF token, created on first visit and kept across server restarts."""
    rater = check_rater(rater)
    conn = connect(study.path)
    try:
        conn.execute("INSERT OR IGNORE INTO raters VALUES (?, ?, ?, ?)",
                     (study.study_id, rater, secrets.token_urlsafe(24), now_iso()))
        return conn.execute("SELECT csrf_token FROM raters WHERE study_id = ? AND rater = ?",
                            (study.study_id, rater)).fetchone()[0]
    finally:
        conn.close()


def save_item_answers(study: Study, rater: str, item_no: int, choices: dict[str, str], comment: str = ""):
    """Store all answers of one item by one rater atomically (replacing any earlier submit)."""
    rater = check_rater(rater)
    if not any(item.item_no == item_no for item in study.items):
        raise HarnessError(f"study {study.study_id} has no item {item_no} (items 1-{len(study.items)})")
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
    write_answers(study, rater, item_no, [(q, choices[q]) for q in QUESTIONS], comment.strip())


def write_answers(study: Study, rater: str, item_no: int, rows: list[tuple[str, str]], comment: str):
    """The one transaction of a submit; any failure rolls every row of it back."""
    stamp = now_iso()
    conn = connect(study.path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for question, choice in rows:
                conn.execute(
                    "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (study_id, item_no, rater, question)"
                    " DO UPDATE SET choice = excluded.choice, answered_at = excluded.answered_at",
                    (study.study_id, item_no, rater, question, choice, stamp))
            conn.execute("DELETE FROM comments WHERE study_id = ? AND item_no = ? AND rater = ?",
                         (study.study_id, item_no, rater))
            if comment:
                conn.execute("INSERT INTO comments VALUES (?, ?, ?, ?)", (study.study_id, item_no, rater, comment))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


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


def first_unanswered(study: Study, done: set[int]):
    return next((item for item in study.items if item.item_no not in done), None)


def read_answers(study: Study) -> list[Answer]:
    items = {item.item_no: item for item in study.items}
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
        out.append(Answer(r["item_no"], r["rater"], r["question"], r["choice"], winner, r["answered_at"]))
    return out


def read_comments(study: Study) -> dict[tuple[int, str], str]:
    conn = connect(study.path)
    try:
        rows = conn.execute("SELECT item_no, rater, comment FROM comments WHERE study_id = ?",
                            (study.study_id,)).fetchall()
    finally:
        conn.close()
    return {(r[0], r[1]): r[2] for r in rows}
