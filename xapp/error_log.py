"""Refused requests in the log: one line per kind of refusal and interval, never a traceback.

A gNB that sends garbage does it every slot. Logging each refusal would bury the
log (and cost more than answering it); logging none would leave an operator with
a counter that rises and no reason. So the first refusal of each (transport,
code) pair is logged with its reason, and the next one only after
:data:`LOG_INTERVAL_S`, saying how many were refused meanwhile. Every refusal is
still counted in ``linkadapt_errors``; that is the transports' job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger("xapp.refused")

LOG_INTERVAL_S: Final = 10.0
"""Least time between two log lines about the same kind of refusal."""
_MAX_REASON_CHARS: Final = 300


class RefusalLog:
    """Logs refused requests at most once per interval and kind.

    Args:
        interval_s: least time between two lines for one (transport, code).
        clock: monotonic clock in seconds (tests pass their own).

    """

    def __init__(self, interval_s: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # REST admin routes refuse from worker threads

    def refused(self, transport: str, code: str, reason: str) -> bool:
        """Note one refused request; log it if its kind was not logged within the interval.

        Returns:
            True if a line was written.

        """
        skipped = self.due(transport, code)
        if skipped is None:
            return False
        # One line whatever the client sent: no newlines, bounded length.
        line = " ".join(reason.split())[:_MAX_REASON_CHARS]
        more = f" ({skipped} more refused with {code} since the last line)" if skipped else ""
        log.warning("%s request refused with %s: %s%s", transport, code, line, more)
        return True

    def due(self, transport: str, code: str) -> int | None:
        """Note one event of this kind; return how many went unlogged before it if it is due.

        ``None`` means a line about this kind was written within the interval.
        """
        key = (transport, code)
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)
