"""Admission checks a model passes before it can be stored or activated.

In order, cheapest first: size limit, ONNX parse and checker, model card, input
and output names/types/shapes, ONNX Runtime load, a probe batch with finite
outputs, and a latency budget for one batch-1 inference.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnx

from xapp import features, nr_tables
from xapp.defaults import DEFAULT_LATENCY_BUDGET_US, DEFAULT_MAX_MODEL_BYTES
from xapp.errors import ModelRejected, ModelTooLarge
from xapp.model_card import INPUT_NAME, OUTPUT_NAME, ModelCardError, load_model, read_model_card
from xapp.policy import Policy
from xapp.report_batch import ReportBatch
from xapp.report_fields import CQI_HISTORY, FIELDS, Kind, ReportField

_PROBE_ROWS: Final = 64
_LATENCY_WARMUP: Final = 5
_LATENCY_RUNS: Final = 200


@dataclass(frozen=True, slots=True)
class Limits:
    """What a model must fit into.

    Attributes:
        max_bytes: largest accepted ONNX file.
        latency_budget_us: largest accepted median batch-1 inference time;
            ``None`` skips the latency check (used when reloading a stored model).
        default_target_bler: the service's target for reports without one, which the
            model card's ``target_bler_range`` must include; ``None`` checks no target.

    """

    max_bytes: int = DEFAULT_MAX_MODEL_BYTES
    latency_budget_us: float | None = DEFAULT_LATENCY_BUDGET_US
    default_target_bler: float | None = None


PROBE_TARGET_RANGE: Final = (0.01, 0.3)
"""BLER targets of :func:`probe_batch` unless told: the range today's models are trained
for (``training.sim.config.TRAINED_TARGET_BLER``)."""


def probe_batch(n: int, rng: np.random.Generator,
                target_range: tuple[float, float] = PROBE_TARGET_RANGE) -> ReportBatch:
    """Return ``n`` random, valid reports spanning both MCS tables and all CQIs.

    Every report carries a BLER target, log-uniform in ``target_range`` (as
    :func:`xapp.features.observe` needs it: filled in), and 0 to
    :data:`~xapp.report_fields.CQI_HISTORY` earlier CQI reports, each older than the last.
    """
    table = rng.integers(1, 3, n)
    max_mcs = nr_tables.max_mcs(table)
    harq_len = rng.integers(0, features.HARQ_HISTORY + 1, n)
    used = np.arange(features.HARQ_HISTORY) < harq_len[:, None]
    harq_mcs = np.where(
        used, rng.integers(0, 28, (n, features.HARQ_HISTORY)) % (max_mcs[:, None] + 1), -1
    )
    tb_total = rng.integers(0, 101, n)
    columns = dict(
        mcs_table=table,
        cqi=rng.integers(0, 16, n),
        cqi_age=rng.integers(0, 400, n),
        rank=rng.integers(1, 5, n),
        harq_ack=np.where(used, rng.integers(0, 2, (n, features.HARQ_HISTORY)), -1),
        harq_mcs=harq_mcs,
        harq_age=np.where(used, rng.integers(0, 50, (n, features.HARQ_HISTORY)), -1),
        harq_initial=np.where(used, rng.integers(0, 2, (n, features.HARQ_HISTORY)), -1),
        tb_total=tb_total,
        tb_errors=(tb_total * rng.uniform(0, 1, n)).astype(np.int64),
        last_mcs=np.where(rng.uniform(size=n) < 0.9, rng.integers(0, 28, n) % (max_mcs + 1), -1),
        ss_sinr_db=np.where(rng.uniform(size=n) < 0.8, rng.uniform(-10, 35, n), np.nan),
        ss_rsrp_dbm=np.where(rng.uniform(size=n) < 0.8, rng.uniform(-130, -60, n), np.nan),
        buffer_bytes=rng.integers(0, 10**7, n).astype(np.float64),
        prbs=rng.integers(1, 274, n),
        tx_antennas=rng.choice([1, 2, 4, 8, 32, 64], n),
        numerology=rng.integers(0, 4, n),
        csi_period=rng.choice(features.CSI_PERIODS_SLOTS, n),
    )
    for field in FIELDS:  # a field added to the table is probed over its whole range
        if field.name not in columns and field.kind is not Kind.CQI_HISTORY:
            columns[field.name] = _draw(field, rng, max_mcs)
    # Drawn last, so that the other columns keep the values they had before the target.
    # float32 values, as the wire carries them: every path then reads the same number.
    low, high = np.log(target_range)
    targets = np.exp(rng.uniform(low, high, n)).clip(*target_range)
    columns["target_bler"] = targets.astype(np.float32).astype(np.float64)
    # Drawn after the target for the same reason: 0 to CQI_HISTORY earlier CSI reports.
    history = CQI_HISTORY
    held = np.arange(history) < rng.integers(0, history + 1, n)[:, None]
    columns["cqi_history_cqi"] = np.where(held, rng.integers(0, 16, (n, history)), -1)
    ages = columns["cqi_age"][:, None] + rng.integers(1, 200, (n, history)).cumsum(axis=1)
    columns["cqi_history_age"] = np.where(held, ages, -1)
    return ReportBatch(**columns)


def _draw(field: ReportField, rng: np.random.Generator,
          max_mcs: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """Return valid random values of a report field, one per report.

    An optional field is absent in about a fifth of them; ``max_mcs`` is the best
    allowed MCS of each report's table.
    """
    n = len(max_mcs)
    if field.kind is Kind.CHOICE:
        return rng.choice(field.choices, n)
    if field.kind is Kind.MEASUREMENT:
        # float32 values, as the proto carries them: every path then reads the same number
        measured = rng.normal(0.0, 10.0, n).astype(np.float32)
        return np.where(rng.uniform(size=n) < 0.8, measured, np.nan)
    values = rng.integers(field.low, field.high, n, endpoint=True)
    if field.kind is Kind.MCS:
        return np.where(rng.uniform(size=n) < 0.8, values % (max_mcs + 1), -1)
    return values.astype(np.float64) if field.is_float else values


def check_model(data: bytes, limits: Limits, origin: str = "store") -> Policy:
    """Run every admission check on serialized ONNX ``data``; return the loaded policy.

    Raises:
        ModelTooLarge: above ``limits.max_bytes``.
        ModelRejected: any other failed check, with the reason.

    """
    if len(data) > limits.max_bytes:
        raise ModelTooLarge(
            f"model is {len(data)} bytes, the limit is {limits.max_bytes} bytes"
        )
    try:
        model = load_model(data)
        card = read_model_card(model)
    except ModelCardError as exc:
        raise ModelRejected(str(exc)) from None
    target = limits.default_target_bler
    if target is not None and not card.serves_target(target):
        raise ModelRejected(
            f"model card: target_bler_range {card.describe_range()} does not include the "
            f"service's default_target_bler {target:g} (reports without a target get it); "
            f"serve a model trained for it or configure another default")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelRejected(f"ONNX checker: {str(exc).splitlines()[0]}") from None
    check_signature(model)
    try:
        policy = Policy.load(data, card, hashlib.sha256(data).hexdigest(), origin)
    except Exception as exc:  # ORT raises several unrelated types
        raise ModelRejected(f"ONNX Runtime cannot load the model: {exc}") from None
    check_probe(policy.q_values, card.target_bler_range)
    if limits.latency_budget_us is not None:
        _check_latency(policy, limits.latency_budget_us)
    return policy


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    initializers = {init.name for init in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def check_signature(model: onnx.ModelProto) -> None:
    """Check the one float32 input and output a policy model must have, and their widths.

    Raises:
        ModelRejected: naming the input or output and what it must be.

    """
    inputs = _graph_inputs(model)
    _check_tensor(inputs, "input", INPUT_NAME, features.NUM_FEATURES, "features")
    _check_tensor(list(model.graph.output), "output", OUTPUT_NAME, nr_tables.NUM_ACTIONS,
                  "Q-values, one per MCS index")


def _check_tensor(
    values: list[onnx.ValueInfoProto], role: str, name: str, width: int, what: str
) -> None:
    names = [v.name for v in values]
    if names != [name]:
        raise ModelRejected(f"model must have exactly one {role} named {name!r}, has {names}")
    tensor = values[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        dtype = onnx.TensorProto.DataType.Name(tensor.elem_type)
        raise ModelRejected(f"{role} {name!r} must be float32, is {dtype}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) != 2 or dims[1] != width:
        shown = ["batch" if d is None else d for d in dims]
        raise ModelRejected(f"{role} {name!r} must have shape [batch, {width}] ({width} {what}), "
                            f"has {shown}")


def check_probe(q_values: Callable[[npt.NDArray[np.float32]], Any],
                target_range: tuple[float, float] = PROBE_TARGET_RANGE) -> None:
    """Run probe batches of valid reports through ``q_values`` (observations -> scores).

    The reports' BLER targets lie in ``target_range`` (the model card's).

    Raises:
        ModelRejected: inference fails, or a batch of ``n`` does not give finite
            scores of shape ``[n, 29]``.

    """
    rng = np.random.default_rng(0)
    for n in (1, _PROBE_ROWS):
        obs = features.observe(probe_batch(n, rng, target_range))
        try:
            q = q_values(obs)
        except Exception as exc:  # ORT raises several unrelated types
            raise ModelRejected(f"inference on a probe batch failed: {exc}") from None
        if np.shape(q) != (n, nr_tables.NUM_ACTIONS):
            raise ModelRejected(
                f"output {OUTPUT_NAME!r} has shape {list(np.shape(q))} for a batch of {n}, "
                f"needs [{n}, {nr_tables.NUM_ACTIONS}]"
            )
        if not np.isfinite(q).all():
            raise ModelRejected("model gives non-finite outputs (NaN or inf) on a probe batch")


def _check_latency(policy: Policy, budget_us: float) -> None:
    obs: npt.NDArray[np.float32] = features.observe(probe_batch(1, np.random.default_rng(1)))
    for _ in range(_LATENCY_WARMUP):
        policy.q_values(obs)
    times = np.empty(_LATENCY_RUNS)
    deadline = time.perf_counter() + 0.5  # a hopeless model should not stall the upload
    for i in range(_LATENCY_RUNS):
        start = time.perf_counter()
        policy.q_values(obs)
        times[i] = time.perf_counter() - start
        if start > deadline:
            times = times[: i + 1]
            break
    median_us = float(np.median(times)) * 1e6
    if median_us > budget_us:
        raise ModelRejected(
            f"model too slow: median batch-1 inference {median_us:.0f} us, "
            f"budget {budget_us:.0f} us"
        )
