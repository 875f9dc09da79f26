"""Plugin manager: loads every ``harness`` entry point and collects registrations.

Built-in plugins are listed in ``setup.cfg`` under the same entry-point group
that third-party packages use, so they are loaded the same way.  A plugin that
fails to import is reported by name with its exception, and the others load.
"""

import importlib.metadata
import sys
from dataclasses import dataclass, field

import pluggy

from harness import hookspecs

ENTRY_POINT_GROUP = "harness"
KINDS = ("tasks", "parsers", "models", "judges", "trainers", "commands")


@dataclass
class Registration:
    """One item a plugin registered."""

    kind: str
    name: str
    value: object
    plugin: str
    description: str = ""


@dataclass
class PluginInfo:
    name: str
    module: str
    distribution: str = ""
    version: str = ""
    error: str = ""
    registrations: list = field(default_factory=list)


class Registry:
    """Everything the installed plugins registered, by kind and name."""

    def __init__(self):
        self.pm = pluggy.PluginManager("harness")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.items: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}

    # -- loading ---------------------------------------------------------
    def load_entry_points(self):
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist else "",
                version=dist.version if dist else "",
            )
            if ep.name in self.plugins:
                continue
            self.plugins[ep.name] = info
            try:
                module = ep.load()
            except Exception as exc:  # report any import failure by plugin name
                info.error = f"{type(exc).__name__}: {exc}"
                print(
                    f"Error: plugin '{ep.name}' ({ep.value}) failed to load: {info.error}",
                    file=sys.stderr,
                )
                continue
            self.pm.register(module, name=ep.name)

    def collect(self):
        """Call every ``register_*`` hook and record which plugin gave what."""
        for kind in KINDS:
            if kind == "commands":
                continue
            hook = getattr(self.pm.hook, f"register_{kind}")
            for impl in hook.get_hookimpls():
                plugin_name = impl.plugin_name
                register = self._register_callback(kind, plugin_name)
                try:
                    impl.function(register)
                except Exception as exc:
                    info = self.plugins[plugin_name]
                    info.error = f"register_{kind} raised {type(exc).__name__}: {exc}"
                    print(f"Error: plugin '{plugin_name}': {info.error}", file=sys.stderr)

    def _register_callback(self, kind, plugin_name):
        def register(name, value=None, description=""):
            if kind == "tasks":  # register(path)
                name, value = str(name), name
            reg = Registration(kind, name, value, plugin_name, description)
            self.items[kind][name] = reg
            self.plugins[plugin_name].registrations.append(reg)

        return register

    def add_commands(self, cli):
        for impl in self.pm.hook.register_commands.get_hookimpls():
            before = set(cli.commands)
            impl.function(cli)
            for name in sorted(set(cli.commands) - before):
                reg = Registration("commands", name, cli.commands[name], impl.plugin_name)
                self.items["commands"][name] = reg
                self.plugins[impl.plugin_name].registrations.append(reg)

    # -- lookup ----------------------------------------------------------
    def get(self, kind, name):
        from harness.errors import unknown_name

        try:
            return self.items[kind][name].value
        except KeyError:
            raise unknown_name(kind[:-1], name, self.items[kind]) from None


_registry = None


def get_registry():
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = Registry()
        _registry.load_entry_points()
        _registry.collect()
    return _registry


def reset_registry():
    """Forget the loaded registry (tests install plugins and reload)."""
    global _registry
    _registry = None
