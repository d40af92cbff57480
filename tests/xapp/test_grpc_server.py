import asyncio
import math

import grpc
import numpy as np
import pytest
from conftest import AUTH, TOKEN, mlp_bytes, report
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.grpc_server import (
    SERVICE_NAME,
    LinkAdaptationServicer,
    _OneReply,
    build_columns_response,
    build_response,
)
from xapp.proto_reports import batch_from_protos


def request(n: int = 3, slot: int = 7, **overrides) -> pb.DecisionRequest:
    reports = [json_format.ParseDict(report(ue_id=100 + i, **overrides), pb.UeReport())
               for i in range(n)]
    return pb.DecisionRequest(schema_version=2, cell_id=42, slot=slot, reports=reports)


@pytest.fixture
def served(start_service):
    running = start_service(max_batch_size=64)
    running.service.registry.upload(mlp_bytes("m", "1"))
    running.service.registry.activate("m@1")
    channel = grpc.insecure_channel(running.grpc)
    yield running, channel
    channel.close()


def test_decide_and_stream(served) -> None:
    _, channel = served
    stub = pb_grpc.LinkAdaptationStub(channel)
    response = stub.Decide(request(3), timeout=10)
    assert (response.cell_id, response.slot) == (42, 7)
    assert [d.ue_id for d in response.decisions] == [100, 101, 102]
    for d in response.decisions:
        assert d.source == pb.DECISION_SOURCE_MODEL and (d.model_id, d.model_version) == ("m", "1")
        assert 0 <= d.mcs <= 28 and d.mcs_table == pb.MCS_TABLE_QAM64
    bad = request(2)
    bad.reports[1].wideband_cqi = 16
    replies = list(stub.StreamDecisions(iter([request(1, slot=1), bad, request(2, slot=3)]),
                                        timeout=10))
    assert [r.slot for r in replies] == [1, 7, 3]
    assert len(replies[0].decisions) == 1 and not replies[0].HasField("error")
    assert replies[1].error.code == "INVALID_ARGUMENT"
    assert (replies[1].error.field, replies[1].error.ue_index) == ("wideband_cqi", 1)
    assert len(replies[2].decisions) == 2  # the stream survived the bad request


@pytest.mark.parametrize(("mutate", "code", "text"), [
    (lambda r: setattr(r.reports[1], "ss_sinr_db", math.nan), "INVALID_ARGUMENT",
     "reports[1].ss_sinr_db"),
    (lambda r: setattr(r.reports[0], "wideband_cqi", 99), "INVALID_ARGUMENT",
     "reports[0].wideband_cqi"),
    (lambda r: r.reports[2].ClearField("rank_indicator"), "INVALID_ARGUMENT",
     "reports[2].rank_indicator: is required"),
    (lambda r: setattr(r, "schema_version", 1), "INVALID_ARGUMENT", "schema_version 1"),
    (lambda r: r.reports.extend([r.reports[0]] * 64), "RESOURCE_EXHAUSTED", "limit is 64"),
])
def test_decide_errors(served, mutate, code: str, text: str) -> None:
    _, channel = served
    req = request(3)
    mutate(req)
    with pytest.raises(grpc.RpcError) as info:
        pb_grpc.LinkAdaptationStub(channel).Decide(req, timeout=10)
    assert info.value.code().name == code
    assert text in info.value.details()


def test_health_reflection_and_deadline(served) -> None:
    _running, channel = served
    health = health_pb2_grpc.HealthStub(channel)
    check = health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert check.status == health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
        health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    names = {s.name for s in answer.list_services_response.service}
    assert SERVICE_NAME in names and "grpc.health.v1.Health" in names


def test_decide_honours_an_expired_deadline(served) -> None:
    running, _ = served

    class Expired:
        aborted = None

        def time_remaining(self) -> float:
            return 0.0

        async def abort(self, code, details):
            Expired.aborted = code
            raise RuntimeError(details)

    servicer = LinkAdaptationServicer(running.service)
    with pytest.raises(RuntimeError, match="deadline"):
        asyncio.run(servicer.Decide(request(1), Expired()))
    assert Expired.aborted == grpc.StatusCode.DEADLINE_EXCEEDED


