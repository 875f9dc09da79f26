"""Tasks: what a run evaluates, found by name through one lookup, :func:`get_task`.

A task comes from a :class:`TaskSource`: the task YAML files the plugins
register (:mod:`harness.tasks.task`), or a prefixed source such as
``lm-eval:NAME`` (:mod:`harness.tasks.lm_eval_source`).  The sources import
nothing from here, so the lookup and the sources form no import cycle.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TaskSource(Protocol):
    """Where tasks of one kind come from: a name -> a task (``name``, ``load``, ``score``, ``generation``...)."""

    def get_task(self, name: str): ...


class YamlTasks:
    """Task YAML files, by registered name or by path."""

    def get_task(self, name: str):
        from harness.tasks.task import get_yaml_task

        return get_yaml_task(name)


class LmEvalTasks:
    """lm-eval's tasks (``lm-eval:NAME``), run through the harness's models and stores."""

    def get_task(self, name: str):
        from harness.tasks.lm_eval_source import get_lm_eval_task

        return get_lm_eval_task(name)


#: prefixed sources (``PREFIX:NAME``); a name without a known prefix is a task YAML name or path
SOURCES: dict[str, TaskSource] = {"lm-eval": LmEvalTasks()}
DEFAULT_SOURCE: TaskSource = YamlTasks()


def get_task(name_or_path: str):
    """A task by registered name, by the path of a task YAML file, or ``lm-eval:NAME`` (an lm-eval task)."""
    prefix, sep, rest = name_or_path.partition(":")
    if sep and prefix in SOURCES:
        return SOURCES[prefix].get_task(rest)
    return DEFAULT_SOURCE.get_task(name_or_path)
