"""Names of the samples the service exports on /metrics (read from xapp.metrics itself)."""

from __future__ import annotations

from xapp.metrics import Metrics

# Sample name suffixes of each Prometheus metric type (the family name alone for the rest).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created", ""),
    "gauge": ("",),
}


def sample_names() -> set[str]:
    """Every sample name (and histogram family name) a scrape of the service can hold."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names