def test_fallback_only_service_answers_and_is_not_serving(start_service) -> None:
    running = start_service()
    with grpc.insecure_channel(running.grpc) as channel:
        response = pb_grpc.LinkAdaptationStub(channel).Decide(request(2), timeout=10)
        assert {d.source for d in response.decisions} == {pb.DECISION_SOURCE_FALLBACK}
        assert all(d.model_id == "" for d in response.decisions)
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_decisions_token_rule(start_service) -> None:
    running = start_service(decisions_require_token=True)
    with grpc.insecure_channel(running.grpc) as channel:
        stub = pb_grpc.LinkAdaptationStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Decide(request(1), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            list(stub.StreamDecisions(iter([request(1)]), timeout=10,
                                      metadata=(("authorization", "Bearer wrong"),)))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = stub.Decide(request(1), timeout=10, metadata=(("authorization", f"Bearer {TOKEN}"),))
        assert len(ok.decisions) == 1
    assert AUTH["Authorization"].endswith(TOKEN)


def test_health_watch_follows_activate_and_rollback(start_service, tmp_path) -> None:
    default = tmp_path / "default.onnx"
    default.write_bytes(mlp_bytes("embedded", "1"))
    running = start_service(default_model=default)
    registry = running.service.registry
    registry.upload(mlp_bytes("m", "1"))
    with grpc.insecure_channel(running.grpc) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=20)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        running.service.core.set_policy(None, "test")  # fallback only
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        registry.activate("m@1")
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        assert registry.rollback().origin == "embedded"
        running.service.core.set_policy(None, "test")
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()


def test_one_reply_bytes_equal_a_fresh_message() -> None:
    reply = _OneReply()
    cases = [(42, 7, 100, 13, 1, "m", "1"), (0, 0, 0, 0, 2, "m", "1"),
             (2**64 - 1, 2**64 - 1, 2**64 - 1, 28, 1, "other", "2.0"), (1, 1, 5, 27, 2, "", ""),
             (3, 300, 2**40, 1, 2, "m", "1")]
    for cell, slot, ue, mcs, table, model_id, version in cases:
        req = pb.DecisionRequest(schema_version=2, cell_id=cell, slot=slot)
        fresh = pb.DecisionResponse(cell_id=cell, slot=slot, decisions=[pb.McsDecision(
            ue_id=ue, mcs=mcs, mcs_table=table, source=pb.DECISION_SOURCE_MODEL,
            model_id=model_id, model_version=version)])
        assert reply.serialize(req, ue, mcs, table, model_id, version) == \
            fresh.SerializeToString()


def test_stream_one_ue_replies_equal_the_batch_path(served) -> None:
    """The one-UE fast path answers byte for byte like the batch path (and columns too)."""
    running, channel = served
    servicer = LinkAdaptationServicer(running.service)
    stub = pb_grpc.LinkAdaptationStub(channel)
    for slot, overrides in enumerate(({}, {"mcs_table": "MCS_TABLE_QAM256"},
                                      {"wideband_cqi": 0, "last_mcs": 0})):
        one = request(1, slot=slot, **overrides)
        one.reports[0].ue_id = slot  # 0: a field proto3 leaves out
        assert servicer._core.decide_one(one.reports[0]) is not None  # the fast path answers
        replies = list(stub.StreamDecisions(iter([one]), timeout=10))
        batch_path = servicer._core.decide(batch_from_protos(one.reports)[1])
        ue_ids = np.array([one.reports[0].ue_id], dtype=np.uint64)
        assert replies[0].SerializeToString() == build_response(one, ue_ids, batch_path) \
            .SerializeToString()
        one.columnar_response = True
        columns = stub.Decide(one, timeout=10)
        assert columns == build_columns_response(one, batch_path)
