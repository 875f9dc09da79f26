"""The Triton decode-attention kernel against plain attention over each slot's valid range.

Runs wherever Triton is installed: on a GPU, or on CPU through Triton's interpreter
(TRITON_INTERPRET=1, set here before Triton is imported).
"""

import os

import pytest

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from harness_plugins.hf_attention_kernel import decode_attention


def reference(query, keys, values, start, end, scale):
    out = torch.empty_like(query, dtype=torch.float64)
    groups = query.shape[1] // keys.shape[1]
    for b in range(query.shape[0]):
        k = keys[b, :, start[b]: end[b]].double().repeat_interleave(groups, 0)
        v = values[b, :, start[b]: end[b]].double().repeat_interleave(groups, 0)
        weights = torch.softmax(torch.einsum("hd,hnd->hn", query[b].double(), k) * scale, -1)
        out[b] = torch.einsum("hn,hnd->hd", weights, v)
    return out


@pytest.mark.parametrize("kv_heads,groups,length", [(2, 3, 150), (1, 4, 64)])
def test_kernel_matches_attention_over_valid_range(kv_heads, groups, length):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    gen = torch.Generator().manual_seed(kv_heads * 100 + length)
    batch, dim = 5, 32
    query = torch.randn(batch, kv_heads * groups, dim, generator=gen).to(device, dtype)
    keys = torch.randn(batch, kv_heads, length, dim, generator=gen).to(device, dtype)
    values = torch.randn(batch, kv_heads, length, dim, generator=gen).to(device, dtype)
    start = torch.tensor([0, 3, length // 2, length - 1, 10])
    end = torch.tensor([1, length - 20, length, length, 45])
    keys[1, :, :3] = 1e4 if device == "cpu" else float("nan")  # left padding is never attended (nor read, on GPU)
    out = decode_attention(query, keys, values, start.to(device), end.to(device), dim ** -0.5, block_n=32)
    expected = reference(query.cpu(), keys.cpu(), values.cpu(), start, end, dim ** -0.5)
    error = (out.cpu().double() - expected).norm() / expected.norm()
    assert error < (1e-2 if dtype == torch.bfloat16 else 1e-5)
