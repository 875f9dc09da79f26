"""``openai:MODEL@URL[,URL...]``: one or several OpenAI-compatible servers (vLLM, SGLang, TGI, hosted).

This is how a run scales past one GPU without the harness owning the GPUs:
start several servers and list them; requests are spread over them with at
most ``concurrency`` in flight per server.  A request that fails (429, 5xx,
timeout, dropped connection, unreadable body) is retried on another server
where there is one, the failing server resting for an exponential backoff; a
request that still fails after ``retries`` is recorded as a failed
:class:`Generation` and the run goes on.  Every failed attempt, with its server
and reason, is kept in the completion's ``warnings``, and the counts per server
of each ``generate`` call are printed at the end (with several servers, or
when anything was retried) and stored in the manifest's ``model_info``.  401/403
stop the run at once: every other request would fail the same way.

Options: endpoints (a list of base URLs, added to those after ``@``), base_url
(default $OPENAI_BASE_URL or https://api.openai.com/v1, when no URL is given),
api ("completions": the task's rendered prompt as is, the default, right for
served guard checkpoints; "chat": messages, the server applying its own chat
template), messages (chat only: "turns", the default: the task template's
ChatML turns as messages, its open assistant turn dropped, or the whole
rendered prompt as one user message when the template has no ChatML markup;
"content": one user message holding only the sample's content, for guards
whose server-side chat template carries the instruction), api_key_env (the
variable holding the key, default OPENAI_API_KEY; no key, no Authorization
header), concurrency (per server, 8), timeout (seconds per attempt, 300),
retries (4), backoff (seconds a failing server rests, 1.0; doubles with each
consecutive failure, at most 60), logprobs (how many top log-probabilities per
token to ask for, 5; 0 asks for none): the label probabilities of a completion
come from the server's log-probabilities at the token where its label word
starts (see :func:`label_probs_from_logprobs`); a server that returns none gives
none.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from harness import Generation, HarnessError, Model, check_model_options, hookimpl

DEFAULTS = {"base_url": None, "endpoints": None, "api": "completions", "messages": "turns",
            "api_key_env": "OPENAI_API_KEY", "concurrency": 8, "timeout": 300.0, "retries": 4, "backoff": 1.0,
            "logprobs": 5}
# Options the CLI passes to every model loader that mean nothing for an endpoint.
LOCAL_ONLY = {"dtype", "quantization", "merge_adapter", "trust_remote_code", "allow_unsafe_weights",
              "chat_template", "engine", "device", "max_batch_size", "cuda_graphs"}
TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(<\|im_end\|>|\Z)", re.S)


class Retryable(Exception):
    """A failure worth another attempt (429, 5xx, timeout, unreadable answer)."""

    def __init__(self, message, wait=None):
        super().__init__(message)
        self.wait = wait


@dataclass
class Server:
    """One base URL, its load and what happened there (for the summary and the manifest)."""

    url: str
    in_flight: int = 0
    resting_until: float = 0.0
    consecutive_failures: int = 0
    counts: dict = field(default_factory=lambda: {"sent": 0, "answered": 0, "timeouts": 0, "failed": 0})


def parse_urls(value) -> list[str]:
    """A list, or ``a,b`` / ``[a,b]`` text (what ``-m endpoints=[...]`` gives), into URLs."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).strip().strip("[]").split(",")
    return [str(u).strip().strip("'\"").rstrip("/") for u in items if str(u).strip()]


def chat_messages(prompt: str, content: str, mode: str) -> list[dict]:
    """The messages chat mode sends: the template's turns without its markup, or the bare content."""
    if mode == "content":
        return [{"role": "user", "content": content}]
    turns = [(role, text) for role, text, end in TURN.findall(prompt) if end]  # closed turns only
    if not turns:
        return [{"role": "user", "content": prompt}]
    return [{"role": role, "content": text} for role, text in turns]


