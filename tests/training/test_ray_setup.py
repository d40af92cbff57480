"""Starting Ray in-process: one more try when Ray's node is too slow to start.

Ray's start-up timeout cannot be provoked on demand, so these tests hand
``_start_local`` a stand-in for the ``ray`` module that fails as Ray does.
"""

from __future__ import annotations

import pytest

from training.ray_setup import _start_local
from training.teacher_config import TrainingError

_SLOW = ("The current node timed out during startup. This could happen because some of "
         "the raylet failed to startup or the GCS has become overloaded.")


class _Ray:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.inits = 0
        self.shutdowns = 0

    def init(self, **_: object) -> None:
        self.inits += 1
        if self.failures:
            raise self.failures.pop(0)

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_slow_start_is_tried_once_more() -> None:
    ray = _Ray([Exception(_SLOW)])
    _start_local(ray, 2)
    assert (ray.inits, ray.shutdowns) == (2, 1)


def test_two_slow_starts_are_one_clear_error() -> None:
    ray = _Ray([Exception(_SLOW), Exception(_SLOW)])
    with pytest.raises(TrainingError, match=r"^Ray did not start: The current node timed out"):
        _start_local(ray, 2)
    assert ray.inits == 2


def test_other_failures_are_not_retried() -> None:
    ray = _Ray([ValueError("num_cpus must be positive")])
    with pytest.raises(ValueError, match="num_cpus"):
        _start_local(ray, 2)
    assert ray.inits == 1
