"""The model store on disk: upload (validated), activate, roll back, delete.

The store directory (a volume in Kubernetes) holds ``state.json`` (the active
model and its history), the writers' lock and one directory per model
(:mod:`xapp.store_files`). ``history`` holds the previously active models, most
recent last; rollback pops it, so it can return to the default after a stored
model was activated. Every file is written to a temporary name,
fsynced and renamed, and a model directory appears with one rename, so a crash
leaves either the old or the new state, never a half-written one. The SHA-256 of
each model is checked again when it is loaded.

One store serves a fleet of replicas (a ReadWriteMany volume). Every write
(upload, activate, roll back, delete) holds the store's exclusive lock, re-reads
``state.json`` under it and writes the next ``generation``: writers on different
replicas take turns and none loses the other's work. Each replica polls
``state.json`` (:meth:`Registry.sync`, driven by :class:`xapp.fleet.StoreWatcher`)
and, when the generation it applied is no longer the store's, loads and checks
the active model and swaps it in. The activation history lives in the store, so
a rollback through any replica returns to what the fleet served before.

The registry owns the store; what serves is the :class:`xapp.core.DecisionCore`,
to which it hands each newly activated :class:`~xapp.policy.Policy` only after
the model was loaded, checked and the new state persisted. The registry's own view
(active key, history) changes only once the new state is on disk: a store that
cannot be written (full, read-only) refuses the operation with
:class:`~xapp.errors.StoreUnavailable` and everything stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from xapp import store_files as files
from xapp.atomic import write_atomic
from xapp.errors import (
    ModelConflict,
    ModelNotFound,
    ModelRejected,
    ServiceError,
    StoreUnavailable,
)
from xapp.model_check import Limits, check_model
from xapp.policy import Policy

log = logging.getLogger(__name__)

DEFAULT_KEY: Final = "default"
"""Activation key of the embedded default model."""
class Registry:
    """Model store with validation and an atomic active pointer.

    Args:
        root: store directory (created if missing).
        limits: admission limits for uploads.
        on_activate: called with the new policy (or ``None``) after each change of
            the active model, and the action (``"activate"``, ``"rollback"``): the
            decision core's ``set_policy``.
        default_model: the embedded default model's file, activated as
            :data:`DEFAULT_KEY`; ``None`` if there is none.
        on_generation: called with each store generation this replica has applied.

    """

    def __init__(
        self,
        root: Path,
        limits: Limits,
        on_activate: Callable[[Policy | None, str], None],
        default_model: Path | None = None,
        on_generation: Callable[[int], None] | None = None,
    ) -> None:
        self.root = root
        self.limits = limits
        self._on_activate = on_activate
        self._default_model = default_model
        self._on_generation = on_generation or (lambda generation: None)
        self._lock = threading.Lock()
        (root / "models").mkdir(parents=True, exist_ok=True)
        self._active: str | None = None
        self._history: list[str] = []
        self._default_serves = False
        self.generation = 0
        """The store's generation as last read: each write adds one."""
        self.applied_generation = 0
        """The generation whose active model this replica serves."""
        self._seen = b""  # state.json as last read
        self._served: tuple[str, str] | None = None  # (key, sha256) of the model swapped in
        self._failed_generation = -1  # last generation whose model could not be loaded
        self._read_state()

    # -- queries ---------------------------------------------------------------

    @property
    def active_key(self) -> str | None:
        """Key of the active model (:data:`DEFAULT_KEY` for the default), or ``None``."""
        if self._active is None and self._default_serves:
            return DEFAULT_KEY
        return self._active

    def serving_default(self) -> None:
        """Record that the default serves while the store has no active model.

        Not persisted: a fresh store stays untouched until an operator acts. The
        next activation puts the default in the history, so rollback returns to it.
        """
        with self._lock:
            self._default_serves = True

    def started(self, policy: Policy | None) -> None:
        """Record what this replica serves after start-up: the store's current generation."""
        with self._lock:
            if policy is None and self.active_key is not None:
                return  # the store's active model failed to load: sync() tries it again
            self._mark_served(policy)

    @property
    def history(self) -> list[str]:
        """Previously active keys, most recent last."""
        return list(self._history)

    def list(self) -> list[files.StoredModel]:
        """All stored models, sorted by key."""
        models = []
        for meta in sorted((self.root / "models").glob(f"*/*/{files.META_FILE}")):
            try:
                models.append(files.read_meta(meta))
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable model metadata %s: %s", meta, exc)
        return models

    def get(self, key: str) -> files.StoredModel:
        """Return the stored model ``key``; raise :class:`ModelNotFound` if there is none."""
        meta = files.model_dir(self.root, key) / files.META_FILE
        if not meta.is_file():
            raise ModelNotFound(f"no stored model {key}")
        return files.read_meta(meta)

    # -- mutations -------------------------------------------------------------

    def upload(self, data: bytes) -> tuple[files.StoredModel, bool]:
        """Validate and store a model (it is not activated).

        Returns:
            ``(model, created)``; ``created`` is False when the identical model was
            already stored.

        Raises:
            ModelRejected: a failed admission check (nothing is stored).
            ModelConflict: a different model with the same id and version exists.

        """
        policy = check_model(data, self.limits)
        card = policy.card
        with self._lock, files.store_lock(self.root, f"store {card.key}"):
            target = files.model_dir(self.root, card.key)
            if target.exists():
                existing = self.get(card.key)
                if existing.sha256 == policy.sha256:
                    return existing, False
                raise ModelConflict(
                    f"{card.key} is already stored with another checksum; "
                    "upload it under a new version (the training commands take "
                    "--model-version)"
                )
            stored = files.StoredModel(card, policy.sha256, len(data), files.now())
            meta = {"sha256": stored.sha256, "size_bytes": stored.size_bytes,
                    "uploaded": stored.uploaded, "card": card.to_dict()}
            with files.staged_model_dir(self.root, target, f"store {card.key}") as staging:
                write_atomic(staging / files.MODEL_FILE, data)
                write_atomic(staging / files.META_FILE, json.dumps(meta, indent=2).encode())
            log.info("stored model %s sha256=%s", card.key, stored.sha256)
            return stored, True

    def activate(self, key: str) -> Policy:
        """Load, check and make ``key`` the active model; the previous goes to history.

        Unlike a restart or a rollback, an activation re-runs the latency check:
        an operator is at hand to read the refusal, and the serving model keeps
        serving meanwhile. A restart must not leave a cell on fallback decisions
        because the node was busy while it booted, and a rollback is the way
        back from a bad model, so neither is refused for a noisy measurement.
        """
        with self._lock, files.store_lock(self.root, f"activate {key}"):
            self._refresh()
            policy = self.load(key, check_latency=True)
            history, current = self._history, self.active_key
            if current is not None and current != key:
                history = [*history, current]
            self._commit(key, history, f"activate {key}")
            self._on_activate(policy, "activate")  # under the lock: swaps keep the persisted order
            self._mark_served(policy)
        log.info("activated model %s", key)
        return policy

    def rollback(self) -> Policy:
        """Re-activate the previously active model.

        Raises:
            ModelConflict: there is no previous model.

        """
        with self._lock, files.store_lock(self.root, "roll back"):
            self._refresh()
            history = list(self._history)
            while history:
                key = history.pop()
                try:
                    policy = self.load(key)
                except ModelNotFound:  # deleted since: skip it
                    continue
                self._commit(key, history, f"roll back to {key}")
                break
            else:
                raise ModelConflict("no previous model to roll back to")
            self._on_activate(policy, "rollback")
            self._mark_served(policy)
        log.info("rolled back to model %s", key)
        return policy

    def delete(self, key: str) -> None:
        """Delete an inactive model.

        Raises:
            ModelNotFound: no such model.
            ModelConflict: it is the active model.

        """
        with self._lock, files.store_lock(self.root, f"delete {key}"):
            self._refresh()
            self.get(key)
            caught_up = self.applied_generation == self.generation
            if key == self.active_key:
                raise ModelConflict(f"{key} is the active model; activate another one first")
            # Out of the listing first (one rename), then out of the history, then gone:
            # a failure at either step puts the directory back and changes nothing.
            directory = files.model_dir(self.root, key)
            with files.model_dir_removed(self.root, directory, f"delete {key}"):
                self._commit(self._active, [k for k in self._history if k != key], f"delete {key}")
                if caught_up:  # else sync() still has a model to swap in
                    self._mark_served(None, keep=True)
        log.info("deleted model %s", key)

    def load(self, key: str, check_latency: bool = False) -> Policy:
        """Read ``key`` from disk, verify its checksum and re-run the admission checks.

        Every check runs again (ONNX checker, model card, signature, ORT load, the
        probe batch with finite outputs) but the size limit, which the model passed
        at upload, and the latency budget unless ``check_latency``: see
        :meth:`activate`.
        """
        budget = self.limits.latency_budget_us if check_latency else None
        if key == DEFAULT_KEY:
            return self._load_default(budget)
        stored = self.get(key)
        data = (files.model_dir(self.root, key) / files.MODEL_FILE).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != stored.sha256:
            raise ModelRejected(f"{key}: checksum mismatch on disk ({digest} != {stored.sha256})")
        return check_model(data, replace(self.limits, max_bytes=max(self.limits.max_bytes,
                                                                    len(data)),
                                         latency_budget_us=budget))

    def _load_default(self, latency_budget_us: float | None) -> Policy:
        path = self._default_model
        if path is None or not path.is_file():
            raise ModelNotFound("no embedded default model is configured")
        data = path.read_bytes()
        return check_model(data, replace(self.limits, max_bytes=max(len(data), 1),
                                         latency_budget_us=latency_budget_us), origin="embedded")

    def load_active(self) -> Policy | None:
        """Load the active model recorded in the store (at start-up), or ``None``."""
        if self._active is None:
            return None
        return self.load(self._active)

    # -- the fleet ---------------------------------------------------------------

    def sync(self) -> bool:
        """Adopt the store's state if another replica changed it.

        Reads ``state.json`` (opening it each time: on NFS, close-to-open
        consistency then shows the newest version). If its generation is not the
        one this replica applied, the active model is loaded, checked (checksum,
        admission checks but the latency budget) and swapped in; requests in
        flight finish on the model they started with. A model that cannot be
        loaded leaves the serving one in place; it is logged once per generation
        and tried again at the next poll (on NFS a new directory may show late).

        Returns:
            True if this replica now serves another model.

        Raises:
            OSError, ValueError: ``state.json`` cannot be read or is not valid.

        """
        # The bytes alone are not enough: a local write that failed after it re-read
        # the state (a refused activation, a conflicting delete) leaves them seen
        # but not applied.
        if (files.read_state_bytes(self.root) == self._seen
                and self.generation == self.applied_generation):
            return False
        with self._lock:
            self._read_state()
            if self.generation == self.applied_generation:
                return False
            key = self.active_key
            if key is None:  # nothing to serve was ever activated here
                self._mark_served(None, keep=True)
                return False
            try:
                policy = self._load_unless_served(key)
            except (ServiceError, OSError, ValueError) as exc:  # tried again at the next poll
                if self._failed_generation != self.generation:
                    self._failed_generation = self.generation
                    log.error("store generation %d: cannot load its active model %s (%s); "
                              "still serving generation %d", self.generation, key, exc,
                              self.applied_generation)
                return False
            if policy is None:  # a change of history only: the served model stays
                self._mark_served(None, keep=True)
                return False
            self._on_activate(policy, "sync")
            self._mark_served(policy)
        log.info("store generation %d: serving %s, activated through another replica",
                 self.generation, key)
        return True

    def _load_unless_served(self, key: str) -> Policy | None:
        """Load ``key``; ``None`` if it is the model this replica serves already."""
        if self._served is not None and self._served[0] == key:
            sha = "" if key == DEFAULT_KEY else self.get(key).sha256
            if key == DEFAULT_KEY or sha == self._served[1]:
                return None
        return self.load(key)

    def _mark_served(self, policy: Policy | None, keep: bool = False) -> None:
        """Record that this replica applied the generation just read or written.

        ``policy``: what now serves; with ``keep``, what served before still does.
        """
        if not keep:
            key = self.active_key
            self._served = None if policy is None or key is None else (key, policy.sha256)
        self.applied_generation = self.generation
        self._on_generation(self.generation)

    # -- internals -------------------------------------------------------------

    def _refresh(self) -> None:
        """Re-read the state under the store lock, before a write builds on it.

        Raises:
            StoreUnavailable: the state file cannot be read or is not valid.

        """
        try:
            self._read_state()
        except (OSError, ValueError) as exc:
            raise StoreUnavailable(f"cannot read the model store's state: {exc}; "
                                   "nothing was changed") from None

    def _read_state(self) -> None:
        raw = files.read_state_bytes(self.root)
        self._seen = raw
        state = files.parse_state(raw, self.root / files.STATE_FILE)
        self._active, self._history, self.generation = state

    def _commit(self, active: str | None, history: Sequence[str], action: str) -> None:
        """Persist ``active`` and ``history``, then adopt them (nothing changes if writing fails).

        Raises:
            StoreUnavailable: ``state.json`` could not be written.

        """
        generation = self.generation + 1
        data = files.state_bytes(active, history, generation)
        with files.store_write(action):
            write_atomic(self.root / files.STATE_FILE, data)
        self._active, self._history, self.generation = active, list(history), generation
        self._seen = data
