import grpc
import numpy as np
import pytest
from conftest import mlp_bytes, report
from google.protobuf import json_format

from xapp import features
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.columns import COLUMNS, decode_columns, encode_columns
from xapp.core import DecisionCore
from xapp.errors import InvalidRequest
from xapp.metrics import Metrics
from xapp.model_check import Limits, check_model, probe_batch
from xapp.proto_reports import batch_from_protos
from xapp.report_fields import CQI_HISTORY


def same_batch(a: features.ReportBatch, b: features.ReportBatch) -> None:
    for name in a.__slots__:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and np.array_equal(x, y, equal_nan=True), name


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_round_trip(n: int) -> None:
    batch = probe_batch(n, np.random.default_rng(n))
    batch = features.ReportBatch(**{  # the proto carries float32 SS measurements
        **{k: getattr(batch, k) for k in batch.__slots__},
        "ss_sinr_db": batch.ss_sinr_db.astype(np.float32).astype(np.float64),
        "ss_rsrp_dbm": batch.ss_rsrp_dbm.astype(np.float32).astype(np.float64)})
    ue_ids = np.arange(n, dtype=np.uint64) * 2**40
    wire = pb.ReportColumns.FromString(encode_columns(batch, ue_ids).SerializeToString())
    got_ids, got = decode_columns(wire)
    assert got_ids.tolist() == ue_ids.tolist()
    same_batch(got, batch)
    for column in COLUMNS:  # integer columns stay in their wire dtype, floats widen
        want = np.float64 if column.wire.kind == "f" or column.field == "buffer_bytes" \
            else column.wire
        assert getattr(got, column.batch_name).dtype == want, column.field


def test_columns_and_messages_give_the_same_batch_and_observation() -> None:
    records = [report(ue_id=i, wideband_cqi=i % 16, harq=[
        {"ack": bool(k % 2), "mcs": (i + k) % 28, "age_slots": k} for k in range(i % 9)])
        for i in range(40)]
    for rec in records[::3]:
        del rec["ss_sinr_db"], rec["last_mcs"]
    ids, from_messages = batch_from_protos(
        [json_format.ParseDict(r, pb.UeReport()) for r in records])
    got_ids, from_columns = decode_columns(encode_columns(from_messages, ids))
    same_batch(from_columns, from_messages)
    assert got_ids.tolist() == ids.tolist()
    assert features.observe(from_columns).tobytes() == features.observe(from_messages).tobytes()


def test_wrong_lengths_name_the_column() -> None:
    batch = probe_batch(4, np.random.default_rng(0))
    for column in COLUMNS:
        wire = encode_columns(batch)
        setattr(wire, column.field, getattr(wire, column.field)[:-1])
        with pytest.raises(InvalidRequest) as info:
            decode_columns(wire)
        assert info.value.field == f"columns.{column.field}"
    wire = encode_columns(batch)
    wire.num_ues = 5
    with pytest.raises(InvalidRequest, match=r"columns\.ue_id"):
        decode_columns(wire)


def test_empty_cqi_history_columns_mean_no_history() -> None:
    """A sender without CQI history leaves its two columns empty: the same as all -1."""
    batch = probe_batch(5, np.random.default_rng(0))
    none = features.ReportBatch(**{**{k: getattr(batch, k) for k in batch.__slots__},
                                   "cqi_history_cqi": np.full((5, CQI_HISTORY), -1),
                                   "cqi_history_age": np.full((5, CQI_HISTORY), -1)})
    explicit = decode_columns(encode_columns(none))[1]
    wire = encode_columns(batch)
    wire.ClearField("cqi_history_cqi")
    wire.ClearField("cqi_history_age_slots")
    same_batch(decode_columns(wire)[1], explicit)
    assert (batch.cqi_history_cqi >= 0).any()
    wire.cqi_history_cqi = encode_columns(batch).cqi_history_cqi  # CQIs without their ages
    with pytest.raises(features.ReportError, match=r"cqi_history\[\d\]: needs"):
        decode_columns(wire)


