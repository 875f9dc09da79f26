"""``openai:MODEL`` or ``openai:MODEL@BASE_URL``: any OpenAI-compatible completions endpoint.

This is how a run scales past one GPU: vLLM, SGLang or TGI servers (one or many
behind a load balancer) or a hosted API.  Requests go out concurrently (bounded),
429 and 5xx answers, timeouts, dropped connections and unreadable bodies are
retried with exponential backoff; a request that still fails is recorded as a
failed :class:`Generation` and the run goes on.  401/403 stop the run at once:
every other request would fail the same way.

Options: base_url (default $OPENAI_BASE_URL or https://api.openai.com/v1),
api ("completions": the rendered prompt as is, the default, right for served
guard checkpoints; "chat": the prompt as one user message), api_key_env (name of
the environment variable holding the key, default OPENAI_API_KEY; no key, no
Authorization header), concurrency (8), timeout (seconds, 120), retries (4),
backoff (seconds before the first retry, 1.0; doubles each time).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from harness import Generation, HarnessError, Model, check_model_options, hookimpl

DEFAULTS = {"base_url": None, "api": "completions", "api_key_env": "OPENAI_API_KEY", "concurrency": 8,
            "timeout": 120.0, "retries": 4, "backoff": 1.0}
# Options the CLI passes to every model loader that mean nothing for an endpoint.
LOCAL_ONLY = {"dtype", "quantization", "merge_adapter", "trust_remote_code", "allow_unsafe_weights",
              "chat_template", "engine", "device", "max_batch_size", "cuda_graphs"}


class Retryable(Exception):
    """A failure worth another attempt (429, 5xx, timeout, unreadable answer)."""

    def __init__(self, message, wait=None):
        super().__init__(message)
        self.wait = wait


class OpenAIEndpoint(Model):
    def __init__(self, arg: str, options: dict):
        if not arg:
            raise HarnessError("openai: expected a model name, e.g. openai:my-guard or openai:my-guard@http://host:8000/v1")
        check_model_options("openai", options, set(DEFAULTS) | LOCAL_ONLY)
        opts = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS and v is not None}}
        self.model_name, _, url = arg.partition("@")
        self.base_url = (url or opts["base_url"] or os.environ.get("OPENAI_BASE_URL")
                         or "https://api.openai.com/v1").rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise HarnessError(f"openai: base URL '{self.base_url}' must start with http:// or https://")
        if opts["api"] not in ("completions", "chat"):
            raise HarnessError(f"openai: api '{opts['api']}' is not one of completions, chat")
        self.api = opts["api"]
        self.key_env = opts["api_key_env"]
        self.concurrency = max(1, int(opts["concurrency"]))
        self.timeout, self.retries, self.backoff = float(opts["timeout"]), int(opts["retries"]), float(opts["backoff"])
        self.spec = f"openai:{arg}"
        self._stop = threading.Event()

    def fingerprint(self):
        ident = f"{self.base_url}|{self.model_name}|{self.api}"
        return "openai:" + hashlib.sha256(ident.encode()).hexdigest()[:24]

    def describe(self):
        return {"spec": self.spec, "kind": "openai", "base_url": self.base_url, "model": self.model_name,
                "api": self.api, "concurrency": self.concurrency, "retries": self.retries,
                "timeout": self.timeout, "api_key_env": self.key_env}

    # -- one request ---------------------------------------------------------------
    def _body(self, request, settings):
        body = {"model": self.model_name, "max_tokens": settings.max_new_tokens,
                "temperature": settings.temperature, "top_p": settings.top_p, "seed": request.seed, "n": 1}
        if settings.ignore_eos:
            body["ignore_eos"] = True  # vLLM / SGLang extension
        if self.api == "chat":
            body["messages"] = [{"role": "user", "content": request.prompt}]
        else:
            body["prompt"] = request.prompt
        return body

    def _attempt(self, client, request, settings):
        import httpx

        url = f"{self.base_url}/{'chat/completions' if self.api == 'chat' else 'completions'}"
        try:
            response = client.post(url, json=self._body(request, settings))
        except httpx.TimeoutException:
            raise Retryable(f"no answer within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise Retryable(f"connection failed: {error}") from None
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
        return text, usage.get("prompt_tokens"), usage.get("completion_tokens")

    def _one(self, client, request, settings):
        start = time.perf_counter()
        error = None
        for attempt in range(self.retries + 1):
            if self._stop.is_set():
                error = "run stopped"
                break
            try:
                text, n_prompt, n_new = self._attempt(client, request, settings)
            except Retryable as failure:
                error = str(failure)
                if attempt < self.retries:
                    wait = failure.wait if failure.wait is not None else self.backoff * 2 ** attempt
                    time.sleep(min(60.0, wait) * (1 + 0.1 * random.random()))
                continue
            except ValueError as failure:  # a 4xx other than 401/403/429: retrying will not help
                error = str(failure)
                break
            return Generation(request.sample_id, request.sample_index, text, seed=request.seed,
                              n_prompt_tokens=n_prompt, n_new_tokens=n_new,
                              seconds=round(time.perf_counter() - start, 4))
        return Generation(request.sample_id, request.sample_index, None, seed=request.seed,
                          seconds=round(time.perf_counter() - start, 4),
                          error=f"openai: failed after {attempt + 1} attempt(s): {error}")

    def generate(self, requests, settings):
        import httpx

        headers = {}
        key = os.environ.get(self.key_env) if self.key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._stop.clear()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        with httpx.Client(headers=headers, timeout=self.timeout, limits=limits) as client, \
                ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._one, client, r, settings) for r in requests]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:  # an auth error or a consumer that stops early: cancel what has not started
                self._stop.set()
                for future in futures:
                    future.cancel()


@hookimpl
def register_models(register):
    register("openai", lambda arg, options: OpenAIEndpoint(arg, options or {}),
             description="OpenAI-compatible completions/chat endpoint (vLLM, SGLang, TGI, hosted): "
                         "openai:MODEL or openai:MODEL@BASE_URL")
