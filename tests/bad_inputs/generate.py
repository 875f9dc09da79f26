"""Bad-input cases generated from the CLI's own option schemas, plus damaged copies of every file commands read.

Every command is reached by walking the click tree; each has a valid *base* invocation against the world
(``world.py``), and each of its options gets bad values chosen by the option's click type (numbers: text,
empty, nan, inf, overflow, below/above range; choices: unknown and empty names; paths: missing, a folder
for a file, a file for a folder; outputs: onto the harness's stores, a run folder and the command's own
inputs) or, for free-text options, by what the text names (a run, a model, a task, a judge ...).  Which
values are valid comes from the tables below (what each option means), never from the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from harness.cli.options import LIST_PARAMS

ERROR, OK, EITHER = "error", "ok", "either"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]           # may hold {A} {B} {S}: the world's two run ids and its study id
    expect: str                     # ERROR: exit != 0 with every needle; OK: exit 0; EITHER: no crash either way
    needles: tuple[str, ...] = ()   # what the message must name (the option, file, line or field)
    files: tuple = ()               # (relative path, bytes) written over the world before the run
    outputs: tuple[str, ...] = ()   # files an OK run may write (inputs elsewhere must stay as they were)
    timeout: int = 20


# -- the valid base invocation of every command (None: no valid run without a GPU model; bad values only) ------
EVAL = ("eval", "--model", "keyword-baseline", "--task", "t.yaml", "--data-dir", "data", "--quiet")
TRAIN = ("train", "--method", "dpo", "--parent", "hf:parent_ok", "--data", "pairs.jsonl", "--output", "n1")
BASES: dict[str, tuple[tuple[str, ...], bool, tuple[str, ...]]] = {
    # path: (args, runs to exit 0, files it writes)
    "eval": (EVAL, True, ()),
    "score": (("score", "preds.jsonl", "--task", "t.yaml"), True, ()),
    "tasks": (("tasks",), True, ()),
    "tasks show": (("tasks", "show", "t.yaml", "--data-dir", "data"), True, ()),
    "plugins": (("plugins",), True, ()),
    "models": (("models",), True, ()),
    "runs": (("runs",), True, ()),
    "runs show": (("runs", "show", "{A}"), True, ()),
    "runs doctor": (("runs", "doctor"), True, ()),
    "doctor": (("doctor",), True, ()),
    "judge": (("judge", "{A}", "--judge", "heuristic:lexical", "--quiet"), True, ()),
    "leaderboard": (("leaderboard",), True, ()),
    "compare": (("compare", "{A}", "{B}"), True, ()),
    "report": (("report", "{A}", "{B}", "-o", "rep.html"), True, ("rep.html",)),
    "pairs": (("pairs", "--model", "rep", "--task", "t.yaml", "--data-dir", "data", "--samples", "2", "--judge",
               "heuristic:lexical", "--strategy", "reasoning-quality", "-o", "hp.jsonl", "--quiet"), True,
              ("hp.jsonl", "hp.stats.json")),
    "train": (TRAIN, False, ()),
    "pipeline": (("pipeline", "pipe.yaml", "--quiet"), False, ()),
    "human-eval create": (("human-eval", "create", "--a", "{A}", "--b", "{B}", "--n", "2", "--id", "s2"), True, ()),
    "human-eval serve": (("human-eval", "serve", "{S}"), False, ()),
    "human-eval invite": (("human-eval", "invite", "{S}", "--name", "Ann"), True, ()),
    "human-eval results": (("human-eval", "results", "{S}"), True, ()),
    "human-eval plan": (("human-eval", "plan"), True, ()),
    "human-eval export-pairs": (("human-eval", "export-pairs", "{S}", "-o", "hep.jsonl"), EITHER,
                                ("hep.jsonl", "hep.stats.json")),
    "overlap": (("overlap", "--train", "train_texts.jsonl", "--eval", "t.yaml", "--data-dir", "data"), True, ()),
    "export lm-eval": (("export", "lm-eval", "--task", "t.yaml", "--data-dir", "data", "--out", "lmx"), True,
                       ("lmx/",)),
    "capability": (("capability", "--model", "mine", "--parent", "keyword-baseline"), False, ()),
    "judge-check": (("judge-check", "heuristic:lexical", "--on", "{A}", "--no-attacks", "--quiet"), True, ()),
}

# -- what each free-text option names (the kind picks its bad values) --------------------------------------------
STRING_KINDS = {
    "model": "model", "model_name": "model", "parent": "model", "models": "model-filter",
    "task_names": "task", "task_name": "task", "task": "task", "tasks": "task-filter", "eval_names": "task",
    "judges": "judge", "judge": "judge", "judge_spec": "judge", "pairwise_judge": "judge", "card": "card",
    "run_id": "run", "run_ref": "run", "run_a": "run", "run_b": "run", "on": "run-or-task", "runs": "run",
    "runs_list": "run-list", "study_id": "study", "studies": "study",
    "model_options": "key=value", "judge_options": "judge.key=value", "overrides": "key=value",
    "devices": "devices", "batch_size": "batch-size", "consensus_margin": "numbers",
    "metric": "metric", "criteria_file": "criteria", "parser_name": "parser", "parser": "parser",
    "template": "template", "name": "name", "names": "rater", "question": "question", "prompt_from": "prompt-from",
    "method": "method", "train_spec": "train-side", "text_field": "text-field", "host": "host",
    "allowed_hosts": "host-name", "pairwise": "run-pair", "eval_tasks": "task",
}
# where one name means something else in one command
STRING_KINDS_BY_COMMAND = {("runs", "task"): "task-filter", ("runs", "model"): "model-filter",
                           ("human-eval create", "study_id"): "name", ("judge-check", "model"): "model-filter",
                           ("leaderboard", "tasks"): "task-filter"}

# -- numbers: which of the probe values are valid for an option (what the option means) ---------------------------
# default: counts, sizes and seeds are whole numbers >= 1; these also take 0, a negative, or a huge value.
ZERO_OK = {"index", "seed", "pair_seed", "flips_shown", "gold", "attention", "max_overlap", "temperature",
           ("judge", "margin"), ("pairs", "min_margin"), "gamma", "shares", ("human-eval plan", "threshold"),
           "tie_rate", "max_copy_rate", "max_copy_excess"}
NEGATIVE_MAYBE = {"margin", "min_margin", "gamma"}    # differences and slopes: refusing a negative is a choice
HUGE_ERROR = {"seed", "pair_seed", "port"}          # beyond what numpy takes, or a port
# values at most 1 (shares, probabilities, thresholds)
UNIT = {"top_p", "shares", "threshold", "power", "alpha", "tie_rate", "overlap_threshold", "max_copy_rate"}
# huge values of these are valid but make the command do that much work: probed with the command, not here
NOT_HUGE = {"k", "limit", "n", "num_perm", "ngram", "workers", "gpus", "max_new_tokens"}
OUTPUTS = {"output", "out", "out_dir", "csv_path", "jsonl_path", "history_path"}


def commands(group: click.Group, path=()):
    """(path, command) of every leaf command (groups that run on their own are commands too)."""
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command:
                yield " ".join((*path, name)), cmd
            yield from commands(cmd, (*path, name))
        else:
            yield " ".join((*path, name)), cmd


def flag(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return param.human_readable_name
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs or param.opts)[0]


def with_value(base: tuple, n_path: int, cmd: click.Command, param: click.Parameter, value: str) -> tuple:
    """``base`` with ``param`` set to ``value`` (replacing its value there, else appended)."""
    args = list(base)
    if isinstance(param, click.Argument):
        flags = {o for p in cmd.params if getattr(p, "is_flag", False) for o in p.opts}
        positional, i = [], n_path
        while i < len(args):
            if args[i].startswith("-"):
                i += 1 if args[i] in flags else 2
                continue
            positional.append(i)
            i += 1
        slot = [p.name for p in cmd.params if isinstance(p, click.Argument)].index(param.name)
        if slot < len(positional):
            args[positional[slot]] = value
            return tuple(args)
        return (*args, value)
    for opt in param.opts:
        if opt in args:
            args[args.index(opt) + 1] = value
            return tuple(args)
    return (*args, flag(param), value)


def number_values(path: str, param: click.Parameter) -> list[tuple[str, str, tuple]]:
    """(label, value, expect) probes of a numeric option."""
    name, opt = param.name, flag(param)
    is_int = isinstance(param.type, click.types.IntParamType) or getattr(param.type, "kind", float) is int
    probes = [("text", "abc", ERROR), ("empty", "", ERROR), ("nan", "nan", ERROR), ("inf", "inf", ERROR),
              ("overflow", "1e400", ERROR)]
    probes.append(("negative", "-1", EITHER if name in NEGATIVE_MAYBE else ERROR))
    probes.append(("zero", "0", OK if name in ZERO_OK or (path, name) in ZERO_OK else ERROR))
    if name in UNIT:
        probes.append(("above-one", "1.5", ERROR))
    elif name not in NOT_HUGE:
        probes.append(("huge", "99999999999999999999", ERROR if name in HUGE_ERROR else EITHER))
    if is_int:
        probes.append(("fraction", "1.5", ERROR))
    out = []
    for label, value, expect in probes:
        out.append((label, value, expect, (opt,) if expect == ERROR else ()))
    return out


def string_values(kind: str, opt: str) -> list[tuple[str, str, str, tuple]]:
    """(label, value, expect, needles) probes of a free-text option by what it names."""
    empty = [("empty", "", ERROR, (opt,))]
    table = {
        "model": [("unknown", "nosuchmodel", ERROR, ("nosuchmodel",)),
                  ("bad-spec", "hf:", ERROR, ("hf:",)), ("replay-missing", "replay:gone.jsonl", ERROR, ("gone.jsonl",))],
        "model-filter": [("unknown", "nosuchmodel", EITHER, ())],
        "task": [("unknown", "nosuchtask", ERROR, ("nosuchtask",)), ("missing-yaml", "gone.yaml", ERROR, ("gone.yaml",)),
                 ("folder", "data", ERROR, ("data",)), ("empty-item", "t.yaml,", ERROR, (opt,))],
        "task-filter": [("unknown", "nosuchtask", EITHER, ())],
        "judge": [("unknown", "nosuchjudge", ERROR, ("nosuchjudge",)), ("empty-item", "heuristic:lexical,", ERROR, (opt,))],
        "run": [("unknown", "nosuchrun", ERROR, ("nosuchrun",)), ("store-file", "runs/harness.db", ERROR, ("harness.db",)),
                ("folder-no-run", "data", ERROR, ("data",))],
        "run-or-task": [("unknown", "nosuchrun", ERROR, ("nosuchrun",))],
        "run-list": [("one-run", "{A}", ERROR, (opt,)), ("same-twice", "{A},{A}", ERROR, (opt,)),
                     ("unknown", "{A},nosuchrun", ERROR, (opt,))],
        "study": [("unknown", "nosuchstudy", ERROR, ("nosuchstudy",))],
        "key=value": [("no-equals", "noequals", ERROR, ("noequals",)), ("no-key", "=1", ERROR, ("=1",))],
        "judge.key=value": [("no-equals", "noequals", ERROR, ("noequals",)),
                            ("unknown-judge", "nosuch.x=1", ERROR, ("nosuch",))],
        "devices": [("text", "abc", ERROR, (opt,)), ("negative", "-1", ERROR, (opt,))],
        "batch-size": [("text", "abc", ERROR, (opt,)), ("zero", "0", ERROR, (opt,)), ("negative", "-2", ERROR, (opt,))],
        "numbers": [("text", "abc", ERROR, (opt,)), ("nan", "nan", ERROR, (opt,)), ("inf", "inf", ERROR, (opt,))],
        "metric": [("unknown", "nosuchmetric", ERROR, ("nosuchmetric",))],
        "criteria": [("missing", "gone.yaml", ERROR, ("gone.yaml",)), ("folder", "data", ERROR, ("data",))],
        "parser": [("unknown", "nosuchparser", ERROR, ("nosuchparser",))],
        "template": [("unknown", "nosuchtemplate", ERROR, ("nosuchtemplate",))],
        "name": [("dotdot", "../x", ERROR, ("../x",)), ("slash", "a/b", ERROR, ("a/b",))],
        "card": [("unknown", "nosuchjudge", ERROR, ("--card",))],
        "rater": [],
        "question": [("unknown", "nosuchquestion", ERROR, ("nosuchquestion",))],
        "prompt-from": [("unknown", "nosuchrun", ERROR, ("nosuchrun",))],
        "method": [("unknown", "nosuchmethod", ERROR, ("nosuchmethod",))],
        "train-side": [("missing", "gone.jsonl", ERROR, ("gone.jsonl",)), ("folder", "data", ERROR, ("data",))],
        "text-field": [("unknown", "nosuchfield", ERROR, ("nosuchfield",))],
        "host": [],
        "host-name": [("with-port", "a.example:80", ERROR, (opt,))],
    }
    return (empty if kind not in {"model-filter", "task-filter"} else []) + table[kind]


def path_values(path: str, param: click.Parameter, base_inputs: tuple[str, ...]) -> list:
    """Probes of a path option: inputs missing or the wrong kind; outputs onto stores, runs and inputs."""
    opt = flag(param)
    kind = param.type
    folder = not kind.file_okay
    if param.name in {"data_dir", "runs_dir"}:
        return [("a-file", "t.yaml", ERROR, ("t.yaml",)), ("empty", "", ERROR, (opt,))]
    if folder and param.name in OUTPUTS:
        return [("a-file", "t.yaml", ERROR, ("t.yaml",)), ("empty", "", ERROR, (opt,)),
                ("run-folder", "runs/{A}", ERROR, ("runs/{A}",)), ("store-folder", "runs", EITHER, ())]
    if param.name in OUTPUTS:
        if folder:
            return [("a-file", "t.yaml", ERROR, ("t.yaml",)), ("empty", "", ERROR, (opt,)),
                    ("run-folder", "runs/{A}", ERROR, ("runs/{A}",)), ("store-folder", "runs", ERROR, ("runs",))]
        probes = [("onto-index", "runs/harness.db", ERROR, ("harness.db",)),
                  ("onto-studies", "runs/human_eval.db", ERROR, ("human_eval.db",)),
                  ("onto-run-file", "runs/{A}/samples.jsonl", ERROR, ("samples.jsonl",)),
                  ("onto-registry", "checkpoints.yaml", ERROR, ("checkpoints.yaml",)),
                  ("a-folder", "data", ERROR, ("data",)), ("empty", "", ERROR, (opt,))]
        for i, src in enumerate(base_inputs):
            probes.append((f"onto-input{i}", src, ERROR, (src,)))
        return probes
    probes = [("missing", "gone.json", ERROR, ("gone.json",)), ("empty", "", ERROR, (opt,))]
    if not folder:
        probes.append(("a-folder", "data", ERROR, ("data",)))
    return probes


INPUT_FILES = ("t.yaml", "preds.jsonl", "hard.json", "train_texts.jsonl", "pairs.jsonl", "pipe.yaml", "train.yaml")


def option_cases(root: click.Group) -> list[Case]:
    """Every option of every command with each of its bad values, on the command's valid base."""
    cases = []
    for path, cmd in commands(root):
        if path not in BASES:
            raise AssertionError(f"command '{path}' has no base invocation in tests/bad_inputs/generate.py")
        base, _, _ = BASES[path]
        inputs = tuple(a for a in base if a in INPUT_FILES)
        for param in cmd.params:
            if getattr(param, "is_flag", False) or param.name == "help" or param.nargs == 2:
                continue
            if (path, param.name) in SKIP or getattr(param, "hidden", False):
                continue  # hidden: a deprecated spelling of an option that is probed under its own name
            t = param.type
            if isinstance(t, click.Path):
                probes = path_values(path, param, inputs)
            elif isinstance(t, click.Choice):
                opt = flag(param)
                probes = [("unknown", "nosuchchoice", ERROR, (opt,)), ("empty", "", ERROR, (opt,))]
            elif isinstance(t, (click.types.IntParamType, click.types.FloatParamType)) or hasattr(t, "kind"):
                probes = number_values(path, param)
            else:
                kind = STRING_KINDS_BY_COMMAND.get((path, param.name), STRING_KINDS.get(param.name))
                if kind is None:
                    raise AssertionError(f"{path} {param.name}: say what this option names in STRING_KINDS")
                probes = string_values(kind, flag(param))
            runnable = BASES[path][1] is True
            for label, value, expect, needles in probes:
                expect = expect if runnable or expect != OK else EITHER
                if label == "empty-item" and param.name not in LIST_PARAMS:
                    needles = (value,)  # one name, not a list: the message names the whole value
                cases.append(Case(f"{path.replace(' ', '-')}{flag(param) if isinstance(param, click.Option) else '-' + param.name}-{label}",
                                  with_value(base, len(path.split()), cmd, param, value), expect, needles))
    return cases


# options whose bad values are not probed here, with the reason
SKIP = {
    ("human-eval serve", "host"): "a bad bind address is the OS's to refuse, and a good one would serve forever",
    ("human-eval invite", "host"): "printed into a URL only",
    ("human-eval serve", "allowed_hosts"): "a valid one would serve forever; the names are checked per request",
    ("human-eval serve", "runs_dir"): "a valid one would serve forever",
}


def base_cases() -> list[Case]:
    return [Case(f"{path.replace(' ', '-')}-valid", args, OK if ok is True else EITHER, (), (), outs)
            for path, (args, ok, outs) in BASES.items() if ok]
