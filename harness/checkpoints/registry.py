"""The checkpoint registry: names such as ``exp_18`` mapped to model specs and lineage.

Files are read in order, later ones overriding earlier entries: the built-in
``harness/checkpoints/builtin.yaml``, ``./checkpoints.yaml`` in the working directory,
the user-level ``$HARNESS_HOME/checkpoints.yaml``, then the files named in
``$HARNESS_REGISTRY`` (``:``-separated; a shipped file such as
``examples/demo_checkpoints.yaml`` is used without copying it anywhere).
In a ``replay:`` spec, ``${HARNESS_DATA_DIR}`` stands for the data folder
(``$HARNESS_DATA_DIR``, else ``./data``), so a shipped file works wherever the data is.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from harness.checkpoints.spec import split_base_adapter
from harness.config import check_keys, read_yaml_mapping, where_of
from harness.errors import HarnessError

ENTRY_KEYS = {"description", "spec", "options", "template", "parser", "parent", "planned", "lineage"}


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".config" / "harness")


REGISTRY_ENV = "HARNESS_REGISTRY"
DATA_VARIABLE = "${HARNESS_DATA_DIR}"


def registry_files() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get(REGISTRY_ENV, "").split(os.pathsep) if p.strip()]
    for path in extra:
        if not path.is_file():
            raise HarnessError(f"${REGISTRY_ENV}: registry file {path} not found (give existing YAML files, "
                               f"separated by '{os.pathsep}')")
    return [Path(__file__).with_name("builtin.yaml"), Path("checkpoints.yaml"), harness_home() / "checkpoints.yaml",
            *extra]


def read_registry_file(path: Path) -> dict:
    """One registry file; errors name its file and line."""
    data = read_yaml_mapping(path)
    for name, entry in data.items():
        check_keys(f"{data.where(name)}: entry '{name}'", entry, ENTRY_KEYS)
        if "spec" not in entry and "planned" not in entry:
            raise HarnessError(f"{data.where(name)}: entry '{name}' has no 'spec' (the model spec to load)")
        check_entry(path, name, entry)
        entry["source"] = str(path)
    return data


def check_entry(path: Path, name, entry: dict):
    """Field types of one registry entry; relative ``replay:`` and ``hf:`` paths become relative to its folder."""
    where = where_of(entry, None, f"{path}: entry '{name}'")
    if not isinstance(name, str) or not name.strip():
        raise HarnessError(f"{where}: an entry name must be text, got {name!r}")
    for key, types, what in (("spec", str, "a model spec such as hf:BASE+ADAPTER"),
                             ("description", str, "text"), ("template", str, "a template name or text"),
                             ("parser", str, "a parser name"), ("parent", str, "a checkpoint name"),
                             ("planned", str, "the command that creates it"),
                             ("options", dict, "a mapping of loader options"), ("lineage", dict, "a mapping")):
        if key in entry and entry[key] is not None and not isinstance(entry[key], types):
            raise HarnessError(f"{where_of(entry, key, where)}: entry '{name}' field '{key}' must be {what}, "
                               f"got {entry[key]!r}")
    spec = entry.get("spec")
    if isinstance(spec, str) and spec.startswith("replay:"):
        target = spec[len("replay:"):]
        if DATA_VARIABLE in target:
            from harness.tasks.sources import data_dir

            target = target.replace(DATA_VARIABLE, str(data_dir()[0].resolve()))
        target = Path(target).expanduser()
        entry["spec"] = f"replay:{target if target.is_absolute() else (Path(path).parent / target).resolve()}"
    elif isinstance(spec, str) and spec.startswith("hf:"):
        entry["spec"] = "hf:" + resolve_hf_paths(spec[len("hf:"):], Path(path).parent, where_of(entry, "spec", where))


def resolve_hf_paths(arg: str, folder: Path, where: str = "hf") -> str:
    """``BASE[+ADAPTER]`` with each relative local path made absolute against the registry's ``folder``.

    A part is a local path when it starts with ``./`` or ``../`` or names something
    that exists in ``folder``; anything else (``org/name``) is a hub id and kept.
    """
    def local(part: str) -> str:
        if Path(part).expanduser().is_absolute() or part.startswith("~"):
            return part
        if part.startswith(("./", "../")) or part in (".", "..") or (folder / part).exists():
            return str((folder / part).resolve())
        return part

    base, adapter = split_base_adapter(arg, folder, where)
    return local(base) if adapter is None else f"{local(base)}+{local(adapter)}"


def check_parent_cycles(entries: dict):
    """Refuse a parent chain that loops (it would vanish from ``models --tree``), naming the cycle."""
    for start in entries:
        chain, name = [], start
        while name in entries and name not in chain:
            chain.append(name)
            name = entries[name].get("parent")
        if name in chain:
            loop = chain[chain.index(name):] + [name]
            first = entries[loop[0]]
            raise HarnessError(f"{where_of(first, 'parent', first.get('source', ''))}: checkpoint parents form a "
                               f"cycle: {' -> '.join(loop)}; a checkpoint cannot descend from itself")


def load_registry() -> dict:
    entries = {}
    for path in registry_files():
        if path.exists():
            entries.update(read_registry_file(path))
    check_parent_cycles(entries)
    return entries


def register_checkpoint(name: str, entry: dict, overwrite: bool = False, path: Path | None = None) -> Path:
    """Add a trained checkpoint to the user-level registry file."""
    path = path or harness_home() / "checkpoints.yaml"
    existing = load_registry()
    if name in existing and "planned" not in existing[name] and not overwrite:
        raise HarnessError(f"Checkpoint '{name}' already exists (in {existing[name]['source']}); pass --overwrite to replace it")
    data = read_registry_file(path) if path.exists() else {}
    for e in data.values():
        e.pop("source", None)
    data[name] = {k: v for k, v in entry.items() if k != "source"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path


def lineage_tree(entries: dict) -> list[str]:
    """Indented lines showing each checkpoint under its parent."""
    children = {}
    for name, entry in entries.items():
        children.setdefault(entry.get("parent"), []).append(name)
    lines = []

    def walk(name, depth):
        entry = entries[name]
        status = " (planned)" if "planned" in entry else ""
        lines.append(f"{'  ' * depth}{'└─ ' if depth else ''}{name}{status}  {entry.get('spec', '')}")
        for child in sorted(children.get(name, [])):
            walk(child, depth + 1)

    roots = sorted(n for n, e in entries.items() if e.get("parent") not in entries)
    for root in roots:
        walk(root, 0)
    return lines
