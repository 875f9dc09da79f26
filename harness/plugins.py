"""Plugin manager: loads every ``harness`` entry point and collects registrations.

Built-in plugins are listed in ``setup.cfg`` under the same entry-point group
that third-party packages use, so they are loaded the same way.  A plugin that
fails to import, registers a name another plugin already registered, or
registers a value of the wrong type is reported by name (``harness plugins``
exits non-zero) and the others load; a name two plugins claim is unusable
until one is removed, so which one wins never depends on load order.
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
    #: models only: the prompt template and parser this loader's models want (see :meth:`Registry.model_defaults`)
    template: str | None = None
    parser: str | None = None


@dataclass
class PluginInfo:
    name: str
    module: str
    distribution: str = ""
    version: str = ""
    error: str = ""
    registrations: list = field(default_factory=list)

    def fail(self, message: str):
        """Record one problem with this plugin (several are joined) and print it."""
        self.error = f"{self.error}; {message}" if self.error else message
        print(f"Error: plugin '{self.name}': {message}", file=sys.stderr)


class Registry:
    """Everything the installed plugins registered, by kind and name."""

    def __init__(self):
        self.pm = pluggy.PluginManager("harness")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.items: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        #: kind -> name -> the plugins that registered it more than once (such names are unusable)
        self.conflicts: dict[str, dict[str, list[str]]] = {k: {} for k in KINDS}
        self._commands_cli = None

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
            except (Exception, SystemExit) as exc:  # noqa: BLE001  any import failure, sys.exit() at import included
                info.error = (f"called sys.exit({exc.code!r}) while being imported" if isinstance(exc, SystemExit)
                              else f"{type(exc).__name__}: {exc}")
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
                except (Exception, SystemExit) as exc:  # noqa: BLE001  (a broken plugin is reported, not fatal)
                    self.plugins[plugin_name].fail(f"register_{kind} raised {type(exc).__name__}: {exc}")

    def _register_callback(self, kind, plugin_name):
        def register(name, value=None, description="", *, template=None, parser=None):
            if kind == "tasks":  # register(path)
                name, value = str(name), name
            if (template or parser) and kind != "models":
                raise TypeError(f"template=/parser= apply to register_models only, not register_{kind}")
            if kind == "parsers":
                from harness.interfaces.parser import Parser

                if not isinstance(value, Parser):
                    self.plugins[plugin_name].fail(
                        f"parser '{name}' must be a harness.Parser instance, got {type(value).__name__}")
                    return
            if kind == "models":
                template, parser = _model_class_defaults(value, template, parser)
            self._add(Registration(kind, name, value, plugin_name, description, template, parser))

        return register

    def _add(self, reg: Registration):
        """Add one registration; a name already taken is a conflict reported on both plugins."""
        kind, name = reg.kind, reg.name
        if name in self.conflicts[kind]:
            first = self.conflicts[kind][name][0]
        elif name in self.items[kind]:  # the name stops resolving and is no longer listed as registered
            earlier = self.items[kind].pop(name)
            first = earlier.plugin
            self.plugins[first].registrations.remove(earlier)
            self.conflicts[kind][name] = [first]
        else:
            self.items[kind][name] = reg
            self.plugins[reg.plugin].registrations.append(reg)
            return
        self.conflicts[kind][name].append(reg.plugin)
        if first != reg.plugin:
            self.plugins[first].fail(f"{kind[:-1]} '{name}' is also registered by plugin '{reg.plugin}'")
        self.plugins[reg.plugin].fail(f"{kind[:-1]} '{name}' is already registered by plugin '{first}'; "
                                      "uninstall one of them")

    def add_commands(self, cli, core=()):
        """Let plugins add commands to ``cli``; one that takes a taken name is reported and left out.

        ``core`` names the built-in commands; any other command on ``cli`` was
        added by an earlier registry and is replaced.  Adding twice is a no-op.
        """
        if self._commands_cli is cli:
            return
        self._commands_cli = cli
        for name in [n for n in cli.commands if n not in core]:
            del cli.commands[name]
        for impl in self.pm.hook.register_commands.get_hookimpls():
            before = dict(cli.commands)
            try:
                impl.function(cli)
            except (Exception, SystemExit) as exc:  # noqa: BLE001  (a broken plugin is reported, not fatal)
                self.plugins[impl.plugin_name].fail(f"register_commands raised {type(exc).__name__}: {exc}")
                continue
            for name, command in sorted(cli.commands.items()):
                if before.get(name) is command:
                    continue
                if name in core:  # a plugin may not replace a built-in command
                    cli.commands[name] = before[name]
                    self.plugins[impl.plugin_name].fail(f"command '{name}' is a built-in harness command")
                    continue
                if name in before:
                    cli.commands[name] = before[name]
                self._add(Registration("commands", name, command, impl.plugin_name))
            for name in self.conflicts["commands"]:
                cli.commands.pop(name, None)

    # -- lookup ----------------------------------------------------------
    def registration(self, kind, name) -> Registration:
        """The registration of ``name``; a HarnessError for an unknown or doubly registered name."""
        from harness.errors import HarnessError, unknown_name

        if name in self.conflicts[kind]:
            plugins = " and ".join(f"'{p}'" for p in sorted(set(self.conflicts[kind][name])))
            raise HarnessError(f"{kind[:-1].capitalize()} '{name}' is registered by plugins {plugins}; "
                               "uninstall one of them (see `harness plugins`)")
        try:
            return self.items[kind][name]
        except KeyError:
            raise unknown_name(kind[:-1], name, self.items[kind]) from None

    def get(self, kind, name):
        return self.registration(kind, name).value

    def create(self, kind, name, *args):
        """Call the factory registered as ``name`` and check that it built the right type.

        Model loaders must return a :class:`harness.Model`, judge factories a
        :class:`harness.Judge`, trainer factories a :class:`harness.Trainer`.
        """
        reg = self.registration(kind, name)
        made = reg.value(*args)
        expected = _expected_type(kind)
        if not isinstance(made, expected):
            from harness.errors import HarnessError

            what = {"models": "model loader", "judges": "judge factory", "trainers": "trainer factory"}[kind]
            raise HarnessError(f"Plugin '{reg.plugin}': {what} '{name}' returned {type(made).__name__}, "
                               f"not a harness.{expected.__name__}")
        return made

    def model_defaults(self, scheme) -> tuple[str | None, str | None]:
        """The (template, parser) a model loader declared, known without loading any weights."""
        reg = self.registration("models", scheme)
        return reg.template, reg.parser


def _expected_type(kind):
    from harness.interfaces.judge import Judge
    from harness.interfaces.model import Model
    from harness.interfaces.trainer import Trainer

    return {"models": Model, "judges": Judge, "trainers": Trainer}[kind]


def _model_class_defaults(loader, template, parser):
    """Explicit ``register(..., template=, parser=)`` values, else the Model class's attributes.

    The class is found without calling the loader: the loader is a Model
    subclass itself, or a classmethod/staticmethod bound to one.
    """
    from harness.interfaces.model import Model

    cls = loader if isinstance(loader, type) else getattr(loader, "__self__", None)
    if isinstance(cls, type) and issubclass(cls, Model):
        template = template or cls.template
        parser = parser or cls.parser
    return template, parser


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
