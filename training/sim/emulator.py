"""The E2 / gNB emulator: simulated cells asking a running xApp for every slot's MCS.

Each cell is one :class:`~training.sim.link.LinkSimulator`, configured exactly as
``linkadapt simulate`` configures its run (cell ``c`` of a run with seed ``K`` is
``simulate --seed K+c``). Every slot, each cell

1. sends the reports of the UEs that start a new transport block this slot
   (:meth:`LinkSimulator.needs_decision`; with ``all_ues`` every UE) to the xApp:
   one unary ``Decide`` call, or one message on the cell's ``StreamDecisions``
   stream. By default a batch goes as ``ReportColumns`` with a columnar answer
   (the fast path for batches) and a single UE as one ``UeReport`` (the service
   decides a lone report with Python scalars, faster than decoding
   columns: docs/benchmarks.md); ``columnar`` True / False forces one form;
2. applies the returned MCS and steps the simulator, which computes the
   transmission outcome and feeds the HARQ ACK/NACK back into later reports.

UEs not asked (retransmission pending, all HARQ processes busy, or no data)
do not use the MCS of the slot at all, so asking only the others changes no KPI:
``simulate`` asks its policy for every UE and the simulator ignores the rest. A
stateless model (the ONNX policies the xApp serves) therefore gives the same
KPIs, decision for decision, through the service as in-process.

Slots run in lock step and as fast as the service answers (not paced to wall
time): the requests of all cells for a slot are built first, sent together, and
the simulators step once every answer (or failure) is in, so a cell's simulator
work never sits inside another cell's measured latency.

Latency is measured per request, from the send to the decoded answer. A request
*misses its deadline* when no valid answer arrived within ``deadline_us`` (default:
the slot duration of the scenario's numerology, 500 us at mu = 1). A late answer
is still applied, as the emulator is not a real-time system, unless
``strict_deadline`` is set: then the local fallback replaces it, as a gNB would.
A request *fails* when no valid answer arrives at all (service unreachable,
error status or error reply, ``timeout_ms`` passed): the cell applies the
xApp's own conservative fallback rule (:func:`xapp.policy.fallback_mcs`) locally,
counts the slot as missed and failed, drops its channel, and tries again at its
next slot after a backoff (20 ms doubling to 1 s) with a new connection. A
service restart therefore costs a handful of missed slots and the run resumes.
Statuses a retry cannot change (:data:`FATAL_STATUSES`: a missing or wrong
token, a target that is not a linkadapt service) stop the run at once with
:class:`EmulatorError`; a run in which no request got an answer ends with
``aborted`` naming the status the service answered.

KPIs are those of :func:`training.sim.runner.kpis`, per cell and pooled over all
cells, plus latency percentiles, missed / failed slots and the fallback share.

This module imports numpy, grpcio, protobuf and the xApp's light modules only
(httpx for hot-swap drills): it runs in the serving image, without torch,
Gymnasium, tqdm or matplotlib.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, cast
from urllib.parse import urlsplit

import grpc
import numpy as np
import numpy.typing as npt
from grpc_health.v1 import health_pb2, health_pb2_grpc

from training.options import flag
from training.sim import config, runner
from training.sim.config import LinkConfig
from training.sim.link import Kpis, LinkSimulator
from training.sim.policies import parse_policy
from xapp import features
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.columns import encode_columns
from xapp.features import ReportBatch
from xapp.policy import DEFAULT_BACKOFF, fallback_mcs
from xapp.proto_reports import protos_from_batch
from xapp.tls import ClientTls, client_failure_hint

_MODEL: Final = pb.DECISION_SOURCE_MODEL
_FALLBACK: Final = pb.DECISION_SOURCE_FALLBACK
BACKOFF_START_S: Final = 0.02
BACKOFF_MAX_S: Final = 1.0
LOCAL_FALLBACK: Final = "local-fallback"
"""Model key recorded for slots decided by the emulator's own fallback rule."""
SERVICE_FALLBACK: Final = "service-fallback"
"""Model key recorded for slots the service answered with its fallback rule only."""
_GRPC_SCHEMES: Final = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")
"""gRPC target schemes: after one of these the address is gRPC's to parse."""
MAX_CELLS: Final = 1024
"""Most ``--cells``: each cell holds its own simulator, gRPC channel and TCP connection."""
MAX_UES: Final = 100_000
"""Most UEs over all cells (``--cells`` x ``--ues-per-cell``): a simulated UE takes ~7 kB."""
FATAL_STATUSES: Final = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED"})
"""gRPC statuses no retry can change: the run stops at the first one."""
_NO_ANSWER_STATUSES: Final = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED"})
"""Statuses of requests the service did not answer (the others are its refusals)."""
_CHANNEL_OPTIONS: Final = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
]


