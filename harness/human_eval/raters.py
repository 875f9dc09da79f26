"""Raters as sessions: each rater is an id with a secret of their own, not a typed name.

A rater starts on the page with a display name (any language: "José",
"Zoë", "李雷"), or is invited with `harness human-eval invite`; either way
the study stores a new rater id (``r1``, ``r2``, ...) with the SHA-256 of a
random secret.  The secret lives only in the rater's cookie or personal link,
so typing somebody's name, or an id, never lets one rater answer as another,
and two raters may share a display name.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.human_eval.study import Study, connect, now_iso

MAX_NAME = 40


@dataclass
class RaterSession:
    """A rater of one study: public id, display name, and the form token their pages carry."""

    rater: str
    name: str
    csrf: str


def check_display_name(name: str) -> str:
    """A display name: 1-40 printable characters of any script, NFC-normalised, spaces trimmed."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise HarnessError("rater name: give a name (1-40 characters) so the results can tell raters apart")
    if len(name) > MAX_NAME:
        raise HarnessError(f"rater name is {len(name)} characters; at most {MAX_NAME}")
    bad = [c for c in name if unicodedata.category(c)[0] == "C"]
    if bad:
        raise HarnessError(f"rater name has a control or invisible character (U+{ord(bad[0]):04X}); "
                           "use letters, digits, spaces and punctuation")
    return name


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_session(study: Study, name: str) -> tuple[RaterSession, str]:
    """A new rater of ``study`` named ``name``; returns the session and its secret (shown once, never stored)."""
    name = check_display_name(name)
    secret = secrets.token_urlsafe(24)
    conn = connect(study.path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            count = conn.execute("SELECT COUNT(*) FROM raters WHERE study_id = ?", (study.study_id,)).fetchone()[0]
            rater = f"r{count + 1}"
            while conn.execute("SELECT 1 FROM raters WHERE study_id = ? AND rater = ?",
                               (study.study_id, rater)).fetchone():
                count += 1
                rater = f"r{count + 1}"
            csrf = secrets.token_urlsafe(24)
            conn.execute("INSERT INTO raters (study_id, rater, csrf_token, created_at, display_name, session_hash) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (study.study_id, rater, csrf, now_iso(), name, digest(secret)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return RaterSession(rater, name, csrf), secret


def session_for(study: Study, secret: str | None) -> RaterSession | None:
    """The rater whose secret this is, or None (no secret, or one of no rater of this study)."""
    if not secret:
        return None
    conn = connect(study.path)
    try:
        row = conn.execute("SELECT rater, display_name, csrf_token FROM raters WHERE study_id = ? "
                           "AND session_hash = ?", (study.study_id, digest(secret))).fetchone()
    finally:
        conn.close()
    return RaterSession(row[0], row[1] or row[0], row[2]) if row else None


def rater_names(study: Study) -> dict[str, str]:
    """``{rater id: display name}`` for every rater with a session (raters stored by id alone are absent)."""
    conn = connect(study.path)
    try:
        rows = conn.execute("SELECT rater, display_name FROM raters WHERE study_id = ?",
                            (study.study_id,)).fetchall()
    finally:
        conn.close()
    return {r[0]: r[1] for r in rows if r[1]}
