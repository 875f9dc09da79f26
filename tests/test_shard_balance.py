"""Data-parallel shards split by estimated work, not by count (issue 16)."""

from harness.evaluate.sharding import sample_cost, shard_assignment


def test_one_long_sample_gets_a_rank_to_itself():
    # round-robin would give rank 0 samples 0, 2, 4 (work 7) and rank 1 the rest (work 3)
    assert shard_assignment([5, 1, 1, 1, 1, 1], 2) == [0, 1, 1, 1, 1, 1]


def test_longest_first_with_ties_to_the_earlier_sample_and_the_lower_rank():
    # by hand: 3->r0 (3,0), 3->r1 (3,3), 2->r0 (5,3), 2->r1 (5,5), 2->r0 (7,5)
    assert shard_assignment([3, 3, 2, 2, 2], 2) == [0, 1, 0, 1, 0]
    # order of the input does not change which work each rank gets: the longest go out first
    assert shard_assignment([1, 4, 2, 4], 3) == [2, 0, 2, 1]


def test_every_sample_goes_to_exactly_one_rank():
    assert shard_assignment([], 2) == []
    assert shard_assignment([7, 7], 4) == [0, 1]
    assert shard_assignment([2, 9, 4], 1) == [0, 0, 0]
    costs = [(i * 37) % 11 + 1 for i in range(50)]
    ranks = shard_assignment(costs, 3)
    assert sorted(set(ranks)) == [0, 1, 2] and len(ranks) == 50
    loads = [sum(c for c, r in zip(costs, ranks) if r == rank) for rank in range(3)]
    assert max(loads) - min(loads) <= max(costs)  # greedy longest-first is within one sample of even


def test_sample_cost_counts_prompt_characters_by_four_and_every_completion_token():
    assert sample_cost("x" * 400, 512, 1) == 100 + 512
    assert sample_cost("abc", 16, 3) == 3 * (0 + 16)


def test_a_rank_generates_the_share_the_cost_split_gives_it(tmp_path):
    """Bug: ranks took every world-th sample, so one rank could get all the long prompts."""
    import json

    from harness.checkpoints.loading import load_model
    from harness.evaluate import runner
    from harness.evaluate.plan import plan_run
    from harness.evaluate.sharding import Topology
    from harness.interfaces.model import GenerationSettings
    from harness.store.runs import RunStore
    from harness.tasks import get_task

    data = tmp_path / "data"
    data.mkdir()
    texts = ["x" * 40000] + [f"q{i}" for i in range(1, 6)]  # one prompt longer than the other five together
    (data / "t.jsonl").write_text("".join(json.dumps({"text": t, "label": "bad" if i % 2 else "good"}) + "\n"
                                          for i, t in enumerate(texts)))
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nsource: {path: t.jsonl}\nformat: jsonl\nfields: {prompt: text, label: label}\n"
                    "labels: {bad: harmful, good: safe}\npositive: harmful\n")
    plan = plan_run("keyword-baseline", get_task(str(task)), GenerationSettings(max_new_tokens=1),
                    data_dir=str(data))
    store = RunStore(str(tmp_path / "runs"))
    run = runner.create_run(store, plan)
    model = load_model("keyword-baseline")
    assert runner.execute(plan, run, [], model, progress=False, topology=Topology(rank=1, world_size=2)) is None
    rows = [json.loads(line) for line in run.shard_path(1).read_text().splitlines()]
    long_id = next(s.id for s in plan.samples if len(s.prompt) == 40000)
    assert sorted(r["id"] for r in rows) == sorted(s.id for s in plan.samples if s.id != long_id)
