"""Verdict label probabilities: hf scoring pass vs a direct forward, the openai logprobs, and a tiny-model eval."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness_plugins.hf import load  # noqa: E402
from harness_plugins.openai_endpoint import OpenAIEndpoint  # noqa: E402
from harness_plugins.parsers import GuardReasonerParser, LabelLineParser  # noqa: E402

from harness.interfaces.model import Generation, GenerationRequest, GenerationSettings  # noqa: E402
from tests.fake_openai import FakeServer  # noqa: E402
from tests.tiny_models import build_tiny_llama  # noqa: E402

PROMPTS = ["Is this request harmful? How do I bake bread?", "x", "Write a long poem about rivers. " * 5]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=4)


@pytest.fixture(scope="module")
def model(tiny_dir):
    return load(str(tiny_dir), {"device": "cpu"})


def direct(model, context_ids, token_ids):
    """Softmax of one unbatched forward pass, renormalised over the given tokens."""
    with torch.no_grad():
        logits = model.model(input_ids=torch.tensor([context_ids])).logits[0, -1]
    probs = torch.softmax(logits.double(), -1)[token_ids]
    return (probs / probs.sum()).tolist()


def word_ids(tok, *words):
    return [tok(w, add_special_tokens=False).input_ids[0] for w in words]


def test_generated_completions_get_the_probabilities_of_a_direct_forward_pass(model, monkeypatch):
    """Captured from the engine's cache as each completion finishes: a direct forward over prompt + the model's
    own tokens + the cue gives the same numbers (fp32, 1e-5)."""
    tok = model.tokenizer
    seen = []
    original = model.label_query

    def spy(prompt_ids, tokens, text, cue):
        query = original(prompt_ids, tokens, text, cue)
        seen.append((list(prompt_ids), list(tokens), text, query))
        return query

    monkeypatch.setattr(model, "label_query", spy)
    cue = LabelLineParser().label_cue("prompt")
    requests = [GenerationRequest(str(i), p, 0, 11 + i, label_cue=cue) for i, p in enumerate(PROMPTS)]
    gens = {g.sample_id: g for g in model.generate(requests, GenerationSettings(max_new_tokens=10, temperature=1))}
    harmful, safe = tok(" harmful", add_special_tokens=False).input_ids, tok(" safe", add_special_tokens=False).input_ids
    assert len(harmful) == len(safe) == 1  # each label word is one token in the Llama-3 vocabulary
    assert len(seen) == len(PROMPTS)
    by_prompt = {tuple(p): (tokens, text) for p, tokens, text, _ in seen}
    for i, prompt in enumerate(PROMPTS):
        g = gens[str(i)]
        assert "Label" not in g.text  # random weights write no label: the cue is appended
        tokens, text = by_prompt[tuple(tok(prompt).input_ids)]
        assert text == g.text and len(tokens) == 10
        if text != text.rstrip():
            continue  # trailing space: fewer own tokens are kept (the next test covers that)
        context = tok(prompt).input_ids + tokens + tok("\nLabel:", add_special_tokens=False).input_ids
        expected = direct(model, context, harmful + safe)
        assert g.label_cue == "label-line/label" and list(g.label_probs) == ["harmful", "safe"]
        assert [g.label_probs["harmful"], g.label_probs["safe"]] == pytest.approx(expected, abs=1e-5)
        assert sum(g.label_probs.values()) == pytest.approx(1.0, abs=1e-12)


def test_the_model_own_tokens_are_the_context_not_a_retokenization(model):
    tok = model.tokenizer
    cue = LabelLineParser().label_cue("prompt")
    # "Label" written as two tokens, which tokenizing the text would merge into one
    own = tok("Some reasoning.\n", add_special_tokens=False).input_ids + word_ids(tok, "Lab", "el", ":")
    own += tok(" harmful\nmore", add_special_tokens=False).input_ids
    text = tok.decode(own, skip_special_tokens=True)
    assert text == "Some reasoning.\nLabel: harmful\nmore"
    query = model.label_query([1, 2], own, text, cue)
    assert query.context == [1, 2] + own[:-3]  # everything before " harmful"
    assert query.tokens == dict(zip(["harmful", "safe"], word_ids(tok, " harmful", " safe")))
    # no label written and trailing whitespace: the own tokens whose text precedes it, then the cue
    own = tok("Fine text", add_special_tokens=False).input_ids + word_ids(tok, " \n")
    query = model.label_query([1], own, tok.decode(own), cue)
    assert query.context == [1] + own[:-1] + tok("\nLabel:", add_special_tokens=False).input_ids


def test_a_written_label_is_scored_where_the_model_wrote_it(model):
    from harness_plugins.hf_engine import label_probabilities

    tok = model.tokenizer
    cue = LabelLineParser().label_cue("prompt")
    request = GenerationRequest("a", PROMPTS[0], 0, 0, label_cue=cue)
    prep = model.prepare(0, request, GenerationSettings())
    text = "Some reasoning.\nLabel: safe\nLabel: harmful\nmore words"  # the last label line is the verdict
    own = tok(text, add_special_tokens=False).input_ids
    query = model.label_query(prep.ids, own, text, cue)
    (probs,) = label_probabilities(model.model, "cpu", tok.pad_token_id, [query])
    context = prep.ids + tok("Some reasoning.\nLabel: safe\nLabel:", add_special_tokens=False).input_ids
    assert query.context == context
    ids = word_ids(tok, " harmful", " safe")
    assert [probs["harmful"], probs["safe"]] == pytest.approx(direct(model, context, ids), abs=1e-5)


def test_guardreasoner_labels_differ_at_their_first_token(model):
    tok = model.tokenizer
    cue = GuardReasonerParser().label_cue("response")
    text = "reasoning\nAnswers: \nRequest: harmful\nCompletion: compliance\nResponse: unharmful\n"
    query = model.label_query([1, 2], tok(text, add_special_tokens=False).input_ids, text, cue)
    head = tok("reasoning\nAnswers: \nRequest: harmful\nCompletion: compliance\nResponse:",
               add_special_tokens=False).input_ids
    assert query.context == [1, 2] + head
    assert query.tokens == {"harmful": tok(" harmful", add_special_tokens=False).input_ids[0],
                            "safe": tok(" unharmful", add_special_tokens=False).input_ids[0]}
    assert query.tokens["harmful"] != query.tokens["safe"]


def test_label_cues_find_the_verdict_word():
    line = LabelLineParser().label_cue("prompt")
    assert line.split("why\n**Label:** harmful") == ("why\n**Label:**", " ", True)
    assert line.split("no verdict here  \n") == ("no verdict here\nLabel:", " ", False)
    gr = GuardReasonerParser().label_cue("prompt")
    assert gr.split("Request: safe?\nAnswers:\nRequest: unharmful") == ("Request: safe?\nAnswers:\nRequest:", " ", True)
    assert gr.split("cut off") == ("cut off\nRequest:", " ", False)


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_openai_label_probabilities_from_the_servers_logprobs(tmp_path, api):
    answer = "The request asks for a weapon.\nLabel: harmful"
    server = FakeServer(tmp_path, "lp", answer=answer,
                        alternatives={"harmful": {" harmful": 0.6, " safe": 0.3, " maybe": 0.05}})
    try:
        model = OpenAIEndpoint(f"guard@{server.url}", {"api": api})
        cue = LabelLineParser().label_cue("prompt")
        with_cue = [GenerationRequest("a", "p", 0, 1, label_cue=cue)]
        (g,) = list(model.generate(with_cue, GenerationSettings(max_new_tokens=8)))
        (plain,) = list(model.generate([GenerationRequest("b", "p", 0, 1)], GenerationSettings(max_new_tokens=8)))
    finally:
        server.stop()
    assert g.text == answer and g.label_cue == "label-line/label"
    assert g.label_probs == pytest.approx({"harmful": 0.6 / 0.9, "safe": 0.3 / 0.9})  # " maybe" spells no label
    assert plain.label_probs is None
    first, second = [r["body"] for r in server.requests()]
    asked = {"logprobs": True, "top_logprobs": 5} if api == "chat" else {"logprobs": 5}
    assert {k: first[k] for k in asked} == asked and "logprobs" not in second


def test_openai_server_without_logprobs_gives_none(tmp_path):
    server = FakeServer(tmp_path, "plain", answer="Label: safe")
    try:
        model = OpenAIEndpoint(f"guard@{server.url}", {})
        cue = LabelLineParser().label_cue("prompt")
        (g,) = list(model.generate([GenerationRequest("a", "p", 0, 1, label_cue=cue)], GenerationSettings()))
    finally:
        server.stop()
    assert g.text == "Label: safe" and g.label_probs is None


def test_tiny_model_eval_records_probabilities_and_calibration(tiny_dir, isolated_home, cli):
    from sklearn.metrics import roc_auc_score

    code, _, err = cli("eval", "--model", f"hf:{tiny_dir}", "--task", "demo", "--max-new-tokens", "6",
                       "--temperature", "1", "--samples", "2", "-m", "device=cpu", "--quiet", "--no-cache")
    assert code == 0, err[-2000:]
    (run_dir,) = (isolated_home / "runs").glob("*/samples.jsonl")
    run_dir = run_dir.parent
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 50
    for row in rows:
        for c in row["completions"]:
            assert set(c["label_probs"]) == {"harmful", "safe"}
            assert sum(c["label_probs"].values()) == pytest.approx(1.0)
    cal = json.loads((run_dir / "metrics.json").read_text())["policies"]["strict"]["calibration"]
    assert cal["positive"] == "harmful" and cal["vote_share"]["n"] == 50
    assert cal["probability"]["n"] == 50 and cal["probability"]["n_without_probability"] == 0
    gold = [r["gold"] == "harmful" for r in rows]
    first = [r["completions"][0]["label_probs"]["harmful"] for r in rows]
    assert cal["probability"]["auroc"] == pytest.approx(roc_auc_score(gold, first))
    code, out, err = cli("leaderboard", "--metric", "auprc", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["metric"] == "auprc" and str(cal["probability"]["auprc"])[:8] in out
    code, _, err = cli("eval", "--model", f"hf:{tiny_dir}", "--task", "demo", "--max-new-tokens", "6",
                       "--temperature", "1", "--samples", "2", "-m", "device=cpu", "--quiet", "--no-cache",
                       "--seed", "1")
    assert code == 0, err[-2000:]
    (other,) = {p.parent for p in (isolated_home / "runs").glob("*/samples.jsonl")} - {run_dir}
    other_rows = {r["id"]: r for r in map(json.loads, (other / "samples.jsonl").read_text().splitlines())}
    code, out, err = cli("compare", run_dir.name, other.name, "--json", "--no-reasoning")
    assert code == 0, err
    auroc = json.loads(out)["differences"]["auroc"]
    other_first = [other_rows[r["id"]]["completions"][0]["label_probs"]["harmful"] for r in rows]
    assert auroc["a"] == pytest.approx(roc_auc_score(gold, first))
    assert auroc["b"] == pytest.approx(roc_auc_score(gold, other_first))
    assert auroc["n"] == 50 and auroc["n_without_probability"] == 0 and auroc["ci_low"] <= auroc["ci_high"]
    code, _, err = cli("report", run_dir.name, "-o", str(isolated_home / "report.html"))
    assert code == 0, err
    html = (isolated_home / "report.html").read_text()
    assert "<script" not in html and "aria-label='ROC'" in html and "aria-label='Reliability'" in html


def test_generation_cache_keeps_label_probabilities(tmp_path):
    from harness.interfaces.model import Model
    from harness.store.generation_cache import cached_generate

    class Scored(Model):
        spec = "scored"
        calls = 0

        def generate(self, requests, settings):
            Scored.calls += 1
            for r in requests:
                yield Generation(r.sample_id, r.sample_index, "Label: safe", seed=r.seed,
                                 label_probs={"harmful": 0.25, "safe": 0.75}, label_cue="label-line/label")

    request = GenerationRequest("a", "p", 0, 3, label_cue=LabelLineParser().label_cue("prompt"))
    first = list(cached_generate(Scored(), [request], GenerationSettings(), tmp_path / "g.db"))
    again = list(cached_generate(Scored(), [request], GenerationSettings(), tmp_path / "g.db"))
    assert Scored.calls == 1 and "from generation cache" in again[0].warnings
    assert again[0].label_probs == first[0].label_probs == {"harmful": 0.25, "safe": 0.75}
    assert again[0].label_cue == "label-line/label"


def test_a_record_keeps_probabilities_only_for_its_own_label_cue():
    from types import SimpleNamespace

    from harness.evaluate.runner import build_record

    sample = SimpleNamespace(id="s", gold="harmful", prompt="p", response=None, category=None, gold_raw="harmful")
    task = SimpleNamespace(name="t", target="prompt")
    probs = {"harmful": 0.8, "safe": 0.2}
    mine = Generation("s", 0, "Label: harmful", label_probs=probs, label_cue="label-line/label")
    other = Generation("s", 1, "Label: harmful", label_probs=probs, label_cue="guardreasoner/response")
    rec = build_record(sample, task, "p", [other, mine], LabelLineParser())
    assert [c.label_probs for c in rec.completions] == [probs, None]


def test_label_probs_false_skips_the_scoring_pass_and_says_so(tiny_dir, isolated_home, cli):
    """The scoring pass costs time (about 40 % of a 512-token eval on a 3B model): -m label_probs=false skips
    it; the run is a different run (model options are in its key), its cache entries are kept apart, and the
    calibration section counts every sample as having no probability."""
    base = ["eval", "--model", f"hf:{tiny_dir}", "--task", "demo", "--limit", "6", "--max-new-tokens", "4",
            "--temperature", "0", "-m", "device=cpu", "--quiet", "--json"]
    code, out, err = cli(*base, "-m", "label_probs=false")
    assert code == 0, err[-2000:]
    skipped = json.loads(out)["runs"]["demo"]
    rows = [json.loads(line) for line in (Path(skipped["dir"]) / "samples.jsonl").read_text().splitlines()]
    assert all(c["label_probs"] is None for r in rows for c in r["completions"])
    assert skipped["calibration"]["probability"]["n_without_probability"] == 6
    code, out, err = cli(*base)  # the default run, on the same settings, is not served from the other's cache
    assert code == 0, err[-2000:]
    scored = json.loads(out)["runs"]["demo"]
    assert scored["run_id"] != skipped["run_id"]
    rows = [json.loads(line) for line in (Path(scored["dir"]) / "samples.jsonl").read_text().splitlines()]
    assert all(sum(c["label_probs"].values()) == pytest.approx(1.0) for r in rows for c in r["completions"])
    code, _, err = cli(*base, "-m", "label_probs=maybe")
    assert code == 1 and "label_probs must be true or false" in err


def test_engine_captures_from_its_cache_what_a_full_forward_pass_gives(model, monkeypatch):
    """The cache path against the full forward pass (``label_probabilities``), fp32 CPU, within 1e-5.

    Contexts of every shape the engine meets: the own tokens + a cue, cut mid-completion, one that
    diverges from the generated tokens, the last sampled (never fed) token, and one the cache cannot
    serve (a changed prompt), which must go to the full forward pass."""
    from harness_plugins import hf_engine

    tok = model.tokenizer
    cue_ids = tok("\nLabel:", add_special_tokens=False).input_ids
    labels = dict(zip(["harmful", "safe"], word_ids(tok, " harmful", " safe")))
    settings = GenerationSettings(max_new_tokens=12, temperature=1)
    prompts = PROMPTS + ["Another prompt of medium length for the cache.", "y z"]
    reqs = [GenerationRequest(str(i), p, 0, 5 + i) for i, p in enumerate(prompts)]
    prepared = [model.prepare(i, r, settings) for i, r in enumerate(reqs)]
    shapes = ["cue", "cut", "diverge", "all", "prompt", "cue", "cut"]
    queries = {}

    def labeler(index, tokens):
        ids, shape = prepared[index].ids, shapes[index]
        context = {"cue": ids + tokens + cue_ids, "cut": ids + tokens[:3],
                   "diverge": ids + tokens[:2] + [tokens[2] + 1 if tokens[2:] else 7] + cue_ids,
                   "all": ids + tokens, "prompt": [ids[0] + 1] + ids[1:] + tokens}[shape]
        queries[index] = hf_engine.LabelQuery(context, labels)
        return queries[index]

    full_calls = []
    real_full = hf_engine.label_probabilities
    monkeypatch.setattr(hf_engine, "label_probabilities",
                        lambda *a, **k: full_calls.append(len(a[3])) or real_full(*a, **k))
    # many stop tokens: completions end at different steps, some at max_new_tokens (last token never fed)
    stops = list(range(0, len(tok), 9))
    engine = hf_engine.FastEngine(model.model, "cpu", stops, tok.pad_token_id, max_batch_size=3)
    done = list(engine.run(prepared, settings, labeler=labeler))
    assert sorted(f.index for f in done) == list(range(len(prompts)))
    lengths = {len(f.tokens) for f in done}
    assert len(lengths) > 1 and settings.max_new_tokens in {f.n_new_tokens for f in done}
    assert full_calls == [1]  # only the changed prompt needed the full pass
    reference = real_full(model.model, "cpu", tok.pad_token_id, [queries[f.index] for f in done])
    for f, expected in zip(done, reference):
        assert f.label_probs == pytest.approx(expected, abs=1e-5)
        assert f.label_probs == pytest.approx(dict(zip(labels, direct(model, queries[f.index].context,
                                                                       list(labels.values())))), abs=1e-5)
    # the labeler changes nothing generated: the same tokens as a run without it
    plain = {f.index: f.tokens for f in hf_engine.FastEngine(model.model, "cpu", stops, tok.pad_token_id,
                                                             max_batch_size=3).run(prepared, settings)}
    assert plain == {f.index: f.tokens for f in done}
