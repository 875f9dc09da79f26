"""The one reader of the harness's YAML files, its one unknown-key check and its one ``KEY=VALUE`` parser.

Task files, checkpoint registries, training and pipeline configs, criteria and
judge weights all go through :func:`read_yaml_mapping`, so every error names
the file, the line and the field in the same words.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import HarnessError, unknown_name


class Mapping(dict):
    """A YAML mapping that remembers the file and the line of each of its keys."""

    path: str = ""
    line: int | None = None
    key_lines: dict

    def where(self, key=None) -> str:
        """``file:line`` of ``key`` (or of the mapping itself), for error messages."""
        line = self.key_lines.get(key) if key is not None else self.line
        return f"{self.path}:{line}" if line else str(self.path)


#: a YAML document may expand to at most this many nodes once its aliases are followed (a 1 KB "billion
#: laughs" file expands to ~10**9; the largest shipped config has a few hundred)
MAX_YAML_NODES = 100_000


def expanded_size(node, memo=None) -> int:
    """How many nodes ``node`` stands for with every alias followed (shared nodes counted at each use)."""
    import yaml

    memo = {} if memo is None else memo
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(expanded_size(k, memo) + expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def _loader(path: str):
    import yaml

    class LineLoader(yaml.SafeLoader):
        def compose_document(self):
            node = super().compose_document()
            size = expanded_size(node)
            if size > MAX_YAML_NODES:
                raise HarnessError(f"{path}: YAML aliases expand this file to {size:,} nodes (the limit is "
                                   f"{MAX_YAML_NODES:,}); an alias bomb? Write the values out instead of "
                                   "nesting '*' references")
            return node

        def construct_mapping(self, node, deep=False):
            data = Mapping(super().construct_mapping(node, deep=True))
            data.path, data.line = path, node.start_mark.line + 1
            data.key_lines = {self.construct_object(k, deep=True): k.start_mark.line + 1 for k, _ in node.value
                              if isinstance(k, yaml.ScalarNode)}
            return data

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LineLoader.construct_mapping)
    yaml.SafeDumper.add_representer(Mapping, yaml.SafeDumper.represent_dict)  # written back as a plain mapping
    return LineLoader


def parse_yaml(text: str, path: str) -> object:
    """YAML text into Python values whose mappings are :class:`Mapping` (with lines)."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader(str(path)))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: not valid YAML: {exc}") from None


def read_yaml_mapping(path: str | Path, text: str | None = None) -> Mapping:
    """A YAML file whose top level is a mapping (an empty file is an empty mapping).

    A key repeated in one mapping is refused: YAML keeps the last silently, which
    hides an entry (a registry written twice with ``cat >>``) or a setting.
    """
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HarnessError(f"{path}: file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise HarnessError(f"{path}: cannot read: {exc}") from None
    check_unique_keys(text, path)
    data = parse_yaml(text, str(path))
    if data is None:
        data = Mapping()
        data.path, data.line, data.key_lines = str(path), None, {}
    if not isinstance(data, Mapping):
        raise HarnessError(f"{path}: expected a mapping of keys to values at the top level, "
                           f"found a {type(data).__name__}")
    return data


def where_of(mapping, key=None, fallback: str = "") -> str:
    """``file:line`` for a key of a mapping read by :func:`read_yaml_mapping`, else ``fallback``."""
    return mapping.where(key) if isinstance(mapping, Mapping) else fallback


def check_keys(where: str, mapping, allowed, kind: str = "key"):
    """Refuse a mapping with a key outside ``allowed``, naming the file, the line and the closest key."""
    if not isinstance(mapping, dict):
        raise HarnessError(f"{where}: expected a mapping of keys to values, found {type(mapping).__name__}")
    for key in mapping:
        if key not in allowed:
            at = where_of(mapping, key, where)
            prefix = at if at == where else f"{at} ({where})"
            raise HarnessError(f"{prefix}: {unknown_name(kind, str(key), allowed)}")


def expect_type(where: str, field: str, value, types, what: str):
    """Refuse a field whose value is not of ``types``, saying what was expected."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise HarnessError(f"{where}: field '{field}' must be {what}, got {value!r}")
    return value


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def parse_key_values(pairs, flag: str = "--option", form: str = "KEY=VALUE") -> dict:
    """``KEY=VALUE`` strings into a dict; values are JSON where they parse (``3``, ``true``, ``[1,2]``), else text."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"{flag} '{pair}': expected {form}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def check_name(name, what: str) -> str:
    """Refuse a name that could leave its folder when used as a path part (checkpoint, task and run names)."""
    if not isinstance(name, str) or not name.strip():
        raise HarnessError(f"{what}: expected a non-empty name, got {name!r}")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise HarnessError(f"{what} '{name}': a name may not contain '/', '\\' or '..', nor be '.' "
                           "(it names a folder inside the harness's store)")
    return name


def path_inside(root, *parts):
    """``root/parts`` after checking that it resolves inside ``root`` (no writing outside a store)."""
    root = Path(root)
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()) or path.resolve() == root.resolve():
        raise HarnessError(f"{path}: resolves outside {root}; refusing to write there")
    return path


def check_unique_keys(text: str, path) -> None:
    """Refuse a mapping that repeats a key (YAML would silently keep the last), naming both lines."""
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return  # parse_yaml reports it with its own message
    size = expanded_size(root) if root is not None else 0
    if size > MAX_YAML_NODES:
        raise HarnessError(f"{path}: YAML aliases expand this file to {size:,} nodes (the limit is "
                           f"{MAX_YAML_NODES:,}); an alias bomb? Write the values out instead of nesting '*' references")
    stack, visited = ([root] if root is not None else []), set()
    while stack:
        node = stack.pop()
        if id(node) in visited:  # an aliased node is checked once, not at every use
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise HarnessError(f"{path}:{key.start_mark.line + 1}: key '{key.value}' repeats the one "
                                           f"on line {seen[key.value]}; keep one of them")
                    seen[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
