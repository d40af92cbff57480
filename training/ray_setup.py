"""Ray for the training runs: join a cluster or start Ray in-process, place the actors.

Shared by teacher training and dataset collection; every failure is one
:class:`~training.teacher_config.TrainingError` line that says what to fix.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import TYPE_CHECKING, Any, Final

from training.placement import Placement, actor_placements
from training.rollout import RolloutWorker
from training.teacher_config import TrainingError, one_line

if TYPE_CHECKING:
    from training.teacher_config import TeacherConfig


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """TrainingError unless ``address`` is HOST:PORT and something listens there."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise TrainingError(f"Ray address must be HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise TrainingError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def start_ray(address: str | None, actors: int) -> None:
    """Join the cluster at ``address`` or start Ray in-process with ``actors`` CPUs.

    Ray's start-up notices do not reach the terminal (see :func:`_quiet_ray`); its
    warnings and errors do.
    """
    if address:
        check_ray_address(address)
    _quiet_ray()
    import ray

    if ray.is_initialized():
        available = ray.cluster_resources().get("CPU", 0)
        if available < actors:
            raise TrainingError(f"{actors} actors need {actors} CPUs; the running Ray "
                                f"instance has {available:g}")
        return
    if address:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # something listens there, but not a Ray cluster it can join
            raise TrainingError(_join_failure(address, exc)) from None
        available = ray.cluster_resources().get("CPU", 0)
        if available < actors:  # the actors beyond the cluster's CPUs would wait forever
            ray.shutdown()
            raise TrainingError(f"{actors} actors need {actors} CPUs; the Ray cluster at "
                                f"{address} has {available:g}: lower --actors or add nodes")
    else:
        _start_local(ray, max(actors, os.cpu_count() or 1))


_LOCAL_START_TRIES: Final = 2
_SLOW_START: Final = "timed out during startup"
"""Ray's own words when its raylet has not registered within its fixed 30 s: seen
once on a loaded 2-core machine, and gone on the next try."""


def _start_local(ray: Any, cpus: int) -> None:
    """Start Ray in-process; once more if its node was too slow to start the first time."""
    for attempt in range(1, _LOCAL_START_TRIES + 1):
        try:
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
            return
        except Exception as exc:  # Ray raises a bare Exception for a slow start
            if _SLOW_START not in str(exc):
                raise
            ray.shutdown()
            if attempt == _LOCAL_START_TRIES:
                raise TrainingError(f"Ray did not start: {one_line(exc)}") from None


_RAY_NOTICES: Final = ("ray._private.authentication.authentication_token_setup",)
"""Ray loggers whose warnings are notices: "Token authentication is enabled for this Ray
cluster. Set RAY_AUTH_MODE=disabled to opt out" is logged as a warning each time a
command starts its own in-process Ray, where nothing else can connect anyway."""


def _quiet_ray() -> None:
    """Keep Ray's start-up notices off the terminal; its errors stay visible.

    ``configure_logging=False`` (in :func:`start_ray`) leaves Ray's Python loggers
    without handlers, so only warnings and errors reach stderr (through Python's
    last-resort handler) and the INFO lines ("Connecting to existing Ray cluster",
    "Started a local Ray instance") do not. Of the warnings, the token-authentication
    notice goes.
    """
    for name in _RAY_NOTICES:
        logging.getLogger(name).setLevel(logging.ERROR)


def _join_failure(address: str, exc: BaseException) -> str:
    """The one line that says why joining the cluster at ``address`` failed."""
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 5:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    if any("InvalidAuthToken" in text or "Authentication token" in text for text in chain):
        mode = os.environ.get("RAY_AUTH_MODE", "unset")
        return (f"cannot join the Ray cluster at {address}: it uses token authentication and "
                f"did not accept this process (RAY_AUTH_MODE is {mode}); set "
                "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the "
                "cluster's token, which `ray get-auth-token` prints on its head node")
    return f"cannot join the Ray cluster at {address}: {one_line(exc)}"


def actor_nodes(workers: list[Any]) -> list[Placement]:
    """Where each rollout actor runs, once all have started.

    Raises:
        TrainingError: an actor failed to start (on a cluster, typically a node without
            this version of linkadapt), with the last line of its error.

    """
    import ray

    try:
        return actor_placements(workers)
    except ray.exceptions.RayError as exc:
        lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
        last = lines[-1] if lines else type(exc).__name__
        raise TrainingError(f"a Ray rollout actor could not start: {last} (every node of a "
                            "Ray cluster needs this version of linkadapt installed)") from None


_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
"""Colour codes in Ray's error texts."""


def remote_workers(cfg: TeacherConfig, run_seed: int) -> list[Any]:
    """Start the run's rollout actors (one CPU each), seeded from ``run_seed``."""
    import ray

    remote = ray.remote(num_cpus=1)(RolloutWorker)
    return [remote.remote(cfg.rollout, cfg.hidden, run_seed * 1000 + i)
            for i in range(cfg.actors)]
