"""The hooks a harness plugin can implement.

Every built-in capability (tasks, parsers, model loaders, judges, trainers,
extra commands) is registered through these hooks by a module listed under the
``harness`` entry-point group, exactly as a third-party package would do it.

Each ``register_*`` hook receives a ``register`` callback; calling it adds one
item to the registry and records which plugin added it, so that
``harness plugins`` can list what every plugin contributed.  A name already
registered by another plugin is an error on both (the name becomes unusable),
and registered values are type-checked (docs/plugins.md, "The rules").
Plugin modules must not import torch or transformers at import time: do it
inside the loader.  Implement hooks with ``harness.hookimpl``.
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

    Call ``register(name, parser)`` where ``parser`` is a :class:`harness.Parser`
    instance (anything else is reported as a broken plugin).
    """


@hookspec
def register_models(register):
    """Register model loaders under a spec scheme.

    Call ``register(scheme, loader, description=..., template=None, parser=None)``.
    A model spec ``scheme:ARG`` (or a bare ``scheme``) is loaded with
    ``loader(arg, options)``, which must return a :class:`harness.Model`.
    ``template``/``parser`` (or, when ``loader`` is a Model subclass or one of
    its classmethods, its class attributes) override the task's, below a
    checkpoint registry entry's; they are read without loading the model.
    """


@hookspec
def register_judges(register):
    """Register reasoning-quality judges.

    Call ``register(name, JudgeClass, description=...)`` with a subclass of
    :class:`harness.Judge`.  Its declared ``arg`` and ``options``
    are checked before any work; then ``JudgeClass.create(arg, options)`` makes
    the judge.  ``arg`` is the text after ``name:`` in a judge spec such as
    ``llm-judge:exp_18``.
    """


@hookspec
def register_trainers(register):
    """Register trainers for ``harness train``.

    Call ``register(method, factory, description=...)``; ``factory()`` must
    return a :class:`harness.Trainer`.  ``harness train --method METHOD``
    accepts every registered method.
    """


@hookspec
def register_commands(cli):
    """Add extra commands to the ``harness`` click group (a built-in command's name is refused)."""
