"""Real runs for the human-eval tests: the keyword baseline on combined_test and a replay of it whose
reasoning differs (and carries script payloads, to show they stay inert)."""

from tests.report_fixtures import eval_run, flipped_replay, read_records

EVIL = "<script>window.__xss=1;document.title='pwned'</script><img src=x onerror=\"window.__xss=2\">"
LIMIT = 6


def make_runs(cli, home, limit=LIMIT, extra_runs=0):
    """Run ids ``[A, B, ...]``: A the keyword baseline, B (and any extra) replays with other reasoning."""
    a = eval_run(cli, "keyword-baseline", "combined_test", "--limit", str(limit))
    ids = [str(r["id"]) for r in read_records(a["dir"])]
    refs = [a["run_id"]]
    for k in range(1 + extra_runs):
        reasoning = {sid: f"{EVIL} candidate {k} reasons about sample {sid}" for sid in ids}
        replay = flipped_replay(a["dir"], home / f"replay{k}.jsonl", set(ids[:k]), reasoning=reasoning)
        refs.append(eval_run(cli, f"replay:{replay}", "combined_test", "--limit", str(limit))["run_id"])
    return refs
