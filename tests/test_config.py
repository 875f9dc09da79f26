"""The one YAML reader, key check and KEY=VALUE parser (harness/config.py), and every file format that uses
them: each error names the file, the line (counted by hand in the fixtures below) and the field."""

import re
import textwrap

import pytest

from harness.config import check_keys, expect_type, parse_key_values, read_yaml_mapping
from harness.errors import HarnessError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(HarnessError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# -- the reader itself ----------------------------------------------------------


def test_mappings_remember_the_line_of_each_key(tmp_path):
    path = write(tmp_path, "a.yaml", """
        # a comment
        top: 1
        nested:
          inner: x

          other: [1, 2]
        items:
          - name: first
          - name: second
            extra: 3
        """)
    data = read_yaml_mapping(path)
    assert data.where("top") == f"{path}:2"
    assert data["nested"].where("inner") == f"{path}:4"
    assert data["nested"].where("other") == f"{path}:6"
    assert data["items"][1].where("extra") == f"{path}:10"
    assert data["items"][1].where() == f"{path}:9"


def test_check_keys_names_file_line_and_the_closest_key(tmp_path):
    path = write(tmp_path, "a.yaml", "alpha: 1\nbeta: 2\ngamam: 3\n")
    msg = error_of(check_keys, str(path), read_yaml_mapping(path), {"alpha", "beta", "gamma"})
    assert msg.startswith(f"{path}:3 ({path}): Unknown key 'gamam'. Did you mean: gamma?")


def test_not_a_mapping_and_bad_yaml_name_the_file(tmp_path):
    assert error_of(read_yaml_mapping, write(tmp_path, "l.yaml", "- a\n- b\n")).endswith(
        "l.yaml: expected a mapping of keys to values at the top level, found a list")
    assert "b.yaml: not valid YAML" in error_of(read_yaml_mapping, write(tmp_path, "b.yaml", "a: [1, 2\n"))
    assert error_of(read_yaml_mapping, tmp_path / "missing.yaml").endswith("missing.yaml: file not found")


def test_expect_type_refuses_a_bool_for_a_number():
    assert expect_type("f:1", "min", 0.5, (int, float), "a number") == 0.5
    assert error_of(expect_type, "f:1", "min", True, (int, float), "a number") == \
        "f:1: field 'min' must be a number, got True"


def test_parse_key_values_types_values_as_json_else_text():
    assert parse_key_values(["a=3", "b=true", "c=[1,2]", "d=hello", "e=x=y", "f="]) == \
        {"a": 3, "b": True, "c": [1, 2], "d": "hello", "e": "x=y", "f": ""}
    assert error_of(parse_key_values, ["novalue"], "--set") == "--set 'novalue': expected KEY=VALUE"
    assert error_of(parse_key_values, ["=3"], "--set") == "--set '=3': expected KEY=VALUE"


def test_judge_options_use_the_same_parser():
    from harness.judge.runner import parse_judge_options

    assert parse_judge_options(["heuristic.embeddings=false", "llm-judge.max_new_tokens=300"]) == \
        {"heuristic": {"embeddings": False}, "llm-judge": {"max_new_tokens": 300}}
    assert "expected JUDGE.KEY=VALUE" in error_of(parse_judge_options, ["embeddings=false"])
    assert "expected JUDGE.KEY=VALUE" in error_of(parse_judge_options, ["heuristic.embeddings"])


# -- the formats that use it ------------------------------------------------------

TASK = """
    name: tiny
    source: {path: x.json}
    format: json
    fields: {prompt: text, label: label}
    labels:
      harmless: safe
      harmful: harmful
    positive: harmful
    """


def test_task_file_errors_name_the_line(tmp_path):
    from harness.tasks.task import parse_task_file

    path = write(tmp_path, "t.yaml", TASK + "promt_template: x\n")
    assert error_of(parse_task_file, path).startswith(f"{path}:9 ({path}): Unknown key 'promt_template'")
    path = write(tmp_path, "t.yaml", TASK.replace("format: json", "format: jsn"))
    assert error_of(parse_task_file, path).startswith(f"{path}:3: Unknown format 'jsn'. Did you mean: json, jsonl?")
    path = write(tmp_path, "t.yaml", TASK.replace("harmful: harmful", "harmful: bad"))
    assert error_of(parse_task_file, path).startswith(f"{path}:7: labels.harmful maps to 'bad'")
    path = write(tmp_path, "t.yaml", TASK.replace("label: label}", "lable: label}"))
    assert error_of(parse_task_file, path).startswith(f"{path}:4 ({path}: fields): Unknown fields key 'lable'")
    path = write(tmp_path, "t.yaml", TASK + "target: answer\n")
    assert error_of(parse_task_file, path).startswith(f"{path}:9: Unknown target 'answer'")


def test_criteria_file_errors_name_the_line(tmp_path):
    from harness.analysis.criteria import load_criteria

    head = "name: mine\ncriteria:\n  - name: acc\n    metric: accuracy\n    measure: difference\n"
    path = write(tmp_path, "c.yaml", head + "    mni: 0.1\n")
    assert re.match(rf"{re.escape(str(path))}:6 \({re.escape(str(path))}:3 \(criteria\[0\]\)\): Unknown key 'mni'\. "
                    r"Did you mean: min\?", error_of(load_criteria, path))
    path = write(tmp_path, "c.yaml", head + "    min: lots\n")
    assert error_of(load_criteria, path) == f"{path}:6 (criteria[0]): field 'min' must be a number, got 'lots'"
    path = write(tmp_path, "c.yaml", head.replace("measure: difference", "measure: ratio") + "    min: 1\n")
    assert error_of(load_criteria, path).startswith(f"{path}:5 (criteria[0]): measure 'ratio' is not one of")
    path = write(tmp_path, "c.yaml", "name: mine\ncritera: []\n")
    assert error_of(load_criteria, path).startswith(f"{path}:2 ({path}): Unknown key 'critera'")


def test_checkpoint_registry_errors_name_the_line(tmp_path):
    from harness.checkpoints.registry import read_registry_file

    path = write(tmp_path, "checkpoints.yaml", """
        good:
          spec: keyword-baseline
        bad:
          spec: keyword-baseline
          parsr: label-line
        """)
    assert error_of(read_registry_file, path).startswith(f"{path}:5 ({path}:3: entry 'bad'): Unknown key 'parsr'")
    path = write(tmp_path, "checkpoints.yaml", "good:\n  spec: keyword-baseline\nnospec:\n  parser: label-line\n")
    assert error_of(read_registry_file, path) == f"{path}:3: entry 'nospec' has no 'spec' (the model spec to load)"
    path = write(tmp_path, "checkpoints.yaml", "odd:\n  spec: keyword-baseline\n  options: 4bit\n")
    assert error_of(read_registry_file, path).startswith(f"{path}:3: entry 'odd' field 'options' must be a mapping")


def test_training_config_errors_name_the_line(tmp_path, cli):
    path = write(tmp_path, "train.yaml", """
        train:
          method: sft
          epochs: 1
          lerning_rate: 0.1
        """)
    data = write(tmp_path, "d.jsonl", '{"prompt": "p", "completion": "c"}\n')
    code, _, err = cli("train", "--parent", "hf:none/none", "--data", data, "--output", "x", "--config", path)
    assert code == 1 and "Traceback" not in err
    assert f"{path}:4 ({path}: training config): Unknown training config key 'lerning_rate'" in err
    assert "Did you mean: learning_rate" in err
    # the same key given with --set has no line in the file
    code, _, err = cli("train", "--method", "sft", "--parent", "hf:none/none", "--data", data, "--output", "x",
                       "--set", "lerning_rate=0.1")
    assert code == 1 and "Error: training config: Unknown training config key 'lerning_rate'" in err
    path = write(tmp_path, "train2.yaml", "train:\n  method: sfft\n")
    code, _, err = cli("train", "--parent", "hf:none/none", "--data", data, "--output", "x", "--config", path)
    assert code == 1 and "Unknown trainer 'sfft'. Did you mean: sft?" in err


def test_pipeline_config_errors_name_the_line_before_any_step(tmp_path):
    from harness.train.pipeline import load_pipeline_config

    text = """
        name: p
        parent: keyword-baseline
        pairs:
          task: combined_test
          sampels: 4
        train:
          method: dpo
        """
    path = write(tmp_path, "p.yaml", text)
    assert error_of(load_pipeline_config, path).startswith(f"{path}:5 ({path}:3: pairs): Unknown key 'sampels'. "
                                                           "Did you mean: samples?")
    path = write(tmp_path, "p.yaml", text.replace("sampels", "samples").replace("method: dpo", "method: dop"))
    assert error_of(load_pipeline_config, path).startswith(f"{path}:7: Unknown trainer 'dop'. Did you mean: dpo?")
    path = write(tmp_path, "p.yaml", text.replace("sampels", "samples").replace("  method: dpo", "  epochs: 1"))
    assert error_of(load_pipeline_config, path).startswith(f"{path}:6: train.method is missing")
