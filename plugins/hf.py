"""``hf:BASE`` and ``hf:BASE+ADAPTER``: Hugging Face causal LMs with an optional LoRA adapter.

BASE and ADAPTER are hub ids (``org/name``) or local directories.  Weights load
in bf16/fp16/fp32 or quantized by bitsandbytes (8-bit, 4-bit NF4); the adapter
is applied with PEFT and can be merged.  Safe by default: safetensors only and
no remote code; ``allow_unsafe_weights`` and ``trust_remote_code`` lift that and
the error says what each one risks.  Generation runs in ``hf_engine``
(``engine: fast``, the default) or through transformers' ``generate``
(``engine: reference``).

Options (the ``options`` dict; CLI flags map onto these keys): dtype, quantization
(None|"8bit"|"4bit"), merge_adapter (default: true for a bf16/fp16/fp32 base, false for a quantized
one; see :func:`merge_by_default`), trust_remote_code, allow_unsafe_weights,
chat_template, engine ("fast"|"reference"), device ("auto"|"cpu"|"cuda"),
max_batch_size, cuda_graphs, share_prefix (default true: the k samples of a prompt share one prefill),
label_probs (default true: each label's probability at the label
position is recorded for calibration metrics, computed from the engine's KV cache as each
completion finishes, so it costs a few tokens per completion; false skips it).

Constructing a model checks everything that can fail without the weights (spec,
policy, adapter config, quantization needs), but loads the weights only on
first use: a re-run whose every completion is in the generation cache needs
just :meth:`HFModel.fingerprint`, which is computed from the sources and options.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from harness import (Generation, HarnessError, Model, check_model_options, hookimpl, option_from_entry, option_origin,
                     split_base_adapter)

OPTION_KEYS = {
    "dtype", "quantization", "merge_adapter", "trust_remote_code", "allow_unsafe_weights",
    "chat_template", "engine", "device", "max_batch_size", "cuda_graphs", "label_probs", "share_prefix",
}
DTYPES = ("bfloat16", "float16", "float32")
QUANTIZATIONS = (None, "8bit", "4bit")
ENGINES = ("fast", "reference")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
LABEL_RULE = "own-tokens"  # what label probabilities are conditioned on (HFModel.label_query); in the fingerprint
STOP_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>")
UNSAFE_WEIGHTS = (
    "loading pickle weights (.bin/.pt) can execute arbitrary code from the file; "
    "pass allow_unsafe_weights (--allow-unsafe-weights) only for a source you trust"
)
REMOTE_CODE = (
    "trust_remote_code runs Python code shipped with the checkpoint on this machine; "
    "pass trust_remote_code (--trust-remote-code) only for a source you trust"
)


def parse_spec(arg: str) -> tuple[str, str | None]:
    """``'BASE+ADAPTER'`` -> (BASE, ADAPTER), by harness's one reader (a local path containing '+' is kept whole)."""
    return split_base_adapter(arg, what="hf")


def check_options(options: dict) -> dict:
    opts = check_model_options("hf", options, OPTION_KEYS)
    if opts.get("dtype") not in (None,) + DTYPES:
        raise HarnessError(f"hf: dtype '{opts['dtype']}' is not one of {', '.join(DTYPES)}")
    if isinstance(opts.get("quantization"), str) and opts["quantization"].lower() in ("none", "null"):
        opts["quantization"] = None  # -o quantization=none, as --quantization none
    if opts.get("quantization") not in QUANTIZATIONS:
        raise HarnessError(f"hf: quantization '{opts['quantization']}' is not one of 8bit, 4bit (or none)")
    if opts.get("engine", "fast") not in ENGINES:
        raise HarnessError(f"hf: engine '{opts['engine']}' is not one of {', '.join(ENGINES)}")
    if opts.get("device", "auto") not in ("auto", "cpu", "cuda"):
        raise HarnessError(f"hf: device '{opts['device']}' is not one of auto, cpu, cuda")
    return opts


