"""The BLER target on every decision path: given, absent (the default), refused.

The "ladder" model below decides by the target alone: MCS 5 at 1%, 10 at 10%, 20 at
30%. A target that got lost, or a default that is not applied like a sent target,
shows as another MCS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import onnx
import pytest
from conftest import AUTH, OPSET, Running, card, report
from google.protobuf import json_format
from onnx import TensorProto, helper, numpy_helper

from xapp import features, nr_tables
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.columns import encode_columns
from xapp.model_card import write_model_card
from xapp.proto_reports import batch_from_protos

SCHEMA_1_MODEL = Path(__file__).resolve().parents[1] / "data" / "schema1-default.onnx"
"""The embedded default model of feature schema version 1 (43 features, no target range)."""

LADDER = {0.01: 5, 0.1: 10, 0.3: 20}
"""Target -> the ladder model's MCS."""
OUTSIDE = "outside the active model's trained range 0.01..0.3"


def ladder_bytes(model_id: str = "ladder", version: str = "1",
                 target_range: tuple[float, float] = (0.01, 0.3)) -> bytes:
    """A linear model, ``q = obs @ w + b``, whose argmax depends on ``log_target_bler`` only.

    q[5] = 0, q[10] = 3.5 + ln t, q[20] = 5.5 + 2 ln t, every other action -10:
    at 1% (ln t = -4.6) MCS 5 wins, at 10% (-2.3) MCS 10, at 30% (-1.2) MCS 20.
    """
    w = np.zeros((features.NUM_FEATURES, nr_tables.NUM_ACTIONS), np.float32)
    b = np.full(nr_tables.NUM_ACTIONS, -10.0, np.float32)
    target = features.FEATURE_NAMES.index("log_target_bler")
    b[5], b[10], b[20] = 0.0, 3.5, 5.5
    w[target, 10], w[target, 20] = 1.0, 2.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["observation", "w"], ["m"]),
         helper.make_node("Add", ["m", "b"], ["q_values"])], "ladder",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT,
                                       ["batch", features.NUM_FEATURES])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT,
                                       ["batch", nr_tables.NUM_ACTIONS])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    write_model_card(model, card(model_id, version, parameter_count=int(w.size + b.size),
                                 target_bler_range=list(target_range)))
    return model.SerializeToString()


@pytest.fixture
def ladder(start_service: Any) -> Iterator[tuple[Running, pb_grpc.LinkAdaptationStub]]:
    running = start_service()
    running.service.registry.upload(ladder_bytes())
    running.service.registry.activate("ladder@1")
    with grpc.insecure_channel(running.grpc) as channel:
        yield running, pb_grpc.LinkAdaptationStub(channel)


def _message(target: float | None, ue_id: int = 1) -> pb.UeReport:
    message = json_format.ParseDict(report(ue_id=ue_id), pb.UeReport())
    if target is not None:
        message.target_bler = target
    return message


def _request(targets: list[float | None], **fields: Any) -> pb.DecisionRequest:
    return pb.DecisionRequest(schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=1, slot=9,
                              reports=[_message(t, i) for i, t in enumerate(targets)], **fields)


def _columns_request(targets: list[float | None]) -> pb.DecisionRequest:
    batch = batch_from_protos([_message(None, i) for i in range(len(targets))])[1]
    values = np.array([math.nan if t is None else t for t in targets])
    columns = encode_columns(batch.with_columns(target_bler=values))
    return pb.DecisionRequest(schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=1, slot=9,
                              columns=columns, columnar_response=True)


def _rest(running: Running, targets: list[Any]) -> httpx.Response:
    reports = [report(ue_id=i) if t is None else report(ue_id=i, target_bler=t)
               for i, t in enumerate(targets)]
    return httpx.post(f"{running.http}/v1/decisions", headers=AUTH, timeout=10,
                      json={"schema_version": features.FEATURE_SCHEMA_VERSION, "reports": reports})


def _mcs(reply: Any) -> list[int]:
    if reply.HasField("columns"):
        return np.frombuffer(reply.columns.mcs, np.uint8).tolist()
    return [d.mcs for d in reply.decisions]


# -- decisions: every path, with and without a target ---------------------------------------


