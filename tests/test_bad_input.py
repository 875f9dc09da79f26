"""Each kind of bad input gets one clear 'Error:' line naming the place, exit code 1, no traceback."""

import json

import pytest

TASK = """name: {name}
source: {{path: {file}}}
format: {fmt}
fields: {{prompt: text, label: label}}
labels: {{bad: harmful, good: safe}}
positive: harmful
"""


def write_task(tmp_path, body, fmt="jsonl", name="mytask", extra=""):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / f"{name}.{fmt}").write_bytes(body if isinstance(body, bytes) else body.encode())
    task = tmp_path / f"{name}.yaml"
    task.write_text(TASK.format(name=name, file=f"{name}.{fmt}", fmt=fmt) + extra)
    return task, data


def eval_task(cli, task, data):
    return cli("eval", "--model", "keyword-baseline", "--task", task, "--data-dir", data, "--quiet")


def assert_user_error(code, err, *needles):
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("Error: ")
    for needle in needles:
        assert needle in err, err


def test_malformed_json_line_names_file_and_line(cli, tmp_path):
    task, data = write_task(tmp_path, '{"text": "hi", "label": "good"}\n{"text": "oops", "label": \n')
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "mytask.jsonl:2", "malformed JSON")


def test_unknown_label_names_value_and_label_map(cli, tmp_path):
    task, data = write_task(tmp_path, '{"text": "hi", "label": "good"}\n{"text": "x", "label": "meh"}\n')
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "'meh'", "mytask.jsonl:2", "'bad': 'harmful'")


def test_missing_field_names_field_and_line(cli, tmp_path):
    task, data = write_task(tmp_path, '{"text": "hi", "label": "good"}\n{"label": "bad"}\n')
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "missing field 'text'", "mytask.jsonl:2")


def test_empty_file(cli, tmp_path):
    task, data = write_task(tmp_path, "")
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "mytask.jsonl", "empty")


def test_non_utf8_bytes(cli, tmp_path):
    task, data = write_task(tmp_path, b'{"text": "caf\xe9", "label": "good"}\n')
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "mytask.jsonl:1", "UTF-8")


def test_json_list_error_names_line(cli, tmp_path):
    task, data = write_task(tmp_path, '[\n  {"text": "a", "label": "good"},\n  {"text": "b" "label": "bad"}\n]', fmt="json")
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "mytask.json:3")


def test_task_yaml_typo_names_key(cli, tmp_path):
    task, data = write_task(tmp_path, '{"text": "hi", "label": "good"}\n', extra="temlpate: seed-chatml\n")
    code, _, err = eval_task(cli, task, data)
    assert_user_error(code, err, "temlpate", "Did you mean: template")


def test_missing_data_file_says_where_it_looked(cli, tmp_path):
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "wildguard", "--data-dir", tmp_path / "nowhere")
    assert_user_error(code, err, "wizard101/evaluation/wildguard_full_benchmark.json", str(tmp_path / "nowhere"),
                      "HARNESS_DATA_DIR")


@pytest.mark.parametrize("args,needle", [
    (("eval", "--model", "keyword-baseline", "--task", "wildgaurd"), "Did you mean: wildguard"),
    (("eval", "--model", "keyword-baselin", "--task", "wildguard"), "Did you mean: keyword-baseline"),
    (("eval", "--model", "exp_81", "--task", "wildguard"), "exp_18"),
    (("score", "x.jsonl", "--task", "combined_test"), "does not exist"),
])
def test_unknown_names_suggest_closest(cli, args, needle, tmp_path):
    code, _, err = cli(*args)
    assert code != 0
    assert needle in err, err
    assert "Traceback" not in err


def test_unknown_parser_suggests(cli, tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"prompt": "p", "label": "harmful", "predict": "Answers:\nRequest: harmful"}) + "\n")
    code, _, err = cli("score", preds, "--task", "gr_harmbench_prompt", "--parser", "guardreasonr")
    assert_user_error(code, err, "Did you mean: guardreasoner")


def test_planned_checkpoint_says_how_to_create_it(cli):
    code, _, err = cli("eval", "--model", "exp_19", "--task", "combined_test")
    assert_user_error(code, err, "exp_19", "not trained yet", "harness pipeline configs/exp_19.yaml")


def test_missing_completions_are_recorded_failures_and_the_run_finishes(cli, tmp_path):
    """A replay file lacking some prompts: those samples fail (strict: wrong), the rest are scored."""
    from harness.tasks import templates
    from harness.tasks import get_task

    task = get_task("combined_test")
    samples = task.load()[:10]
    tpl = templates.resolve_template(task.template)
    preds = tmp_path / "partial.jsonl"
    with preds.open("w") as fh:
        for s in samples[:6]:
            fh.write(json.dumps({"prompt": templates.render(tpl, s.prompt, None), "label": s.gold,
                                 "predict": f"reasoning\nLabel: {s.gold}"}) + "\n")
    code, out, err = cli("eval", "--model", f"replay:{preds}", "--task", "combined_test", "--json", "--quiet")
    assert code == 0, err
    m = json.loads(out)["runs"]["combined_test"]
    assert m["n"] == 200
    assert m["parse_failures"] == 194
    assert m["accuracy"] == pytest.approx(6 / 200)