def merge_by_default(quantization) -> bool:
    """Whether a LoRA adapter is merged into the base weights at load unless ``merge_adapter`` says otherwise.

    Why: an unmerged LoRA adds two small matrix products to every projection of every
    decode step (~1.5x the step time measured on an H100, issue 25); merged, the step
    costs what the base's does.  Merging is numerically safe for a bf16/fp16/fp32 base
    (W + scale*B@A rounded once to the weight dtype, the error of one rounding), not
    for a bitsandbytes 8-/4-bit base (dequantize, add, re-quantize), which stays unmerged.
    The completions of a merged model may differ from the unmerged model's by that
    rounding, so ``merged`` is part of the fingerprint: the two are different identities
    in the generation cache and the run records.
    """
    return quantization is None


def quantization_needs_cuda(opts) -> str:
    """The CPU error for a quantized load: what set the quantization, and how to override it."""
    fix = "pass --quantization none (or -o quantization=none) to load it unquantized on the CPU"
    if option_from_entry(opts, "quantization"):
        fix += " (the entry's other settings stay)"
    return (f"hf: {option_origin(opts, 'quantization')}, which needs a CUDA GPU (bitsandbytes) and this machine has "
            f"none; {fix}")


def generation_timings(engine) -> dict:
    """Seconds of the engine's last run by stage (decoding is what the other stages leave of the run)."""
    t = engine.timings
    stages = {k: round(t[k], 3) for k in ("run", "prefill", "capture", "labels")}
    stages["decode"] = round(t["run"] - t["prefill"] - t["capture"] - t["labels"], 3)
    return {"seconds": stages, "decode_steps": engine.decode_steps, "batch_sizes": list(engine.last_batch_sizes),
            "prefill_rows": engine.prefill_rows, "caches": t.get("caches", [])}


class Source:
    """Where a base model or adapter comes from: a local directory or a hub id."""

    def __init__(self, ref: str, role: str):
        self.ref, self.role = ref, role
        path = Path(ref).expanduser()
        self.local = path.exists()
        if self.local:
            if not path.is_dir():
                raise HarnessError(f"hf: {role} '{ref}' is a file; expected a model directory or a hub id")
            self.path = path.resolve()
        elif ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref or not HUB_ID.match(ref):
            raise HarnessError(f"hf: {role} path '{ref}' does not exist (and it is not a hub id like org/name)")
        else:  # offline or with the hub out of reach (probed in a second), only the local hub cache will do
            from harness import local_hub_copy

            snapshot = local_hub_copy(ref, role)
            self.path, self.local = (snapshot, True) if snapshot else (None, False)

    @property
    def location(self) -> str:
        return str(self.path) if self.local else self.ref

    def files(self) -> list[str]:
        if self.local:
            return [p.name for p in self.path.iterdir()]
        from huggingface_hub import list_repo_files

        try:
            return list_repo_files(self.ref)
        except Exception as error:  # noqa: BLE001 - every hub failure becomes one clear message
            raise hub_error(self.ref, self.role, error) from None

    def read_json(self, name: str) -> dict | None:
        if self.local:
            file = self.path / name
            return json.loads(file.read_text()) if file.exists() else None
        from huggingface_hub import hf_hub_download

        try:
            return json.loads(Path(hf_hub_download(self.ref, name)).read_text())
        except Exception as error:  # noqa: BLE001
            if type(error).__name__ == "EntryNotFoundError":
                return None
            raise hub_error(self.ref, self.role, error) from None

    def signature(self) -> str:
        """Identifies the files: sizes and times locally, the commit on the hub."""
        if self.local:
            parts = sorted(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in self.path.iterdir()
                           if p.is_file())
            return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
        try:
            from huggingface_hub import model_info

            return model_info(self.ref).sha or self.ref
        except Exception:  # noqa: BLE001 - offline: the id is the best we have
            return self.ref


def hub_offline() -> bool:
    from harness import hub_offline as offline

    return offline()


def hub_error(ref, role, error) -> HarnessError:
    offline = hub_offline()
    hint = (" HF_HUB_OFFLINE is set, so only files already in the local cache can be used; "
            "unset it or download the files first." if offline else
            " Check the id, your network and, for gated or private repositories, HF_TOKEN; to work from the "
            "local cache only, set HF_HUB_OFFLINE=1.")
    return HarnessError(f"hf: could not reach {role} '{ref}' on the Hugging Face hub "
                        f"({type(error).__name__}: {str(error).splitlines()[0][:200]}).{hint}")


