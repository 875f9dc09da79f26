"""The hooks a harness plugin can implement.

Every built-in capability (tasks, parsers, model loaders, judges, trainers,
extra commands) is registered through these hooks by a module listed under the
``harness`` entry-point group, exactly as a third-party package would do it.

Each ``register_*`` hook receives a ``register`` callback; calling it adds one
item to the registry and records which plugin added it, so that
``harness plugins`` can list what every plugin contributed.  Plugin modules
must not import torch or transformers at import time: do it inside the loader.
"""

import pluggy

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def register_tasks(register):
    """Register task definition files.

    Call ``register(path)`` with a task YAML file or a directory of them.
    """


@hookspec
def register_parsers(register):
    """Register output parsers that turn a completion into verdicts.

    Call ``register(name, parser)`` where ``parser`` is a
    :class:`harness.interfaces.parser.Parser`.
    """


@hookspec
def register_models(register):
    """Register model loaders under a spec scheme.

    Call ``register(scheme, loader, description=...)``.  A model spec
    ``scheme:ARG`` (or a bare ``scheme``) is loaded with
    ``loader(arg, options)`` which returns a :class:`harness.interfaces.model.Model`.
    """


@hookspec
def register_judges(register):
    """Register reasoning-quality judges.

    Call ``register(name, JudgeClass, description=...)`` with a subclass of
    :class:`harness.interfaces.judge.Judge`.  Its declared ``arg`` and ``options``
    are checked before any work; then ``JudgeClass.create(arg, options)`` makes
    the judge.  ``arg`` is the text after ``name:`` in a judge spec such as
    ``llm-judge:exp_18``.
    """


@hookspec
def register_trainers(register):
    """Register trainers for ``harness train``.

    Call ``register(method, factory, description=...)``; ``factory()`` returns
    a :class:`harness.interfaces.trainer.Trainer`.
    """


@hookspec
def register_commands(cli):
    """Add extra commands to the ``harness`` click group."""
