"""Prometheus metrics of the service.

Each service instance has its own registry (tests start several in one
process). Recording is a lock and an add; rendering (``/metrics``) runs in the
REST server's thread pool, never on the gRPC event loop.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# 25 us .. 25 ms: the decision path lives well under a millisecond.
_LATENCY_BUCKETS: Final = (
    25e-6, 50e-6, 75e-6, 100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 750e-6,
    1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 10e-3, 25e-3,
)


class Metrics:
    """The service's counters and histograms, in one Prometheus registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "linkadapt_decisions", "MCS decisions returned, one per UE.",
            ("source",), registry=self.registry,
        )
        self.fallbacks = Counter(
            "linkadapt_fallbacks", "UE decisions made by the fallback rule, by reason.",
            ("reason",), registry=self.registry,
        )
        self.latency = Histogram(
            "linkadapt_request_latency_seconds",
            "Server-side time from a decoded request to its encoded response.",
            ("transport",), buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "linkadapt_request_ues", "UE reports per decision request.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
            registry=self.registry,
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
        self.model_loaded = Gauge(
            "linkadapt_model_loaded", "1 when a validated model serves, 0 on fallback only.",
            registry=self.registry,
        )
        # Pre-bound children: labels() costs a dict lookup and a lock per call.
        self.decisions_model = self.decisions.labels("model")
        self.decisions_fallback = self.decisions.labels("fallback")

    def render(self) -> bytes:
        """Render every metric in the Prometheus text exposition format."""
        return generate_latest(self.registry)
