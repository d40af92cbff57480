"""Prometheus metrics of the service.

Each service instance has its own registry (tests start several in one
process). What is recorded on every request (decisions, request latency, batch
size) goes to plain counters (:class:`RequestStats`), several times cheaper
than a lock per update with ``prometheus_client``, which would be a visible share
of a decision (docs/benchmarks.md); a collector
turns them into Prometheus families when ``/metrics`` is scraped. Those counters
are written only by the event loop that serves both transports, and read by the
scrape in the REST thread pool: a scrape may see one request half-recorded,
never a torn value. Rarer events (errors, fallbacks, model swaps) keep
``prometheus_client`` instruments. Rendering runs in the REST server's thread
pool, never on the event loop.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# 25 us .. 25 ms: the decision path lives well under a millisecond.
_LATENCY_BUCKETS: Final = (
    25e-6, 50e-6, 75e-6, 100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 750e-6,
    1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 10e-3, 25e-3,
)
_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
TRANSPORTS: Final = ("grpc", "rest")


class Buckets:
    """A histogram recorded with one bisect and two additions (no lock).

    Args:
        bounds: upper bounds of the buckets, increasing (``+Inf`` is implied).

    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound is >= it."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> tuple[list[tuple[str, float]], float]:
        """Return Prometheus ``(le, cumulative count)`` pairs and the sum."""
        counts, total = list(self.counts), self.sum  # snapshot first
        out, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out, total


class RequestStats:
    """Per-request figures of one transport, recorded on the serving event loop."""

    __slots__ = ("batch_size", "latency")

    def __init__(self) -> None:
        self.latency = Buckets(_LATENCY_BUCKETS)
        self.batch_size = Buckets(_BATCH_BUCKETS)

    def record(self, seconds: float, num_ues: int) -> None:
        """Record one answered request.

        :meth:`Buckets.observe` written out twice: one Python call per request
        instead of three (on a CPU that idled since the last request each call
        costs microseconds).
        """
        latency, batch = self.latency, self.batch_size
        latency.counts[bisect_left(latency.bounds, seconds)] += 1
        latency.sum += seconds
        batch.counts[bisect_left(batch.bounds, num_ues)] += 1
        batch.sum += num_ues


class DecisionCounts:
    """Decisions returned, by source."""

    __slots__ = ("fallback", "model")

    def __init__(self) -> None:
        self.model = 0
        self.fallback = 0


class Metrics:
    """The service's counters and histograms, in one Prometheus registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = DecisionCounts()
        self.requests = {transport: RequestStats() for transport in TRANSPORTS}
        self.fallbacks = Counter(
            "linkadapt_fallbacks", "UE decisions made by the fallback rule, by reason.",
            ("reason",), registry=self.registry,
        )
        self.errors = Counter(
            "linkadapt_errors", "Refused requests, by transport and status code.",
            ("transport", "code"), registry=self.registry,
        )
        self.model_swaps = Counter(
            "linkadapt_model_swaps", "Changes of the serving model, by action.",
            ("action",), registry=self.registry,
        )
        self.model_info = Gauge(
            "linkadapt_model_info", "1 for the serving model.",
            ("model_id", "version", "sha256"), registry=self.registry,
        )
        self.store_generation = Gauge(
            "linkadapt_store_generation",
            "Model store generation whose active model this replica serves (the same on "
            "every replica once an activation has reached them all).", registry=self.registry,
        )
        self.model_loaded = Gauge(
            "linkadapt_model_loaded", "1 when a validated model serves, 0 on fallback only.",
            registry=self.registry,
        )
        self.tls_handshakes = Counter(
            "linkadapt_tls_handshakes",
            "TLS handshakes, by transport and outcome: ok or why it failed (REST); gRPC "
            "counts handshakes started only, as its C core keeps the outcome to itself.",
            ("transport", "outcome"), registry=self.registry,
        )
        self.refused_credentials = Counter(
            "linkadapt_refused_credentials",
            "Requests refused for their credential, by transport and credential "
            "(client_certificate: a name not allowed; decision_token; admin_token).",
            ("transport", "credential"), registry=self.registry,
        )
        self.registry.register(_RequestCollector(self))

    def count_handshake(self, transport: str, outcome: str) -> None:
        """Count one TLS handshake (called from the servers' TLS layers, any thread)."""
        self.tls_handshakes.labels(transport, outcome).inc()

    def render(self) -> bytes:
        """Render every metric in the Prometheus text exposition format."""
        return generate_latest(self.registry)


class _RequestCollector(Collector):
    """Exports :class:`DecisionCounts` and :class:`RequestStats` at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Yield the decision counter and the latency and batch-size histograms."""
        decisions = CounterMetricFamily(
            "linkadapt_decisions", "MCS decisions returned, one per UE.", labels=("source",))
        decisions.add_metric(("model",), self._metrics.decisions.model)
        decisions.add_metric(("fallback",), self._metrics.decisions.fallback)
        yield decisions
        latency = HistogramMetricFamily(
            "linkadapt_request_latency_seconds",
            "Server-side time from a decoded request to its encoded response.",
            labels=("transport",))
        batch = HistogramMetricFamily(
            "linkadapt_request_ues", "UE reports per decision request.", labels=("transport",))
        for transport, stats in self._metrics.requests.items():
            buckets, total = stats.latency.cumulative()
            latency.add_metric((transport,), buckets, total)
            buckets, total = stats.batch_size.cumulative()
            batch.add_metric((transport,), buckets, total)
        yield latency
        yield batch