def test_every_grpc_path_serves_the_target_and_the_default(ladder: Any) -> None:
    _, stub = ladder
    targets: list[float | None] = [0.01, None, 0.3, 0.1, None]
    want = [LADDER[0.01], LADDER[0.1], LADDER[0.3], LADDER[0.1], LADDER[0.1]]
    assert _mcs(stub.Decide(_request(targets), timeout=10)) == want
    assert _mcs(stub.Decide(_columns_request(targets), timeout=10)) == want
    streamed = list(stub.StreamDecisions(iter([_request(targets), _columns_request(targets)]),
                                         timeout=10))
    assert [_mcs(r) for r in streamed] == [want, want]
    for target in (0.01, None, 0.1, 0.3):  # one UE: the scalar path
        one = _request([target])
        expected = [LADDER[0.1 if target is None else target]]
        assert _mcs(stub.Decide(one, timeout=10)) == expected
        assert _mcs(stub.Decide(_request([target], columnar_response=True), timeout=10)) == \
            expected
        assert [_mcs(r) for r in stub.StreamDecisions(iter([one]), timeout=10)] == [expected]


def test_rest_serves_the_target_and_the_default(ladder: Any) -> None:
    running, _ = ladder
    response = _rest(running, [0.01, None, 0.3, 0.1])
    assert response.status_code == 200, response.text
    assert [d["mcs"] for d in response.json()["decisions"]] == [5, 10, 20, 10]


@pytest.mark.parametrize(("default", "mcs"), [(0.02, 5), (0.25, 20)])
def test_an_absent_target_decides_as_the_configured_default_sent(start_service: Any,
                                                                   default: float,
                                                                   mcs: int) -> None:
    """The configured default is applied exactly like a sent target, on every path.

    The ladder answers MCS 10 at 10%: a default that is not the configured one shows,
    and one not applied at all (NaN) falls back.
    """
    running = start_service(default_target_bler=default)
    running.service.registry.upload(ladder_bytes())
    running.service.registry.activate("ladder@1")
    records = [report(ue_id=i, wideband_cqi=c, last_mcs=m)
               for i, (c, m) in enumerate(zip(range(1, 16), [3, 9, 14, 20, 27] * 3,
                                              strict=True))]
    messages = [json_format.ParseDict(r, pb.UeReport()) for r in records]
    sent = [pb.UeReport() for _ in messages]
    for copy, message in zip(sent, messages, strict=True):
        copy.CopyFrom(message)
        copy.target_bler = default

    def grpc_mcs(reports: list[pb.UeReport], columns: bool = False,
                 stream: bool = False) -> list[int]:
        request = pb.DecisionRequest(schema_version=2, reports=reports)
        if columns:
            batch = batch_from_protos(reports)[1]
            request = pb.DecisionRequest(schema_version=2, columns=encode_columns(batch))
        with grpc.insecure_channel(running.grpc) as channel:
            stub = pb_grpc.LinkAdaptationStub(channel)
            if stream:
                return _mcs(next(stub.StreamDecisions(iter([request]), timeout=10)))
            return _mcs(stub.Decide(request, timeout=10))

    absent, given = grpc_mcs(messages), grpc_mcs(sent)
    assert absent == given == [mcs] * 15
    for columns, stream in ((True, False), (False, True), (True, True)):
        assert grpc_mcs(messages, columns, stream) == grpc_mcs(sent, columns, stream) == given
    assert [grpc_mcs([m])[0] for m in messages] == [grpc_mcs([m])[0] for m in sent] == given
    rest_absent = _rest(running, [None] * 15).json()["decisions"]
    body = {"schema_version": 2, "reports": [{**r, "target_bler": default} for r in records]}
    rest_given = httpx.post(f"{running.http}/v1/decisions", headers=AUTH, json=body,
                            timeout=10).json()["decisions"]
    assert [d["mcs"] for d in rest_absent] == [d["mcs"] for d in rest_given] == given


# -- refusals -------------------------------------------------------------------------------

_BAD_BLER = "target_bler: must be a BLER in (0, 1), got"
BAD_TARGETS: list[tuple[float, str]] = [
    (0.0, f"{_BAD_BLER} 0.0"),
    (-0.1, f"{_BAD_BLER} -0.1"),
    (1.5, f"{_BAD_BLER} 1.5"),
    (1.0, f"{_BAD_BLER} 1.0"),
    (math.inf, f"{_BAD_BLER} inf"),
    (0.5, f"target_bler: {OUTSIDE}, got 0.5"),
    (0.005, f"target_bler: {OUTSIDE}, got 0.005"),
]
"""A sent target and the refusal's text after ``reports[i].``."""


@pytest.mark.parametrize(("target", "message"), [*BAD_TARGETS, (math.nan, f"{_BAD_BLER} nan")],
                         ids=str)
