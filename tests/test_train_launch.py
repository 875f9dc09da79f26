"""``harness train`` on a multi-GPU host re-executes itself under accelerate (TRL refuses nn.DataParallel);
the decision is tested with a faked list of visible GPUs, and the command with execve intercepted."""

import subprocess
import sys

import pytest

from harness.errors import HarnessError
from harness.train import launch
from harness.train.launch import Launch, command, decide

FOUR = ["0", "1", "2", "3"]


@pytest.mark.parametrize("visible,gpus,world,expected", [
    ([], None, 1, Launch(False, 1)),                      # CPU host: train here
    (["0"], None, 1, Launch(False, 1)),                   # one GPU: train here
    (["0"], 1, 1, Launch(False, 1)),
    (["0", "1"], None, 1, Launch(True, 2, None)),         # two GPUs: DDP over both (was: a TRL traceback)
    (FOUR, 2, 1, Launch(True, 2, ["0", "1"])),            # --gpus 2 of 4: the first two
    (FOUR, 1, 1, Launch(True, 1, ["0"])),                 # --gpus 1: pinned, one process
    (["5", "7"], 1, 1, Launch(True, 1, ["5"])),           # names from CUDA_VISIBLE_DEVICES are kept
    (FOUR, None, 4, Launch(False, 4)),                    # already under accelerate/torchrun
    (FOUR, 4, 4, Launch(False, 4)),
])
def test_decide(visible, gpus, world, expected):
    assert decide(visible, gpus, world) == expected


@pytest.mark.parametrize("visible,gpus,world,message", [
    ([], 2, 1, "--gpus 2: this host has no visible CUDA device"),
    (["0", "1"], 3, 1, "--gpus 3: this host has 2 visible CUDA device\\(s\\)"),
    (FOUR, 0, 1, "--gpus 0: expected at least 1"),
    (FOUR, 2, 4, "--gpus 2, but this was launched with 4 processes"),
])
def test_decide_refuses(visible, gpus, world, message):
    with pytest.raises(HarnessError, match=message):
        decide(visible, gpus, world)


def test_command_lines():
    argv = ["train", "--method", "sft", "--parent", "p", "--data", "d.jsonl", "--output", "o"]
    assert command(Launch(True, 2), argv) == [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                                              "--num_processes", "2", "-m", "harness", *argv]
    assert command(Launch(True, 1, ["3"]), argv) == [sys.executable, "-m", "harness", *argv]


class Execed(Exception):
    pass


@pytest.fixture()
def fake_host(monkeypatch):
    calls = []

    def execve(path, cmd, env):
        calls.append((path, cmd, env))
        raise Execed

    def run_launcher(cmd, env):
        calls.append((cmd[0], cmd, env))
        raise Execed

    monkeypatch.setattr(launch.os, "execve", execve)
    monkeypatch.setattr("harness.train.launcher_output.run_launcher", run_launcher)
    for var in ("WORLD_SIZE", "CUDA_VISIBLE_DEVICES", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(var, raising=False)

    def with_gpus(visible):
        monkeypatch.setattr("harness.evaluate.sharding.visible_gpus", lambda: list(visible))
        return calls

    return with_gpus


def train_args(tmp_path, *extra):
    data = tmp_path / "sft.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n')
    return ["train", "--method", "sft", "--parent", "hf:base", "--data", str(data), "--output", "mine", *extra]


def test_train_on_a_four_gpu_host_relaunches_under_accelerate_with_two(fake_host, tmp_path):
    from harness.cli import main

    calls = fake_host(FOUR)
    with pytest.raises(Execed):
        main(train_args(tmp_path, "--gpus", "2"))
    (path, cmd, env), = calls
    assert path == sys.executable
    assert cmd == [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "-m", "harness", *train_args(tmp_path)]  # --gpus is not passed on
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_train_with_gpus_1_on_a_two_gpu_host_pins_one(fake_host, tmp_path):
    from harness.cli import main

    calls = fake_host(["0", "1"])
    with pytest.raises(Execed):
        main(train_args(tmp_path, "--gpus", "1"))
    (_, cmd, env), = calls
    assert cmd == [sys.executable, "-m", "harness", *train_args(tmp_path)] and env["CUDA_VISIBLE_DEVICES"] == "0"


def test_train_asking_for_gpus_on_a_cpu_host_is_a_clear_error(fake_host, tmp_path, cli):
    calls = fake_host([])
    code, out, err = cli(*train_args(tmp_path, "--gpus", "2"))
    assert code == 1 and "Traceback" not in err and "--gpus 2: this host has no visible CUDA device" in err
    assert calls == []


def test_the_relaunch_module_accepts_the_flags():
    out = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "--multi_gpu" in out.stdout and "--num_processes" in out.stdout
