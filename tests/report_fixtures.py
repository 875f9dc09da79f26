"""Helpers for the leaderboard/compare/report tests: real runs made through the CLI.

Runs use the real task data (HARNESS_DATA_DIR); "models" are the keyword
baseline and replays of its own records with chosen verdicts flipped, so every
expected number can be worked out from the records.
"""

import json
from pathlib import Path

import yaml


def eval_run(cli, model, task, *extra) -> dict:
    """Run ``harness eval`` in-process; returns the run's metrics with run_id and dir."""
    code, out, err = cli("eval", "--model", model, "--task", task, "--json", "--quiet", *extra)
    assert code == 0, err
    runs = json.loads(out)["runs"]
    return runs[task] if task in runs else runs[Path(task).stem]  # a task file is keyed by its task name


def read_records(run_dir) -> list[dict]:
    return [json.loads(line) for line in Path(run_dir, "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def opposite(label):
    return {"harmful": "safe", "safe": "harmful"}[label]


def flipped_replay(run_dir, out_path, flip_ids, reasoning=None) -> Path:
    """A samples.jsonl replay file: the run's completions, with the verdict of ``flip_ids`` inverted.

    ``reasoning`` (id -> text) replaces the reasoning of chosen samples.
    """
    reasoning = reasoning or {}
    with open(out_path, "w", encoding="utf-8") as fh:
        for rec in read_records(run_dir):
            comps = []
            for comp in rec["completions"]:
                verdict = comp["verdict"]
                body = reasoning.get(rec["id"], comp["reasoning"])
                if rec["id"] in flip_ids:
                    verdict = opposite(verdict)
                comps.append({**comp, "text": f"{body}\n\nLabel: {verdict}"})
            fh.write(json.dumps({**rec, "completions": comps}) + "\n")
    return Path(out_path)


def register(home: Path, name: str, spec: str, **entry):
    """Point checkpoint ``name`` at ``spec`` in the user-level registry (HARNESS_HOME)."""
    path = home / "checkpoints.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    data[name] = {"spec": spec, **entry}
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
