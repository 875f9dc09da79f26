"""Reaching the Hugging Face hub: one quick probe before the first hub call of a process.

Why: without a network, ``huggingface_hub`` retries each request with back-off
(about 25 s for one file), and the error that finally comes does not say how to
work offline.  One HEAD request to the endpoint with a short timeout tells in
a second; then a model already in the local cache is used from there, and one
that is not fails naming ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import HarnessError

#: seconds the probe waits for the endpoint (connect and answer)
PROBE_TIMEOUT = 1.5
OFFLINE_HINT = ("set HF_HUB_OFFLINE=1 to work from the local cache only (after downloading the model once while "
                "online), or check your network, proxy and HF_ENDPOINT")
_probed: dict[str, str | None] = {}


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` when set, else huggingface_hub's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` is on (read now, and as huggingface_hub read it at import)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return env or bool(constants.HF_HUB_OFFLINE)


def hub_unreachable() -> str | None:
    """Why the hub cannot be reached (``None`` when it answers); probed once per endpoint and process."""
    endpoint = hub_endpoint()
    if endpoint not in _probed:
        import httpx

        try:  # any HTTP answer, even an error status, means the hub is there; proxies from the environment apply
            httpx.head(endpoint, timeout=PROBE_TIMEOUT)
            _probed[endpoint] = None
        except httpx.HTTPError as exc:
            _probed[endpoint] = f"{type(exc).__name__}: {str(exc)[:160] or 'no answer'}"
    return _probed[endpoint]


def cached_snapshot(ref: str) -> Path | None:
    """The local hub cache's snapshot of ``ref``, or None when it was never downloaded."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or a damaged cache): the caller says what to do
        return None


def local_hub_copy(ref: str, role: str) -> Path | None:
    """Where to read hub model ``ref`` from when the hub is not usable: its cached snapshot, or None to go online.

    Offline (``HF_HUB_OFFLINE``) or with the hub unreachable, a model missing from
    the cache is an error that says which, and how to work offline.
    """
    offline = hub_offline()
    reason = None if offline else hub_unreachable()
    if not offline and reason is None:
        return None
    snapshot = cached_snapshot(ref)
    if snapshot is not None:
        return snapshot
    if offline:
        raise HarnessError(f"hf: {role} '{ref}' is not in the local hub cache and HF_HUB_OFFLINE is set, so it "
                           "cannot be downloaded; unset HF_HUB_OFFLINE and run once online, or give a local directory")
    raise HarnessError(f"hf: the Hugging Face hub at {hub_endpoint()} cannot be reached ({reason}) and {role} "
                       f"'{ref}' is not in the local hub cache; {OFFLINE_HINT}")
