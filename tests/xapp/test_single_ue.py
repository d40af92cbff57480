"""The one-UE scalar path must agree with the column path bit for bit, or step aside."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import mlp_bytes, report
from google.protobuf import json_format
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xapp import features, single_ue
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.core import DecisionCore
from xapp.errors import InvalidRequest
from xapp.metrics import Metrics
from xapp.model_check import Limits, check_model, probe_batch
from xapp.policy import OBSERVATION_ROW
from xapp.proto_reports import batch_from_protos
from xapp.report_fields import CQI_HISTORY, float32
from xapp.single_ue import observe_one

_BAD: list[tuple[str, Any]] = [
    ("mcs_table", 3), ("wideband_cqi", 16), ("cqi_age_slots", 1_000_001), ("rank_indicator", 0),
    ("rank_indicator", 9), ("tb_initial_errors", 31), ("last_mcs", 29), ("ss_sinr_db", "NaN"),
    ("ss_sinr_db", "Infinity"), ("ss_rsrp_dbm", "-Infinity"), ("allocated_prbs", 0),
    ("allocated_prbs", 276), ("num_tx_antennas", 65), ("numerology", 5),
    ("csi_period_slots", 7), ("csi_period_slots", 0), ("tb_initial_total", 1_000_001),
    ("target_bler", 0.0), ("target_bler", -0.1), ("target_bler", 1.0), ("target_bler", 1.5),
    ("target_bler", "NaN"), ("target_bler", "Infinity"),
    ("target_bler", 0.5), ("target_bler", 0.005),  # BLERs outside the model's trained range
]


@st.composite
def reports(draw: Any) -> pb.UeReport:
    """Reports at the edges of every range, sometimes with one field absent or broken."""
    def pick(*values: Any) -> Any:
        return draw(st.sampled_from(values))

    table = pick(1, 2)
    top = 28 if table == 1 else 27
    harq = [{"ack": draw(st.booleans()), "mcs": pick(0, 1, 13, top),
             "age_slots": pick(0, 1, 7, 999, 1_000_000), "initial": draw(st.booleans())}
            for _ in range(draw(st.integers(0, 8)))]
    history = [{"cqi": pick(0, 1, 9, 15), "age_slots": pick(0, 1, 40, 1_000_000)}
               for _ in range(draw(st.integers(0, CQI_HISTORY)))]
    total = pick(0, 1, 30, 1_000_000)
    record = report(
        ue_id=draw(st.integers(0, 2**64 - 1)),
        mcs_table=table,
        wideband_cqi=pick(0, 1, 9, 15),
        cqi_age_slots=pick(0, 1, 5, 999, 1_000_000),
        rank_indicator=pick(1, 2, 8),
        tb_initial_total=total,
        tb_initial_errors=min(total, pick(0, 1, 3, 30)),
        last_mcs=pick(0, 1, 13, top),
        ss_sinr_db=pick(0.0, -5.25, 12.5, 33.0, -1e-3),
        ss_rsrp_dbm=pick(0.0, -85.0, -140.5),
        buffer_bytes=pick(0, 1, 120_000, 2**63, 2**64 - 1),
        allocated_prbs=pick(1, 52, 275),
        num_tx_antennas=pick(1, 4, 64),
        numerology=pick(0, 1, 4),
        csi_period_slots=pick(4, 5, 20, 320),
        target_bler=pick(0.01, 0.02, 0.1, 0.3, 0.123456789),
        harq=harq,
        cqi_history=history,
    )
    for name in ("last_mcs", "ss_sinr_db", "ss_rsrp_dbm", "target_bler"):
        if draw(st.booleans()):
            del record[name]
    mishap = draw(st.integers(0, 10))
    if mishap == 0:  # a required field absent
        del record[pick("wideband_cqi", "numerology", "buffer_bytes", "mcs_table",
                        "tb_initial_errors")]
    elif mishap == 1 and harq:  # a HARQ entry incomplete, or one entry too many
        entry = harq[draw(st.integers(0, len(harq) - 1))]
        del entry[pick("ack", "mcs", "age_slots", "initial")]
        if len(harq) == 8 and draw(st.booleans()):
            harq.append(dict(harq[0]))
    elif mishap == 3 and history:  # a CQI history entry incomplete or out of range, or one too many
        entry = history[draw(st.integers(0, len(history) - 1))]
        change = pick("no cqi", "no age", "cqi 16", "one too many")
        if change == "cqi 16":
            entry["cqi"] = 16
        elif change == "one too many":
            history.extend([dict(entry)] * (CQI_HISTORY + 1 - len(history)))
        else:
            del entry["cqi" if change == "no cqi" else "age_slots"]
    elif mishap == 2:
        if table == 2 and draw(st.booleans()):  # MCS 28 exists in the 64QAM table only
            if harq and draw(st.booleans()):
                harq[-1]["mcs"] = 28
            else:
                record["last_mcs"] = 28
        else:
            name, value = pick(*_BAD)
            record[name] = value
    return json_format.ParseDict(record, pb.UeReport())


@pytest.fixture(scope="module")
def core() -> DecisionCore:
    core = DecisionCore(Metrics())
    core.set_policy(check_model(mlp_bytes(hidden=(32, 32, 32), seed=3),
                                Limits(latency_budget_us=None)))
    return core


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(reports())
def test_scalar_path_agrees_with_the_column_path(core: DecisionCore, message: pb.UeReport) -> None:
    try:
        ue_ids, batch = batch_from_protos([message])
        assert core.policy is not None
        filled = core.with_targets(batch, core.policy)
    except (features.ReportError, InvalidRequest):
        event("invalid report")
        assert _observe_one(core, message) is None  # the column path names the error
        assert core.decide_one(message) is None
        return
    event("valid report")
    observed = _observe_one(core, message)
    assert observed is not None, "a valid report left to the column path"
    row, table, ue_id = observed
    assert OBSERVATION_ROW.pack(*row) == features.observe(filled).tobytes()
    assert (table, ue_id) == (int(batch.mcs_table[0]), int(ue_ids[0]))
    general = core.decide(batch)
    assert core.decide_one(message) == (ue_id, int(general.mcs[0]), table, general.model_id,
                                        general.model_version)


def _observe_one(core: DecisionCore, message: pb.UeReport) -> Any:
    assert core.policy is not None
    return observe_one(message, float32(core.default_target_bler),
                       core.policy.card.target_bounds)


def test_an_absent_target_is_the_default_and_the_range_ends_are_in() -> None:
    core = DecisionCore(Metrics(), default_target_bler=0.02)
    core.set_policy(check_model(mlp_bytes(hidden=(32, 32, 32), seed=3),
                                Limits(latency_budget_us=None)))
    rows = {}
    for target in (None, 0.02, 0.01, 0.3):
        record = report() if target is None else report(target_bler=target)
        message = json_format.ParseDict(record, pb.UeReport())
        observed = _observe_one(core, message)
        assert observed is not None
        rows[target] = observed[0]
        batch = core.with_targets(batch_from_protos([message])[1], core.policy)
        assert OBSERVATION_ROW.pack(*observed[0]) == features.observe(batch).tobytes()
    assert rows[None] == rows[0.02]
    assert np.float32(rows[0.3][-1]) == np.float32(np.log(np.float64(np.float32(0.3))))


def test_log_rounds_to_numpys_float32() -> None:
    rng = np.random.default_rng(6)
    values = np.concatenate([np.exp(rng.uniform(np.log(1e-6), 0.0, 50_000)),
                             np.float32([0.01, 0.02, 0.1, 0.3]).astype(np.float64)])
    got = np.array([single_ue._log(v) for v in values.tolist()], dtype=np.float32)
    assert got.tobytes() == np.log(values).astype(np.float32).tobytes()


def test_steps_aside_without_a_model_or_with_non_finite_q_values(core: DecisionCore) -> None:
    message = json_format.ParseDict(report(), pb.UeReport())
    assert DecisionCore(Metrics()).decide_one(message) is None
    nan_core = DecisionCore(Metrics())
    policy = check_model(mlp_bytes(), Limits(latency_budget_us=None))
    object.__setattr__(policy, "_single_row", None)
    object.__setattr__(policy, "session", _NanSession())
    nan_core.set_policy(policy)
    assert nan_core.decide_one(message) is None
    assert not nan_core.decide(batch_from_protos([message])[1]).from_model.any()
    assert nan_core.metrics.decisions.model == 0


class _NanSession:
    def run(self, names, feeds):
        return [np.full((feeds["observation"].shape[0], 29), np.nan, np.float32)]


def test_tables_hold_what_observe_computes() -> None:
    """Every tabled logarithm equals the column path's value for that input."""
    n = single_ue._TABLE_SIZE
    base = probe_batch(n, np.random.default_rng(0))
    small = np.arange(n)
    batch = features.ReportBatch(**{
        **{name: getattr(base, name) for name in base.__slots__},
        "cqi_age": small, "tb_total": small, "tb_errors": np.zeros(n, dtype=np.int64),
        "buffer_bytes": np.maximum(small - 1.0, 0.0),
        "harq_age": np.where(base.harq_mcs >= 0, small[:, None], -1)})
    observed = features.observe(batch)
    as_float32 = np.float32
    assert np.array_equal(observed[:, 3], as_float32(single_ue._LOG1P))
    assert np.array_equal(observed[:, 14], as_float32(single_ue._LOG1P))
    assert np.array_equal(observed[1:, 10], as_float32(single_ue._LOG10[1:]))
    used = base.harq_mcs[:, 0] >= 0
    assert np.array_equal(observed[used, 31], as_float32(single_ue._LOG1P)[used])


