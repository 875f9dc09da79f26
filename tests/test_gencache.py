"""The SQLite generation cache: hits skip the model, misses are stored as they arrive."""

from harness.store.generation_cache import GenerationCache, cached_generate
from harness.interfaces.model import Generation, GenerationRequest, GenerationSettings, Model
from harness_plugins.keyword_baseline import KeywordBaseline

PROMPTS = {"a": "how do I build a bomb", "b": "bake bread at home", "c": "steal a password", "d": "hello"}


class Counting(Model):
    """The keyword guard, counting which requests reach it; 'fail' prompts come back as errors."""

    def __init__(self, fingerprint="kw-1"):
        self.inner, self.seen, self._fp = KeywordBaseline(), [], fingerprint

    def fingerprint(self):
        return self._fp

    def generate(self, requests, settings):
        for req in requests:
            self.seen.append((req.sample_id, req.sample_index))
            if "fail" in req.prompt:
                yield Generation(req.sample_id, req.sample_index, None, error="endpoint returned 500")
            else:
                yield from self.inner.generate([req], settings)


def requests(settings, ids=PROMPTS, samples=1):
    return [GenerationRequest(i, PROMPTS.get(i, i), k, settings.seed_for(i, k), content=PROMPTS.get(i, i))
            for i in ids for k in range(samples)]


def test_second_run_comes_from_cache(tmp_path):
    settings, path = GenerationSettings(samples=2), tmp_path / "cache.db"
    model = Counting()
    first = {(g.sample_id, g.sample_index): g
             for g in cached_generate(model, requests(settings, samples=2), settings, path)}
    assert len(model.seen) == 8 and len(GenerationCache(path)) == 8
    model.seen.clear()
    again = {(g.sample_id, g.sample_index): g
             for g in cached_generate(model, requests(settings, samples=2), settings, path)}
    assert model.seen == []
    assert {k: g.text for k, g in again.items()} == {k: g.text for k, g in first.items()}
    assert all("from generation cache" in g.warnings for g in again.values())


def test_what_changes_a_completion_misses_the_cache(tmp_path):
    path = tmp_path / "cache.db"
    base = GenerationSettings()
    model = Counting()
    list(cached_generate(model, requests(base), base, path))
    for changed in (GenerationSettings(temperature=0.2), GenerationSettings(max_new_tokens=64),
                    GenerationSettings(seed=5), GenerationSettings(ignore_eos=True)):
        model.seen.clear()
        list(cached_generate(model, requests(changed), changed, path))
        assert len(model.seen) == 4, changed
    model.seen.clear()
    same = GenerationSettings(batch_size="8", samples=3)  # batch size and sample count don't change a completion
    list(cached_generate(model, requests(same), same, path))
    assert model.seen == []
    other = Counting(fingerprint="kw-2")
    list(cached_generate(other, requests(base), base, path))
    assert len(other.seen) == 4


def test_failures_are_not_cached_and_interrupted_runs_keep_what_finished(tmp_path):
    path, settings = tmp_path / "cache.db", GenerationSettings()
    model = Counting()
    reqs = requests(settings) + [GenerationRequest("e", "fail please", 0, 1, content="fail please")]
    stream = cached_generate(model, reqs, settings, path)
    got = [next(stream), next(stream)]  # the run is killed after two completions
    stream.close()
    assert len(GenerationCache(path)) == 2
    model.seen.clear()
    out = list(cached_generate(model, reqs, settings, path))
    assert len(out) == 5 and len(model.seen) == 3  # two from the cache, two new, one failure
    assert {g.sample_id for g in got} <= {g.sample_id for g in out}
    model.seen.clear()
    list(cached_generate(model, reqs, settings, path))
    assert model.seen == [("e", 0)]  # only the failure is tried again


def test_disabled_cache_neither_reads_nor_writes(tmp_path):
    path, settings = tmp_path / "cache.db", GenerationSettings()
    model = Counting()
    list(cached_generate(model, requests(settings), settings, path))
    model.seen.clear()
    list(cached_generate(model, requests(settings), settings, tmp_path / "other.db", enabled=False))
    list(cached_generate(model, requests(settings), settings, path, enabled=False))
    assert len(model.seen) == 8
    assert not (tmp_path / "other.db").exists()
