"""Options shared by several commands."""

from __future__ import annotations

import click


def data_dir_option(f):
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Folder holding task data (default $HARNESS_DATA_DIR, else ./data).")(f)


def runs_dir_option(f):
    return click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
                        help="Where runs are stored (default $HARNESS_RUNS_DIR, else ./runs).")(f)


class Number(click.ParamType):
    """A finite number (no nan, no inf) within optional bounds; click's FloatRange lets nan through."""

    def __init__(self, kind=float, min=None, max=None, min_open=False, max_open=False):
        self.kind, self.min, self.max, self.min_open, self.max_open = kind, min, max, min_open, max_open
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        import math

        if isinstance(value, bool):
            self.fail(f"{value!r} is not a {self.name}", param, ctx)
        try:
            number = self.kind(value) if self.kind is float or isinstance(value, int) else int(str(value).strip())
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{value!r} is not a {'whole number' if self.kind is int else 'number'}", param, ctx)
        if self.kind is float and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.kind is int and abs(number) > 2 ** 63 - 1:
            self.fail(f"{value!r} is too large", param, ctx)
        low = self.min is not None and (number <= self.min if self.min_open else number < self.min)
        high = self.max is not None and (number >= self.max if self.max_open else number > self.max)
        if low or high:
            self.fail(f"{value!r} is not in the range {self.describe()}", param, ctx)
        return number

    def describe(self) -> str:
        lo = "" if self.min is None else f"{self.min}{'<' if self.min_open else '<='}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='}{self.max}"
        return f"{lo}x{hi}"

    def __repr__(self):
        return f"Number({self.kind.__name__}, {self.describe()})"


class BatchSize(click.ParamType):
    """A positive whole number or 'auto'."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if text == "auto" or (text.isdigit() and int(text) > 0):
            return text
        self.fail(f"{value!r} is not a positive whole number or 'auto'", param, ctx)


BATCH_SIZE = BatchSize()


FINITE = Number()
SEED = Number(int, min=0, max=2 ** 32 - 1)  # numpy and sklearn seeds are 0 .. 2**32-1
COUNT = Number(int, min=0)
POSITIVE = Number(int, min=1)
PROBABILITY = Number(float, min=0, max=1)


def deprecated_spelling(old: str, new: str, dest: str, multiple: bool = False):
    """Keep ``old`` (one release) as a hidden spelling of the option ``new``, with a deprecation message.

    One flag means one thing across commands (``-o/--output`` is an output everywhere); a
    spelling that changed meaning still works for a release and says what to type instead.
    Values given with ``old`` go to the command's ``dest`` parameter (before those of ``new``).
    """
    import functools

    key = ("deprecated", dest)

    def callback(ctx, param, value):
        if value:
            click.echo(f"warning: `{ctx.command_path} {old}` is deprecated and will be removed in the next "
                       f"release; use {new}", err=True)
            ctx.meta[key] = value

    def decorate(f):
        @functools.wraps(f)
        def command(*args, **kwargs):
            old_value = click.get_current_context().meta.get(key)
            if old_value:
                given = kwargs.get(dest)
                kwargs[dest] = (tuple(old_value) + tuple(given or ())) if multiple else (given or old_value)
            return f(*args, **kwargs)

        return click.option(old, f"deprecated_{dest}", multiple=multiple, hidden=True, expose_value=False,
                            callback=callback)(command)

    return decorate


def model_option(help: str = "Extra option for the model loader, e.g. -m label_probs=false."):
    """``-m/--model-option KEY=VALUE`` (repeatable); ``-o``, its old spelling, is deprecated."""
    def decorate(f):
        f = deprecated_spelling("-o", "-m/--model-option", "model_options", multiple=True)(f)
        return click.option("-m", "--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
                            help=help)(f)

    return decorate


#: free-text options that take comma-separated names: an empty item is a typo, not "nothing"
LIST_PARAMS = {"tasks", "task_names", "judges", "eval_names", "runs_list", "models", "eval_tasks", "devices",
               "consensus_margin", "judge_spec", "pairwise_judge", "judge"}


def _refusing_empty(original):
    from click.core import ParameterSource

    def callback(ctx, param, value):
        if ctx.get_parameter_source(param.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            for v in value if isinstance(value, (tuple, list)) else (value,):
                if not isinstance(v, str):
                    continue
                if not v.strip():
                    raise click.BadParameter("must be non-empty (leave the option out for its default)", ctx, param)
                if param.name in LIST_PARAMS and "," in v and any(not s.strip() for s in v.split(",")):
                    raise click.BadParameter(f"{v!r} has an empty item between commas", ctx, param)
        return original(ctx, param, value) if original else value

    return callback


def refuse_empty_values(command: click.Command) -> None:
    """Every text or path option of ``command`` (and its subcommands) refuses an empty value given on the line.

    ``--judge ''`` or ``--runs-dir ''`` used to mean "not given" (falsy) and ran with the default, silently.
    """
    for param in command.params:
        if getattr(param, "is_flag", False) or not isinstance(param.type, (click.types.StringParamType, click.Path)):
            continue
        if getattr(param, "_refuses_empty", False):
            continue
        param.callback = _refusing_empty(param.callback)
        param._refuses_empty = True
    for sub in getattr(command, "commands", {}).values():
        refuse_empty_values(sub)