def _log10_cases() -> np.ndarray:
    rng = np.random.default_rng(5)
    large = np.floor(np.exp(rng.uniform(np.log(4096), np.log(2.0**64), 50_000))) + 1.0
    return np.concatenate([np.arange(1.0, 5000.0), large, [2.0**63 + 1.0, 2.0**64]])


def test_log10_rounds_to_numpys_float32() -> None:
    values = _log10_cases()
    got = np.array([single_ue._log10(v) for v in values.tolist()], dtype=np.float32)
    assert got.tobytes() == np.log10(values).astype(np.float32).tobytes()


def test_log10_leaves_values_near_a_float32_boundary_to_numpy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(single_ue, "_GUARD", 0.25)  # now every large value is "near"
    values = _log10_cases()[::50]
    got = np.array([single_ue._log10(v) for v in values.tolist()], dtype=np.float64)
    assert got.tobytes() == np.log10(values).tobytes()  # numpy's float64, not Python's


@pytest.mark.parametrize("table", ["MCS_TABLE_QAM64", "MCS_TABLE_QAM256"])
def test_ties_and_mcs_28_are_decided_like_the_column_path(table: str) -> None:
    bias = np.zeros(29)
    bias[[3, 7]] = 2.0  # tied maxima: the first wins
    bias[28] = 5.0  # the best, but valid in the 64QAM table only
    tied = DecisionCore(Metrics())
    tied.set_policy(check_model(mlp_bytes(out_bias=bias), Limits(latency_budget_us=None)))
    message = json_format.ParseDict(report(mcs_table=table), pb.UeReport())
    one = tied.decide_one(message)
    assert one is not None and one[1] == (28 if table == "MCS_TABLE_QAM64" else 3)
    assert one[1] == int(tied.decide(batch_from_protos([message])[1]).mcs[0])