class EmulatorError(Exception):
    """The emulation cannot run (bad options, service unreachable at start)."""


class SlotFailure(Exception):
    """No valid answer for a slot.

    ``code`` is the gRPC status name the service answered with (a status or an
    error reply), "" when there was no status (a timeout on a stream, a broken
    connection, an answer that does not match the request).
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:
        """The key this failure is counted under: the status, or the message's head."""
        return self.code or str(self).split(":")[0]


@dataclass(frozen=True)
class EmulatorOptions:
    """What to emulate and against which service. See ``linkadapt emulate --help``."""

    target: str
    cells: int = 1
    ues_per_cell: int = 4
    scenario: str = "mimo"
    slots: int = 1000
    seed: int = 0
    speed_kmh: float | None = None
    stream: bool = False
    columnar: bool | None = None  # None: columns for batches, messages for one UE
    all_ues: bool = False
    deadline_us: float | None = None
    strict_deadline: bool = False
    timeout_ms: float = 1000.0
    connect_timeout_s: float = 10.0
    give_up_s: float = 30.0
    token: str | None = None
    swap_every: int = 0
    swap_models: tuple[str, ...] = ()
    admin_url: str | None = None
    compare: str | None = None
    tls: ClientTls | None = None

    def check(self) -> None:
        """Raise ValueError naming the first bad option."""
        for name, value, low in (("cells", self.cells, 1), ("ues_per_cell", self.ues_per_cell, 1),
                                 ("slots", self.slots, 1), ("swap_every", self.swap_every, 0),
                                 ("seed", self.seed, 0)):
            if value < low:
                raise ValueError(f"{flag(name)} must be at least {low}, got {value}")
        if self.cells > MAX_CELLS:
            raise ValueError(f"--cells must be at most {MAX_CELLS} (each cell holds its own "
                             f"simulator and gRPC connection), got {self.cells}")
        if self.cells * self.ues_per_cell > MAX_UES:
            raise ValueError(f"--cells x --ues-per-cell must be at most {MAX_UES} UEs, got "
                             f"{self.cells * self.ues_per_cell} (a simulated UE takes ~7 kB)")
        host, _, port = self.target.rpartition(":")
        if not host or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"--target must be HOST:PORT with a port from 1 to 65535, "
                             f"got {self.target!r}")
        if (":" in host and not (host.startswith("[") and host.endswith("]"))
                and not self.target.startswith(_GRPC_SCHEMES)):
            raise ValueError(f"--target: an IPv6 address goes in brackets, [ADDRESS]:PORT "
                             f"(e.g. [::1]:50051), got {self.target!r}")
        if self.deadline_us is not None and not (math.isfinite(self.deadline_us)
                                                 and self.deadline_us > 0):
            raise ValueError(f"--deadline-us must be a positive number, got {self.deadline_us}")
        if not (math.isfinite(self.give_up_s) and self.give_up_s > 0):
            raise ValueError(f"--give-up-s must be a positive number, got {self.give_up_s}")
        if not (math.isfinite(self.timeout_ms) and self.timeout_ms > 0):
            raise ValueError(f"--timeout-ms must be a positive number, got {self.timeout_ms}")
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0):
            raise ValueError(f"--connect-timeout-s must be a positive number, got "
                             f"{self.connect_timeout_s}")
        if self.admin_url is not None:
            url = urlsplit(self.admin_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"--admin-url must be an http(s) URL such as "
                                 f"http://127.0.0.1:8080, got {self.admin_url!r}")
        if self.speed_kmh is not None and not (math.isfinite(self.speed_kmh)
                                               and self.speed_kmh >= 0):
            raise ValueError(f"--speed-kmh must be a number >= 0, got {self.speed_kmh}")
        if self.swap_models and not self.swap_every:
            raise ValueError("--swap-models needs --swap-every K (activate the next model "
                             "every K slots)")
        if self.swap_every:
            if not self.swap_models:
                raise ValueError("--swap-every needs --swap-models ID:VER,ID:VER")
            if not self.admin_url:
                raise ValueError("--swap-every needs --admin-url")
            if not self.token:
                raise ValueError("--swap-every needs the admin token "
                                 "(--token, --token-file or LINKADAPT_ADMIN_TOKEN)")
            for spec in self.swap_models:
                model_id, _, version = spec.partition(":")
                if not model_id or not version:
                    raise ValueError(f"--swap-models entries are ID:VER, got {spec!r}")
        config.config_source(self.scenario)  # ValueError listing the scenarios
        if self.compare is not None:
            parse_policy(self.compare)


