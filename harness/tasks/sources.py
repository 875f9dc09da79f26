"""Reading a task's data: from the data directory, an http(s) URL, or the Hugging Face hub.

A ``path`` in the data directory may carry a ``url`` to fall back on when the
file is not there, and a ``sha256`` that the file, local or downloaded, must match.

Readers return a list of raw row dicts and the location each came from, so
that a bad row can be reported by file and line.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from harness.errors import HarnessError

DATA_DIR_ENV = "HARNESS_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data directory and where that choice came from (for error messages)."""
    if explicit:
        return Path(explicit), "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}"
    return Path("data"), "the default ./data"


def cache_dir() -> Path:
    root = os.environ.get("HARNESS_CACHE_DIR") or Path.home() / ".cache" / "harness"
    return Path(root)


def fetch_url(url: str, sha256: str | None = None, offline_hint: str = "") -> Path:
    """Download a URL once into the cache, with a progress bar on stderr; later calls reuse the file.

    With ``sha256`` the bytes are checked before they are cached: a mismatch is an
    error naming both hashes and nothing is kept (a cached file that no longer
    matches is downloaded again).  ``offline_hint`` ends the message of a failed
    download (where to put the file instead).
    """
    import httpx
    from tqdm import tqdm

    name = Path(url.split("?")[0]).name or "data"
    target = cache_dir() / "data" / hashlib.sha256(url.encode()).hexdigest()[:16] / name
    if target.exists() and (sha256 is None or file_sha256(target) == sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(name + ".part")
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length") or 0) or None
            with open(tmp, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr,
                                              desc=f"Downloading {url}", dynamic_ncols=True) as bar:
                for chunk in resp.iter_bytes():
                    fh.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except httpx.HTTPError as exc:
        discard(tmp)
        reason = (f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError)
                  else f"{type(exc).__name__}: {exc}; are you offline?")
        raise HarnessError(f"Could not download {url} ({reason}){offline_hint}") from None
    if sha256 and digest.hexdigest() != sha256:
        discard(tmp)
        raise HarnessError(f"{url}: the download has sha256 {digest.hexdigest()}, but the task records {sha256}; "
                           "it is not the file the task was made for, so nothing was cached")
    tmp.replace(target)
    return target


def discard(part: Path):
    """Remove a partial download and its cache folder if that is left empty."""
    part.unlink(missing_ok=True)
    try:
        part.parent.rmdir()
    except OSError:
        pass  # other files are cached there


def check_sha256(path: Path, expected: str | None, recorded_in) -> Path:
    """``path`` itself, after checking its sha256 against the one the task file records (if any)."""
    if expected:
        actual = file_sha256(path)
        if actual != expected:
            raise HarnessError(f"{path}: sha256 {actual} differs from {expected} recorded in {recorded_in} "
                               "(source.sha256): this is not the file the task was made for. Replace it with the "
                               "original, or update source.sha256 if you changed the data on purpose")
    return path


def read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HarnessError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "re-encode the file as UTF-8"
        ) from None


def read_rows(path: Path, fmt: str, records_key: str | None = None) -> list[tuple[dict, str]]:
    """Rows of a JSON list / JSONL / GuardReasoner file, each with its 'file:line' location."""
    text = read_text(path)
    if not text.strip():
        raise HarnessError(f"{path}: file is empty; expected {fmt} records")
    if fmt == "jsonl":
        rows = []
        # split on "\n" only: str.splitlines() also breaks on U+0085/U+2028/U+2029,
        # which JSON allows unescaped inside strings (GuardReasoner's files contain them)
        for lineno, line in enumerate(text.split("\n"), 1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise HarnessError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append((row, f"{path}:{lineno}"))
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    if records_key:
        if not isinstance(data, dict) or records_key not in data:
            raise HarnessError(f"{path}: expected an object with key '{records_key}' holding the records")
        data = data[records_key]
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    if not data:
        raise HarnessError(f"{path}: holds no records")
    out = []
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise HarnessError(f"{path}: record {i}: expected a JSON object, got {type(row).__name__}")
        out.append((row, f"{path}: record {i}"))
    return out


def read_hf_dataset(dataset: str, split: str, config: str | None = None) -> list[tuple[dict, str]]:
    """Rows of a Hugging Face dataset split (needs the ``[hf]`` extra)."""
    try:
        import datasets
    except ImportError:
        raise HarnessError("Tasks with an 'hf' source need the datasets package: pip install 'harness-guards[hf]'") from None
    try:
        ds = datasets.load_dataset(dataset, config, split=split)
    except Exception as exc:  # noqa: BLE001  (any hub/datasets failure becomes one clear error)
        offline = " (HF_HUB_OFFLINE is set: only cached datasets load)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise HarnessError(f"Could not load dataset '{dataset}' split '{split}'{offline}: {exc}") from None
    return [(dict(row), f"{dataset}[{split}] row {i}") for i, row in enumerate(ds)]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
