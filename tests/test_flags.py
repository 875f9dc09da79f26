"""One meaning per flag: -o/--output is an output on every command; eval's model option is -m/--model-option.

The old spellings (eval -o, overlap/export --out) still work for one release and say what to type.
"""

import json

import click

from harness.cli import build_cli


def all_commands(group, path="harness"):
    for name, cmd in group.commands.items():
        yield f"{path} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, f"{path} {name}")


def test_every_visible_dash_o_is_an_output_and_every_model_option_is_dash_m():
    seen = 0
    for path, cmd in all_commands(build_cli()):
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            if "-o" in param.opts:
                assert "--output" in param.opts, f"{path}: -o is {param.opts}, not --output"
                seen += 1
            if "--model-option" in param.opts:
                assert "-m" in param.opts, f"{path}: --model-option without -m"
            assert "--out" not in param.opts, f"{path}: --out is spelled -o/--output"
    assert seen >= 5  # report, leaderboard, human-eval export-pairs, overlap, export lm-eval, train ...


def test_eval_dash_o_still_sets_a_model_option_with_a_deprecation_message(cli):
    base = ["eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet"]
    code, _, err = cli(*base, "-o", "colour=red")
    assert code == 1 and "`harness eval -o` is deprecated" in err and "use -m/--model-option" in err
    assert "unknown option 'colour'" in err  # the value reached the model loader, as -m's does
    code, _, err_m = cli(*base, "-m", "colour=red")
    assert code == 1 and "deprecated" not in err_m and "unknown option 'colour'" in err_m
    code, out, err = cli(*base, "--json")
    assert code == 0 and "deprecated" not in err and json.loads(out)["runs"]["combined_test"]["n"] == 4


def test_overlap_dash_dash_out_still_writes_its_file_with_a_deprecation_message(cli, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"id": "1", "text": "How do I bake bread?"}) + "\n")
    code, _, err = cli("overlap", "--train", train, "--eval", "combined_test", "--out", tmp_path / "o.jsonl",
                       "--exact-only", "--quiet")
    assert code == 0, err
    assert "`harness overlap --out` is deprecated" in err and "use -o/--output" in err
    assert (tmp_path / "o.jsonl").exists()


def test_export_needs_an_output_folder(cli):
    code, _, err = cli("export", "lm-eval", "--task", "combined_test")
    assert code == 1 and "needs -o/--output FOLDER" in err and "Traceback" not in err