#: the safetensors files transformers and PEFT actually load (any other *.safetensors is never read)
LOADED_SAFE = {"base": ("model.safetensors", "model.safetensors.index.json"), "adapter": ("adapter_model.safetensors",)}


def check_weights(source: Source, allow_unsafe: bool, adapter: bool = False):
    """Safetensors under the names that will be loaded, else refuse pickle weights unless allowed.

    A decoy ``notes.safetensors`` beside a pickle ``adapter_model.bin`` used to pass: PEFT would then
    unpickle the .bin, since it only looks for ``adapter_model.safetensors``.
    """
    files = source.files()
    safe = [f for f in files if f in LOADED_SAFE["adapter" if adapter else "base"]]
    unsafe = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
    if safe:
        return
    if not unsafe:
        kind = "adapter_model.safetensors" if adapter else "model.safetensors (or model.safetensors.index.json)"
        raise HarnessError(f"hf: {source.role} '{source.ref}' has no {kind}")
    if not allow_unsafe:
        raise HarnessError(f"hf: {source.role} '{source.ref}' has only pickle weights ({', '.join(sorted(unsafe)[:3])}); "
                           + UNSAFE_WEIGHTS)


def check_remote_code(source: Source, trust: bool):
    config = source.read_json("config.json")
    if config is None:
        raise HarnessError(f"hf: {source.role} '{source.ref}' has no config.json; expected a transformers model")
    if config.get("auto_map") and not trust:
        raise HarnessError(f"hf: {source.role} '{source.ref}' needs custom code ({', '.join(config['auto_map'])}); "
                           + REMOTE_CODE)
    return config


def normalize_name(name: str) -> str:
    """Compare base names loosely: 'unsloth/llama-3.2-3b-instruct-bnb-4bit' ~ 'unsloth/Llama-3.2-3B-Instruct'."""
    name = name.rstrip("/").split("/")[-1].lower()
    return re.sub(r"[-_.](bnb[-_]?4bit|4bit|8bit|unsloth|gptq|awq)$", "", name)


def resolve_device(choice: str | None) -> str:
    """'cpu' or 'cuda:N'; under ``accelerate launch`` / ``torchrun`` each rank takes GPU LOCAL_RANK.

    Imports no torch (a cache-complete re-run never needs it): the CUDA driver is
    asked how many devices are visible (the device is made current when the weights load).
    """
    from harness import cuda_device_count

    choice = choice or "auto"
    if choice == "cpu":
        return "cpu"
    count = cuda_device_count()
    if choice == "auto" and not count:
        return "cpu"
    if not count:
        raise HarnessError("hf: device 'cuda' was asked for but no CUDA GPU is visible")
    index = int(os.environ.get("LOCAL_RANK", "0")) % count
    return f"cuda:{index}"


