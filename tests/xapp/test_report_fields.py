"""The report-field table agrees with the proto, and every path reads it the same way."""

from __future__ import annotations

import numpy as np
import pytest

from xapp import nr_tables
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.columns import COLUMNS
from xapp.report_batch import ReportBatch
from xapp.report_fields import (
    CQI_ENTRY,
    CQI_HISTORY,
    FIELDS,
    HARQ,
    HARQ_HISTORY,
    SCALAR_ORDER,
    UE_ID_PROTO,
    Kind,
)

_REPEATED = {"harq", "cqi_history"}


def test_every_ue_report_field_is_in_the_table_and_back() -> None:
    proto = set(pb.UeReport.DESCRIPTOR.fields_by_name) - {UE_ID_PROTO, *_REPEATED}
    assert {f.proto for f in SCALAR_ORDER} == proto
    assert {f.proto for f in HARQ} == set(pb.HarqFeedback.DESCRIPTOR.fields_by_name)
    assert {f.proto for f in CQI_ENTRY} == set(pb.CqiReport.DESCRIPTOR.fields_by_name)
    assert [f.width for f in HARQ] == [HARQ_HISTORY] * len(HARQ)
    assert [f.width for f in CQI_ENTRY] == [CQI_HISTORY] * len(CQI_ENTRY)


def test_every_report_column_is_in_the_table_with_its_width() -> None:
    columns = set(pb.ReportColumns.DESCRIPTOR.fields_by_name) - {"num_ues", UE_ID_PROTO}
    assert {f.column_name for f in FIELDS} == columns
    assert [(c.field, c.batch_name, c.wire, c.width) for c in COLUMNS] == [
        (f.column_name, f.name, f.wire, f.width) for f in FIELDS]


def test_optional_proto_fields_are_exactly_those_with_a_value_when_absent() -> None:
    by_proto = pb.UeReport.DESCRIPTOR.fields_by_name
    for f in SCALAR_ORDER:
        assert by_proto[f.proto].has_presence, f.proto  # absence must be detectable
    assert {f.name for f in SCALAR_ORDER if not f.required} == {
        "last_mcs", "ss_sinr_db", "ss_rsrp_dbm", "target_bler"}


def test_the_batch_has_one_column_per_field_in_table_order() -> None:
    assert ReportBatch.__slots__ == tuple(f.name for f in FIELDS)
    with pytest.raises(TypeError):
        ReportBatch(**{f.name: np.zeros(1) for f in FIELDS[1:]})


def test_scalar_order_keeps_each_kind_together_integers_first() -> None:
    kinds = [f.kind for f in SCALAR_ORDER]
    assert kinds == sorted(kinds, key=[*dict.fromkeys(kinds)].index)
    assert Kind.HARQ not in kinds and Kind.CQI_HISTORY not in kinds
    floats = [f.is_float for f in SCALAR_ORDER]
    assert floats == sorted(floats)


@pytest.mark.parametrize("table", [nr_tables.QAM64, nr_tables.QAM256])
def test_max_mcs_is_the_last_row_of_the_mcs_table(table: int) -> None:
    top = nr_tables.max_mcs(table)
    assert top == len(nr_tables.mcs_table(table)) - 1
    tables = np.array([[table, table]])
    assert nr_tables.max_mcs(tables).tolist() == [[top, top]]
    assert nr_tables.valid_action_mask(tables)[0, 0].tolist() == [
        a <= top for a in range(nr_tables.NUM_ACTIONS)]


def test_max_mcs_refuses_an_unknown_table() -> None:
    with pytest.raises(ValueError, match="table"):
        nr_tables.max_mcs(3)
