"""The transport-agnostic decision core: UE reports in, one MCS decision per UE out.

gRPC and REST adapters convert their messages to a :class:`~xapp.features.ReportBatch`
and back; everything else (request limits, the policy, the fallback, metrics)
happens here. A decision depends only on its report, so the core keeps no
per-UE state and any replica can answer any request.

The BLER target is a policy input (feature schema version 2): a report without
one gets the service's default target here, before :func:`xapp.features.observe`,
and a report whose target lies outside the active model's trained range (its
card's ``target_bler_range``) is refused, never clamped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from xapp import features
from xapp.defaults import DEFAULT_TARGET_BLER
from xapp.error_log import RefusalLog
from xapp.errors import BatchTooLarge, InvalidRequest
from xapp.metrics import Metrics
from xapp.policy import DEFAULT_BACKOFF, Policy, fallback_mcs
from xapp.report_batch import ReportBatch
from xapp.report_fields import float32
from xapp.single_ue import first_best, observe_one

log = logging.getLogger(__name__)

_ERROR_LOG_INTERVAL_S = 10.0


class Decisions(NamedTuple):
    """Decisions for a batch, one row per UE (same order as the reports).

    Attributes:
        mcs: int64 MCS index per UE.
        mcs_table: int64 MCS table (1 or 2) per UE, as reported.
        from_model: True where the model decided, False where the fallback did.
        model_id: id of the model that answered (empty if none did).
        model_version: its version (empty if none did).

    """

    mcs: npt.NDArray[np.int64]
    mcs_table: npt.NDArray[np.int64]
    from_model: npt.NDArray[np.bool_]
    model_id: str
    model_version: str


class DecisionCore:
    """Decides MCS for batches of reports with the current policy or the fallback rule.

    Args:
        metrics: where to count decisions and fallbacks.
        max_batch_size: most reports accepted in one request.
        fallback_backoff: MCS steps the fallback rule backs off.
        default_target_bler: BLER target of reports that carry none; the models
            served must include it in their trained range (the registry checks).

    """

    def __init__(
        self,
        metrics: Metrics,
        max_batch_size: int = 4096,
        fallback_backoff: int = DEFAULT_BACKOFF,
        default_target_bler: float = DEFAULT_TARGET_BLER,
    ) -> None:
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.fallback_backoff = fallback_backoff
        self.default_target_bler = default_target_bler
        # As a sent target would be (a float32): absent and sent-as-default decide alike.
        self._default_target = float32(default_target_bler)
        self._policy: Policy | None = None
        self._listeners: list[Callable[[Policy | None], None]] = []
        self.not_ready_reason = "no model loaded"
        self._inference_errors = RefusalLog(_ERROR_LOG_INTERVAL_S)
        self._fallback_no_model = metrics.fallbacks.labels("no_model")
        self._fallback_error = metrics.fallbacks.labels("inference_error")
        self._fallback_non_finite = metrics.fallbacks.labels("non_finite_output")
        metrics.model_loaded.set(0)

    @property
    def policy(self) -> Policy | None:
        """The policy serving now, or ``None`` (fallback only)."""
        return self._policy

    def set_policy(self, policy: Policy | None, action: str = "activate") -> None:
        """Swap the serving policy. Requests in flight finish on the one they started with."""
        old = self._policy
        self._policy = policy  # one reference assignment: atomic
        if old is not None:
            self.metrics.model_info.remove(old.card.model_id, old.card.version, old.sha256)
        if policy is not None:
            self.metrics.model_info.labels(
                policy.card.model_id, policy.card.version, policy.sha256
            ).set(1)
        self.metrics.model_loaded.set(policy is not None)
        self.metrics.model_swaps.labels(action).inc()
        for listener in self._listeners:
            listener(policy)

    def add_listener(self, listener: Callable[[Policy | None], None]) -> None:
        """Call ``listener`` with the new policy (``None``: fallback only) after every swap.

        It runs on the thread that swapped (a REST worker thread for operator
        actions) and must not block.
        """
        self._listeners.append(listener)

    def check_request(self, schema_version: int, num_reports: int) -> None:
        """Refuse a request before its reports are converted.

        Raises:
            InvalidRequest: unknown feature schema version.
            BatchTooLarge: more reports than ``max_batch_size``.

        """
        if schema_version != features.FEATURE_SCHEMA_VERSION:
            raise InvalidRequest(
                f"schema_version {schema_version} is not supported; "
                f"this service speaks {features.FEATURE_SCHEMA_VERSION}",
                field="schema_version",
            )
        if num_reports > self.max_batch_size:
            raise BatchTooLarge(
                f"{num_reports} reports in one request; the limit is {self.max_batch_size}"
            )

    def decide(self, batch: ReportBatch) -> Decisions:
        """Return one decision per report of a validated batch.

        Raises:
            InvalidRequest: a report's BLER target lies outside the active model's
                trained range (nothing else in a valid batch is refused).

        """
        policy = self._policy  # read once: the whole batch is answered by one model
        n = len(batch)
        table: npt.NDArray[np.int64] = np.asarray(batch.mcs_table, dtype=np.int64)
        if policy is None:
            self._fallback_no_model.inc(n)
            return self._all_fallback(batch, table)
        batch = self.with_targets(batch, policy)
        try:
            mcs, answered = policy.choose(features.observe(batch), table)
        except Exception:  # any inference failure: every UE still gets a decision
            self._log_inference_error(policy)
            self._fallback_error.inc(n)
            return self._all_fallback(batch, table)
        counts = self.metrics.decisions
        if answered.all():
            counts.model += n
        else:
            bad = ~answered
            mcs = np.where(bad, fallback_mcs(batch.cqi, table, self.fallback_backoff), mcs)
            refused = int(bad.sum())
            self._fallback_non_finite.inc(refused)
            counts.fallback += refused
            counts.model += n - refused
        return Decisions(mcs, table, answered, policy.card.model_id, policy.card.version)

    def decide_one(self, report: Any) -> tuple[int, int, int, str, str] | None:
        """Decide one ``UeReport``'s MCS: ``(ue_id, mcs, table, model_id, version)``.

        The one-UE path (:mod:`xapp.single_ue`): Python scalars from the message to
        the model and back, the same decision as :meth:`decide` on its batch.
        ``None`` (nothing counted, nothing changed) when :meth:`decide` must
        answer: no model, a report that is not plainly valid, or non-finite Q-values.
        """
        policy = self._policy
        if policy is None:
            return None
        observed = observe_one(report, self._default_target, policy.card.target_bounds)
        if observed is None:
            return None
        row, table, ue_id = observed
        try:
            q = policy.q_row(row)
        except Exception:  # decide() falls back and logs
            return None
        mcs = first_best(q, table)
        if mcs is None:
            return None
        self.metrics.decisions.model += 1
        card = policy.card
        return ue_id, mcs, table, card.model_id, card.version

    def with_targets(self, batch: ReportBatch, policy: Policy) -> ReportBatch:
        """Return ``batch`` with the default BLER target where a report has none.

        Raises:
            InvalidRequest: the first report whose target lies outside ``policy``'s
                trained range, naming ``target_bler``, the range and the target.

        """
        targets = batch.target_bler
        absent = np.isnan(targets)
        if absent.any():
            # The default lies in the range of every model the registry lets serve, so
            # checking the filled column checks the sent targets (and none is left when
            # no report sent one: the common case of a service without per-UE targets).
            if absent.all():
                return batch.with_columns(target_bler=np.full(len(targets), self._default_target))
            targets = np.where(absent, self._default_target, targets)
            batch = batch.with_columns(target_bler=targets)
        # Targets are float32 values on every path, and so are the bounds. Two reductions
        # answer the common case; only a refusal looks for the first offender.
        low, high = policy.card.target_bounds
        if not (targets.min(initial=low) >= low and targets.max(initial=high) <= high):
            ue = int(np.flatnonzero((targets < low) | (targets > high))[0])
            raise InvalidRequest(
                f"reports[{ue}].target_bler: outside the active model's trained range "
                f"{policy.card.describe_range()}, got {np.float32(targets[ue])!s}",
                field="target_bler", ue_index=ue)
        return batch

    def _all_fallback(self, batch: ReportBatch, table: npt.NDArray[np.int64]) -> Decisions:
        n = len(batch)
        self.metrics.decisions.fallback += n
        mcs = fallback_mcs(batch.cqi, table, self.fallback_backoff)
        return Decisions(mcs, table, np.zeros(n, dtype=bool), "", "")

    def _log_inference_error(self, policy: Policy) -> None:
        if self._inference_errors.due("inference", "error") is not None:
            log.exception("inference failed on model %s; answering with the fallback rule",
                          policy.card.key)
