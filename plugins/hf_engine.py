"""Batched generation for Hugging Face causal LMs: the fast engine and the reference path.

Why an engine of our own: transformers' paths are 5-15x short of a minute for
the WildGuard set (the issue measured ~82 ms a decode step at batch 256 with a
static cache and ``torch.compile``, against ~10 ms of memory traffic); profiled
here, a step of this engine at batch 512 is ~half KV-cache reads, a quarter
weight matrix products (benchmarks/RESULTS.md).  This engine keeps the Hugging Face / PEFT model for the forward pass (projections,
RoPE, MLP, LoRA) but owns everything around it:

* a static KV cache, one row per batch slot, written and read by an attention
  function registered with transformers' ``AttentionInterface`` (so any model
  whose attention goes through that interface works, LoRA adapters included);
  on CUDA a Triton kernel (``hf_attention_kernel``) reads only each slot's
  valid positions, elsewhere masked matmuls over the window in use;
* per-slot write positions, so a finished slot is refilled with a new prompt
  while the others keep decoding (continuous batching without paging);
* the decode step captured as a CUDA graph (one per cache with the Triton
  kernel; one per attention window of 128 positions with matmuls), with
  sampling on the GPU: no host synchronisation inside a step; the host looks at
  the ``done`` flags only every ``check_every`` steps or when a slot must be done;
* counter-based random numbers per (seed, token index), so a completion depends
  on its own seed only, not on which batch it landed in;
* prompts sorted by length, left padded per prefill group, and a new cache
  (with a larger batch) when the remaining prompts are much shorter;
* ``batch_size auto``: the largest batch the free GPU memory holds, halved and
  retried on out-of-memory without losing completions already yielded.

On CPU the same step runs eagerly (no graphs), which is what the CPU tests check.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

ATTENTION_NAME = "harness_static_cache"
WINDOW = 128  # attention window granularity (positions); one CUDA graph per window
LABEL_ROOM = 16  # cache positions kept past max_new_tokens for the cue tokens a label query appends
LABEL_BATCH = 64  # finished sequences per label-capture forward
_ACTIVE = []  # the engine whose cache the registered attention function uses right now


@dataclass
class Prepared:
    """One request tokenized for the model: prompt ids after any truncation."""

    index: int
    ids: list
    seed: int
    warnings: list = field(default_factory=list)


@dataclass
class Finished:
    """Token ids produced for one prepared request (stop token excluded)."""

    index: int
    tokens: list
    n_new_tokens: int
    seconds: float
    group_end: bool = True  # the last of the requests that finished together (a caller may batch on it)
    label_probs: dict | None = None  # {label: p} when the run was given a labeler and it asked for them


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Registered attention function: delegates to the engine that is running."""
    return _ACTIVE[-1].attend(module.layer_idx, query, key, value, scaling)


def register_attention():
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, _attention)


def uniform(seeds, index):
    """Counter-based uniform numbers in (0, 1): a 32-bit integer hash of (seed, index).

    Written with plain integer tensor ops so it runs inside a CUDA graph and gives
    the same numbers on CPU and GPU (the "lowbias32" mixer, public domain).
    """
    import torch

    mask = 0xFFFFFFFF
    x = (seeds * 0x9E3779B1 + index * 0x85EBCA77 + 0x27D4EB2F) & mask
    for _ in range(2):
        x = x ^ (x >> 16)
        x = (x * 0x7FEB352D) & mask
        x = x ^ (x >> 15)
        x = (x * 0x846CA68B) & mask
        x = x ^ (x >> 16)
    return ((x >> 8).to(torch.float32) + 0.5) / float(1 << 24)


def choose_tokens(logits, seeds, index, temperature, top_p):
    """Pick the next token of each row: greedy at temperature 0, else inverse-CDF sampling.

    One uniform number per row (from ``uniform``) instead of a random vector over
    the vocabulary keeps sampling cheap and batch-independent.
    """
    import torch

    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    last = probs.shape[-1] - 1
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
        cdf = (sorted_probs * keep).cumsum(-1)
        target = uniform(seeds, index) * cdf[:, -1]
        pick = torch.searchsorted(cdf, target[:, None]).clamp_(max=last)
        return order.gather(-1, pick)[:, 0]
    cdf = probs.cumsum(-1)
    target = uniform(seeds, index) * cdf[:, -1]
    return torch.searchsorted(cdf, target[:, None]).clamp_(max=last)[:, 0]


