"""Refusals in the log: one line per kind and interval, saying how many went unlogged."""

from __future__ import annotations

import logging

from xapp.error_log import RefusalLog


def test_one_line_per_kind_and_interval(caplog) -> None:
    now = [0.0]
    refusals = RefusalLog(interval_s=10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO)
    assert refusals.refused("grpc", "INVALID_ARGUMENT", "bad\nbytes")
    for _ in range(99):
        now[0] += 0.05
        assert not refusals.refused("grpc", "INVALID_ARGUMENT", "bad bytes")
    assert refusals.refused("rest", "400", "not JSON")  # another kind has its own interval
    now[0] = 10.0
    assert refusals.refused("grpc", "INVALID_ARGUMENT", "x" * 1000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[0] == "grpc request refused with INVALID_ARGUMENT: bad bytes"
    assert lines[2].endswith("(99 more refused with INVALID_ARGUMENT since the last line)")
    assert lines[2].count("x") == 300  # a client's text is cut short