# -- the wire ----------------------------------------------------------------------------


def build_request(cell_id: int, slot: int, batch: ReportBatch, ue_ids: npt.NDArray[np.int64],
                  columnar: bool) -> Any:
    """The ``DecisionRequest`` of one cell-slot: columns (and columnar answer) or messages."""
    if columnar:
        return pb.DecisionRequest(
            schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=cell_id, slot=slot,
            columns=encode_columns(batch, ue_ids), columnar_response=True)
    return pb.DecisionRequest(
        schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=cell_id, slot=slot,
        reports=protos_from_batch(batch, ue_ids.tolist()))


@dataclass(frozen=True)
class Answer:
    """The decoded answer of one request."""

    mcs: npt.NDArray[np.int64]
    from_model: npt.NDArray[np.bool_]
    model: str  # "ID@VERSION" of the model behind the MODEL rows, or SERVICE_FALLBACK


def parse_response(response: Any, request: Any, ue_ids: npt.NDArray[np.int64]) -> Answer:
    """Check a ``DecisionResponse`` against its request and decode it.

    Raises:
        SlotFailure: an error reply, or an answer for another slot or other UEs.

    """
    if response.HasField("error"):
        error = response.error
        raise SlotFailure(f"{error.code}: {error.message}", error.code)
    if response.slot != request.slot or response.cell_id != request.cell_id:
        raise SlotFailure(f"answer for cell {response.cell_id} slot {response.slot}, "
                          f"expected cell {request.cell_id} slot {request.slot}")
    n = ue_ids.size
    if response.HasField("columns"):
        columns = response.columns
        mcs = np.frombuffer(columns.mcs, np.uint8).astype(np.int64)
        source = np.frombuffer(columns.source, np.uint8)
        model_id, version = columns.model_id, columns.model_version
    else:
        decisions = response.decisions
        if [d.ue_id for d in decisions] != ue_ids.tolist():
            raise SlotFailure(f"slot {request.slot}: decisions do not match the UEs asked")
        mcs = np.array([d.mcs for d in decisions], dtype=np.int64)
        source = np.array([d.source for d in decisions], dtype=np.uint8)
        first = next((d for d in decisions if d.source == _MODEL), None)
        model_id, version = (first.model_id, first.model_version) if first else ("", "")
    if mcs.shape != (n,) or source.shape != (n,):
        raise SlotFailure(f"slot {request.slot}: {mcs.size} decisions for {n} UEs")
    from_model = source == _MODEL
    if not np.all(from_model | (source == _FALLBACK)):
        raise SlotFailure(f"slot {request.slot}: unknown decision source")
    model = f"{model_id}@{version}" if from_model.any() else SERVICE_FALLBACK
    return Answer(mcs, from_model, model)


