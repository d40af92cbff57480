"""The optimized `features.observe` / `features.validate` against plain reference versions.

`observe` is written with as few numpy calls as possible because it runs on every
decision; the reference below is the one-column-at-a-time definition of the
feature table (the code `observe` had before it was optimized). They must agree
bit for bit. `validate` first runs a few vectorized checks over all columns; the
field-by-field search has the last word, so the quick check must never accept a
batch that the search refuses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xapp import features, nr_tables, report_batch
from xapp.columns import COLUMNS
from xapp.features import HARQ_HISTORY, NUM_FEATURES, ReportBatch
from xapp.report_fields import CQI_HISTORY


def reference_observe(batch: ReportBatch) -> np.ndarray:
    """The feature table, one column at a time; logarithms in float64 whatever the dtype."""
    def f64(column: np.ndarray) -> np.ndarray:  # numpy's log2 of uint8 runs in float16
        return column.astype(np.float64)

    n = len(batch)
    table_row = batch.mcs_table - 1
    cqi_mcs = nr_tables.CQI_TO_MCS[table_row, batch.cqi]
    obs = np.empty((n, NUM_FEATURES), dtype=np.float32)
    obs[:, 0] = batch.cqi
    obs[:, 1] = nr_tables.CQI_EFFICIENCY[table_row, batch.cqi]
    obs[:, 2] = cqi_mcs
    obs[:, 3] = np.log1p(f64(batch.cqi_age))
    obs[:, 4] = batch.mcs_table == nr_tables.QAM256
    obs[:, 5] = batch.rank
    has_sinr = ~np.isnan(batch.ss_sinr_db)
    obs[:, 6] = np.where(has_sinr, batch.ss_sinr_db, 10.0)
    obs[:, 7] = has_sinr
    has_rsrp = ~np.isnan(batch.ss_rsrp_dbm)
    obs[:, 8] = np.where(has_rsrp, batch.ss_rsrp_dbm, -100.0)
    obs[:, 9] = has_rsrp
    obs[:, 10] = np.log10(1.0 + batch.buffer_bytes)
    has_last = batch.last_mcs >= 0
    obs[:, 11] = np.where(has_last, batch.last_mcs - cqi_mcs, 0)
    obs[:, 12] = has_last
    obs[:, 13] = batch.tb_errors / np.maximum(batch.tb_total, 1)
    obs[:, 14] = np.log1p(f64(batch.tb_total))
    h = HARQ_HISTORY
    valid = batch.harq_mcs >= 0
    obs[:, 15 : 15 + h] = np.where(valid, 2 * batch.harq_ack - 1, 0)
    obs[:, 15 + h : 15 + 2 * h] = np.where(valid, batch.harq_mcs - cqi_mcs[:, None], 0)
    obs[:, 15 + 2 * h : 15 + 3 * h] = np.log1p(np.where(valid, batch.harq_age, 1000.0))
    obs[:, 39] = np.log2(f64(batch.tx_antennas))
    obs[:, 40] = batch.numerology
    obs[:, 41] = np.log2(f64(batch.csi_period))
    obs[:, 42] = np.log1p(f64(batch.prbs))
    obs[:, 43] = np.log(f64(batch.target_bler))
    return obs


@st.composite
def valid_batches(draw: Any, max_size: int = 64) -> ReportBatch:
    """Valid batches of 1..max_size UEs, with the edge values of every column."""
    n = draw(st.integers(1, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def pick(values: Any, size: Any = n) -> np.ndarray:
        return rng.choice(np.asarray(values), size)

    table = rng.integers(1, 3, n)
    max_mcs = nr_tables.MAX_MCS[table - 1]
    used = np.arange(HARQ_HISTORY) < rng.integers(0, HARQ_HISTORY + 1, n)[:, None]
    shape = (n, HARQ_HISTORY)
    history = (n, CQI_HISTORY)
    held = np.arange(CQI_HISTORY) < rng.integers(0, CQI_HISTORY + 1, n)[:, None]
    tb_total = pick([0, 1, 7, 100, 1_000_000])
    floats = np.concatenate([rng.uniform(-200, 200, 8), [0.0, -0.0, 1e-30, 3.4e38, np.nan]])
    batch = ReportBatch(
        mcs_table=table,
        cqi=rng.integers(0, 16, n),
        cqi_age=pick([0, 1, 2, 5, 40, 999, 1_000_000]),
        rank=rng.integers(1, 9, n),
        harq_ack=np.where(used, rng.integers(0, 2, shape), -1),
        harq_mcs=np.where(used, rng.integers(0, 29, shape) % (max_mcs[:, None] + 1), -1),
        harq_age=np.where(used, pick([0, 1, 3, 17, 999, 1_000_000], shape), -1),
        harq_initial=np.where(used, rng.integers(0, 2, shape), -1),
        tb_total=tb_total,
        tb_errors=(tb_total * rng.uniform(0, 1, n)).astype(np.int64),
        last_mcs=np.where(rng.uniform(size=n) < 0.8, rng.integers(0, 29, n) % (max_mcs + 1), -1),
        ss_sinr_db=pick(floats),
        ss_rsrp_dbm=pick(floats),
        buffer_bytes=pick([0.0, 1.0, 1500.0, 1e7, 2.0**63]),
        prbs=pick([1, 2, 52, 273, 275]),
        tx_antennas=pick([1, 2, 3, 4, 8, 16, 32, 63, 64]),
        numerology=rng.integers(0, 5, n),
        csi_period=pick(features.CSI_PERIODS_SLOTS),
        # observe needs the target filled in; the edges, float32 values (the wire's) and not
        target_bler=pick([1e-30, 1e-6, 0.01, np.float32(0.02), 0.1, 0.3, 0.5,
                          1 - 2.0**-24, *np.exp(rng.uniform(np.log(1e-3), np.log(0.999), 4))]),
        cqi_history_cqi=np.where(held, rng.integers(0, 16, history), -1),
        cqi_history_age=np.where(held, pick([0, 1, 9, 40, 999, 1_000_000], history), -1),
    )
    dtypes = draw(st.sampled_from(["int64", "simulator", "wire", "int8 ages"]))
    if dtypes == "simulator":  # small ints for the HARQ history
        batch = ReportBatch(**{**_columns(batch),
                               **{k: getattr(batch, k).astype(np.int8)
                                  for k in ("harq_ack", "harq_mcs", "harq_initial")}})
    elif dtypes == "wire":  # what xapp.columns.decode_columns hands over
        batch = ReportBatch(**{**_columns(batch),
                               **{c.batch_name: getattr(batch, c.batch_name).astype(c.wire)
                                  for c in COLUMNS if c.wire.kind in "iu"},
                               "target_bler": batch.target_bler.astype(np.float32)
                               .astype(np.float64)})
    elif dtypes == "int8 ages":  # np.where must not wrap the absent age (1000) into int8
        ages = np.minimum(batch.harq_age, 127).astype(np.int8)
        batch = ReportBatch(**{**_columns(batch), "harq_age": ages})
    return batch


def _columns(batch: ReportBatch) -> dict[str, Any]:
    return {name: getattr(batch, name) for name in batch.__slots__}  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_batches())
def test_observe_is_bit_identical_to_the_reference(batch: ReportBatch) -> None:
    features.validate(batch)
    got, want = features.observe(batch), reference_observe(batch)
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_batches(max_size=1200))
def test_observe_of_large_batches_is_bit_identical(batch: ReportBatch) -> None:
    """Large batches take another route (feature rows first, one transpose)."""
    assert features.observe(batch).tobytes() == reference_observe(batch).tobytes()


@settings(max_examples=50, deadline=None)
@given(valid_batches(max_size=8))
def test_observe_on_strided_views_matches(batch: ReportBatch) -> None:
    """The proto converter hands out columns as views of one table: same result."""
    strided = ReportBatch(**{name: np.repeat(np.asarray(value)[:, None], 3, axis=1)[:, 1]
                             if np.asarray(value).ndim == 1 else value
                             for name, value in _columns(batch).items()})
    assert features.observe(strided).tobytes() == reference_observe(batch).tobytes()


_HARQ = ("harq_ack", "harq_mcs", "harq_age", "harq_initial")
# (column, bad values) that the quick check has to catch.
_BREAKS: list[tuple[str, list[Any]]] = [
    ("mcs_table", [0, 3, -1]),
    ("cqi", [-1, 16, 2**40]),
    ("cqi_age", [-1, 1_000_001]),
    ("rank", [0, 9]),
    ("tb_total", [-1, 1_000_001]),
    ("tb_errors", [-1, 1_000_001]),
    ("last_mcs", [-2, 29]),
    ("prbs", [0, 276]),
    ("tx_antennas", [0, 65]),
    ("numerology", [-1, 5]),
    ("csi_period", [0, 3, 7, 321, 6]),
    ("ss_sinr_db", [np.inf, -np.inf]),
    ("ss_rsrp_dbm", [np.inf]),
    ("buffer_bytes", [-1.0, np.nan, np.inf]),
    ("target_bler", [0.0, -0.0, -0.1, 1.0, 1.5, np.inf, -np.inf]),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_batches(max_size=16), st.data())
def test_quick_check_never_accepts_a_bad_batch(batch: ReportBatch, data: Any) -> None:
    columns = {k: np.array(v, copy=True) for k, v in _columns(batch).items()}
    n = len(batch)
    ue = data.draw(st.integers(0, n - 1))
    kind = data.draw(st.sampled_from(["column", "harq", "tb_errors", "last_mcs_table2",
                                      "harq_mcs_table2", "cqi_history"]))
    if kind == "column":
        name, values = data.draw(st.sampled_from(_BREAKS))
        column = columns[name].astype(np.float64 if name.startswith(("ss_", "buffer", "target"))
                                      else np.int64)
        column[ue] = data.draw(st.sampled_from(values))
        columns[name] = column
    elif kind == "harq":
        k = data.draw(st.integers(0, HARQ_HISTORY - 1))
        field, value = data.draw(st.sampled_from([
            ("harq_mcs", -2), ("harq_mcs", 29), ("harq_age", -1), ("harq_ack", 2),
            ("harq_ack", -1)]))
        dtypes = {name: columns[name].dtype for name in _HARQ}
        for name in _HARQ:
            columns[name] = columns[name].astype(np.int64)
        columns["harq_mcs"][ue, k] = 3 if field != "harq_mcs" else value
        columns["harq_ack"][ue, k] = 1
        columns["harq_age"][ue, k] = 0
        columns[field][ue, k] = value
        if data.draw(st.booleans()):  # back to the batch's own dtypes (the values fit)
            columns.update({name: columns[name].astype(dtypes[name]) for name in _HARQ})
    elif kind == "harq_mcs_table2":  # MCS 28 exists in the 64QAM table only
        k = data.draw(st.integers(0, HARQ_HISTORY - 1))
        columns["mcs_table"][ue] = nr_tables.QAM256
        columns["harq_mcs"][ue, k] = 28
        columns["harq_ack"][ue, k] = 1
        columns["harq_age"][ue, k] = 0
    elif kind == "cqi_history":
        k = data.draw(st.integers(0, CQI_HISTORY - 1))
        field, value = data.draw(st.sampled_from([
            ("cqi_history_cqi", -2), ("cqi_history_cqi", 16), ("cqi_history_age", -1)]))
        for name in ("cqi_history_cqi", "cqi_history_age"):
            columns[name] = columns[name].astype(np.int64)
        columns["cqi_history_cqi"][ue, k] = 7
        columns["cqi_history_age"][ue, k] = 3
        columns[field][ue, k] = value
    elif kind == "tb_errors":
        columns["tb_total"][ue] = 5
        columns["tb_errors"][ue] = 6
    else:
        columns["mcs_table"][ue] = nr_tables.QAM256
        columns["last_mcs"][ue] = 28
    bad = ReportBatch(**columns)
    with pytest.raises(features.ReportError) as quick:
        features.validate(bad)
    with pytest.raises(features.ReportError) as thorough:
        report_batch._raise_first_problem(bad)
    assert (quick.value.field, quick.value.ue_index) == \
        (thorough.value.field, thorough.value.ue_index)
    assert not report_batch._looks_valid(bad)


def test_large_wire_batches_look_up_every_small_column_value() -> None:
    """tx antennas, CSI period and PRBs of a large wire batch come from tables: every value."""
    from xapp.model_check import probe_batch

    n = 1100
    base = probe_batch(n, np.random.default_rng(7))
    batch = ReportBatch(**{
        **{c.batch_name: getattr(base, c.batch_name).astype(c.wire)
           for c in COLUMNS if c.wire.kind in "iu"},
        **{name: getattr(base, name)
           for name in ("ss_sinr_db", "ss_rsrp_dbm", "buffer_bytes", "target_bler")},
        "tx_antennas": (np.arange(n) % features.MAX_TX_ANTENNAS + 1).astype(np.uint8),
        "csi_period": np.resize(features.CSI_PERIODS_SLOTS, n).astype(np.uint16),
        "prbs": (np.arange(n) % features.MAX_PRBS + 1).astype(np.uint16),
    })
    features.validate(batch)
    assert features.observe(batch).tobytes() == reference_observe(batch).tobytes()
