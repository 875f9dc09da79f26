"""Readability (issue 26): whole reasons in `harness tasks`, k in `harness runs`, percentages as 55.6 in reports."""

import json

from harness.errors import HarnessError


def test_tasks_shows_the_whole_reason_a_task_is_unavailable(cli, isolated_home, monkeypatch):
    def offline(url, sha256=None, offline_hint=""):
        raise HarnessError(f"Could not download {url}. You are offline. {offline_hint}")

    monkeypatch.setattr("harness.tasks.sources.fetch_url", offline)
    (isolated_home / "empty").mkdir()
    code, out, err = cli("tasks", "--data-dir", isolated_home / "empty")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("exp18_hard_samples "))
    # the reason used to stop at its first '.', i.e. inside the file name (".../hard_samples_exp18")
    assert "wizard101/exp18/hard_samples_exp18.json" in row
    row = next(line for line in out.splitlines() if line.startswith("beavertails "))
    assert "You are offline." in row and "https://raw.githubusercontent.com/" in row


def test_runs_shows_k_samples_per_prompt(cli, isolated_home):
    for extra in ((), ("--samples", "3", "--temperature", "0.7")):
        code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "demo", "--limit", "4", "--quiet", *extra)
        assert code == 0, err
    code, out, _ = cli("runs")
    header, _, *rows = out.splitlines()
    k_at = header.index(" k ") + 1
    assert sorted(row[k_at] for row in rows) == ["1", "3"]
    code, out, _ = cli("runs", "--json")
    assert sorted(r["k"] for r in json.loads(out)) == [1, 3]


def test_report_tables_print_percent_columns_with_one_decimal():
    from harness.render.html import table

    html = table(["win rate %", "p"], [[55.6, 0.0123456]])
    assert "<td class='num'>55.6</td>" in html and "55.6000" not in html and "0.0123" in html