class Transport:
    """One cell's connection: unary ``Decide`` calls or one ``StreamDecisions`` stream.

    Any failure drops the channel; the next call opens a new one.
    """

    def __init__(self, target: str, stream: bool, timeout_s: float,
                 token: str | None = None, tls: ClientTls | None = None) -> None:
        self.target = target
        self.tls = tls
        self._credentials = None if tls is None else tls.grpc_credentials()
        self.stream = stream
        self.timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._call: Any = None
        self._watchdog: asyncio.Task[None] | None = None
        self._sent_at: float | None = None
        self._timed_out = False

    async def _watch(self, call: Any) -> None:
        """Cancel the stream when a message waits longer than the timeout for its answer.

        A timer per message (``asyncio.timeout``) costs event-loop work on every
        slot (docs/benchmarks.md); this one wakes four times per timeout.
        """
        while not call.done():
            await asyncio.sleep(self.timeout_s / 4)
            sent = self._sent_at
            if sent is not None and time.monotonic() - sent > self.timeout_s:
                self._timed_out = True
                call.cancel()
                return

    def _connect(self) -> Any:
        if self._channel is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            else:
                assert self.tls is not None
                self._channel = grpc.aio.secure_channel(
                    self.target, self._credentials,
                    options=_CHANNEL_OPTIONS + self.tls.channel_options())
            self._stub = pb_grpc.LinkAdaptationStub(self._channel)
        return self._stub

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the channel connects; EmulatorError after ``timeout_s``.

        A failed TLS handshake (wrong CA, no client certificate where the service
        asks for one) ends the wait at once with the flag to fix: waiting longer
        cannot help.
        """
        self._connect()
        channel = self._channel
        assert channel is not None
        try:
            async with asyncio.timeout(timeout_s):
                state = channel.get_state(try_to_connect=True)
                while state != grpc.ChannelConnectivity.READY:
                    if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                        hint = await self._tls_failure()
                        if hint is not None:
                            await self.close()
                            raise EmulatorError(f"cannot connect to the xApp at "
                                                f"{self.target}: {hint}")
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        except TimeoutError:
            await self.close()
            raise EmulatorError(f"cannot reach the xApp at {self.target} "
                                f"within {timeout_s:g} s") from None

    async def _tls_failure(self) -> str | None:
        """Why the channel failed, when it is TLS (one health check shows gRPC's reason)."""
        assert self._channel is not None
        try:
            await health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self.timeout_s, wait_for_ready=False)
        except grpc.aio.AioRpcError as exc:
            return client_failure_hint(exc.details() or "", self.tls)
        return None

    async def decide(self, request: Any) -> Any:
        """Send one request and return its response; SlotFailure on any failure."""
        stub = self._connect()
        try:
            if not self.stream:
                return await stub.Decide(request, timeout=self.timeout_s,
                                         metadata=self._metadata)
            if self._call is None:
                self._call = stub.StreamDecisions(metadata=self._metadata)
                self._watchdog = asyncio.get_running_loop().create_task(
                    self._watch(self._call))
            self._sent_at = time.monotonic()
            await self._call.write(request)
            response = await self._call.read()
            self._sent_at = None
            if response is grpc.aio.EOF:
                raise SlotFailure("the service ended the stream")
            return response
        except grpc.aio.AioRpcError as exc:
            await self.close()
            raise SlotFailure(f"{exc.code().name}: {exc.details()}", exc.code().name) from None
        except asyncio.CancelledError:
            if not self._timed_out:
                raise  # the emulation itself is being cancelled
            await self.close()
            raise SlotFailure(f"no answer within {self.timeout_s * 1e3:g} ms") from None
        except SlotFailure:
            await self.close()
            raise
        except (grpc.RpcError, asyncio.InvalidStateError, OSError) as exc:
            await self.close()
            raise SlotFailure(f"transport error: {exc!r}") from None

    async def close(self) -> None:
        """Cancel the stream and close the channel."""
        call, channel, watchdog = self._call, self._channel, self._watchdog
        self._call = self._channel = self._stub = self._watchdog = None
        self._sent_at, self._timed_out = None, False
        if watchdog is not None:
            watchdog.cancel()
        if call is not None:
            call.cancel()
        if channel is not None:
            await channel.close(grace=None)


# -- cells ---------------------------------------------------------------------------------


def cell_config(scenario: str, seed: int, ues: int, speed_kmh: float | None = None) -> LinkConfig:
    """The configuration ``linkadapt simulate --scenario S --seed K --ues N`` runs."""
    cfg = config.config_source(scenario)(np.random.default_rng([seed, 1]), ues)
    return cfg if speed_kmh is None else cfg.with_speed_kmh(speed_kmh)


@dataclass
class CellStats:
    """Per-cell counters of one emulation."""

    requests: int = 0
    missed: int = 0  # no valid answer within the deadline (late or failed)
    failed: int = 0  # no valid answer at all: local fallback applied
    late_applied: int = 0  # late answers applied anyway (not strict_deadline)
    decisions: int = 0
    service_fallback: int = 0
    local_fallback: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