def token_logprobs(logprobs) -> list[tuple[str, dict]]:
    """``[(token text, {alternative: logprob})]`` from a completions or chat ``logprobs`` object ([] if unreadable)."""
    try:
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):  # chat
            return [(e["token"], {**{a["token"]: a["logprob"] for a in e.get("top_logprobs") or []},
                                  e["token"]: e["logprob"]}) for e in logprobs["content"]]
        if isinstance(logprobs, dict) and isinstance(logprobs.get("tokens"), list):  # completions
            tops = logprobs.get("top_logprobs") or [None] * len(logprobs["tokens"])
            return [(token, {**(top or {}), token: own}) for token, own, top
                    in zip(logprobs["tokens"], logprobs["token_logprobs"], tops)]
    except (KeyError, TypeError):
        pass
    return []


def label_probs_from_logprobs(logprobs, text: str, cue) -> dict | None:
    """Each label's probability at the token where the completion's label word starts, from the server.

    The rule: at that token, every alternative the server listed (its top
    log-probabilities and the sampled token itself) whose text, after the
    whitespace the sampled token had before the word, is a prefix of exactly one
    label's word (or starts with it) adds its probability to that label; the sums
    are renormalised over the labels.  A label no listed alternative spells gets 0
    (it was outside the server's top k).  None when the server returned no
    log-probabilities, their tokens do not spell the text, the completion wrote no
    label, or no alternative spells one.
    """
    import math

    entries = token_logprobs(logprobs)
    at = cue.find(text) if entries else None
    if at is None or "".join(token for token, _ in entries) != text:
        return None
    begin = 0
    for token, alternatives in entries:
        if begin + len(token) > at:
            break
        begin += len(token)
    lead = text[begin:at]
    mass = dict.fromkeys(cue.words, 0.0)
    for alternative, logprob in alternatives.items():
        rest = alternative[len(lead):].strip().lower() if alternative.startswith(lead) else ""
        spelled = [label for label, word in cue.words.items()
                   if rest and (word.startswith(rest) or rest.startswith(word))]
        if len(spelled) == 1 and logprob is not None:
            mass[spelled[0]] += math.exp(logprob)
    total = sum(mass.values())
    return {label: p / total for label, p in mass.items()} if total > 0 else None


