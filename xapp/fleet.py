"""Keeping a replica on the fleet's model: a thread that polls the shared model store.

Replicas share one store (a ReadWriteMany volume); an operator's upload,
activation or rollback reaches one of them. Every other replica finds the change
within one poll interval through :meth:`xapp.registry.Registry.sync`, which
validates the new active model before it swaps it in. Polling a small file was
chosen over inotify (which sees no change made by another NFS client) and over a
lease service (one more thing to run in a RIC cluster).
"""

from __future__ import annotations

import logging
import threading

from xapp.error_log import RefusalLog
from xapp.registry import Registry

log = logging.getLogger(__name__)


class StoreWatcher:
    """Calls :meth:`Registry.sync` every ``interval_s`` seconds on a daemon thread.

    Loading a model takes milliseconds to a second of CPU: a thread keeps that
    off the event loop that answers decisions.

    Args:
        registry: the replica's view of the shared store.
        interval_s: seconds between two polls.

    """

    def __init__(self, registry: Registry, interval_s: float) -> None:
        self._registry = registry
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._failures = RefusalLog()
        self._thread = threading.Thread(target=self._run, name="store-watcher", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; returns once a sync in progress has finished."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._registry.sync()
            except Exception as exc:  # an unreadable state file must not end the polling
                if self._failures.due("store", type(exc).__name__) is not None:
                    log.error("cannot read the model store's state %s: %s; this replica keeps "
                              "serving store generation %d", self._registry.root, exc,
                              self._registry.applied_generation)
