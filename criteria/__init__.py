"""The shipped success criteria (one YAML file each), installed as ``harness_criteria``.

``harness compare A B --criteria toy_dpo`` finds ``toy_dpo.yaml`` here.
"""

from pathlib import Path

CRITERIA_DIR = Path(__file__).parent
