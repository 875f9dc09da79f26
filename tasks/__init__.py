"""The built-in task definitions (one YAML file per task), installed as ``harness_tasks``."""

from pathlib import Path

TASKS_DIR = Path(__file__).parent