class OpenAIEndpoint(Model):
    def __init__(self, arg: str, options: dict):
        if not arg:
            raise HarnessError("openai: expected a model name, e.g. openai:my-guard or "
                               "openai:my-guard@http://host1:8000/v1,http://host2:8000/v1")
        check_model_options("openai", options, set(DEFAULTS) | LOCAL_ONLY)
        opts = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS and v is not None}}
        self.model_name, _, urls = arg.partition("@")
        found = parse_urls(urls) + parse_urls(opts["endpoints"])
        if not found:
            found = [(opts["base_url"] or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")]
        for url in found:
            if not url.startswith(("http://", "https://")):
                raise HarnessError(f"openai: base URL '{url}' must start with http:// or https://")
        if len(set(found)) != len(found):
            raise HarnessError(f"openai: an endpoint is listed twice in {', '.join(found)}")
        self.servers = [Server(url) for url in found]
        self.base_url = found[0]
        for key, choices in (("api", ("completions", "chat")), ("messages", ("turns", "content"))):
            if opts[key] not in choices:
                raise HarnessError(f"openai: {key} '{opts[key]}' is not one of {', '.join(choices)}")
        self.api, self.messages = opts["api"], opts["messages"]
        self.key_env = opts["api_key_env"]
        try:
            self.concurrency = int(opts["concurrency"])
            self.timeout, self.backoff = float(opts["timeout"]), float(opts["backoff"])
            self.retries, self.logprobs = int(opts["retries"]), int(opts["logprobs"])
        except (TypeError, ValueError) as error:
            raise HarnessError(f"openai: concurrency, timeout, retries, backoff and logprobs must be numbers "
                               f"({error})") from None
        if self.concurrency < 1 or self.timeout <= 0 or self.retries < 0 or self.backoff < 0 or self.logprobs < 0:
            raise HarnessError("openai: expected concurrency >= 1, timeout > 0, retries >= 0, backoff >= 0 "
                               "and logprobs >= 0")
        self.spec = f"openai:{arg}"
        self._stop = threading.Event()
        self._lock = threading.Condition()

    def fingerprint(self):
        mode = f"chat/{self.messages}" if self.api == "chat" else "completions"
        ident = f"{'|'.join(sorted(s.url for s in self.servers))}|{self.model_name}|{mode}"
        return "openai:" + hashlib.sha256(ident.encode()).hexdigest()[:24]

    def describe(self):
        info = {"spec": self.spec, "kind": "openai", "endpoints": [s.url for s in self.servers],
                "model": self.model_name, "api": self.api, "concurrency_per_endpoint": self.concurrency,
                "retries": self.retries, "timeout": self.timeout, "backoff": self.backoff,
                "api_key_env": self.key_env, "requests": {s.url: dict(s.counts) for s in self.servers}}
        if self.api == "chat":
            info["messages"] = self.messages
        return info

    # -- which server ---------------------------------------------------------------
    def _acquire(self, avoid: set) -> Server:
        """The least-loaded server with a free slot that is not resting, preferring one not in ``avoid``."""
        with self._lock:
            while True:
                if self._stop.is_set():
                    raise Retryable("run stopped")
                now = time.monotonic()
                free = [s for s in self.servers if s.in_flight < self.concurrency and s.resting_until <= now]
                untried = [s for s in self.servers if s.url not in avoid]
                # another server if one is up (busy or not); back to a tried one only when all others rest
                pool = [s for s in free if s.url not in avoid] if any(s.resting_until <= now for s in untried) else free
                if pool:
                    server = min(pool, key=lambda s: s.in_flight)
                    server.in_flight += 1
                    server.counts["sent"] += 1
                    return server
                # wait for a slot or the end of a rest; avoided servers become acceptable once all were tried
                wake = min([s.resting_until - now for s in self.servers if s.resting_until > now] + [0.5])
                self._lock.wait(timeout=max(0.01, wake))

    def _release(self, server: Server, failure: Retryable | None):
        with self._lock:
            server.in_flight -= 1
            if failure is None:
                server.consecutive_failures = 0
                server.counts["answered"] += 1
            else:
                server.consecutive_failures += 1
                server.counts["failed"] += 1
                server.counts["timeouts"] += str(failure).startswith("timeout")
                rest = failure.wait
                if rest is None:
                    rest = self.backoff * 2 ** (server.consecutive_failures - 1)
                server.resting_until = max(server.resting_until, time.monotonic() + min(60.0, rest))
            self._lock.notify_all()

    # -- one request ---------------------------------------------------------------
    def _body(self, request, settings):
        body = {"model": self.model_name, "max_tokens": settings.max_new_tokens,
                "temperature": settings.temperature, "top_p": settings.top_p, "seed": request.seed, "n": 1}
        if settings.ignore_eos:
            body["ignore_eos"] = True  # vLLM / SGLang extension
        if self.api == "chat":
            body["messages"] = chat_messages(request.prompt, request.content or request.prompt, self.messages)
        else:
            body["prompt"] = request.prompt
        if request.label_cue is not None and self.logprobs:  # for the label probabilities
            body.update({"logprobs": True, "top_logprobs": self.logprobs} if self.api == "chat"
                        else {"logprobs": self.logprobs})
        return body

    def _attempt(self, client, url, request, settings):
        import httpx

        url = f"{url}/{'chat/completions' if self.api == 'chat' else 'completions'}"
        try:
            response = client.post(url, json=self._body(request, settings))
        except httpx.TimeoutException:
            raise Retryable(f"timeout: no answer within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise Retryable(f"connection failed: {type(error).__name__}: {error}") from None
        if response.status_code in (401, 403):
            raise HarnessError(f"openai: {url} refused the request ({response.status_code}); check the key in "
                               f"${self.key_env}: {response.text[:200]}")
        if response.status_code == 429 or response.status_code >= 500:
            wait = response.headers.get("retry-after")
            raise Retryable(f"HTTP {response.status_code}: {response.text[:200]}",
                            wait=float(wait) if wait and wait.replace(".", "", 1).isdigit() else None)
        if response.status_code >= 400:
            raise ValueError(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.api == "chat" else choice["text"]
            if not isinstance(text, str):
                raise TypeError("completion text is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise Retryable(f"unreadable answer ({type(error).__name__}): {response.text[:200]!r}") from None
        usage = data.get("usage") or {}
        return text, usage.get("prompt_tokens"), usage.get("completion_tokens"), choice.get("logprobs")

    def _one(self, client, request, settings):
        start = time.perf_counter()
        warnings, tried, error = [], set(), None
        for attempt in range(1, self.retries + 2):
            try:
                server = self._acquire(tried)
            except Retryable as stopped:
                error = str(stopped)
                break
            failure = None
            try:
                text, n_prompt, n_new, logprobs = self._attempt(client, server.url, request, settings)
            except Retryable as caught:
                failure, error = caught, str(caught)
                warnings.append(f"attempt {attempt} at {server.url} failed: {error}")
                tried.add(server.url)
                continue
            except ValueError as caught:  # a 4xx other than 401/403/429: retrying will not help
                error = f"{server.url}: {caught}"
                break
            finally:
                self._release(server, failure)
            cue = request.label_cue
            probs = label_probs_from_logprobs(logprobs, text, cue) if cue is not None else None
            return Generation(request.sample_id, request.sample_index, text, seed=request.seed,
                              n_prompt_tokens=n_prompt, n_new_tokens=n_new,
                              seconds=round(time.perf_counter() - start, 4), warnings=warnings,
                              label_probs=probs, label_cue=cue.key if probs is not None else None)
        return Generation(request.sample_id, request.sample_index, None, seed=request.seed,
                          seconds=round(time.perf_counter() - start, 4), warnings=warnings,
                          error=f"openai: failed after {attempt} attempt(s): {error}")

    def generate(self, requests, settings):
        import httpx

        headers = {}
        key = os.environ.get(self.key_env) if self.key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._stop.clear()
        for server in self.servers:  # describe() reports this call's requests (one task's run)
            server.counts = Server(server.url).counts
        slots = self.concurrency * len(self.servers)
        limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
        n_retried = n_failed = 0
        with httpx.Client(headers=headers, timeout=self.timeout, limits=limits) as client, \
                ThreadPoolExecutor(max_workers=slots) as pool:
            futures = [pool.submit(self._one, client, r, settings) for r in requests]
            try:
                for future in as_completed(futures):
                    generation = future.result()
                    n_retried += bool(generation.warnings)
                    n_failed += generation.error is not None
                    yield generation
            finally:  # an auth error or a consumer that stops early: cancel what has not started
                self._stop.set()
                with self._lock:
                    self._lock.notify_all()
                for future in futures:
                    future.cancel()
                self._summary(len(futures), n_retried, n_failed)

    def _summary(self, n_requests, n_retried, n_failed):
        """To stderr when there is something to tell: several servers, or a retry or failure."""
        if len(self.servers) == 1 and not (n_retried or n_failed):
            return
        lines = [f"openai: {n_requests} requests, {n_retried} retried, {n_failed} failed"]
        for s in self.servers:
            c = s.counts
            lines.append(f"  {s.url}: {c['sent']} sent, {c['answered']} answered, {c['failed']} failed "
                         f"({c['timeouts']} timeouts)")
        print("\n".join(lines), file=sys.stderr)


@hookimpl
def register_models(register):
    register("openai", lambda arg, options: OpenAIEndpoint(arg, options or {}),
             description="OpenAI-compatible completions/chat servers (vLLM, SGLang, TGI, hosted): "
                         "openai:MODEL or openai:MODEL@URL1,URL2")