class Cell:
    """One simulated cell: its simulator, its connection, its counters."""

    def __init__(self, index: int, opts: EmulatorOptions) -> None:
        self.index = index
        self.cell_id = index
        self.seed = opts.seed + index
        self.cfg = cell_config(opts.scenario, self.seed, opts.ues_per_cell, opts.speed_kmh)
        self.sim = LinkSimulator(self.cfg, self.seed)
        self.ue_ids = np.arange(self.sim.n, dtype=np.int64)
        self.transport = Transport(opts.target, opts.stream, opts.timeout_ms / 1e3, opts.token,
                                   opts.tls)
        self.columnar = opts.columnar
        self.all_ues = opts.all_ues
        self.reward_sum = 0.0
        self.stats = CellStats()
        self.retry_delay_s = 0.0
        self.failing_since: float | None = None  # monotonic time of the first failure in a row
        self.last_failure: SlotFailure | None = None
        self.slot_model = ""  # model key of the current slot's answer ("" = no request)
        self._pending: tuple[Any, npt.NDArray[np.int64], ReportBatch] | None = None
        self._mcs = np.zeros(self.sim.n, dtype=np.int64)

    def prepare(self) -> None:
        """Build this slot's request (none when no UE starts a new transport block)."""
        sim = self.sim
        self._mcs = np.zeros(sim.n, dtype=np.int64)
        self.slot_model = ""
        asked = self.ue_ids if self.all_ues else np.flatnonzero(sim.needs_decision())
        if asked.size == 0:
            self._pending = None
            return
        batch = sim.reports if asked.size == sim.n else sim.reports.take(asked)
        columnar = asked.size > 1 if self.columnar is None else self.columnar
        request = build_request(self.cell_id, sim.slot, batch, asked, columnar)
        self._pending = (request, asked, batch)

    async def exchange(self, deadline_ns: int, strict: bool) -> None:
        """Send the prepared request and record the answer (or apply the local fallback)."""
        if self._pending is None:
            return
        request, asked, batch = self._pending
        stats = self.stats
        stats.requests += 1
        stats.decisions += asked.size
        if self.retry_delay_s:
            await asyncio.sleep(self.retry_delay_s)
        start = time.perf_counter_ns()
        try:
            answer = parse_response(await self.transport.decide(request), request, asked)
        except SlotFailure as exc:
            self.last_failure = exc
            stats.errors[exc.reason] = stats.errors.get(exc.reason, 0) + 1
            stats.failed += 1
            self._local_fallback(asked, batch)
            self.retry_delay_s = min(max(2 * self.retry_delay_s, BACKOFF_START_S), BACKOFF_MAX_S)
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            return
        elapsed = time.perf_counter_ns() - start
        self.retry_delay_s = 0.0
        self.failing_since = None
        stats.latencies_ns.append(elapsed)
        if elapsed > deadline_ns:
            stats.missed += 1
            if strict:
                self._local_fallback(asked, batch, count_missed=False)
                return
            stats.late_applied += 1
        self._mcs[asked] = answer.mcs
        stats.service_fallback += int(asked.size - np.count_nonzero(answer.from_model))
        self.slot_model = answer.model

    def _local_fallback(self, asked: npt.NDArray[np.int64], batch: ReportBatch,
                        count_missed: bool = True) -> None:
        if count_missed:
            self.stats.missed += 1
        self.stats.local_fallback += asked.size
        self._mcs[asked] = fallback_mcs(batch.cqi, batch.mcs_table, DEFAULT_BACKOFF)
        self.slot_model = LOCAL_FALLBACK

    def step(self) -> None:
        """Apply the slot's MCS and advance the simulator (rewards as runner.run counts them)."""
        scale = self.sim.reward_scale_bits()
        outcome = self.sim.step(self._mcs)
        self.reward_sum += float((outcome.delivered_bits / scale).sum())


# -- KPIs ----------------------------------------------------------------------------------


@dataclass
class _Pooled:
    """What :func:`training.sim.runner.kpis` reads of a simulator, for pooled or diffed counters."""

    kpis: Kpis
    cfg: LinkConfig
    n: int


def _copy_kpis(k: Kpis) -> Kpis:
    out = Kpis(k.n)
    for f in fields(k):
        if f.name != "n":
            value = getattr(k, f.name)
            setattr(out, f.name, value.copy() if isinstance(value, np.ndarray) else value)
    return out


def _diff_kpis(end: Kpis, start: Kpis) -> Kpis:
    out = Kpis(end.n)
    for f in fields(end):
        if f.name != "n":
            setattr(out, f.name, getattr(end, f.name) - getattr(start, f.name))
    return out


def pool(sims: Sequence[Any]) -> Any:
    """Pool simulators (or :class:`_Pooled` views) into one view for ``runner.kpis``."""
    if len(sims) == 1:
        return sims[0]
    k = Kpis(sum(s.n for s in sims))
    for f in fields(k):
        if f.name in ("n", "slots", "mcs_histogram"):
            continue
        setattr(k, f.name, np.concatenate([getattr(s.kpis, f.name) for s in sims]))
    k.mcs_histogram = np.sum([s.kpis.mcs_histogram for s in sims], axis=0)
    k.slots = sims[0].kpis.slots
    cfg = LinkConfig(**{f.name: np.concatenate([getattr(s.cfg, f.name) for s in sims])
                        for f in fields(LinkConfig)})
    return _Pooled(k, cfg, k.n)


def summarize(sims: Sequence[Any], reward_sum: float) -> dict[str, Any]:
    """KPIs of one or more simulators, computed by :func:`training.sim.runner.kpis`."""
    return runner.kpis(cast(LinkSimulator, pool(sims)), reward_sum)


