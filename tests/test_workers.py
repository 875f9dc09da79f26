"""``eval --workers``: devices checked before anything loads, workers that die with their parent, and a
re-run that finishes after any kill (parent, one worker, the whole group) with no stale markers.

The slow model is the ``openai`` plugin against tests/fake_openai.py (0.1 s per request, one at a time),
so kills land mid-run without a GPU."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.evaluate.sharding import assign_devices, clear_markers, done_marker, wait_for_ranks
from tests.fake_openai import FakeServer

N = 40


def write_task(tmp_path, n=N):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "t.jsonl").write_text("".join(json.dumps({"text": f"q{i}", "label": "bad" if i % 2 else "good"}) + "\n"
                                          for i in range(n)))
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nsource: {path: t.jsonl}\nformat: jsonl\nfields: {prompt: text, label: label}\n"
                    "labels: {bad: harmful, good: safe}\npositive: harmful\n")
    return task, data


def test_assign_devices_maps_indices_to_visible_gpus_and_refuses_missing_ones():
    assert assign_devices(["1", "0"], 2, ["2", "3"]) == ["3", "2"]  # indices into CUDA_VISIBLE_DEVICES=2,3
    assert assign_devices(None, 2, []) is None
    with pytest.raises(HarnessError, match="device '1' does not exist; this host has 1 visible CUDA device"):
        assign_devices(["0", "1"], 2, ["0"])
    with pytest.raises(HarnessError, match="lists 3 device\\(s\\) for 2 worker"):
        assign_devices(["0", "1", "2"], 2, ["0", "1", "2"])


def test_devices_this_host_lacks_are_an_error_before_any_run_exists(cli, tmp_path):
    task, data = write_task(tmp_path, 4)
    code, out, err = cli("eval", "--model", "hf:/nonexistent/tiny-llama", "--task", task, "--data-dir", data,
                         "--workers", "2", "--devices", "0,1", "--quiet")
    assert code == 1 and "Traceback" not in err
    assert "--devices 0,1: device '0' does not exist; this host has no visible CUDA device" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("manifest.json"))


def test_two_cpu_workers_without_devices_still_work(tmp_path):
    task, data = write_task(tmp_path, 10)
    env = {**os.environ, "HARNESS_RUNS_DIR": str(tmp_path / "runs")}
    args = [sys.executable, "-m", "harness", "eval", "--model", "keyword-baseline", "--task", str(task),
            "--data-dir", str(data), "--workers", "2", "--quiet", "--json"]
    launched = time.time()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    ended = time.time()
    assert done.returncode == 0, done.stderr
    run_dir = Path(json.loads(done.stdout)["runs"]["t"]["dir"])
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == 10
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["topology"]["world_size"] == 2
    assert not list(run_dir.glob("rank*.done"))
    # every rank's timeline: its process started after the launch (the workers are children of the
    # launching process), and its stages come in order and end before the command did
    ranks = manifest["topology"]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and [r["records"] for r in ranks] == [5, 5]
    for info in ranks:
        timeline = info["timeline"]
        assert launched - 0.05 <= timeline["started_at"] <= ended
        stages = timeline["stages"]
        assert list(stages) == ["evaluate", "planned", "generating", "first_completion", "generated"]
        assert list(stages.values()) == sorted(stages.values())
        assert timeline["started_at"] + stages["generated"] <= ended
    lead = manifest["timeline"]["stages"]
    assert list(lead)[-3:] == ["ranks_waited", "merged", "scored"] and list(lead.values()) == sorted(lead.values())


def test_markers_of_another_launch_are_neither_waited_on_nor_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("HARNESS_LAUNCH_ID", "now")
    done_marker(tmp_path, 0).write_text(json.dumps({"rank": 0, "launch_id": "now"}))
    done_marker(tmp_path, 1).write_text(json.dumps({"rank": 1, "launch_id": "killed-earlier"}))
    with pytest.raises(HarnessError, match="ranks \\[1\\] did not finish"):
        wait_for_ranks(tmp_path, 2, timeout=0.3, poll=0.05)
    clear_markers(tmp_path)  # what rank 0 does when it starts: rank 0's fresh marker survives
    assert [p.name for p in tmp_path.glob("rank*.done")] == ["rank0.done"]
    done_marker(tmp_path, 1).write_text(json.dumps({"rank": 1, "launch_id": "now"}))
    assert [i["rank"] for i in wait_for_ranks(tmp_path, 2, timeout=1)] == [0, 1]
    assert not list(tmp_path.glob("rank*.done"))


def test_launch_ids_under_torchrun(monkeypatch):
    import os as os_module
    import platform

    from harness.evaluate.sharding import launch_id

    for name in ("HARNESS_LAUNCH_ID", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's default: the same for every launch
    assert launch_id(2) is None
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # one host: the launcher is every rank's parent
    assert launch_id(2) == f"{platform.node()}:{os_module.getppid()}"
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-17")  # several hosts: an explicit rendezvous id
    assert launch_id(16) == "job-17"
    monkeypatch.setenv("HARNESS_LAUNCH_ID", "abc")
    assert launch_id(16) == "abc"


# -- kills ------------------------------------------------------------------------------------------------

def children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, timeout, what):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def slow_eval_command(tmp_path, *extra):
    """A `harness eval` that takes seconds (a fake server answering one request at a time): the server,
    the command line and its environment, for tests that kill it mid-run."""
    server = FakeServer(tmp_path, "server", delay=0.1)
    task, data = write_task(tmp_path)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HARNESS_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(root)}
    args = [sys.executable, "-m", "harness", "eval", "--model", f"openai:m@{server.url}", "-m", "concurrency=1",
            "--task", str(task), "--data-dir", str(data), "--quiet", "--json", *extra]
    return server, args, env


@pytest.fixture()
def slow_eval(tmp_path):
    server, args, env = slow_eval_command(tmp_path, "--workers", "2")

    def start():
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    def mid_run(parent):
        """Wait until both workers are up and have written records; return their pids."""
        wait_until(lambda: len(children(parent.pid)) == 2, 20, "two workers")
        runs = tmp_path / "runs"
        shards = lambda: [len(p.read_text().splitlines()) for p in runs.rglob("samples.rank*.jsonl")]  # noqa: E731
        wait_until(lambda: len(shards()) == 2 and min(shards()) >= 3, 20, "records from both ranks")
        return children(parent.pid)

    def rerun_finishes():
        start_time = time.time()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        run_dir = Path(json.loads(done.stdout)["runs"]["t"]["dir"])
        ids = [json.loads(line)["id"] for line in (run_dir / "samples.jsonl").open()]
        assert len(ids) == N == len(set(ids))
        assert not list(run_dir.glob("rank*.done")) and not list(run_dir.glob("samples.rank*.jsonl"))
        assert "Resuming" in done.stderr
        return time.time() - start_time

    yield start, mid_run, rerun_finishes
    server.stop()


def test_killing_the_parent_ends_its_workers_and_a_rerun_finishes(slow_eval):
    start, mid_run, rerun_finishes = slow_eval
    parent = start()
    workers = mid_run(parent)
    parent.kill()
    parent.wait()
    wait_until(lambda: not any(alive(w) for w in workers), 5, "the orphaned workers to exit")
    assert rerun_finishes() < 30


def test_killing_one_worker_stops_the_run_with_a_message_and_a_rerun_finishes(slow_eval):
    start, mid_run, rerun_finishes = slow_eval
    parent = start()
    workers = mid_run(parent)
    os.kill(max(workers), signal.SIGKILL)
    _, err = parent.communicate(timeout=10)  # the other worker would otherwise wait for its marker forever
    assert parent.returncode == 1
    assert "was killed by signal 9; stopped the other workers" in err and "run the same command again" in err
    assert not any(alive(w) for w in workers)
    assert rerun_finishes() < 30


def test_killing_the_whole_group_and_rerunning_finishes(slow_eval):
    start, mid_run, rerun_finishes = slow_eval
    parent = start()
    workers = mid_run(parent)
    os.killpg(parent.pid, signal.SIGKILL)
    parent.wait()
    wait_until(lambda: not any(alive(w) for w in workers), 5, "the workers to exit")
    assert rerun_finishes() < 30


def test_a_worker_loads_its_model_before_waiting_for_rank_0s_run(monkeypatch, isolated_home):
    """Bug (measured on 2 x H200: 45.6 s on one GPU, 44.3 s on two): rank 0 creates the run only once its
    model has loaded, and the other rank waited for that run before loading its own, so the loads ran one
    after the other."""
    from harness.evaluate import runner
    from harness.evaluate.sharding import Topology
    from harness.tasks import get_task

    class Stop(Exception):
        pass

    class Loaded:
        def close(self):
            events.append("close")

    events = []
    monkeypatch.setattr(runner, "load_model_for", lambda run, plan, store: events.append("load") or Loaded())

    def waiting_for_rank_0(*args, **kwargs):
        events.append("wait for run")
        raise Stop

    monkeypatch.setattr(runner, "find_run", waiting_for_rank_0)
    with pytest.raises(Stop):
        runner.evaluate(runner.EvalRequest("keyword-baseline", [get_task("demo")], progress=False),
                        Topology(rank=1, world_size=2))
    assert events == ["load", "wait for run", "close"]
