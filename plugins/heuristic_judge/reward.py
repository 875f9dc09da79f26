"""The composite reward: criterion weights and the optional relevance gate, read from a YAML file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import HarnessError, check_keys, expect_type, read_yaml_mapping

WEIGHTS_FILE = Path(__file__).with_name("judge_weights.yaml")
#: weights files by name (``--judge-option heuristic.weights=seed``)
NAMED_WEIGHTS = {"default": WEIGHTS_FILE, "seed": Path(__file__).with_name("judge_weights_seed.yaml")}
CRITERIA = ("coherence", "relevance", "specificity", "consistency", "label", "reward")

@dataclass(frozen=True)
class Reward:
    """The composite: criterion weights, and the relevance gate on the argument's criteria.

    Coherence, specificity and consistency count times ``floor + (1 - floor) * min(1, relevance /
    full_at)``: a well-built argument about other content is not worth its build (issue 12: another
    sample's reasoning kept its reward when it was more coherent than the real one).  The floor keeps
    the argument's criteria ordering traces whose relevance is 0 (a prompt sharing no word with its
    reasoning).  ``floor`` 1 is no gate (the default weights and the seed's have none; the choice
    procedure tries gates, benchmarks/judge_weights_choice.py).
    """

    weights: dict
    floor: float = 1.0
    full_at: float = 1.0

    def gate(self, relevance: float) -> float:
        return self.floor + (1 - self.floor) * min(1.0, relevance / self.full_at)


GATED = ("coherence", "specificity", "consistency")


def load_reward(path: str | Path | None = None) -> Reward:
    """The composite from a YAML file (``reward:`` mapping of criterion -> weight, optional
    ``relevance_gate: {floor, full_at}``), or by name (``default``, ``seed``)."""
    path = NAMED_WEIGHTS.get(str(path), path) if path else WEIGHTS_FILE
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"heuristic judge weights file {path} does not exist")
    data = read_yaml_mapping(path)
    check_keys(str(path), data, {"reward", "relevance_gate"})
    weights = data.get("reward")
    if not isinstance(weights, dict) or not weights:
        raise HarnessError(f"{data.where('reward')}: expected a 'reward:' mapping of criterion to weight, "
                           "e.g. 'coherence: 0.3'")
    check_keys(f"{path}: reward", weights, set(CRITERIA) - {"reward"}, kind="criterion")
    out = {}
    for name, value in weights.items():
        expect_type(weights.where(name), f"reward.{name}", value, (int, float), "a number >= 0")
        if value < 0:
            raise HarnessError(f"{weights.where(name)}: field 'reward.{name}' must be a number >= 0, got {value!r}")
        out[name] = float(value)
    if sum(out.values()) <= 0:
        raise HarnessError(f"{path}: the reward weights sum to 0")
    gate = data.get("relevance_gate")
    if gate is None:
        return Reward(out)
    if not isinstance(gate, dict):
        raise HarnessError(f"{data.where('relevance_gate')}: expected a mapping with floor and full_at, "
                           "e.g. '{floor: 0.25, full_at: 0.5}'")
    check_keys(f"{path}: relevance_gate", gate, {"floor", "full_at"})
    values = {}
    for key, low, high, default in (("floor", 0.0, 1.0, 1.0), ("full_at", 1e-9, 1.0, 1.0)):
        value = gate.get(key, default)
        expect_type(gate.where(key) if key in gate else data.where("relevance_gate"), f"relevance_gate.{key}",
                    value, (int, float), "a number in [0, 1]")
        if not low <= value <= high:
            raise HarnessError(f"{gate.where(key)}: field 'relevance_gate.{key}' must be a number in "
                               f"{'(0, 1]' if key == 'full_at' else '[0, 1]'}, got {value!r}")
        values[key] = float(value)
    return Reward(out, **values)


def load_weights(path: str | Path | None = None) -> dict:
    """The criterion weights of :func:`load_reward`."""
    return load_reward(path).weights


def gate_text(reward: Reward) -> str:
    if reward.floor == 1.0:
        return ""
    return (f"; coherence, specificity and consistency x (floor {reward.floor:g} + {1 - reward.floor:g} "
            f"min(1, relevance / {reward.full_at:g}))")

