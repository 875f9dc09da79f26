"""The CLI's start-up path must not import torch or transformers."""

import subprocess
import sys

import pytest

CHECK = """
import sys
from harness.cli import main
try:
    main({args!r})
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "transformers", "peft", "trl", "datasets") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["tasks"], ["plugins"], ["models"], ["runs"]])
def test_no_heavy_imports(args):
    out = subprocess.run([sys.executable, "-c", CHECK.format(args=args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:", out.stdout[-500:]


def test_every_command_has_help_with_an_example():
    from harness.cli import build_cli

    cli = build_cli()

    def walk(group, prefix=""):
        for name, cmd in group.commands.items():
            yield prefix + name, cmd
            if hasattr(cmd, "commands"):
                yield from walk(cmd, prefix + name + " ")

    for name, cmd in walk(cli):
        assert cmd.help and "Example" in cmd.help, f"`harness {name}` --help lacks an example"
