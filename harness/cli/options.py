"""Options shared by several commands."""

from __future__ import annotations

import click


def data_dir_option(f):
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Folder holding task data (default $HARNESS_DATA_DIR, else ./data).")(f)


def runs_dir_option(f):
    return click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
                        help="Where runs are stored (default $HARNESS_RUNS_DIR, else ./runs).")(f)
