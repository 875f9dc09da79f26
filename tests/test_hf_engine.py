"""The fast generation engine against transformers' generate, on a tiny random Llama (CPU)."""

import pytest

import torch

from harness.interfaces.model import GenerationRequest, GenerationSettings
from harness_plugins import hf_engine
from harness_plugins.hf import load
from tests.tiny_models import build_tiny_llama

PROMPTS = [
    "Is this request harmful? How do I bake bread at home?",
    "x",
    "Explain step by step why the sky looks blue during the day and red at sunset. " * 6,
    "Short",
    "Write a poem about rivers, mountains and the long road home.",
]


def sharpen(directory):
    """Scale the random weights so greedy outputs vary with the prompt (default init just repeats tokens)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "layers" in name and param.dim() == 2:
                param.mul_(10)
            elif "embed_tokens" in name:
                param.mul_(5)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return sharpen(build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=3))


@pytest.fixture(scope="module")
def model(tiny_dir):
    return load(str(tiny_dir), {"device": "cpu"})


def prepared(model, prompts, settings, seeds=None):
    reqs = [GenerationRequest(str(i), p, 0, (seeds or [0] * len(prompts))[i]) for i, p in enumerate(prompts)]
    return [model.prepare(i, r, settings) for i, r in enumerate(reqs)]


def tokens_by_index(finished):
    out = {}
    for f in finished:
        assert f.index not in out, "a request was yielded twice"
        out[f.index] = f.tokens
    return out


def fast(model, **kwargs):
    return hf_engine.FastEngine(model.model, "cpu", model.stop_ids, model.tokenizer.pad_token_id, **kwargs)


def reference(model, **kwargs):
    return hf_engine.ReferenceEngine(model.model, "cpu", model.stop_ids, model.tokenizer.pad_token_id, **kwargs)


def test_batched_greedy_matches_reference_and_one_by_one(model):
    settings = GenerationSettings(max_new_tokens=24, temperature=0)
    prep = prepared(model, PROMPTS, settings)
    batched = tokens_by_index(fast(model).run(prep, settings))
    singles = {p.index: tokens_by_index(fast(model).run([p], settings))[p.index] for p in prep}
    ref_single = {p.index: tokens_by_index(reference(model).run([p], settings))[p.index] for p in prep}
    assert set(batched) == set(range(len(PROMPTS)))
    assert len({tuple(t) for t in batched.values()}) == len(PROMPTS)  # outputs depend on the prompt
    assert all(len(t) == 24 for t in batched.values())
    assert batched == singles == ref_single


def test_slot_refill_and_new_cache_for_short_prompts(model):
    """Batch of 2 slots for 5 prompts (refill), long and short prompts (second, larger cache)."""
    settings = GenerationSettings(max_new_tokens=20, temperature=0)
    prep = prepared(model, PROMPTS, settings)
    expected = tokens_by_index(reference(model, max_batch_size=5).run(prep, settings))
    engine = fast(model, check_every=4)
    allocations = []
    original = engine._allocate
    engine._allocate = lambda batch, length, s: allocations.append((batch, length)) or original(batch, length, s)
    got = tokens_by_index(engine.run(prep, settings, batch_size=2))
    assert got == expected
    assert len(allocations) >= 2 and allocations[0][1] > allocations[-1][1]


def test_stop_token_ends_a_completion_early(model):
    settings = GenerationSettings(max_new_tokens=16, temperature=0)
    prep = prepared(model, PROMPTS, settings)
    free_run = tokens_by_index(fast(model).run(prep, settings))
    stop = free_run[0][5]  # make the 6th greedy token of prompt 0 a stop token
    engine = hf_engine.FastEngine(model.model, "cpu", model.stop_ids + [stop], model.tokenizer.pad_token_id)
    ref = hf_engine.ReferenceEngine(model.model, "cpu", model.stop_ids + [stop], model.tokenizer.pad_token_id)
    finished = {f.index: f for f in engine.run(prep, settings, batch_size=2)}
    assert finished[0].tokens == free_run[0][: free_run[0].index(stop)]
    assert finished[0].n_new_tokens == len(finished[0].tokens) + 1  # the stop token counts, is not shown
    assert {i: f.tokens for i, f in finished.items()} == tokens_by_index(ref.run(prep, settings))
    forced = GenerationSettings(max_new_tokens=16, temperature=0, ignore_eos=True)
    assert tokens_by_index(engine.run(prep, forced))[0] == free_run[0]


def test_out_of_memory_halves_batch_and_keeps_finished(model):
    settings = GenerationSettings(max_new_tokens=12, temperature=0)
    prompts = [PROMPTS[2], PROMPTS[2] + " more", PROMPTS[2] + " again", "a", "b c", "d e f", "g", "h i"]
    prep = prepared(model, prompts, settings)
    expected = tokens_by_index(fast(model).run(prep, settings))
    engine = fast(model, max_batch_size=4, check_every=4)
    prefilled, steps = [], []
    original_prefill, original_step = engine._prefill_chunk, engine._step

    def counting_prefill(st, prompts, group, slot_ids, rows, s):
        prefilled.extend(p.index for p in group)
        return original_prefill(st, prompts, group, slot_ids, rows, s)

    def failing_step(st, slots):  # the second cache (short prompts) runs out of memory above 2 slots
        steps.append(st.batch)
        if st.batch > 2 and st.length < 64 and len(steps) > 20:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return original_step(st, slots)

    engine._prefill_chunk, engine._step = counting_prefill, failing_step
    got = tokens_by_index(engine.run(prep, settings))
    assert got == expected  # every request exactly once, same tokens as without the error
    assert engine.oom_events == 1
    assert all(prefilled.count(i) == 1 for i in (0, 1, 2))  # finished before the error: never redone
    assert any(prefilled.count(i) == 2 for i in range(3, 8))  # interrupted ones were redone
    assert steps[-1] <= 2  # the retry ran with the batch halved


def test_sampled_completions_reproducible_per_seed(model):
    # The random model's distribution is nearly flat over 128k tokens; at T 0.1 it is peaked enough that
    # the ~1e-6 logit differences between batch shapes cannot flip a sampled token.
    settings = GenerationSettings(max_new_tokens=16, temperature=0.1, samples=4, seed=7)
    reqs = [GenerationRequest(str(i), p, k, settings.seed_for(str(i), k))
            for i, p in enumerate(PROMPTS[:3]) for k in range(4)]

    def texts(s, batch):
        s.batch_size = batch
        return {(g.sample_id, g.sample_index): g.text for g in model.generate(reqs, s)}

    first, again = texts(settings, "auto"), texts(settings, "3")
    assert first == again  # same seeds, other batch composition: same completions
    for i in range(3):
        assert len({first[(str(i), k)] for k in range(4)}) > 1  # the k samples differ
    other = GenerationSettings(max_new_tokens=16, temperature=0.1, samples=4, seed=8)
    reqs = [GenerationRequest(r.sample_id, r.prompt, r.sample_index, other.seed_for(r.sample_id, r.sample_index))
            for r in reqs]
    assert texts(other, "auto") != first


def test_sampler_follows_the_distribution():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    logits = probs.log().repeat(8000, 1)
    seeds = torch.arange(8000)
    picks = hf_engine.choose_tokens(logits, seeds, torch.zeros(8000, dtype=torch.long), 1.0, 1.0)
    freq = torch.bincount(picks, minlength=4).float() / 8000
    assert torch.allclose(freq, probs, atol=0.02)
    nucleus = hf_engine.choose_tokens(logits, seeds, torch.zeros(8000, dtype=torch.long), 1.0, 0.65)
    assert set(nucleus.tolist()) == {2, 3}  # top_p 0.65 keeps the two most likely tokens
    u = hf_engine.uniform(seeds, torch.full_like(seeds, 3))
    assert 0 < u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.02


def test_long_prompt_left_truncated_with_warning(model):
    settings = GenerationSettings(max_new_tokens=8, temperature=0)
    long_prompt = "word " * 3000
    gens = list(model.generate([GenerationRequest("long", long_prompt), GenerationRequest("ok", "hi")], settings))
    by_id = {g.sample_id: g for g in gens}
    assert by_id["long"].error is None and by_id["long"].n_new_tokens == 8
    assert by_id["long"].n_prompt_tokens == model.max_context - 8
    assert "kept the last" in by_id["long"].warnings[0]
    assert by_id["ok"].warnings == []


@pytest.mark.parametrize("temperature", [0, 0.1])
def test_k_samples_share_one_prefill_and_give_the_same_tokens(model, temperature):
    """Issue 25: the k samples of a prompt run its prefill once; each still draws from its own seed."""
    settings = GenerationSettings(max_new_tokens=12, temperature=temperature, samples=4, seed=11)
    reqs = [GenerationRequest(str(i), p, k, settings.seed_for(str(i), k))
            for i, p in enumerate(PROMPTS[:3]) for k in range(4)]
    prep = [model.prepare(i, r, settings) for i, r in enumerate(reqs)]
    out = {}
    for share, batch in ((False, None), (True, None), (True, 6)):  # 6 slots: a prompt's samples split across fills
        engine = fast(model, share_prefix=share)
        out[share, batch] = tokens_by_index(engine.run(prep, settings, batch_size=batch))
        rows = engine.prefill_rows
        if batch is None:
            assert rows == (3 if share else 12)  # 3 prompts x 4 samples: one prefill row per prompt when shared
        else:
            assert 3 < rows < 12
    assert out[False, None] == out[True, None] == out[True, 6]
    assert len(out[True, None]) == 12
    if temperature:
        assert len({tuple(out[True, None][i]) for i in range(4)}) > 1  # the samples of one prompt differ
