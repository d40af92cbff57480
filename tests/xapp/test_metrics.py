"""The per-request figures: recorded in one call, exported as Prometheus histograms."""

from __future__ import annotations

from xapp.metrics import Buckets, RequestStats


def test_record_counts_like_two_bucket_observations() -> None:
    stats = RequestStats()
    latency, batch = Buckets(stats.latency.bounds), Buckets(stats.batch_size.bounds)
    for seconds, num_ues in ((0.0, 0), (25e-6, 1), (26e-6, 2), (0.02, 1000), (1.0, 4096),
                             (1e-3, 3), (30.0, 5000)):
        stats.record(seconds, num_ues)
        latency.observe(seconds)
        batch.observe(num_ues)
    assert (stats.latency.counts, stats.latency.sum) == (latency.counts, latency.sum)
    assert (stats.batch_size.counts, stats.batch_size.sum) == (batch.counts, batch.sum)
