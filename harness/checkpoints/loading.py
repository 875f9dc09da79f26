"""Turn a model name or spec into a loaded :class:`harness.interfaces.model.Model`."""

from __future__ import annotations

from harness.checkpoints.registry import load_registry
from harness.errors import HarnessError, unknown_name
from harness.interfaces.model import split_spec
from harness.plugins import get_registry


def resolve(name_or_spec: str) -> dict:
    """Registry entry for a name, or a bare entry for a spec."""
    entries = load_registry()
    if name_or_spec in entries:
        entry = dict(entries[name_or_spec])
        if "planned" in entry and "spec" not in entry:
            raise HarnessError(
                f"Checkpoint '{name_or_spec}' is planned but not trained yet; create it with: {entry['planned']}"
            )
        entry["name"] = name_or_spec
        return entry
    scheme, _ = split_spec(name_or_spec)
    loaders = get_registry().items["models"]
    if scheme not in loaders:
        raise unknown_name("model", name_or_spec, list(entries) + list(loaders))
    return {"name": name_or_spec, "spec": name_or_spec}


def load_model(name_or_spec: str, options: dict | None = None):
    entry = resolve(name_or_spec)
    scheme, arg = split_spec(entry["spec"])
    loader = get_registry().get("models", scheme)
    merged = {**entry.get("options", {}), **(options or {})}
    model = loader(arg, merged)
    model.spec = entry["spec"]
    model.name = entry["name"]
    if entry.get("template"):
        model.template = entry["template"]
    if entry.get("parser"):
        model.parser = entry["parser"]
    return model