def latency_summary(latencies_ns: Sequence[int]) -> dict[str, float | None]:
    """p50 / p99 / max of request latencies, microseconds (None without samples)."""
    if not latencies_ns:
        return {"latency_p50_us": None, "latency_p99_us": None, "latency_max_us": None}
    us = np.asarray(latencies_ns, dtype=np.float64) / 1e3
    p50, p99 = np.percentile(us, [50, 99])
    return {"latency_p50_us": round(float(p50), 1), "latency_p99_us": round(float(p99), 1),
            "latency_max_us": round(float(us.max()), 1)}


def _service_stats(stats: Sequence[CellStats]) -> dict[str, Any]:
    decisions = sum(s.decisions for s in stats)
    fallback = sum(s.service_fallback + s.local_fallback for s in stats)
    requests = sum(s.requests for s in stats)
    errors: dict[str, int] = {}
    for s in stats:
        for reason, count in s.errors.items():
            errors[reason] = errors.get(reason, 0) + count
    return {
        "requests": requests,
        "decisions": decisions,
        "decisions_per_slot": 0.0,  # filled by the caller, who knows the slots
        "fallback_share": fallback / decisions if decisions else 0.0,
        "service_fallback_decisions": sum(s.service_fallback for s in stats),
        "local_fallback_decisions": sum(s.local_fallback for s in stats),
        "missed_slots": sum(s.missed for s in stats),
        "failed_slots": sum(s.failed for s in stats),
        "late_answers_applied": sum(s.late_applied for s in stats),
        "errors": errors,
        **latency_summary([ns for s in stats for ns in s.latencies_ns]),
    }


# -- the run -------------------------------------------------------------------------------


@dataclass
class Segment:
    """Slots answered by one model (hot-swap drills): its KPIs over those slots."""

    model: str
    first_slot: int
    snapshot: list[Kpis]
    reward_start: float
    end_slot: int = -1
    kpis: dict[str, Any] = field(default_factory=dict)


@dataclass
class SwapEvent:
    """One activation through the REST API."""

    slot: int
    model: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class EmulationResult:
    """Everything a run measured; :meth:`to_dict` is the ``--json`` output."""

    options: EmulatorOptions
    deadline_us: float
    kpis: dict[str, Any]
    per_cell: list[dict[str, Any]]
    segments: list[Segment]
    swaps: list[SwapEvent]
    compare: dict[str, Any] | None
    wall_s: float
    aborted: str = ""  # why the run stopped early ("" if it ran all its slots)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: pooled KPIs and service figures at the top level."""
        opts = self.options
        out: dict[str, Any] = {
            "target": opts.target, "scenario": opts.scenario, "seed": opts.seed,
            "mode": "stream" if opts.stream else "unary",
            "wire": {None: "auto", True: "columns", False: "reports"}[opts.columnar],
            "cells": opts.cells, "ues_per_cell": opts.ues_per_cell, "tls": opts.tls is not None,
            "deadline_us": self.deadline_us, "strict_deadline": opts.strict_deadline,
            **self.kpis, "wall_s": round(self.wall_s, 3), "aborted": self.aborted,
            "per_cell": self.per_cell,
        }
        if self.segments:
            out["segments"] = [{"model": s.model, "first_slot": s.first_slot,
                                "end_slot": s.end_slot, **s.kpis} for s in self.segments]
        if opts.swap_every:
            out["swaps"] = [vars(e) for e in self.swaps]
        if self.compare is not None:
            out["compare"] = self.compare
        return out


class _Swapper:
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


def default_deadline_us(cfgs: Sequence[LinkConfig]) -> float:
    """The shortest slot duration among the cells' UEs, microseconds."""
    return float(min(cfg.slot_s().min() for cfg in cfgs) * 1e6)


