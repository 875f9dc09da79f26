"""Registers the task files shipped in ``harness_tasks``."""

from harness import hookimpl


@hookimpl
def register_tasks(register):
    from harness_tasks import TASKS_DIR

    register(TASKS_DIR)
