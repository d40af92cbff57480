"""Default limits of the service, in a module of their own.

``xapp.settings`` needs these numbers, and the image's health check imports the
settings: keeping them here, away from :mod:`xapp.model_check` and
:mod:`xapp.policy`, spares the health check (a probe every few seconds under TLS)
the import of ONNX and ONNX Runtime.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LATENCY_BUDGET_US: Final = 100.0
"""Per-inference budget of the RAN paper (arXiv 2511.06563): < 100 us."""
DEFAULT_MAX_MODEL_BYTES: Final = 1 << 20
"""Upload size limit. The paper's deployable model is < 1 Mbit (131,072 bytes) of
weights; the default leaves room for teachers (~105k parameters)."""
DEFAULT_BACKOFF: Final = 2
"""MCS steps the fallback rule backs off from the CQI's MCS."""
DEFAULT_TARGET_BLER: Final = 0.1
"""First-transmission BLER target of a report that carries none: the usual 10% the CQI
is defined at (TS 38.214 5.2.2.1) and that OLLA is run at."""
