"""A task whose file is not in the data folder falls back to its source URL, checked against the recorded
sha256 and cached.  The server is http.server on loopback in a thread, never the internet."""

import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROWS = [{"text": f"prompt {i}", "label": "bad" if i % 2 else "good"} for i in range(6)]
DATA = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
SHA = hashlib.sha256(DATA).hexdigest()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    (served / "t.jsonl").write_bytes(DATA)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.requests = []
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def task_file(tmp_path, url, sha=SHA, name="t.yaml"):
    path = tmp_path / name
    path.write_text(f"name: t\nsource:\n  path: sub/t.jsonl\n  url: {url}\n  sha256: {sha}\nformat: jsonl\n"
                    "fields: {prompt: text, label: label}\nlabels: {bad: harmful, good: safe}\npositive: harmful\n")
    return path


def cached_files(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache" / "data").rglob("*") if p.is_file()) \
        if (tmp_path / "cache" / "data").exists() else []


def test_a_missing_file_is_downloaded_checked_cached_and_reused_offline(cli, tmp_path, server):
    empty = tmp_path / "data"
    empty.mkdir()
    task = task_file(tmp_path, f"{server.url}/t.jsonl")
    code, out, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", empty, "--json")
    assert code == 0, err
    assert json.loads(out)["runs"]["t"]["n"] == 6
    assert f"Downloading {server.url}/t.jsonl" in err  # the progress bar
    assert cached_files(tmp_path) == ["t.jsonl"]
    server.shutdown()  # offline from here on: the cache must serve
    server.server_close()
    code, out, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", empty, "--json",
                         "--limit", "4")  # another run of the task: its data is read again
    assert code == 0, err
    assert json.loads(out)["runs"]["t"]["n"] == 4 and "Downloading" not in err


def test_a_sha256_mismatch_is_an_error_and_nothing_is_cached(cli, tmp_path, server):
    wrong = "f" * 64
    task = task_file(tmp_path, f"{server.url}/t.jsonl", sha=wrong)
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", tmp_path / "nodata")
    assert code == 1 and "Traceback" not in err
    assert f"{server.url}/t.jsonl: the download has sha256 {SHA}, but the task records {wrong}" in err
    assert "nothing was cached" in err and cached_files(tmp_path) == []
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/manifest.json"))


def test_offline_names_the_url_and_says_to_set_the_data_dir(cli, tmp_path, server):
    url = f"{server.url}/t.jsonl"
    server.shutdown()
    server.server_close()
    task = task_file(tmp_path, url)
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", tmp_path / "nodata")
    assert code == 1 and "Traceback" not in err
    assert f"Could not download {url}" in err and "HARNESS_DATA_DIR" in err
    assert str((tmp_path / "nodata" / "sub" / "t.jsonl").resolve()) in err and cached_files(tmp_path) == []


def test_a_missing_url_file_is_an_http_error_naming_it(cli, tmp_path, server):
    task = task_file(tmp_path, f"{server.url}/gone.jsonl")
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", tmp_path / "nodata")
    assert code == 1 and f"Could not download {server.url}/gone.jsonl (HTTP 404)" in err


def test_a_local_file_that_differs_from_the_recorded_sha256_is_an_error_naming_both(cli, tmp_path, server):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "t.jsonl").write_bytes(DATA.replace(b"prompt 0", b"prompt X"))
    actual = hashlib.sha256((data / "sub" / "t.jsonl").read_bytes()).hexdigest()
    task = task_file(tmp_path, f"{server.url}/t.jsonl")
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", data)
    assert code == 1 and f"sha256 {actual} differs from {SHA}" in err and str(task) in err
    (data / "sub" / "t.jsonl").write_bytes(DATA)  # the original file: used as is, no download
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", data)
    assert code == 0, err
    assert "Downloading" not in err and cached_files(tmp_path) == []


@pytest.mark.parametrize("line, needle", [
    ("  sha256: abc\n", "source.sha256 must be 64 lowercase hex digits"),
    ("  url: ftp://example.org/t.jsonl\n", "source.url must start with http:// or https://"),
    ("  path: [a, b]\n", "source.path must be text"),
])
def test_bad_source_fields_name_the_line(cli, tmp_path, line, needle):
    task = tmp_path / "bad.yaml"
    task.write_text("name: t\nsource:\n" + ("  path: sub/t.jsonl\n" if "path" not in line else "") + line +
                    "format: jsonl\nfields: {prompt: text, label: label}\nlabels: {bad: harmful, good: safe}\n"
                    "positive: harmful\n")
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", task)
    assert code == 1 and needle in err and f"{task}:" in err and "Traceback" not in err


def test_shipped_wizard101_tasks_record_the_sha256_of_their_data(tmp_path):
    """Each shipped task with a wizard101 file records its sha256, and the local copy matches it."""
    import os
    from pathlib import Path

    from harness.tasks.task import parse_task_file

    root = Path(__file__).resolve().parent.parent / "tasks"
    data = Path(os.environ["HARNESS_DATA_DIR"])
    checked = 0
    for path in sorted(root.glob("*.yaml")):
        task = parse_task_file(path)
        if task.source.get("path", "").startswith("wizard101/"):
            expected = hashlib.sha256((data / task.source["path"]).read_bytes()).hexdigest()
            assert task.source.get("sha256") == expected, path
            if "url" in task.source:  # the fallback is the same file, at a pinned upstream commit
                prefix = "https://raw.githubusercontent.com/bigsnarfdude/wizard101/"
                commit, _, rest = task.source["url"].removeprefix(prefix).partition("/")
                assert len(commit) == 40 and rest == "data/" + task.source["path"].removeprefix("wizard101/"), path
            checked += 1
    assert checked >= 10
