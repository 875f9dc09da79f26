"""The over-optimisation monitor inside TRL training: a ``TrainerCallback`` (issue 22).

Every ``monitor.every`` optimizer steps, and once before the first, the callback
generates on the held-out set from the model being trained, through the
harness's own generation path (``hf``'s model class and its fast engine, the
trained LoRA adapter active as it is, nothing merged), then measures the mean
log-ratio log pi(y|x) - log pi_ref(y|x) of those completions against the
reference the trainer itself uses (TRL's frozen ``ref`` copy of a parent
adapter, else the base with adapters off: the parent either way), and hands
both to :class:`harness.TrainMonitor`, which judges them and writes
``monitor.jsonl``.  Sampled at temperature 1 the mean log-ratio is a Monte Carlo
estimate of KL(policy || parent); greedy (the default) it is the log-ratio on the
policy's most likely completions.

Every rank of a DDP run measures (the same greedy completions on the same
weights), so all ranks take the same stop decision; only rank 0 writes.
"""

from __future__ import annotations

import sys
import time

from harness import HarnessError, TrainMonitor, default_monitor_proxy, parse_monitor
from harness_plugins.hf import HFModel

LOG_RATIO_BATCH = 4  # rows per forward of the log-ratio pass (logits of 4 x 512 x 128k floats: 1 GB)


class LiveModel(HFModel):
    """An already loaded (training) model behind :class:`HFModel`'s prepare/generate path, without loading."""

    def __init__(self, model, tokenizer, chat: bool = False, cuda_graphs: bool = True):
        self.options = {"cuda_graphs": cuda_graphs}
        self.spec = "live:training"
        self.chat, self.label_probs, self.engine_name = chat, False, "fast"
        self.quantization, self.merged, self.adapter_source = None, False, None
        self.device = str(next(model.parameters()).device)
        self.cuda = self.device.startswith("cuda")
        self._model, self._tokenizer, self._engine = model, tokenizer, None
        self.load_seconds = self.import_seconds = 0.0
        self._stop = self._stop_ids()
        self._context = (getattr(model.config, "max_position_embeddings", None)
                         or getattr(tokenizer, "model_max_length", None) or 4096)

    def close(self):
        self._engine = None


def reference_context(model):
    """What the trainer's reference is: TRL's frozen 'ref' adapter copy if there is one, else adapters off."""
    from trl.trainer.utils import use_adapter

    if hasattr(model, "peft_config"):
        name = "ref" if "ref" in model.peft_config else None
        return use_adapter(model, name), ("the parent's adapter (TRL's frozen 'ref' copy)" if name
                                          else "the base (adapters disabled)")
    return None, None


def sequence_logps(model, rows, pad_id) -> list[float]:
    """Sum of log p(completion | prompt) for each (prompt ids, completion ids) row.

    Rows are left padded (positions counted from each row's first real token) so that only the last
    ``longest completion + 1`` positions need logits: a 128k vocabulary makes full-length logits gigabytes.
    """
    import torch

    device = next(model.parameters()).device
    out = []
    for start in range(0, len(rows), LOG_RATIO_BATCH):
        batch = rows[start:start + LOG_RATIO_BATCH]
        width = max(len(p) + len(c) for p, c in batch)
        keep = max(len(c) for _, c in batch)
        if keep == 0:
            out += [0.0] * len(batch)
            continue
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (p, c) in enumerate(batch):
            ids[i, width - len(p) - len(c):] = torch.tensor(p + c)
            mask[i, width - len(p) - len(c):] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        # logits at positions width-keep-1 .. width-2 predict the last `keep` tokens
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                       logits_to_keep=keep + 1).logits[:, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(2, ids[:, width - keep:, None])[..., 0]
        for i, (_, c) in enumerate(batch):
            out.append(float(logp[i, keep - len(c):].sum()) if c else 0.0)
        del logits, logp
    return out


class MonitorCallback:
    """Takes a monitor point before training and every ``every`` steps; stops training on gaming if asked."""

    def __init__(self, monitor: TrainMonitor, tokenizer, chat: bool, main_process: bool = True):
        self.monitor, self.tokenizer, self.chat, self.main = monitor, tokenizer, chat, main_process
        self.live = None
        self.reference = None

    def measure(self, step: int, model):
        started = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            if self.live is None or self.live._model is not model:
                self.live = LiveModel(model, self.tokenizer, self.chat, self.monitor.config.cuda_graphs)
            generations = list(self.live.generate(self.monitor.requests, self.monitor.settings))
            log_ratios = self.log_ratios(model, generations)
        finally:
            if was_training:
                model.train()
        return self.monitor.record(step, generations, log_ratios, time.perf_counter() - started, write=self.main)

    def log_ratios(self, model, generations) -> list[float] | None:
        import torch

        context, self.reference = reference_context(model)
        if context is None:
            return None
        prompts = {r.sample_id: self.live.prepare(0, r, self.monitor.settings).ids for r in self.monitor.requests}
        rows = [(prompts[g.sample_id], self.tokenizer(g.text or "", add_special_tokens=False).input_ids)
                for g in generations]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.no_grad():
            policy = sequence_logps(model, rows, pad)
            with context:
                reference = sequence_logps(model, rows, pad)
        return [a - b for a, b in zip(policy, reference)]

    def after(self, point, control):
        """Stop training at a gaming point when ``monitor.stop`` is on."""
        if point.gaming and self.monitor.config.stop:
            self.monitor.stopped_at = point.step
            print(f"monitor: stopping training at step {point.step} (monitor.stop is on)", file=sys.stderr)
            control.should_training_stop = True
        return control

    # TrainerCallback events (the class is made a TrainerCallback in callback_class)
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not self.monitor.has_point(state.global_step):
            self.after(self.measure(state.global_step, model), control)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.monitor.config.every == 0 and not self.monitor.has_point(state.global_step):
            self.after(self.measure(state.global_step, model), control)
        return control


def callback_class():
    from transformers import TrainerCallback

    return type("MonitorTrainerCallback", (MonitorCallback, TrainerCallback), {})


def attach_monitor(trainer, tokenizer, parent: dict, config, method: str, data_path, output_dir, resume_from):
    """Add the monitor to ``trainer`` when the config has a ``monitor`` section; returns it (or None)."""
    from harness import under_fsdp

    monitor_config = parse_monitor(config, method, default_monitor_proxy(method, config, data_path))
    if monitor_config is None:
        return None
    if under_fsdp():
        raise HarnessError("training config 'monitor' needs the whole model on each GPU to generate; it does not run "
                           "under distributed: fsdp (train with ddp or one GPU, or drop 'monitor')")
    step = int(str(resume_from).rsplit("-", 1)[-1]) if resume_from else None
    monitor = TrainMonitor(monitor_config, parent, output_dir, data_path, resume_step=step)
    chat = bool((parent.get("options") or {}).get("chat_template"))
    trainer.add_callback(callback_class()(monitor, tokenizer, chat, trainer.accelerator.is_main_process))
    return monitor
