"""The registry's rules for plugins (docs/plugins.md "The rules"): a name belongs to one plugin, registered
values and what factories build are type-checked, trainers come from plugins, and a model's declared
template/parser are honoured.  Throwaway plugins are put on sys.path with a dist-info entry point."""

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install({"entry_name": source, ...})``: make each source a plugin module under the harness group."""
    from harness.plugins import reset_registry

    site = tmp_path / "site"
    site.mkdir()
    modules = []

    def put(plugins: dict):
        for ep_name, source in plugins.items():
            module = f"h3test_{ep_name}"
            (site / f"{module}.py").write_text(source)
            dist = site / f"{module}-0.1.dist-info"
            dist.mkdir()
            (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
            (dist / "entry_points.txt").write_text(f"[harness]\n{ep_name} = {module}\n")
            modules.append(module)
        monkeypatch.syspath_prepend(str(site))
        reset_registry()

    yield put
    for module in modules:
        sys.modules.pop(module, None)
    reset_registry()


PARSER_PLUGIN = '''
from harness import ParseResult, Parser, hookimpl


class Always(Parser):
    def parse(self, text):
        return ParseResult(verdicts={{"label": "safe"}})


@hookimpl
def register_parsers(register):
    register("shared-parser", Always())
    register("{own}", Always())
'''


def test_the_same_name_from_two_plugins_is_an_error_naming_both(install, cli):
    install({"alpha": PARSER_PLUGIN.format(own="alpha-only"), "beta": PARSER_PLUGIN.format(own="beta-only")})
    code, out, err = cli("plugins", "--json")
    assert code == 1
    assert "'alpha'" in err and "'beta'" in err and "shared-parser" in err
    plugins = {p["name"]: p for p in json.loads(out)}
    assert "shared-parser" in plugins["beta"]["error"] and "alpha" in plugins["beta"]["error"]
    assert "shared-parser" in plugins["alpha"]["error"] and "beta" in plugins["alpha"]["error"]
    # the rest of both plugins, and the built-ins, still load
    assert plugins["alpha"]["registered"]["parsers"] == ["alpha-only"]
    assert plugins["beta"]["registered"]["parsers"] == ["beta-only"]
    assert plugins["parsers"]["registered"]["parsers"] == ["guardreasoner", "label-line"]

    from harness.errors import HarnessError
    from harness.plugins import get_registry

    with pytest.raises(HarnessError, match="'shared-parser' is registered by plugins 'alpha' and 'beta'"):
        get_registry().get("parsers", "shared-parser")


def test_shadowing_a_builtin_model_makes_it_unusable_with_a_clear_error(install, cli):
    install({"shadow": '''
from harness import Generation, Model, hookimpl


class Other(Model):
    def generate(self, requests, settings):
        return iter(())


@hookimpl
def register_models(register):
    register("keyword-baseline", lambda arg, options: Other())
'''})
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet")
    assert code == 1 and "Traceback" not in err
    assert "Model 'keyword-baseline' is registered by plugins 'keyword_baseline' and 'shadow'; uninstall one" in err


def test_a_command_registered_twice_is_reported_and_left_out(install, cli):
    command = '''
import click
from harness import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command(name="greet")
    def greet():
        """Say who greets."""
        click.echo("{who}")

    @cli.command(name="runs")
    def runs():
        """Try to replace a built-in command."""
'''
    install({"one": command.format(who="one"), "two": command.format(who="two")})
    code, out, err = cli("plugins")
    assert code == 1
    assert "command 'greet' is already registered by plugin 'one'" in err
    assert "command 'runs' is a built-in harness command" in err
    code, out, err = cli("greet")
    assert code != 0 and "No such command 'greet'" in err
    code, out, _ = cli("runs", "--help")
    assert code == 0 and "Try to replace" not in out


WRONG_TYPES = '''
from harness import hookimpl


@hookimpl
def register_parsers(register):
    register("not-a-parser", lambda text: text)


@hookimpl
def register_models(register):
    register("stringy", lambda arg, options: "a string, not a Model")


@hookimpl
def register_judges(register):
    register("dicty", lambda arg, options: {"score": 1.0})


@hookimpl
def register_trainers(register):
    register("nothing", lambda: None)
'''


def test_wrong_types_are_errors_naming_the_plugin(install, cli, tmp_path):
    install({"wrongtypes": WRONG_TYPES})
    code, out, err = cli("plugins")
    assert code == 1
    assert "plugin 'wrongtypes': parser 'not-a-parser' must be a harness.Parser instance, got function" in err

    code, _, err = cli("eval", "--model", "stringy", "--task", "combined_test", "--limit", "4", "--quiet")
    assert code == 1 and "Traceback" not in err
    assert "Plugin 'wrongtypes': model loader 'stringy' returned str, not a harness.Model" in err

    from harness.errors import HarnessError
    from harness.judge.runner import load_judge

    with pytest.raises(HarnessError, match="Plugin 'wrongtypes': judge 'dicty' is registered as a function, not a subclass of harness.Judge"):
        load_judge("dicty")

    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n')
    code, _, err = cli("train", "--method", "nothing", "--parent", "keyword-baseline", "--data", data, "--output", "x")
    assert code == 1 and "Plugin 'wrongtypes': trainer factory 'nothing' returned NoneType, not a harness.Trainer" in err


def docs_example_plugin() -> str:
    """The complete example plugin of docs/plugins.md, verbatim."""
    text = (REPO / "docs" / "plugins.md").read_text()
    section = text.split("## A complete plugin using every hook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def docs_plugin(install, tmp_path):
    install({"my_plugin": docs_example_plugin()})
    (tmp_path / "site" / "tasks").mkdir()  # the example registers HERE / "tasks"


def test_docs_example_model_is_parsed_with_its_declared_parser(docs_plugin, cli):
    code, out, err = cli("plugins", "--json")
    assert code == 0, err
    mine = {p["name"]: p for p in json.loads(out)}["my_plugin"]["registered"]
    assert mine == {"parsers": ["verdict-line"], "models": ["echo"], "judges": ["shortness"], "trainers": ["copy"],
                    "commands": ["hello"], "tasks": mine["tasks"]}

    # combined_test's own parser is label-line, which finds no verdict in "VERDICT: harmful"
    code, out, err = cli("eval", "--model", "echo:harmful", "--task", "combined_test", "--limit", "20", "--json",
                         "--quiet")
    assert code == 0, err
    run = json.loads(out)["runs"]["combined_test"]
    assert run["n"] == 20 and run["parse_failures"] == 0
    manifest = json.loads((Path(run["dir"]) / "manifest.json").read_text())
    assert manifest["parser"] == "verdict-line"
    # every answer is "harmful": recall of the harmful class is 1 and accuracy is the harmful share (10 of 20,
    # the subset is label-stratified)
    assert run["accuracy"] == pytest.approx(0.5)


def test_docs_example_judge_refuses_an_unknown_option_and_trainer_and_command_work(docs_plugin, cli, tmp_path):
    from harness.errors import HarnessError
    from harness.judge.runner import load_judge

    with pytest.raises(HarnessError, match=r"--judge-option shortness.limti: judge 'shortness' has no option 'limti' \(its options: limit\)"):
        load_judge("shortness", {"limti": 3})
    assert load_judge("shortness", {"limit": 3}).limit == 3
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "p"}\n')
    code, out, err = cli("train", "--method", "copy", "--parent", "keyword-baseline", "--data", data,
                         "--output", "copied")
    assert code == 0, err
    from harness.checkpoints.registry import harness_home, load_registry

    assert (harness_home() / "checkpoints" / "copied" / "data.jsonl").read_text() == '{"prompt": "p"}\n'
    assert load_registry()["copied"]["spec"] == "keyword-baseline"
    assert cli("hello", "world")[1] == "hello world\n"


def test_a_checkpoint_entry_parser_wins_over_the_model_declaration(docs_plugin, cli, tmp_path):
    (tmp_path / "checkpoints.yaml").write_text("echo_label_line:\n  spec: echo:safe\n  parser: label-line\n")
    code, out, err = cli("eval", "--model", "echo_label_line", "--task", "combined_test", "--limit", "10", "--json",
                         "--quiet")
    assert code == 0, err
    run = json.loads(out)["runs"]["combined_test"]
    assert run["parse_failures"] == 10  # label-line finds no "harmful"/"safe" label line in the echo's text


def test_declared_template_and_parser_are_read_without_loading(install):
    install({"declares": '''
from harness import Model, hookimpl


class Heavy(Model):
    template = "seed-chatml"
    parser = "guardreasoner"

    def __init__(self, arg, options):
        raise RuntimeError("loading weights")

    @classmethod
    def load(cls, arg, options):
        return cls(arg, options)


@hookimpl
def register_models(register):
    register("heavy", Heavy)
    register("heavy-classmethod", Heavy.load)
    register("explicit", lambda arg, options: Heavy(arg, options), template="seed-chatml", parser="label-line")
    register("plain", lambda arg, options: Heavy(arg, options))
'''})
    from harness.plugins import get_registry

    reg = get_registry()
    assert reg.model_defaults("heavy") == ("seed-chatml", "guardreasoner")
    assert reg.model_defaults("heavy-classmethod") == ("seed-chatml", "guardreasoner")
    assert reg.model_defaults("explicit") == ("seed-chatml", "label-line")
    assert reg.model_defaults("plain") == (None, None)


TRAINER_PLUGIN = '''
import json
from harness import HarnessError, Trainer, TrainResult, hookimpl


class NoteTrainer(Trainer):
    def train(self, request):
        if not request.parent_spec().startswith("keyword-baseline"):
            raise HarnessError(f"note trains keyword-baseline parents only, not {request.parent_spec()}")
        request.output_dir.mkdir(parents=True, exist_ok=True)
        note = request.output_dir / "note.json"
        note.write_text(json.dumps({"parent": request.parent_entry, "config": request.config}))
        return TrainResult(spec=request.parent_spec(), metrics={"rows": len(request.data_path.read_text().splitlines())},
                           adapter_dir=request.output_dir)


@hookimpl
def register_trainers(register):
    register("note", NoteTrainer, description="writes a note")
'''


def test_harness_train_runs_a_plugin_trainer(install, cli, tmp_path):
    install({"notes": TRAINER_PLUGIN})
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    code, out, err = cli("train", "--method", "note", "--parent", "keyword-baseline", "--data", data,
                         "--output", "noted", "--set", "alpha=2")
    assert code == 0, err
    from harness.checkpoints.registry import harness_home, load_registry

    note = json.loads((harness_home() / "checkpoints" / "noted" / "note.json").read_text())
    assert note["config"] == {"alpha": 2}
    # the parent's checkpoint-registry entry (harness/checkpoints/builtin.yaml), not just its name
    assert (note["parent"]["name"], note["parent"]["spec"], note["parent"]["parser"]) == \
        ("keyword-baseline", "keyword-baseline", "label-line")
    entry = load_registry()["noted"]
    assert entry["spec"] == "keyword-baseline" and entry["lineage"]["method"] == "note"
    assert entry["lineage"]["metrics"] == {"rows": 2}

    code, _, err = cli("train", "--method", "ntoe", "--parent", "keyword-baseline", "--data", data, "--output", "y")
    assert code == 1 and "Unknown trainer 'ntoe'. Did you mean: note?" in err

    # the trainer, not the generic layer, decides which parents it trains
    (tmp_path / "checkpoints.yaml").write_text("replayed:\n  spec: replay:preds.jsonl\n")
    code, _, err = cli("train", "--method", "note", "--parent", "replayed", "--data", data, "--output", "y")
    # (a relative replay: path in a registry is resolved against the registry file's folder)
    assert code == 1 and f"note trains keyword-baseline parents only, not replay:{tmp_path / 'preds.jsonl'}" in err


def test_trl_trainer_refuses_a_parent_that_is_not_hf(cli, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n')
    code, _, err = cli("train", "--method", "sft", "--parent", "keyword-baseline", "--data", data, "--output", "x")
    assert code == 1 and "needs a Hugging Face parent (hf:BASE[+ADAPTER]); got 'keyword-baseline'" in err


def test_import_harness_gives_the_public_api_without_heavy_modules():
    import subprocess

    code = ("import sys, harness; print(sorted(harness.__all__)); "
            "print([m for m in ('torch', 'transformers', 'trl', 'peft', 'yaml') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    exported = set(eval(out[0]))  # a printed list of names
    # the plugin contracts docs/plugins.md promises are all there (helpers for the built-ins come on top)
    assert {"hookimpl", "Model", "Generation", "GenerationRequest", "GenerationSettings", "Parser", "ParseResult",
            "Judge", "Judgment", "JudgeInput", "Trainer", "TrainRequest", "TrainResult", "HarnessError",
            "check_model_options", "JudgeOption", "copy_rate"} <= exported
    assert out[1] == "[]"


def test_a_plugin_that_exits_at_import_is_a_plugin_error_not_a_silent_exit_0(install, cli):
    """Issue 23: ``sys.exit(0)`` at import used to make every command exit 0 with no output."""
    install({"quitter": "import sys\nsys.exit(0)\n"})
    code, out, err = cli("plugins", "--json")
    assert code == 1
    plugins = {p["name"]: p for p in json.loads(out)}
    assert "sys.exit(0)" in plugins["quitter"]["error"]
    assert "plugin 'quitter'" in err
    code, out, err = cli("tasks")
    assert "combined_test" in out  # the other plugins still work
