"""The hot-swap drill: activate the next model through the REST API every K slots."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from training.sim.emulator.errors import EmulatorError
from training.sim.emulator.options import EmulatorOptions
from xapp.tls_client import client_failure_hint


@dataclass
class SwapEvent:
    """One activation through the REST API."""

    slot: int
    model: str
    ok: bool
    detail: str
    seconds: float


class Swapper:
    """Activates the next of ``models`` through the REST API every ``every`` slots."""

    def __init__(self, opts: EmulatorOptions) -> None:
        import httpx  # only hot-swap drills need it

        self.every = opts.swap_every
        self.models = [m.replace(":", "@", 1) for m in opts.swap_models]
        self.client = httpx.AsyncClient(
            base_url=str(opts.admin_url), timeout=30.0, verify=_verify(opts),
            headers={"Authorization": f"Bearer {opts.token}"})
        self.events: list[SwapEvent] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self._next = 0

    def maybe_swap(self, slot: int) -> None:
        """Start the next activation when ``slot`` is a multiple of ``every`` (not slot 0)."""
        if self.every and slot > 0 and slot % self.every == 0:
            model = self.models[self._next % len(self.models)]
            self._next += 1
            task = asyncio.get_running_loop().create_task(self._activate(slot, model))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _activate(self, slot: int, model: str) -> None:
        model_id, _, version = model.partition("@")
        start = time.perf_counter()
        try:
            response = await self.client.post(f"/v1/models/{model_id}/{version}/activate")
            ok = response.status_code == 200
            detail = "activated" if ok else f"HTTP {response.status_code}: {response.text[:200]}"
        except Exception as exc:  # any transport error is recorded, the run goes on
            ok, detail = False, repr(exc)
        self.events.append(SwapEvent(slot, model, ok, detail, time.perf_counter() - start))

    async def close(self) -> None:
        """Wait for the activations under way, then close the HTTP client."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.aclose()


def _verify(opts: EmulatorOptions) -> Any:
    """What httpx verifies the admin API's certificate with: the --tls-* files, or its default."""
    return True if opts.tls is None else opts.tls.ssl_context()


async def check_swap_models(opts: EmulatorOptions) -> None:
    """Before a hot-swap drill: the admin API answers, takes the token, stores every model.

    Raises:
        EmulatorError: naming what is wrong (unreachable, refused token, missing models).

    """
    import httpx  # only hot-swap drills need it

    where = f"the admin API at {opts.admin_url}"
    try:
        async with httpx.AsyncClient(base_url=str(opts.admin_url),
                                     timeout=opts.connect_timeout_s, verify=_verify(opts),
                                     headers={"Authorization": f"Bearer {opts.token}"}) as client:
            response = await client.get("/v1/models")
    except httpx.HTTPError as exc:
        hint = client_failure_hint(exc, opts.tls)
        raise EmulatorError(f"cannot reach {where}: {hint or f'{type(exc).__name__}: {exc}'}"
                            ) from None
    if response.status_code == 401:
        raise EmulatorError(f"{where} refused the admin token (HTTP 401); check --token, "
                            "--token-file or LINKADAPT_ADMIN_TOKEN")
    if response.status_code == 403:
        raise EmulatorError(f"{where} has model management disabled (HTTP 403: the service "
                            "has no admin token)")
    if response.status_code != 200:
        raise EmulatorError(f"{where} answered GET /v1/models with HTTP "
                            f"{response.status_code}: {response.text[:200]}")
    try:
        stored = {f"{m['model_id']}:{m['version']}" for m in response.json()["models"]}
    except (ValueError, KeyError, TypeError):
        raise EmulatorError(f"{where} is not a linkadapt admin API (unexpected answer to "
                            "GET /v1/models)") from None
    missing = [m for m in opts.swap_models if m not in stored]
    if missing:
        raise EmulatorError(f"--swap-models {', '.join(missing)} not stored in the service "
                            f"(stored: {', '.join(sorted(stored)) or 'none'}); upload them "
                            "first with 'linkadapt models upload'")
