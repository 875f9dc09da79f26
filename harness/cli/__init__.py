"""The ``harness`` command line: evaluate guards, score predictions, list what is installed.

Plugins add commands through the ``register_commands`` hook.  User errors are
printed as one ``Error:`` line with exit code 1, never as a traceback.
"""

from __future__ import annotations

import sqlite3
import sys

import click

from harness import __version__
from harness.errors import HarnessError
from harness.plugins import get_registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli():
    """Evaluate and retrain reasoning safety guards.

    \b
    Example:
      HARNESS_DATA_DIR=../shared/data harness eval --model keyword-baseline --task combined_test
    """



def build_cli():
    """The core commands, then any a third-party plugin adds through ``register_commands``."""
    from harness.cli import (
        capability,
        evaluate,
        export,
        human_eval,
        judge,
        judge_check,
        models,
        overlap,
        plugins,
        report,
        runs,
        score,
        tasks,
        train,
    )

    core = (evaluate.eval_command, score.score, tasks.tasks, plugins.plugins, models.models, runs.runs,
            judge.judge, report.leaderboard, report.compare, report.report, train.pairs, train.train, train.pipeline,
            human_eval.human_eval, overlap.overlap, export.export, capability.capability,
            judge_check.judge_check, runs.doctor)
    from harness.cli.options import refuse_empty_values

    for command in core:
        refuse_empty_values(command)
        cli.add_command(command)
    get_registry().add_commands(cli, core={c.name for c in core})
    return cli


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        build_cli().main(args=argv, prog_name="harness", standalone_mode=False, obj={"argv": argv})
    except HarnessError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except sqlite3.DatabaseError as exc:  # a damaged SQLite store found mid-query: named, no traceback
        click.echo(f"Error: a harness database is damaged ({exc}); `harness runs doctor` rebuilds the run index "
                   "(see README, 'Recovering a damaged store')", err=True)
        sys.exit(1)
