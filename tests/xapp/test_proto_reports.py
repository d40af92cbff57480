import math

import numpy as np
import pytest
from conftest import report
from google.protobuf import json_format

from xapp import features
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.features import ReportError
from xapp.proto_reports import batch_from_protos
from xapp.report_fields import CQI_HISTORY


def to_proto(record: dict) -> pb.UeReport:
    return json_format.ParseDict(record, pb.UeReport())


def records() -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(40):
        table = int(rng.integers(1, 3))
        harq = [{"ack": bool(rng.integers(2)), "mcs": int(rng.integers(0, 28)),
                 "age_slots": int(rng.integers(0, 9)), **({"initial": False} if k % 2 else {})}
                for k in range(int(rng.integers(0, 9)))]
        history = [{"cqi": int(rng.integers(0, 16)), "age_slots": 10 * (k + 1)}
                   for k in range(int(rng.integers(0, CQI_HISTORY + 1)))]
        rec = report(ue_id=i, mcs_table=table, wideband_cqi=int(rng.integers(0, 16)),
                     harq=harq, cqi_history=history, numerology=int(rng.integers(0, 3)),
                     tb_initial_errors=int(rng.integers(0, 3)), cqi_age_slots=int(i % 3))
        for optional in ("last_mcs", "ss_sinr_db", "ss_rsrp_dbm"):
            if rng.uniform() < 0.3:
                del rec[optional]
        if rng.uniform() < 0.2:
            rec["last_mcs"] = 0
            rec["ss_sinr_db"] = 0.0
        out.append(rec)
    return out


def test_proto_conversion_matches_the_contract_converter() -> None:
    recs = records()
    ue_ids, batch = batch_from_protos([to_proto(r) for r in recs])
    expected = features.batch_from_records(recs)
    assert ue_ids.tolist() == list(range(40))
    for name in batch.__slots__:
        assert np.array_equal(getattr(batch, name), getattr(expected, name), equal_nan=True), name


@pytest.mark.parametrize(("change", "field", "ue"), [
    (lambda r: r.ClearField("wideband_cqi"), "wideband_cqi", 2),
    (lambda r: r.ClearField("numerology"), "numerology", 2),
    (lambda r: setattr(r, "wideband_cqi", 16), "wideband_cqi", 2),
    (lambda r: setattr(r, "ss_sinr_db", math.nan), "ss_sinr_db", 2),
    (lambda r: setattr(r, "ss_rsrp_dbm", math.inf), "ss_rsrp_dbm", 2),
    (lambda r: setattr(r, "csi_period_slots", 7), "csi_period_slots", 2),
    (lambda r: r.harq[1].ClearField("mcs"), "harq[1].mcs", 2),
    (lambda r: r.harq.extend([r.harq[0]] * 8), "harq", 2),
    (lambda r: r.cqi_history.add(age_slots=12), "cqi_history[0].cqi", 2),
    (lambda r: r.cqi_history.add(cqi=0), "cqi_history[0].age_slots", 2),
    (lambda r: r.cqi_history.add(cqi=16, age_slots=12), "cqi_history[0]", 2),
    (lambda r: r.cqi_history.extend([pb.CqiReport(cqi=3, age_slots=9)] * (CQI_HISTORY + 1)),
     "cqi_history", 2),
    (lambda r: setattr(r, "mcs_table", 0), "mcs_table", 2),
])
def test_bad_reports_name_field_and_ue(change, field: str, ue: int) -> None:
    reports = [to_proto(report()) for _ in range(4)]
    change(reports[2])
    with pytest.raises(ReportError) as info:
        batch_from_protos(reports)
    assert (info.value.field, info.value.ue_index) == (field, ue)