def test_out_of_range_values_name_field_and_ue() -> None:
    batch = probe_batch(6, np.random.default_rng(0))
    wire = encode_columns(batch)
    cqi = bytearray(wire.wideband_cqi)
    cqi[4] = 16
    wire.wideband_cqi = bytes(cqi)
    with pytest.raises(features.ReportError) as info:
        decode_columns(wire)
    assert (info.value.field, info.value.ue_index) == ("wideband_cqi", 4)


def test_grpc_columns_in_and_out(start_service) -> None:
    running = start_service(max_batch_size=64)
    running.service.registry.upload(mlp_bytes("m", "1"))
    running.service.registry.activate("m@1")
    records = [report(ue_id=100 + i, wideband_cqi=i) for i in range(5)]
    messages = [json_format.ParseDict(r, pb.UeReport()) for r in records]
    ids, batch = batch_from_protos(messages)
    with grpc.insecure_channel(running.grpc) as channel:
        stub = pb_grpc.LinkAdaptationStub(channel)
        plain = stub.Decide(pb.DecisionRequest(schema_version=2, slot=3, reports=messages),
                            timeout=10)
        columnar = stub.Decide(pb.DecisionRequest(
            schema_version=2, slot=3, columns=encode_columns(batch, ids),
            columnar_response=True), timeout=10)
        assert not columnar.decisions and columnar.slot == 3
        assert np.frombuffer(columnar.columns.mcs, np.uint8).tolist() == \
            [d.mcs for d in plain.decisions]
        assert np.frombuffer(columnar.columns.source, np.uint8).tolist() == \
            [pb.DECISION_SOURCE_MODEL] * 5
        assert (columnar.columns.model_id, columnar.columns.model_version) == ("m", "1")
        mixed = stub.Decide(pb.DecisionRequest(schema_version=2, columns=encode_columns(batch),
                                               columnar_response=False), timeout=10)
        assert [d.mcs for d in mixed.decisions] == [d.mcs for d in plain.decisions]

        both = pb.DecisionRequest(schema_version=2, reports=messages,
                                  columns=encode_columns(batch))
        short = pb.DecisionRequest(schema_version=2, columns=encode_columns(batch))
        short.columns.buffer_bytes = b""
        big = pb.DecisionRequest(schema_version=2, columns=encode_columns(
            probe_batch(65, np.random.default_rng(0))))
        replies = list(stub.StreamDecisions(iter([both, short, big, short]), timeout=10))
        assert [r.error.code for r in replies] == ["INVALID_ARGUMENT", "INVALID_ARGUMENT",
                                                   "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"]
        assert replies[0].error.field == "columns"
        assert replies[1].error.field == "columns.buffer_bytes"
        with pytest.raises(grpc.RpcError) as info:
            stub.Decide(short, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "columns.buffer_bytes" in info.value.details()


def test_columns_keep_their_wire_dtypes_and_decide_like_messages() -> None:
    """The fallback rule and the model see the same UEs either way."""
    records = [report(ue_id=i, wideband_cqi=i % 16, mcs_table=1 + i % 2, last_mcs=i % 28)
               for i in range(400)]  # the large-batch routes of observe and argmax
    ids, from_messages = batch_from_protos(
        [json_format.ParseDict(r, pb.UeReport()) for r in records])
    _, from_columns = decode_columns(encode_columns(from_messages, ids))
    assert from_columns.cqi.dtype == np.uint8 and from_messages.cqi.dtype == np.int64
    for policy in (None, check_model(mlp_bytes(hidden=(32, 32, 32)),
                                     Limits(latency_budget_us=None))):
        core = DecisionCore(Metrics())
        core.set_policy(policy)
        a, b = core.decide(from_messages), core.decide(from_columns)
        assert a.mcs.tolist() == b.mcs.tolist() and a.from_model.tolist() == b.from_model.tolist()
        assert a.mcs_table.tolist() == b.mcs_table.tolist()
