"""Requests carrying one UE, decided with Python scalars instead of numpy columns.

Each numpy call costs ~0.5 us hot and two to three times that when the CPU idled
since the last request (which is how a gNB's one-UE slots arrive): the column
path (convert, :func:`xapp.features.validate`, :func:`xapp.features.observe`,
argmax) spends ~100 such calls on one UE. Here the report's values stay Python
scalars; only the logarithms are numpy calls, one per function over all its
arguments, so they run the very ufunc loops (float64) that ``observe`` runs and
the observation is bit-identical (``tests/xapp/test_single_ue.py`` compares the
two on random reports, and the decisions too).

Anything unusual is left to the column path, which has the last word: a field
absent or out of range (the column path names it in its error), non-finite
Q-values (the column path falls back per UE), no model. :func:`decide_one`
returns ``None`` for those, having changed nothing.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from xapp import features, nr_tables
from xapp.core import DecisionCore
from xapp.features import CSI_PERIODS_SLOTS, HARQ_HISTORY
from xapp.proto_reports import _READ, _READ_HARQ, _REQUIRED

_RANGES: Final = tuple((lo, hi) for _, _, lo, hi in features._REQUIRED_INT_FIELDS)
_REQUIRED_NAMES: Final = tuple(name for name, _ in _REQUIRED)
# _READ order: mcs_table, then the _REQUIRED_INT_FIELDS in the same order as
# _RANGES, then csi_period, last_mcs, buffer, sinr, rsrp, ue_id.
assert tuple(column for _, column in _REQUIRED[1:-1]) == tuple(
    column for _, column, _, _ in features._REQUIRED_INT_FIELDS)
_CSI_PERIODS: Final = frozenset(CSI_PERIODS_SLOTS)
_MAX_MCS: Final = tuple(int(m) for m in nr_tables.MAX_MCS)
_CQI_TO_MCS: Final = nr_tables.CQI_TO_MCS.tolist()
_CQI_EFFICIENCY: Final = nr_tables.CQI_EFFICIENCY.tolist()
_ABSENT_AGES: Final = [features._ABSENT_HARQ_AGE] * HARQ_HISTORY
_NO_ENTRY: Final = [0] * HARQ_HISTORY


def observe_one(report: Any) -> tuple[npt.NDArray[np.float32], int, int] | None:
    """Return the ``(1, NUM_FEATURES)`` observation, MCS table and UE id of a report.

    ``None`` when the report is not plainly valid (the column path then decides
    or names the error).
    """
    values = _READ(report)
    (table, cqi, cqi_age, rank, tb_total, tb_errors, prbs, tx, numerology, period,
     last, buffer, sinr, rsrp, ue_id) = values
    if table not in (1, 2) or period not in _CSI_PERIODS or tb_errors > tb_total:
        return None
    for value, (lo, hi) in zip(values[1:9], _RANGES, strict=True):
        if not lo <= value <= hi:
            return None
    if 0 in values[:12]:
        for name, value in zip(_REQUIRED_NAMES, values, strict=False):
            if value == 0 and not report.HasField(name):
                return None
        if buffer == 0 and not report.HasField("buffer_bytes"):
            return None
        if last == 0 and not report.HasField("last_mcs"):
            last = -1
    top = _MAX_MCS[table - 1]
    if last > top or not (math.isfinite(sinr) and math.isfinite(rsrp)):
        return None
    has_sinr = sinr != 0 or report.HasField("ss_sinr_db")
    has_rsrp = rsrp != 0 or report.HasField("ss_rsrp_dbm")
    entries = report.harq
    if len(entries) > HARQ_HISTORY:
        return None
    cqi_mcs = _CQI_TO_MCS[table - 1][cqi]
    acks, deltas, ages = list(_NO_ENTRY), list(_NO_ENTRY), list(_ABSENT_AGES)
    for k, entry in enumerate(entries):
        ack, mcs, age, _ = _READ_HARQ(entry)
        if not (ack and mcs and age) and not all(
                value or entry.HasField(name)
                for name, value in (("ack", ack), ("mcs", mcs), ("age_slots", age))):
            return None
        if mcs > top:
            return None
        acks[k] = 1 if ack else -1
        deltas[k] = mcs - cqi_mcs
        ages[k] = age
    log1p = np.log1p(np.array([cqi_age, tb_total, prbs, *ages], dtype=np.float64)).tolist()
    log2 = np.log2(np.array([tx, period], dtype=np.float64)).tolist()
    log10 = np.log10(np.array([1.0 + buffer], dtype=np.float64)).tolist()
    row = [
        cqi, _CQI_EFFICIENCY[table - 1][cqi], cqi_mcs, log1p[0], table - 1, rank,
        sinr if has_sinr else features._ABSENT_SINR_DB, has_sinr,
        rsrp if has_rsrp else features._ABSENT_RSRP_DBM, has_rsrp,
        log10[0], last - cqi_mcs if last >= 0 else 0, last >= 0,
        tb_errors / max(tb_total, 1), log1p[1],
        *acks, *deltas, *log1p[3:], log2[0], numerology, log2[1], log1p[2],
    ]
    return np.array([row], dtype=np.float32), table, ue_id


def decide_one(core: DecisionCore, report: Any) -> tuple[int, int, int, str, str] | None:
    """Decide one UE's MCS with the core's model: ``(ue_id, mcs, table, model_id, version)``.

    ``None`` (nothing counted, nothing changed) when the column path must decide:
    no model, a report that is not plainly valid, or non-finite Q-values.
    """
    policy = core.policy
    if policy is None:
        return None
    observed = observe_one(report)
    if observed is None:
        return None
    observation, table, ue_id = observed
    try:
        q = policy.q_values(observation)
    except Exception:  # the column path falls back and logs
        return None
    if q.shape != (1, nr_tables.NUM_ACTIONS):
        return None
    row = q[0].tolist()
    if not all(map(math.isfinite, row)):
        return None
    # First maximum over the table's valid MCS indices, like np.argmax.
    mcs = max(range(_MAX_MCS[table - 1] + 1), key=row.__getitem__)
    core.metrics.decisions.model += 1
    return ue_id, mcs, table, policy.card.model_id, policy.card.version