class HFModel(Model):
    """A transformers causal LM (+ LoRA) that generates with :mod:`harness_plugins.hf_engine`."""

    def __init__(self, arg: str, options: dict):
        opts = check_options(options or {})
        self.options = opts
        base_ref, adapter_ref = parse_spec(arg)
        self.device = resolve_device(opts.get("device"))
        self.quantization = opts.get("quantization")
        self.cuda = self.device.startswith("cuda")
        if self.quantization and not self.cuda:  # before any hub access: the fix is here, not in the network
            raise HarnessError(quantization_needs_cuda(opts))
        self.base_source = Source(base_ref, "base model")
        self.adapter_source = Source(adapter_ref, "adapter") if adapter_ref else None
        if self.quantization:
            import importlib.util

            if importlib.util.find_spec("bitsandbytes") is None:
                raise HarnessError("hf: quantization needs bitsandbytes: pip install 'harness-guards[hf]'")
        self.dtype_name = opts.get("dtype") or ("bfloat16" if self.cuda else "float32")
        self.chat = bool(opts.get("chat_template", False))
        self.label_probs = opts.get("label_probs", True)
        if not isinstance(self.label_probs, bool):
            raise HarnessError(f"hf: label_probs must be true or false, got {self.label_probs!r}")
        self.engine_name = opts.get("engine", "fast")
        merge = opts.get("merge_adapter", merge_by_default(self.quantization))
        if not isinstance(merge, bool):
            raise HarnessError(f"hf: merge_adapter must be true or false, got {merge!r}")
        self.merged = bool(self.adapter_source and merge)
        self.spec = f"hf:{arg}"
        self.trust = bool(opts.get("trust_remote_code", False))
        self.allow_unsafe = bool(opts.get("allow_unsafe_weights", False))
        self.base_config = check_remote_code(self.base_source, self.trust)
        check_weights(self.base_source, self.allow_unsafe)
        self.adapter_config = None
        if self.adapter_source:
            self.adapter_config = self.adapter_source.read_json("adapter_config.json")
            if self.adapter_config is None:
                raise HarnessError(f"hf: adapter '{self.adapter_source.ref}' has no adapter_config.json; "
                                   "expected a PEFT LoRA adapter directory or hub id")
            check_weights(self.adapter_source, self.allow_unsafe, adapter=True)
        self.adapter_base_mismatch = False
        self.load_seconds = self.import_seconds = None  # set when the weights load (imports included)
        self.load_split = {}  # seconds of the load by stage (tokenizer, weights, adapter, merge)
        self._model = self._tokenizer = self._engine = None

    # -- loading (on first use) ------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.load_seconds is not None

    @property
    def model(self):
        self.ensure_loaded()
        return self._model

    @property
    def tokenizer(self):
        self.ensure_loaded()
        return self._tokenizer

    @property
    def stop_ids(self) -> list[int]:
        self.ensure_loaded()
        return self._stop

    @property
    def max_context(self) -> int:
        self.ensure_loaded()
        return self._context

    def ensure_loaded(self):
        """Load the tokenizer and weights unless done already (generation and scoring call this)."""
        if not self.loaded:
            start = time.perf_counter()
            import torch  # noqa: F401  (timed apart: in a fresh process the imports are seconds of the load)
            import transformers  # noqa: F401

            self.import_seconds = round(time.perf_counter() - start, 2)
            self._load()
            self.load_seconds = round(time.perf_counter() - start, 2)
        return self

    def _load(self):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.cuda:
            torch.cuda.set_device(self.device)  # Triton kernels and CUDA graphs run on the current device
        dtype = getattr(torch, self.dtype_name)
        kwargs = {"dtype": dtype, "trust_remote_code": self.trust,
                  "use_safetensors": None if self.allow_unsafe else True}
        if self.quantization:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = (
                BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                                   bnb_4bit_use_double_quant=True)
                if self.quantization == "4bit" else BitsAndBytesConfig(load_in_8bit=True))
        kwargs["device_map"] = {"": self.device}  # load straight onto the device
        where = self.base_source.location
        split, mark = {}, time.perf_counter()

        def lap(stage):
            nonlocal mark
            now = time.perf_counter()
            split[stage] = round(now - mark, 3)
            mark = now

        try:
            tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=self.trust)
            lap("tokenizer")
            model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
            if self.cuda:
                torch.cuda.synchronize(self.device)
            lap("weights")
        except OSError as error:
            if self.base_source.local:
                raise HarnessError(f"hf: could not load base model from {where}: {error}") from None
            raise hub_error(self.base_source.ref, "base model", error) from None
        if self.adapter_source:
            model = self._apply_adapter(model, self.adapter_config, lap)
        model.eval()
        self.load_split = split
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._model, self._tokenizer = model, tokenizer
        self._stop = self._stop_ids()
        self._context = (getattr(model.config, "max_position_embeddings", None)
                         or getattr(tokenizer, "model_max_length", None) or 4096)

    def _apply_adapter(self, model, adapter_config, lap=lambda stage: None):
        from peft import PeftModel

        declared = adapter_config.get("base_model_name_or_path") or "(not recorded)"
        ours = self.base_source.ref
        try:
            model = PeftModel.from_pretrained(model, self.adapter_source.location, is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as error:
            lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()] or [""]
            detail = next((line for line in lines if "size mismatch" in line or "not found" in line), lines[0])
            raise HarnessError(
                f"hf: adapter '{self.adapter_source.ref}' does not fit base model '{ours}': the adapter was trained "
                f"on '{declared}' ({type(error).__name__}: {detail[:300]})"
            ) from None
        except OSError as error:
            raise hub_error(self.adapter_source.ref, "adapter", error) from None
        self.adapter_base_mismatch = (
            declared != "(not recorded)" and normalize_name(declared) != normalize_name(ours))
        lap("adapter")
        if self.merged:
            model = model.merge_and_unload()
            lap("merge")
        return model

    def _stop_ids(self):
        tok = self._tokenizer
        ids = set()
        for source in (tok.eos_token_id, getattr(self._model.generation_config, "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(source)
        vocab = tok.get_vocab()
        for token in STOP_TOKENS:
            if token in vocab and token in tok.all_special_tokens + list(tok.get_added_vocab()):
                ids.add(vocab[token])
        return sorted(ids)

    # -- the Model interface -----------------------------------------------------------
    def fingerprint(self):
        """What decides the completions, known without loading the weights (the generation cache's key)."""
        parts = {"base": self.base_source.signature(), "base_ref": self.base_source.ref,
                 "adapter": self.adapter_source.signature() if self.adapter_source else None,
                 "dtype": self.dtype_name, "quantization": self.quantization, "merged": self.merged,
                 "chat_template": self.chat}
        # cached completions without probabilities must not serve a run that wants them, nor probabilities
        # by an earlier rule (a re-tokenized context, before LABEL_RULE) one that wants this rule's
        parts["label_probs"] = LABEL_RULE if self.label_probs else False
        return "hf:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]

    def describe(self):
        """The model's settings; what only the loaded weights tell is there once they have loaded."""
        info = {
            "spec": self.spec, "kind": "hf", "base": self.base_source.ref,
            "adapter": self.adapter_source.ref if self.adapter_source else None,
            "dtype": self.dtype_name, "quantization": self.quantization, "merged_adapter": self.merged,
            "device": self.device, "engine": self.engine_name, "chat_template": self.chat, "loaded": self.loaded,
        }
        if not self.loaded:
            return info
        info.update(max_context=self.max_context, stop_token_ids=self.stop_ids, load_seconds=self.load_seconds,
                    import_seconds=self.import_seconds, load_split=self.load_split)
        if self.adapter_base_mismatch:
            info["adapter_declared_base"] = self.adapter_config.get("base_model_name_or_path")
        if self._engine is not None and getattr(self._engine, "graph_error", None):
            info["cuda_graphs_error"] = self._engine.graph_error
        if self._engine is not None and "run" in getattr(self._engine, "timings", {}):
            info["generation_timings"] = generation_timings(self._engine)
        return info

    def engine(self):
        from harness_plugins import hf_engine

        if self._engine is None:
            self.ensure_loaded()
            pad = self.tokenizer.pad_token_id
            max_batch = self.options.get("max_batch_size")
            if self.engine_name == "reference":
                self._engine = hf_engine.ReferenceEngine(self.model, self.device, self.stop_ids, pad, max_batch)
            else:
                graphs = self.options.get("cuda_graphs", True) and self.quantization != "8bit"
                share = self.options.get("share_prefix", True)
                if not isinstance(share, bool):
                    raise HarnessError(f"hf: share_prefix must be true or false, got {share!r}")
                self._engine = hf_engine.FastEngine(self.model, self.device, self.stop_ids, pad, max_batch,
                                                    use_graphs=graphs, share_prefix=share)
        return self._engine

    def prepare(self, index, request, settings):
        """Tokenize one request; left-truncate a prompt too long for the context, with a warning."""
        from harness_plugins.hf_engine import Prepared

        tok = self.ensure_loaded().tokenizer
        if self.chat:
            text = tok.apply_chat_template([{"role": "user", "content": request.prompt}], tokenize=False,
                                           add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False).input_ids
        else:
            ids = tok(request.prompt).input_ids
        warnings = []
        room = self.max_context - settings.max_new_tokens
        if room < 1:
            raise HarnessError(f"hf: max_new_tokens {settings.max_new_tokens} leaves no room for a prompt in "
                               f"the model's context of {self.max_context} tokens")
        if len(ids) > room:
            keep_bos = ids[0] == tok.bos_token_id
            kept = ([ids[0]] if keep_bos else []) + ids[len(ids) - room + int(keep_bos):]
            warnings.append(f"prompt has {len(ids)} tokens; kept the last {len(kept)} so that it and "
                            f"max_new_tokens {settings.max_new_tokens} fit the context of {self.max_context}")
            ids = kept
        return Prepared(index, ids, request.seed, warnings)

    def generate(self, requests, settings):
        requests = list(requests)
        if not requests:
            return
        prepared = [self.prepare(i, r, settings) for i, r in enumerate(requests)]
        batch = None if str(settings.batch_size) == "auto" else str(settings.batch_size)
        if batch is not None and not (batch.isdigit() and int(batch) > 0):
            raise HarnessError(f"hf: batch size '{settings.batch_size}' should be a positive integer or 'auto'")
        batch = int(batch) if batch else None
        texts, problems = {}, {}

        def decode(index, tokens):
            if index not in texts:
                texts[index] = self.tokenizer.decode(tokens, skip_special_tokens=True)
            return texts[index]

        def labeler(index, tokens):
            cue = requests[index].label_cue
            if cue is None:
                return None
            query = self.label_query(prepared[index].ids, tokens, decode(index, tokens), cue)
            if query is None:
                problems[index] = (f"no label probabilities: the labels of {cue.key} do not differ in a token "
                                   "at the label position")
            return query

        for done in self.engine().run(prepared, settings, batch_size=batch,
                                      labeler=labeler if self.label_probs else None):
            req, prep = requests[done.index], prepared[done.index]
            text = decode(done.index, done.tokens)
            texts.pop(done.index)
            warnings = list(prep.warnings) + ([problems.pop(done.index)] if done.index in problems else [])
            generation = Generation(req.sample_id, req.sample_index, text, seed=req.seed,
                                    n_prompt_tokens=len(prep.ids), n_new_tokens=done.n_new_tokens,
                                    seconds=round(done.seconds, 4), warnings=warnings)
            if done.label_probs is not None:
                generation.label_probs, generation.label_cue = done.label_probs, req.label_cue.key
            yield generation

    def label_query(self, prompt_ids, tokens, text, cue):
        """Where to score the labels of one completion: context ids and each label's first distinguishing token.

        The context is the prompt, the model's own generated tokens up to the label
        position (the greatest run of them whose text is a prefix of the text before
        the label word: its ``Label:`` line, or the whole completion when it wrote none),
        then the rest of that text (the parser's cue) tokenized with each label's word;
        the tokens all labels share go into the context, and a label's token is its
        first one past them.  The model's own tokens, not a re-tokenization of the
        decoded text, so the probabilities are those of the model at the step it would
        write the label, and the engine can compute them from its cache.  None when two
        labels share that token.  ``text`` is ``tokens`` decoded.
        """
        from harness_plugins.hf_engine import LabelQuery

        prefix, space, _ = cue.split(text)
        decode = lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
        kept, head = len(tokens), text
        if not prefix.startswith(text):  # binary search: prefix.startswith(decode(tokens[:low])) holds, [:high] not
            low, high = 0, len(tokens)
            while high - low > 1:
                middle = (low + high) // 2
                if prefix.startswith(decode(tokens[:middle])):
                    low = middle
                else:
                    high = middle
            kept, head = low, decode(tokens[:low])
        tail = prefix[len(head):]
        seqs = {label: self.tokenizer(tail + space + word, add_special_tokens=False).input_ids
                for label, word in cue.words.items()}
        first = next(iter(seqs.values()))
        shared = 0
        while all(len(s) > shared and s[shared] == first[shared] for s in seqs.values()):
            shared += 1
        if any(len(s) <= shared for s in seqs.values()):
            return None
        label_tokens = {label: s[shared] for label, s in seqs.items()}
        if len(set(label_tokens.values())) < len(label_tokens):
            return None
        context = list(prompt_ids) + list(tokens[:kept]) + first[:shared]
        return LabelQuery(context[-self.max_context:], label_tokens)

    def close(self):
        import gc

        if not self.loaded:  # nothing to free, and no reason to import torch
            return
        self._engine = None
        self._model = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load(arg, options):
    return HFModel(arg, options)


@hookimpl
def register_models(register):
    register("hf", load, description="Hugging Face causal LM, optional LoRA: hf:BASE or hf:BASE+ADAPTER "
                                     "(hub ids or directories; bf16/fp16/fp32, 8-bit, 4-bit NF4)")
