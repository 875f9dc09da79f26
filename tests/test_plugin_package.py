"""A third-party plugin package, installed with pip, registers through the `harness` entry points;
with it, a run killed with SIGKILL is finished by re-running the same command."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PLUGIN = textwrap.dedent('''
    """A test plugin: a slow deterministic model, a parser and a task directory."""
    import pathlib
    import time

    from harness.hookspecs import hookimpl
    from harness.interfaces.model import Generation, Model
    from harness.interfaces.parser import Parser, ParseResult


    class SlowEcho(Model):
        def generate(self, requests, settings):
            for req in requests:
                time.sleep(0.02)
                label = "harmful" if req.seed % 2 else "safe"
                yield Generation(req.sample_id, req.sample_index, f"seed {req.seed}\\nVERDICT={label}", seed=req.seed)


    class VerdictEquals(Parser):
        name = "verdict-equals"

        def parse(self, text):
            word = text.rsplit("VERDICT=", 1)[-1].strip()
            return ParseResult(verdicts={"label": word}, reasoning=text)


    @hookimpl
    def register_models(register):
        register("slow-echo", lambda arg, options: SlowEcho(), description="sleeps, then echoes a seeded verdict")


    @hookimpl
    def register_parsers(register):
        register("verdict-equals", VerdictEquals())


    @hookimpl
    def register_tasks(register):
        register(pathlib.Path(__file__).parent / "tasks")


    @hookimpl
    def register_commands(cli):
        @cli.command(name="hello-plugin")
        def hello():
            """Say hello from the test plugin."""
            print("hello from harness-test-plugin")
''')

TASK = textwrap.dedent('''
    name: echo_combined
    description: combined_test read with the test plugin's parser
    source: {path: wizard101/evaluation/combined_test.json}
    format: json
    fields: {prompt: text, label: label, category: category}
    labels: {harmless: safe, harmful: harmful}
    positive: harmful
    parser: verdict-equals
''')


@pytest.fixture(scope="module")
def test_plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "harness_test_plugin"
    (pkg / "tasks").mkdir(parents=True)
    (pkg / "__init__.py").write_text(PLUGIN)
    (pkg / "tasks" / "echo_combined.yaml").write_text(TASK)
    (root / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "harness-test-plugin"
        version = "0.0.1"
        [project.entry-points.harness]
        test_plugin = "harness_test_plugin"
        [tool.setuptools.package-data]
        harness_test_plugin = ["tasks/*.yaml"]
    '''))
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(pip + ["install", "--no-deps", "--no-build-isolation", str(root)], check=True)
    from harness.plugins import reset_registry

    reset_registry()
    yield
    subprocess.run(pip + ["uninstall", "-y", "harness-test-plugin"], check=True)
    reset_registry()


def harness(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          env=env or os.environ.copy(), **kw)


def test_installed_plugin_shows_what_it_registered(test_plugin):
    out = harness("plugins", "--json")
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    mine = plugins["test_plugin"]
    assert mine["distribution"] == "harness-test-plugin"
    assert mine["registered"]["models"] == ["slow-echo"]
    assert mine["registered"]["parsers"] == ["verdict-equals"]
    assert mine["registered"]["commands"] == ["hello-plugin"]
    # built-ins register through the same entry-point group
    assert plugins["parsers"]["registered"]["parsers"] == ["guardreasoner", "label-line"]
    assert harness("hello-plugin").stdout.strip() == "hello from harness-test-plugin"


def test_plugin_model_parser_and_task_run_end_to_end(test_plugin):
    out = harness("eval", "--model", "slow-echo", "--task", "echo_combined", "--limit", "20", "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["runs"]["echo_combined"]
    assert m["n"] == 20 and m["parse_failures"] == 0


def test_kill_9_then_rerun_gives_exactly_one_record_per_sample(test_plugin, tmp_path):
    env = {**os.environ, "HARNESS_RUNS_DIR": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "harness", "eval", "--model", "slow-echo", "--task", "echo_combined", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    samples = None
    while time.time() < deadline:
        found = list((tmp_path / "runs").glob("*/samples.jsonl"))
        if found and sum(1 for _ in found[0].open()) >= 40:
            samples = found[0]
            break
        time.sleep(0.05)
    assert samples is not None, "the run never wrote 40 records"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = sum(1 for _ in samples.open())
    assert 40 <= killed_at < 200

    again = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "Resuming" in again.stderr
    records = [json.loads(line) for line in samples.open()]
    ids = [r["id"] for r in records]
    assert len(ids) == 200 == len(set(ids))

    # the resumed run's records equal an uninterrupted run's
    fresh = subprocess.run(cmd + ["--rerun", "--json"], env=env, capture_output=True, text=True)
    fresh_dir = Path(json.loads(fresh.stdout)["runs"]["echo_combined"]["dir"])
    reference = {r["id"]: r["completions"][0]["text"] for r in map(json.loads, (fresh_dir / "samples.jsonl").open())}
    assert {r["id"]: r["completions"][0]["text"] for r in records} == reference
    assert json.loads(again.stdout)["runs"]["echo_combined"]["accuracy"] == \
        json.loads(fresh.stdout)["runs"]["echo_combined"]["accuracy"]


def test_plugin_that_fails_to_import_is_named(tmp_path):
    """A broken entry point: an error line names the plugin and the exception; the rest still loads."""
    dist = tmp_path / "site" / "broken_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[harness]\nbroken = no_such_module_xyz\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = harness("plugins", env=env)
    assert out.returncode == 1
    assert "plugin 'broken'" in out.stderr and "ModuleNotFoundError" in out.stderr
    assert "Traceback" not in out.stderr
    assert "label-line" in out.stdout
    assert harness("tasks", env=env).returncode == 0


def test_two_workers_share_one_run_with_none_lost_or_duplicated(test_plugin, tmp_path):
    """Data-parallel eval: two processes, one merged run, equal to a single-process run."""
    env = {**os.environ, "HARNESS_RUNS_DIR": str(tmp_path / "runs")}
    base = ["eval", "--model", "slow-echo", "--task", "echo_combined", "--limit", "60", "--quiet", "--json"]
    two = harness(*base, "--workers", "2", env=env)
    assert two.returncode == 0, two.stderr
    info = json.loads(two.stdout)["runs"]["echo_combined"]
    run_dir = Path(info["dir"])
    records = [json.loads(line) for line in (run_dir / "samples.jsonl").open()]
    assert len(records) == 60 == len({r["id"] for r in records})
    assert not list(run_dir.glob("samples.rank*.jsonl"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    topo = manifest["topology"]
    assert topo["world_size"] == 2 and topo["launcher"] == "harness --workers"
    assert sorted(r["rank"] for r in topo["ranks"]) == [0, 1]
    assert sum(r["records"] for r in topo["ranks"]) == 60
    single = harness(*base, "--rerun", env=env)
    single_dir = Path(json.loads(single.stdout)["runs"]["echo_combined"]["dir"])
    reference = [json.loads(line) for line in (single_dir / "samples.jsonl").open()]
    assert [(r["id"], r["completions"][0]["text"]) for r in records] == \
        [(r["id"], r["completions"][0]["text"]) for r in reference]
    assert info["accuracy"] == json.loads(single.stdout)["runs"]["echo_combined"]["accuracy"]