def is_oom(error) -> bool:
    import torch

    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class FastEngine:
    """Static-cache decode loop around a Hugging Face causal LM (see module docstring)."""

    def __init__(self, model, device, stop_ids, pad_id, max_batch_size=None, use_graphs=True,
                 check_every=16, prefill_tokens=16384, use_kernel=True, share_prefix=True):
        import torch

        register_attention()
        self.model = model
        self.base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = self.base.config
        self.device = torch.device(device)
        self.stop_ids = sorted(set(stop_ids))
        self.pad_id = pad_id
        self.cuda = self.device.type == "cuda"
        self.use_graphs = use_graphs and self.cuda
        self.max_batch_size = max_batch_size or (1024 if self.cuda else 64)
        self.check_every = check_every
        self.prefill_tokens = prefill_tokens
        self.share_prefix = share_prefix
        self.prefill_rows = 0  # prompts run by the last run's prefills (fewer than requests when shared)
        self.layers = config.num_hidden_layers
        self.kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.groups = config.num_attention_heads // self.kv_heads
        self.vocab = config.vocab_size
        self.dtype = next(p.dtype for p in self.base.parameters() if p.is_floating_point())
        if self.dtype not in (torch.float16, torch.bfloat16, torch.float32):
            self.dtype = torch.bfloat16
        self.oom_events = 0
        self.graph_error = None
        self.state = None
        self.last_batch_sizes, self.decode_steps = [], 0
        self.timings = {"prefill": 0.0, "capture": 0.0, "labels": 0.0}
        self.kernel = None
        if self.cuda and use_kernel:
            try:
                from harness_plugins.hf_attention_kernel import decode_attention
            except ImportError:  # no Triton: the matmul path
                pass
            else:
                self.kernel = decode_attention

    # -- attention over the static cache --------------------------------------------
    def attend(self, layer, query, key, value, scaling):
        import torch
        import torch.nn.functional as F
        from torch.nn.attention import SDPBackend, sdpa_kernel

        st = self.state
        if st.mode == "prefill":
            n, _, length, _ = key.shape
            if st.rows is None:
                st.k[layer][st.slots, :, :length] = key
                st.v[layer][st.slots, :, :length] = value
            else:  # a shared prompt: its row's keys/values go to each of its samples' slots
                st.k[layer][st.slots, :, :length] = key[st.rows]
                st.v[layer][st.slots, :, :length] = value[st.rows]
            key = key.repeat_interleave(self.groups, dim=1)
            value = value.repeat_interleave(self.groups, dim=1)
            # Memory-efficient attention takes the padding mask as is; cuDNN's would plan anew for every
            # (batch, width) shape of a prefill chunk, which cost seconds per run on an H100.
            with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
                out = F.scaled_dot_product_attention(query, key, value, attn_mask=st.prefill_mask, scale=scaling)
            return out.transpose(1, 2), None
        if st.mode == "extend":  # a few tokens per finished slot, after that slot's cached context
            st.k[layer][st.ext_wslot, :, st.ext_wpos] = key.transpose(1, 2)[st.ext_real]
            st.v[layer][st.ext_wslot, :, st.ext_wpos] = value.transpose(1, 2)[st.ext_real]
            keys = st.k[layer][st.ext_slots, :, : st.ext_window].repeat_interleave(self.groups, dim=1)
            values = st.v[layer][st.ext_slots, :, : st.ext_window].repeat_interleave(self.groups, dim=1)
            with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
                out = F.scaled_dot_product_attention(query, keys.to(query.dtype), values.to(query.dtype),
                                                     attn_mask=st.ext_mask, scale=scaling)
            return out.transpose(1, 2), None
        # decode: one query token per slot; write its key/value, attend to the window in use
        batch = query.shape[0]
        st.k[layer][st.arange, :, st.wpos] = key[:, :, 0]
        st.v[layer][st.arange, :, st.wpos] = value[:, :, 0]
        if self.kernel is not None:  # reads only [start, wpos] of each slot
            heads = self.kv_heads * self.groups
            out = self.kernel(query.reshape(batch, heads, self.head_dim), st.k[layer], st.v[layer],
                              st.start, st.end, scaling)
            return out.reshape(batch, 1, heads, self.head_dim), None
        keys = st.k[layer][:, :, : st.window]
        values = st.v[layer][:, :, : st.window]
        q = query.reshape(batch, self.kv_heads, self.groups, self.head_dim)
        scores = torch.matmul(q, keys.transpose(-1, -2)).float() * scaling + st.bias
        probs = torch.softmax(scores, dim=-1).to(values.dtype)
        out = torch.matmul(probs, values)  # [batch, kv_heads, groups, head_dim]
        return out.reshape(batch, 1, self.kv_heads * self.groups, self.head_dim), None

    @contextlib.contextmanager
    def _active(self):
        previous = self.previous_attention = self.base.config._attn_implementation
        self.base.set_attn_implementation(ATTENTION_NAME)
        _ACTIVE.append(self)
        try:
            yield
        finally:
            _ACTIVE.pop()
            self.base.set_attn_implementation(previous)

    def _forward(self, ids, positions):
        out = self.model(input_ids=ids, position_ids=positions, use_cache=False, logits_to_keep=1)
        return out.logits[:, -1].float()

    # -- sizing --------------------------------------------------------------------
    def kv_bytes_per_token(self):
        return 2 * self.layers * self.kv_heads * self.head_dim * _itemsize(self.dtype)

    def fit_batch(self, length, remaining, requested):
        """Slots for a cache of ``length`` positions: requested, or what free memory holds."""
        cap = min(self.max_batch_size, remaining)
        if requested is not None:
            cap = min(cap, requested)
        elif self.cuda:
            import torch

            torch.cuda.empty_cache()
            free, _ = torch.cuda.mem_get_info(self.device)
            reserve = 2 * 1024**3 + 0.08 * free + self.prefill_tokens * 64 * 1024
            per_slot = self.kv_bytes_per_token() * length + self.vocab * 24
            cap = min(cap, int(max(0, free - reserve) // per_slot))
        cap = max(1, cap)
        waves = math.ceil(remaining / cap)
        return math.ceil(remaining / waves)  # same work in every wave

    # -- the loop ------------------------------------------------------------------
    def run(self, prepared, settings, batch_size=None, labeler=None):
        """Yield a :class:`Finished` per prepared request, as slots finish.

        ``labeler(index, tokens)`` -> :class:`LabelQuery` or None: for each finished
        request, the context whose next-token label probabilities it wants; they are
        computed from the slot's KV cache before the slot is reused (:meth:`_capture_labels`).
        """
        import torch

        pending = sorted(prepared, key=lambda p: len(p.ids), reverse=True)
        requested = batch_size
        self.last_batch_sizes, self.decode_steps, self.prefill_rows = [], 0, 0
        self.timings = {"prefill": 0.0, "capture": 0.0, "labels": 0.0}
        began = time.perf_counter()
        with torch.inference_mode(), self._active():
            while pending:
                room = LABEL_ROOM if labeler is not None else 0
                length = _round_up(len(pending[0].ids) + settings.max_new_tokens + room, 16)
                batch = self.fit_batch(length, len(pending), requested)
                try:
                    yield from self._run_cache(pending, settings, batch, length, labeler)
                except Exception as error:
                    if not is_oom(error):
                        raise
                    self.oom_events += 1
                    self._release()
                    if batch == 1:
                        from harness import HarnessError

                        raise HarnessError(
                            "hf: the GPU ran out of memory with a single sequence; try quantization 4bit, "
                            "a smaller max_new_tokens, or a GPU with more memory") from None
                    requested = max(1, batch // 2)
                finally:
                    self._release()
        self.timings["run"] = time.perf_counter() - began

    def _release(self):
        import torch

        self.state = None
        if self.cuda:
            torch.cuda.empty_cache()

    def _run_cache(self, pending, settings, batch, length, labeler=None):
        """Decode with one cache of ``batch`` slots x ``length`` positions until it is drained.

        Requests leave ``pending`` only when they finish, so an out-of-memory error
        loses nothing: the unfinished ones are still pending for the retry.
        """
        st = self._allocate(batch, length, settings)
        self.last_batch_sizes.append(batch)
        began = time.perf_counter()
        max_new = settings.max_new_tokens
        slots = [None] * batch  # slot -> _Slot
        refill_floor = 0.7 * (length - (LABEL_ROOM if labeler is not None else 0))
        started = set()
        while True:
            free = [b for b in range(batch) if slots[b] is None]
            # The first fill takes the longest pending prompts; refills only those that still use this
            # cache well (>= 70% of its length); shorter ones wait for a new cache with more slots.
            fits = [p for p in pending if id(p) not in started
                    and (not started or _round_up(len(p.ids) + max_new, 16) >= refill_floor)]
            if free and fits and (len(free) >= max(1, batch // 8) or all(s is None for s in slots)):
                group = fits[: len(free)]
                for p in group:
                    started.add(id(p))
                self._prefill(st, group, free[: len(group)], slots, settings)
            active = [s for s in slots if s is not None]
            if not active:
                self.timings.setdefault("caches", []).append(
                    {"batch": batch, "length": length, "seconds": round(time.perf_counter() - began, 2)})
                return
            steps = min([self.check_every] + [max_new - s.generated for s in active])
            for _ in range(max(1, steps)):
                self._step(st, slots)
                self.decode_steps += 1
            for s in active:
                s.generated += max(1, steps)
            done = st.done.cpu().tolist()
            finished = [b for b, s in enumerate(slots) if s is not None and (done[b] or s.generated >= max_new)]
            if finished:
                index = torch_index(finished, st.out.device)
                rows = st.out[index].cpu().tolist()
                counts = st.nnew[index].cpu().tolist()
                now = time.perf_counter()
                done_rows = []
                for b, row, count in zip(finished, rows, counts):
                    tokens = row[:count]
                    if tokens and tokens[-1] in self.stop_ids and not settings.ignore_eos:
                        tokens = tokens[:-1]
                    done_rows.append((b, slots[b], tokens, row[: count - 1], count))  # row[count - 1] was never fed
                probs = self._capture_labels(st, done_rows, labeler) if labeler is not None else {}
                for n, (b, s, tokens, _, count) in enumerate(done_rows, 1):
                    slots[b] = None
                    pending.remove(s.prepared)
                    yield Finished(s.prepared.index, tokens, count, now - s.start, group_end=n == len(done_rows),
                                   label_probs=probs.get(b))

    def _capture_labels(self, st, done_rows, labeler):
        """Label probabilities of finished slots, from their KV cache: only the query's last few tokens run.

        A query's context is compared with what the slot's cache holds (prompt + the
        generated tokens that were fed back); the first differing position on is run
        as a short extension against the cache (usually the cue tokens, or just the
        last context token), and the softmax of its last position is the same rule
        as :func:`label_probabilities`, whose full forward pass takes any query that
        does not fit the cache.  Returns ``{slot: {label: p}}``.
        """
        began = time.perf_counter()
        rows, fallback, out = [], [], {}
        for b, slot, tokens, fed, _ in done_rows:
            query = labeler(slot.prepared.index, tokens)
            if query is None:
                continue
            have = slot.prepared.ids + fed
            cached = 0
            limit = min(len(have), len(query.context) - 1)
            while cached < limit and query.context[cached] == have[cached]:
                cached += 1
            extra = query.context[cached:]
            start = st.host_start[b]
            if cached < 1 or len(extra) > LABEL_ROOM or start + len(query.context) > st.length:
                fallback.append((b, query))
            else:
                rows.append((b, query, cached, extra, start))
        for begin in range(0, len(rows), LABEL_BATCH):
            chunk = rows[begin: begin + LABEL_BATCH]
            probs = self._extend(st, chunk)
            for row, (b, query, *_) in enumerate(chunk):
                out[b] = label_distribution(probs[row], query.tokens)
        if fallback:
            found = label_probabilities(self.model, self.device, self.pad_id, [q for _, q in fallback])
            out.update({b: p for (b, _), p in zip(fallback, found)})
        self.timings["labels"] += time.perf_counter() - began  # the probabilities are on the host: GPU work done
        return out

    def _extend(self, st, chunk):
        """Run each row's extra tokens (left-padded to one width) after its cached prefix; next-token softmax."""
        import torch

        dev, width = self.device, max(len(extra) for _, _, _, extra, _ in chunk)
        n = len(chunk)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        positions = torch.zeros((n, width), dtype=torch.long)
        real = torch.zeros((n, width), dtype=torch.bool)
        upper = torch.zeros((n, width), dtype=torch.long)  # last cache position each query may see
        lower = torch.zeros((n, 1), dtype=torch.long)
        wslot, wpos = [], []
        for row, (b, _, cached, extra, start) in enumerate(chunk):
            pad = width - len(extra)
            ids[row, pad:] = torch.tensor(extra)
            positions[row] = torch.arange(cached - pad, cached + len(extra)).clamp_(min=cached)
            real[row, pad:] = True
            upper[row] = torch.arange(start + cached - pad, start + cached + len(extra)).clamp_(min=start + cached - 1)
            lower[row] = start
            wslot += [b] * len(extra)
            wpos += list(range(start + cached, start + cached + len(extra)))
        st.ext_window = int(upper.max()) + 1
        keys = torch.arange(st.ext_window)
        mask = (keys >= lower[:, :, None]) & (keys <= upper[:, :, None])  # [n, width, window]
        st.ext_mask = mask[:, None].to(dev)
        st.ext_real = real.to(dev)
        st.ext_slots = torch.tensor([c[0] for c in chunk], dtype=torch.long, device=dev)
        st.ext_wslot = torch.tensor(wslot, dtype=torch.long, device=dev)
        st.ext_wpos = torch.tensor(wpos, dtype=torch.long, device=dev)
        st.mode = "extend"
        try:
            logits = self._forward(ids.to(dev), positions.to(dev))
        finally:
            st.mode = "decode"
        return torch.softmax(logits, dim=-1)

    def _allocate(self, batch, length, settings):
        import torch

        st = _State()
        dev, shape = self.device, (batch, self.kv_heads, length, self.head_dim)
        st.k = [torch.zeros(shape, dtype=self.dtype, device=dev) for _ in range(self.layers)]
        st.v = [torch.zeros(shape, dtype=self.dtype, device=dev) for _ in range(self.layers)]
        st.length, st.batch = length, batch
        st.arange = torch.arange(batch, device=dev)
        st.ones = torch.ones(batch, dtype=torch.bool, device=dev)
        st.tok = torch.full((batch,), self.pad_id, dtype=torch.long, device=dev)
        st.rpos = torch.zeros(batch, dtype=torch.long, device=dev)
        st.wpos = torch.zeros(batch, dtype=torch.long, device=dev)
        st.start = torch.zeros(batch, dtype=torch.long, device=dev)  # first non-pad position of each slot
        st.end = torch.ones(batch, dtype=torch.long, device=dev)
        st.nnew = torch.zeros(batch, dtype=torch.long, device=dev)
        st.seeds = torch.zeros(batch, dtype=torch.long, device=dev)
        st.done = torch.ones(batch, dtype=torch.bool, device=dev)
        st.valid = torch.zeros((batch, length), dtype=torch.bool, device=dev)
        st.valid[:, 0] = True  # an empty slot still has one key: no all-masked softmax rows
        st.out = torch.full((batch, settings.max_new_tokens), self.pad_id, dtype=torch.long, device=dev)
        st.stop = torch.tensor(self.stop_ids or [-1], dtype=torch.long, device=dev)
        st.settings = settings
        st.graphs, st.pool = {}, None
        self.state = st
        return st

    def _prefill(self, st, group, free, slots, settings):
        """Put new prompts into free slots: left-pad, run the prompt, sample its first token.

        Requests with the same prompt ids (the k samples of one prompt) share one
        prefill row: the prompt runs once and its keys/values are written to each of
        their slots (``share_prefix``); each sample then draws its own tokens from its
        own seed, as it would have alone.
        """
        order = sorted(range(len(group)), key=lambda i: len(group[i].ids))
        units = {}  # prompt -> the group indices that share its prefill row
        for i in order:
            units.setdefault(tuple(group[i].ids) if self.share_prefix else i, []).append(i)
        chunk = []
        for unit in list(units.values()) + [None]:
            width = len(group[unit[0]].ids) if unit is not None else 0
            if unit is not None and (not chunk or (len(chunk) + 1) * width <= self.prefill_tokens):
                chunk.append(unit)
                continue
            if chunk:
                begin = time.perf_counter()
                members = [j for u in chunk for j in u]
                rows = [r for r, u in enumerate(chunk) for _ in u]
                self._prefill_chunk(st, [group[u[0]] for u in chunk], [group[j] for j in members],
                                    [free[j] for j in members], rows, settings)
                if self.cuda:
                    import torch

                    torch.cuda.synchronize(self.device)
                spent = time.perf_counter() - begin
                self.timings["prefill"] += spent
                self.timings["prefill_slowest"] = max(self.timings.get("prefill_slowest", 0.0), spent)
                self.prefill_rows += len(chunk)
                now = time.perf_counter()
                for j in members:
                    slots[free[j]] = _Slot(group[j], now)
            chunk = [unit] if unit is not None else []

    def _prefill_chunk(self, st, prompts, group, slot_ids, rows, settings):
        """Run ``prompts`` (one row each); request ``group[i]`` goes to slot ``slot_ids[i]`` from row ``rows[i]``."""
        import torch

        dev = self.device
        width = max(len(p.ids) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        real = torch.zeros((len(prompts), width), dtype=torch.bool)
        for row, p in enumerate(prompts):
            ids[row, width - len(p.ids):] = torch.tensor(p.ids)
            real[row, width - len(p.ids):] = True
        ids, real = ids.to(dev), real.to(dev)
        positions = (real.long().cumsum(-1) - 1).clamp_(min=0)
        causal = torch.ones((width, width), dtype=torch.bool, device=dev).tril_()
        eye = torch.eye(width, dtype=torch.bool, device=dev)
        st.prefill_mask = (causal & (real[:, None, :] | eye))[:, None]  # pads see themselves: no NaN rows
        st.slots = torch.tensor(slot_ids, dtype=torch.long, device=dev)
        shared = rows != list(range(len(prompts)))
        st.rows = torch.tensor(rows, dtype=torch.long, device=dev) if shared else None
        st.mode = "prefill"
        logits = self._forward(ids, positions)
        st.mode = "decode"
        if shared:
            logits, real = logits[st.rows], real[st.rows]
        seeds = torch.tensor([p.seed for p in group], dtype=torch.long, device=dev)
        zero = torch.zeros(len(group), dtype=torch.long, device=dev)
        first = choose_tokens(logits, seeds, zero, settings.temperature, settings.top_p)
        s = st.slots
        st.valid[s] = False
        st.valid[s, :width] = real
        st.tok[s] = first
        st.seeds[s] = seeds
        st.rpos[s] = real.sum(-1)
        st.start[s] = width - real.sum(-1)
        st.wpos[s] = width
        st.out[s] = self.pad_id
        st.out[s, 0] = first
        st.nnew[s] = 1
        stop = (first[:, None] == st.stop[None, :]).any(-1) & (not settings.ignore_eos)
        st.done[s] = stop | (settings.max_new_tokens <= 1)
        for b, p in zip(slot_ids, group):
            st.host_wpos[b] = (width, width + settings.max_new_tokens - 1)
            st.host_start[b] = width - len(p.ids)

    def _step_body(self):
        """One decode step for every slot; only tensor ops, so it can be graph-captured."""
        import torch

        st, settings = self.state, self.state.settings
        if self.kernel is not None:
            torch.add(st.wpos, 1, out=st.end)
        else:
            st.valid.index_put_((st.arange, st.wpos), st.ones)  # a tensor value: no host copy inside a graph
            st.bias = st.valid[:, : st.window].float().log()[:, None, None, :]  # 0 where valid, -inf elsewhere
        logits = self._forward(st.tok[:, None], st.rpos[:, None])
        nxt = choose_tokens(logits, st.seeds, st.nnew, settings.temperature, settings.top_p)
        live = ~st.done
        col = st.nnew.clamp(max=settings.max_new_tokens - 1)
        st.out[st.arange, col] = torch.where(live, nxt, st.out[st.arange, col])
        st.nnew.add_(live.long())
        finished = st.nnew >= settings.max_new_tokens
        if not settings.ignore_eos:
            finished = finished | ((nxt[:, None] == st.stop[None, :]).any(-1) & live)
        st.done.logical_or_(finished)
        st.tok.copy_(torch.where(live, nxt, st.tok))
        st.rpos.add_(live.long())
        st.wpos.add_(live.long())

    def _step(self, st, slots):
        # Host-side upper bound of every slot's write position -> attention window.
        top = 0
        for b, (start, cap) in st.host_wpos.items():
            top = max(top, min(start, cap))
        st.window = st.length if self.kernel is not None else min(st.length, _round_up(top + 1, WINDOW))
        if self.use_graphs:
            try:
                graph = self._graph(st, st.window)
            except Exception as error:
                if is_oom(error):
                    raise
                self.use_graphs, self.graph_error = False, f"{type(error).__name__}: {error}"
            else:
                graph.replay()
        if not self.use_graphs:
            self._step_body()
        for b, (start, cap) in list(st.host_wpos.items()):
            st.host_wpos[b] = (start + 1, cap)

    def _graph(self, st, window):
        import torch

        graph = st.graphs.get(window)
        if graph is not None:
            return graph
        begin = time.perf_counter()
        saved = {name: getattr(st, name).clone() for name in ("tok", "rpos", "wpos", "nnew", "done", "out", "valid")}
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            self._step_body()  # warm-up (cuBLAS handles, lazy init) outside capture
        torch.cuda.current_stream(self.device).wait_stream(stream)
        for name, value in saved.items():
            getattr(st, name).copy_(value)
        if st.pool is None:
            st.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=st.pool):
            self._step_body()
        st.graphs[window] = graph
        self.timings["capture"] += time.perf_counter() - begin
        return graph


class _State:
    """The static tensors of one cache (slots x positions) plus host-side bookkeeping."""

    mode = "decode"
    window = WINDOW
    rows = None  # prefill: which prompt row each slot of ``slots`` takes (None: one row per slot)

    def __init__(self):
        self.host_wpos = {}
        self.host_start = {}  # slot -> cache position of its first prompt token


class _Slot:
    def __init__(self, prepared, start):
        self.prepared = prepared
        self.start = start
        self.generated = 1  # the first token comes from the prefill


def torch_index(values, device):
    import torch

    return torch.tensor(values, dtype=torch.long, device=device)


def _round_up(value, step):
    return int(math.ceil(value / step) * step)


def _itemsize(dtype):
    import torch

    return torch.empty((), dtype=dtype).element_size()


class ReferenceEngine:
    """transformers' own ``generate``: the path the fast engine is tested against, a slow correctness oracle.

    Greedy requests go in left-padded batches; sampled ones one at a time under
    ``torch.manual_seed(request seed)``, so each completion is reproducible per seed
    (batching them would tie each sample's random stream to its batch-mates).  Its
    speed (issue 25, one H100, random Llama-3.2-3B bf16, 512 new tokens at T 0.7):
    21 of 200 WildGuard records in about 390 s, ~19 s a completion, against ~0.04 s a
    completion for :class:`FastEngine` on the full set; use it for tests and spot
    checks, not for whole sets.
    """

    def __init__(self, model, device, stop_ids, pad_id, max_batch_size=None):
        self.model, self.device = model, device
        self.stop_ids, self.pad_id = sorted(set(stop_ids)), pad_id
        self.max_batch_size = max_batch_size or 8

    def run(self, prepared, settings, batch_size=None, labeler=None):
        """Yield a :class:`Finished` per request; ``labeler`` as in :meth:`FastEngine.run` (a full forward pass)."""
        import torch
        from transformers import GenerationConfig

        greedy = settings.temperature <= 0
        size = (batch_size or self.max_batch_size) if greedy else 1
        order = sorted(prepared, key=lambda p: len(p.ids), reverse=True)
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens, do_sample=not greedy,
            temperature=settings.temperature if not greedy else None,
            top_p=settings.top_p if not greedy else None, top_k=0 if not greedy else None,
            eos_token_id=self.stop_ids or None, pad_token_id=self.pad_id,
            min_new_tokens=settings.max_new_tokens if settings.ignore_eos else None,
        )
        for start in range(0, len(order), size):
            group = order[start: start + size]
            begin = time.perf_counter()
            width = max(len(p.ids) for p in group)
            ids = torch.full((len(group), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for row, p in enumerate(group):
                ids[row, width - len(p.ids):] = torch.tensor(p.ids)
                mask[row, width - len(p.ids):] = 1
            if not greedy:
                torch.manual_seed(group[0].seed)
            with torch.inference_mode():
                out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          generation_config=config)
            seconds = time.perf_counter() - begin
            done = []
            for row, p in enumerate(group):
                new = out[row, width:].tolist()
                count = len(new)
                for i, token in enumerate(new):  # a row without a stop token ran the full length
                    if token in self.stop_ids and not settings.ignore_eos:
                        new, count = new[:i], i + 1
                        break
                done.append(Finished(p.index, new, count, seconds, group_end=row == len(group) - 1))
            if labeler is not None:
                asked = [(f, q) for f in done if (q := labeler(f.index, f.tokens)) is not None]
                probs = label_probabilities(self.model, self.device, self.pad_id, [q for _, q in asked]) if asked else []
                for (f, _), p in zip(asked, probs):
                    f.label_probs = p
            yield from done


@dataclass
class LabelQuery:
    """One scoring-pass input: the context ids (prompt + completion up to the label) and each label's token."""

    context: list
    tokens: dict  # canonical label -> id of its first distinguishing token


def label_probabilities(model, device, pad_id, queries, max_tokens=16384, max_batch=64):
    """The probability of each label at the end of each query's context, from one forward pass.

    The rule: the logits of the context's last position, softmax over the full
    vocabulary at temperature 1 (the model's own distribution, whatever the run
    sampled with); each label's probability is that of its first distinguishing
    token, renormalised over the labels so they sum to 1.  Queries run in
    left-padded batches (sorted by length, at most ``max_tokens`` padded tokens
    and ``max_batch`` rows each) with transformers' own attention, not the
    engine's cache; a batch that runs out of GPU memory is split in two.
    Returns a list of ``{label: p}`` in the order of ``queries``.
    """
    import torch

    order = sorted(range(len(queries)), key=lambda i: len(queries[i].context))
    out = [None] * len(queries)
    batches, chunk = [], []
    for i in order:
        width = len(queries[i].context)
        if chunk and ((len(chunk) + 1) * width > max_tokens or len(chunk) >= max_batch):
            batches.append(chunk)
            chunk = []
        chunk.append(i)
    if chunk:
        batches.append(chunk)
    with torch.inference_mode(), own_attention(model):
        while batches:
            chunk = batches.pop()
            try:
                probs = _next_token_probs(model, device, pad_id, [queries[i].context for i in chunk])
            except Exception as error:
                if not is_oom(error) or len(chunk) == 1:
                    raise
                if str(device).startswith("cuda"):
                    torch.cuda.empty_cache()
                half = len(chunk) // 2
                batches += [chunk[:half], chunk[half:]]
                continue
            for row, i in enumerate(chunk):
                out[i] = label_distribution(probs[row], queries[i].tokens)
    return out


def label_distribution(probs, tokens):
    """Each label's probability (its token's, over the full vocabulary) renormalised over the labels."""
    labels = list(tokens)
    picked = probs[[tokens[label] for label in labels]].double()
    total = float(picked.sum())
    return {label: (float(p) / total if total > 0 else 1.0 / len(labels)) for label, p in zip(labels, picked)}


@contextlib.contextmanager
def own_attention(model):
    """The model's own attention for a pass made while an engine run is paused at a yield (its cache set)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not _ACTIVE or base.config._attn_implementation != ATTENTION_NAME:
        yield
        return
    base.set_attn_implementation(_ACTIVE[-1].previous_attention)
    try:
        yield
    finally:
        base.set_attn_implementation(ATTENTION_NAME)


def _next_token_probs(model, device, pad_id, contexts):
    """Softmax over the vocabulary of the next token after each (left-padded) context."""
    import torch

    width = max(len(c) for c in contexts)
    ids = torch.full((len(contexts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(contexts), width), dtype=torch.long)
    for row, context in enumerate(contexts):
        ids[row, width - len(context):] = torch.tensor(context)
        mask[row, width - len(context):] = 1
    positions = (mask.cumsum(-1) - 1).clamp_(min=0)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                   logits_to_keep=1).logits[:, -1]
    return torch.softmax(logits.float(), dim=-1)