async def emulate(opts: EmulatorOptions,
                  on_slot: Callable[[int], None] | None = None) -> EmulationResult:
    """Run the closed loop against the service at ``opts.target``.

    Args:
        opts: what to emulate.
        on_slot: called with the number of slots done after each slot.

    Raises:
        ValueError: a bad option.
        EmulatorError: the service cannot be reached at the start, or answers with a
            status no retry changes (:data:`FATAL_STATUSES`, e.g. a refused token);
            for a hot-swap drill, also its admin API, or it refuses the token or lacks
            a model.

    """
    opts.check()
    if opts.swap_every:
        await check_swap_models(opts)
    cells = [Cell(c, opts) for c in range(opts.cells)]
    deadline_us = opts.deadline_us or default_deadline_us([c.cfg for c in cells])
    deadline_ns = int(deadline_us * 1e3)
    try:
        await asyncio.gather(*(c.transport.wait_ready(opts.connect_timeout_s) for c in cells))
    except EmulatorError:
        await asyncio.gather(*(c.transport.close() for c in cells))
        raise
    swapper = _Swapper(opts) if opts.swap_every else None
    segments: list[Segment] = []
    aborted = ""
    start = time.perf_counter()
    try:
        for slot in range(opts.slots):
            if swapper is not None:
                swapper.maybe_swap(slot)
            for cell in cells:
                cell.prepare()
            await asyncio.gather(*(c.exchange(deadline_ns, opts.strict_deadline) for c in cells))
            fatal = next((c.last_failure for c in cells if c.last_failure is not None
                          and c.last_failure.code in FATAL_STATUSES), None)
            if fatal is not None:
                raise EmulatorError(fatal_message(fatal, opts))
            _track_segment(segments, cells, slot)
            for cell in cells:
                cell.step()
            if on_slot is not None:
                on_slot(slot + 1)
            now = time.monotonic()
            down = [c for c in cells
                    if c.failing_since is not None and now - c.failing_since > opts.give_up_s]
            if down:
                aborted = (f"gave up after slot {slot + 1}: no answer for cell {down[0].cell_id} "
                           f"for {opts.give_up_s:g} s (last error: {down[0].last_failure})")
                break
    finally:
        if swapper is not None:
            await swapper.close()
        await asyncio.gather(*(c.transport.close() for c in cells))
    wall = time.perf_counter() - start
    result = _result(opts, deadline_us, cells, segments, swapper, wall)
    unanswered = no_answer_message(cells)
    result.aborted = "; ".join(m for m in (unanswered, aborted) if m)
    return result


def fatal_message(failure: SlotFailure, opts: EmulatorOptions) -> str:
    """The one-line error of a status no retry changes, with what to do about it."""
    if failure.code == "UNIMPLEMENTED":
        hint = f"is --target {opts.target} a linkadapt xApp?"
    elif opts.token:
        hint = "check the token given by --token, --token-file or LINKADAPT_ADMIN_TOKEN"
    else:
        hint = "pass the service's token with --token, --token-file or LINKADAPT_ADMIN_TOKEN"
    return f"the service refused the decision requests: {failure}; {hint}"


def no_answer_message(cells: Sequence[Cell]) -> str:
    """Why a run in which no request got an answer failed ("" if some request got one)."""
    if any(c.stats.latencies_ns for c in cells):
        return ""
    failure = next((c.last_failure for c in cells if c.last_failure is not None), None)
    if failure is None:
        return ""  # no request at all
    if not failure.code or failure.code in _NO_ANSWER_STATUSES:
        return f"no request got an answer from the service (last error: {failure})"
    message = f"the service refused every request: {failure}"
    if failure.code == "RESOURCE_EXHAUSTED":
        message += (" - lower --ues-per-cell (or drop --all-ues) or raise the service's "
                    "limit (linkadapt serve --max-batch-size)")
    return message


def _track_segment(segments: list[Segment], cells: Sequence[Cell], slot: int) -> None:
    """Open a new segment when the model answering (first cell that asked) changes."""
    model = next((c.slot_model for c in cells if c.slot_model), "")
    if not model or (segments and segments[-1].model == model):
        return
    if segments:
        segments[-1].end_slot = slot
    segments.append(Segment(model, slot, [_copy_kpis(c.sim.kpis) for c in cells],
                            sum(c.reward_sum for c in cells)))


def _result(opts: EmulatorOptions, deadline_us: float, cells: Sequence[Cell],
            segments: list[Segment], swapper: _Swapper | None, wall: float) -> EmulationResult:
    sims = [c.sim for c in cells]
    total_reward = sum(c.reward_sum for c in cells)
    pooled = {**summarize(sims, total_reward), **_service_stats([c.stats for c in cells])}
    slots_run = max(cells[0].sim.slot, 1)
    pooled["decisions_per_slot"] = pooled["decisions"] / slots_run
    per_cell = []
    for c in cells:
        row = {"cell_id": c.cell_id, "seed": c.seed, **summarize([c.sim], c.reward_sum),
               **_service_stats([c.stats])}
        row["decisions_per_slot"] = row["decisions"] / slots_run
        per_cell.append(row)
    for i, seg in enumerate(segments):
        end_snapshot = ([c.sim.kpis for c in cells] if i + 1 == len(segments)
                        else segments[i + 1].snapshot)
        end_reward = total_reward if i + 1 == len(segments) else segments[i + 1].reward_start
        if seg.end_slot < 0:
            seg.end_slot = slots_run
        views = [_Pooled(_diff_kpis(end, begin), c.cfg, c.sim.n)
                 for end, begin, c in zip(end_snapshot, seg.snapshot, cells, strict=True)]
        seg.kpis = summarize(views, end_reward - seg.reward_start)
    compare = (run_baseline(replace(opts, slots=slots_run), [c.cfg for c in cells], pooled)
               if opts.compare else None)
    return EmulationResult(opts, deadline_us, pooled, per_cell, segments,
                           swapper.events if swapper else [], compare, wall)