def test_grpc_refuses_a_bad_target_naming_it(ladder: Any, target: float, message: str) -> None:
    _, stub = ladder
    for request, ue in ((_request([0.1, target, None]), 1), (_request([target]), 0)):
        with pytest.raises(grpc.RpcError) as info:
            stub.Decide(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == f"reports[{ue}].{message}"
        trailing = dict(info.value.trailing_metadata())
        assert trailing["linkadapt-field"] == "target_bler"
        assert trailing["linkadapt-ue-index"] == str(ue)
    reply = next(stub.StreamDecisions(iter([_request([0.1, target, None])]), timeout=10))
    assert reply.error.code == "INVALID_ARGUMENT" and reply.error.field == "target_bler"
    assert reply.error.ue_index == 1 and reply.error.message == f"reports[1].{message}"
    assert not reply.decisions


@pytest.mark.parametrize(("target", "message"), BAD_TARGETS, ids=str)
def test_columns_refuse_a_bad_target_naming_it(ladder: Any, target: float,
                                               message: str) -> None:
    _, stub = ladder
    with pytest.raises(grpc.RpcError) as info:
        stub.Decide(_columns_request([0.1, target, None]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == f"reports[1].{message}"


@pytest.mark.parametrize(("target", "message"), [
    *[(t, m) for t, m in BAD_TARGETS if not math.isinf(t)],
    ("0.1", f"{_BAD_BLER} '0.1'"), (True, f"{_BAD_BLER} True")], ids=str)
def test_rest_refuses_a_bad_target_with_422_naming_it(ladder: Any, target: Any,
                                                      message: str) -> None:
    running, _ = ladder
    response = _rest(running, [0.1, target, None])
    assert response.status_code == 422, response.text
    error = response.json()
    assert f"reports[1].{message}" in str(error), error
    assert "target_bler" in str(error)


def test_rest_refuses_a_nan_target(ladder: Any) -> None:
    """Strict JSON has no NaN, but encoders write one and the service reads it."""
    running, _ = ladder
    body = json.dumps({"schema_version": 2, "reports": [report(target_bler=math.nan)]})
    assert "NaN" in body
    response = httpx.post(f"{running.http}/v1/decisions", content=body, timeout=10,
                          headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert f"reports[0].{_BAD_BLER} nan" in response.text


# -- models: the trained range and the default ----------------------------------------------


def test_a_schema_1_model_is_refused_and_the_active_one_keeps_serving(ladder: Any) -> None:
    running, stub = ladder
    data = SCHEMA_1_MODEL.read_bytes()
    assert onnx.load_model_from_string(data).graph.input[0].type.tensor_type.shape.dim[1] \
        .dim_value == 43
    response = httpx.post(f"{running.http}/v1/models", content=data, headers=AUTH, timeout=30)
    assert response.status_code == 422, response.text
    assert "feature_schema_version is 1, this service needs 2" in response.text
    assert running.service.core.policy.card.key == "ladder@1"
    assert _mcs(stub.Decide(_request([0.3]), timeout=10)) == [LADDER[0.3]]
    assert [m.key for m in running.service.registry.list()] == ["ladder@1"]


def test_a_model_not_trained_for_the_default_is_refused_at_upload(ladder: Any) -> None:
    running, stub = ladder
    narrow = ladder_bytes("narrow", "1", target_range=(0.005, 0.05))
    response = httpx.post(f"{running.http}/v1/models", content=narrow, headers=AUTH,
                          params={"activate": "true"}, timeout=30)
    assert response.status_code == 422, response.text
    assert ("target_bler_range 0.005..0.05 does not include the service's "
            "default_target_bler 0.1") in response.text
    assert running.service.core.policy.card.key == "ladder@1"
    assert _mcs(stub.Decide(_request([None]), timeout=10)) == [LADDER[0.1]]


def test_a_stored_model_not_trained_for_a_new_default_is_refused_at_activation(
        start_service: Any) -> None:
    first = start_service()
    first.service.registry.upload(ladder_bytes("narrow", "1", target_range=(0.05, 0.3)))
    first.service.registry.upload(ladder_bytes("wide", "1"))
    first.service.registry.activate("wide@1")
    first.stop()
    running = start_service(default_target_bler=0.02)  # same store, another default
    assert running.service.core.policy.card.key == "wide@1"
    response = httpx.post(f"{running.http}/v1/models/narrow/1/activate", headers=AUTH,
                          timeout=30)
    assert response.status_code == 422, response.text
    assert "does not include the service's default_target_bler 0.02" in response.text
    assert running.service.core.policy.card.key == "wide@1"
    with grpc.insecure_channel(running.grpc) as channel:
        reply = pb_grpc.LinkAdaptationStub(channel).Decide(_request([None, 0.01]), timeout=10)
    assert [d.model_id for d in reply.decisions] == ["wide", "wide"]
