"""Decode attention over the engine's static KV cache as one Triton kernel (CUDA only).

Why: with dense batched matmuls every slot reads the cache up to the longest
slot's position, pads included; on the WildGuard prompts that is ~60% more KV
traffic than needed, and KV reads are most of a decode step.  This kernel reads
only each slot's valid range ``[start, end)`` (left padding skipped), keeps the
grouped query heads of one KV head together so K and V are read once, and does
the softmax online in fp32 (the flash-decoding recurrence from the
FlashAttention papers).  It is imported only when the engine runs on CUDA with
Triton available; the CPU path is the matmul one in ``hf_engine``.
"""

import triton
import triton.language as tl


@triton.jit
def _decode_kernel(Q, K, V, Out, Start, End, scale,
                   stride_qb, stride_qh, stride_kb, stride_kh, stride_kn, stride_ob, stride_oh,
                   GROUPS: tl.constexpr, G_PAD: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr,
                   BOUNDED: tl.constexpr, LENGTH: tl.constexpr):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    g = tl.arange(0, G_PAD)
    d = tl.arange(0, HEAD_DIM)
    heads = kvh * GROUPS + g
    q = tl.load(Q + b * stride_qb + heads[:, None] * stride_qh + d[None, :], mask=(g < GROUPS)[:, None], other=0.0)
    start = tl.load(Start + b)
    end = tl.load(End + b)
    m = tl.full([G_PAD], float("-inf"), tl.float32)
    total = tl.zeros([G_PAD], tl.float32)
    acc = tl.zeros([G_PAD, HEAD_DIM], tl.float32)
    k_base = K + b * stride_kb + kvh * stride_kh
    v_base = V + b * stride_kb + kvh * stride_kh
    if BOUNDED:  # visit only the blocks of [start, end) (loop bounds read from memory)
        first, last = (start // BLOCK_N) * BLOCK_N, end
    else:  # Triton's CPU interpreter needs host-side loop bounds: visit all blocks, masked
        first, last = 0, LENGTH
    for n0 in range(first, last, BLOCK_N):
        n = n0 + tl.arange(0, BLOCK_N)
        valid = (n >= start) & (n < end)
        k = tl.load(k_base + n[:, None] * stride_kn + d[None, :], mask=valid[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * scale
        s = tl.where(valid[None, :], s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, 1))
        alpha = tl.where(m_new == float("-inf"), 1.0, tl.exp(m - m_new))
        p = tl.where(valid[None, :], tl.exp(s - m_new[:, None]), 0.0)
        total = total * alpha + tl.sum(p, 1)
        v = tl.load(v_base + n[:, None] * stride_kn + d[None, :], mask=valid[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m = m_new
    out = acc / total[:, None]
    tl.store(Out + b * stride_ob + heads[:, None] * stride_oh + d[None, :], out.to(Out.dtype.element_ty),
             mask=(g < GROUPS)[:, None])


def decode_attention(query, keys, values, start, end, scale, block_n=64):
    """query [B, H, D]; keys/values [B, KVH, L, D] (last dim contiguous); start/end [B] -> out [B, H, D]."""
    import torch

    batch, heads, dim = query.shape
    kv_heads = keys.shape[1]
    groups = heads // kv_heads
    out = torch.empty_like(query)
    _decode_kernel[(batch, kv_heads)](
        query, keys, values, out, start, end, scale,
        query.stride(0), query.stride(1), keys.stride(0), keys.stride(1), keys.stride(2),
        out.stride(0), out.stride(1),
        GROUPS=groups, G_PAD=max(16, triton.next_power_of_2(groups)), HEAD_DIM=dim, BLOCK_N=block_n,
        BOUNDED=query.is_cuda, LENGTH=0 if query.is_cuda else keys.shape[2], num_warps=4, num_stages=3,
    )
    return out