def run_baseline(opts: EmulatorOptions, cfgs: Sequence[LinkConfig],
                 emulated: dict[str, Any]) -> dict[str, Any]:
    """Run ``opts.compare`` in-process on the same cells and seeds (common random numbers).

    Returns the baseline's pooled KPIs and the gains of the emulated run over it.
    """
    assert opts.compare is not None
    sims, reward = [], 0.0
    name = ""
    for c, cfg in enumerate(cfgs):
        policy = parse_policy(opts.compare)
        name = policy.name
        sim = LinkSimulator(cfg, opts.seed + c)
        policy.reset(sim.n)
        for _ in range(opts.slots):
            scale = sim.reward_scale_bits()
            outcome = sim.step(policy.act(sim.reports, sim))
            reward += float((outcome.delivered_bits / scale).sum())
        sims.append(sim)
    base = summarize(sims, reward)

    def gain(key: str) -> float | None:
        return (emulated[key] / base[key] - 1.0) * 100.0 if base[key] else None

    return {"policy": name, "kpis": base,
            "throughput_gain_pct": gain("throughput_mbps"),
            "spectral_efficiency_gain_pct": gain("spectral_efficiency"),
            "bler_delta_pct_points": (emulated["bler"] - base["bler"]) * 100.0}


def run_emulation(opts: EmulatorOptions,
                  on_slot: Callable[[int], None] | None = None) -> EmulationResult:
    """:func:`emulate` on a fresh event loop."""
    return asyncio.run(emulate(opts, on_slot))


# -- load mode -----------------------------------------------------------------------------


@dataclass
class LoadStep:
    """One load level of a ramp."""

    cells: int
    ues_per_cell: int
    ues_per_slot: float  # UEs decided per slot, all cells (mean)
    latency_p50_us: float | None
    latency_p99_us: float | None
    latency_max_us: float | None
    missed_share: float
    failed_slots: int
    ok: bool


def load_ramp(opts: EmulatorOptions, axis: str = "cells", budget_us: float | None = None,
              max_level: int = 64, log: Callable[[LoadStep], None] | None = None,
              repeats: int = 1) -> tuple[list[LoadStep], LoadStep | None]:
    """Double the cells (or the UEs per cell) until p99 exceeds ``budget_us``.

    Each level is ``repeats`` fresh emulations of ``opts.slots`` slots; the level
    is the run with the median p99 (a run without any answer counts as infinite),
    so that one burst of a busy machine does not end the ramp. Returns every level
    run and the largest one whose p99 stayed within the budget (None if none did).
    """
    if axis not in ("cells", "ues"):
        raise ValueError(f"the load axis is 'cells' or 'ues', got {axis!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    steps: list[LoadStep] = []
    best: LoadStep | None = None
    level = opts.cells if axis == "cells" else opts.ues_per_cell
    while level <= max_level:
        run_opts = replace(opts, cells=level) if axis == "cells" else replace(
            opts, ues_per_cell=level)
        runs = sorted((run_emulation(run_opts) for _ in range(repeats)),
                      key=lambda r: math.inf if r.kpis["latency_p99_us"] is None
                      else r.kpis["latency_p99_us"])
        result = runs[(repeats - 1) // 2]
        k = result.kpis
        budget = budget_us or result.deadline_us
        p99 = k["latency_p99_us"]
        ok = p99 is not None and p99 <= budget and k["failed_slots"] == 0
        step = LoadStep(run_opts.cells, run_opts.ues_per_cell, round(k["decisions_per_slot"], 1),
                        k["latency_p50_us"], p99, k["latency_max_us"],
                        k["missed_slots"] / max(k["requests"], 1), k["failed_slots"], ok)
        steps.append(step)
        if log is not None:
            log(step)
        if not ok:
            break
        best = step
        level *= 2
    return steps, best
