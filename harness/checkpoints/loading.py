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
    registry = get_registry()
    loaders = registry.items["models"]
    if scheme not in loaders and scheme not in registry.conflicts["models"]:
        raise unknown_name("model", name_or_spec, list(entries) + list(loaders))
    return {"name": name_or_spec, "spec": name_or_spec}


def model_template_parser(entry: dict) -> tuple[str | None, str | None]:
    """The template and parser a model asks for, without loading it.

    A checkpoint registry entry's ``template``/``parser`` win over what the
    model loader declared (``register(..., template=, parser=)`` or the Model
    class's attributes); ``None`` leaves the choice to the task.
    """
    declared_template, declared_parser = get_registry().model_defaults(split_spec(entry["spec"])[0])
    return entry.get("template") or declared_template, entry.get("parser") or declared_parser


def options_with_origins(entry: dict, options: dict):
    """The entry's options under the caller's, each remembering whether the entry (file:line) or the caller set it.

    A value equal to the entry's counts as the entry's: the run plan passes the
    entry's options merged with the command line's.
    """
    from harness.config import where_of
    from harness.interfaces.model import ModelOptions

    own = entry.get("options") or {}
    merged = ModelOptions({**own, **options})
    for key, value in merged.items():
        if key in own and own[key] == value and entry.get("source"):
            at = where_of(own, key, entry["source"])
            merged.origins[key] = f"checkpoint entry {entry['name']} ({at}) sets {key}: {value}"
        else:
            merged.origins[key] = f"the command line sets {key}: {value}"
    return merged


def load_model(name_or_spec: str, options: dict | None = None):
    """Load a model by checkpoint name or spec; the loader must return a :class:`harness.Model`."""
    entry = resolve(name_or_spec)
    scheme, arg = split_spec(entry["spec"])
    merged = options_with_origins(entry, options or {})
    model = get_registry().create("models", scheme, arg, merged)
    model.spec = entry["spec"]
    model.name = entry["name"]
    model.template, model.parser = model_template_parser(entry)
    return model
