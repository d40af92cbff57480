"""Decisions keep flowing, well-formed, while models are activated and rolled back."""

import threading

import grpc
import httpx
from conftest import AUTH, mlp_bytes, report
from google.protobuf import json_format

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc

SWAPS = 24


def test_hot_swap_under_load(start_service) -> None:
    running = start_service()
    registry = running.service.registry
    versions = {"1", "2", "3"}
    for v in sorted(versions):
        registry.upload(mlp_bytes("hot", v, seed=int(v)))
    registry.activate("hot@1")
    ue = json_format.ParseDict(report(), pb.UeReport())
    done = threading.Event()
    failures: list[str] = []
    seen: list[set[str]] = []

    def check(decisions, n: int, names: set[str]) -> None:
        if len(decisions) != n:
            failures.append(f"{len(decisions)} decisions for {n} reports")
        for d in decisions:
            if d.source != pb.DECISION_SOURCE_MODEL or d.model_id != "hot" \
                    or d.model_version not in versions or not 0 <= d.mcs <= 28:
                failures.append(str(d))
            names.add(d.model_version)

    def stream_client() -> None:
        names: set[str] = set()
        with grpc.insecure_channel(running.grpc) as channel:
            stub = pb_grpc.LinkAdaptationStub(channel)

            def requests():
                slot = 0
                while not done.is_set():
                    slot += 1
                    yield pb.DecisionRequest(schema_version=2, slot=slot, reports=[ue] * 4)

            try:
                for reply in stub.StreamDecisions(requests(), timeout=600):  # a hang guard only
                    if reply.HasField("error"):
                        failures.append(reply.error.message)
                    check(reply.decisions, 4, names)
            except grpc.RpcError as exc:
                failures.append(f"stream: {exc.code()}")
        seen.append(names)

    def unary_client() -> None:
        names: set[str] = set()
        with grpc.insecure_channel(running.grpc) as channel:
            stub = pb_grpc.LinkAdaptationStub(channel)
            while not done.is_set():
                try:
                    reply = stub.Decide(pb.DecisionRequest(schema_version=2, reports=[ue] * 2),
                                        timeout=30)
                    check(reply.decisions, 2, names)
                except grpc.RpcError as exc:
                    failures.append(f"unary: {exc.code()}")
        seen.append(names)

    def rest_client() -> None:
        names: set[str] = set()
        with httpx.Client(base_url=running.http, timeout=30) as client:
            while not done.is_set():
                r = client.post("/v1/decisions", json={"schema_version": 2, "reports": [report()]})
                body = r.json()
                if r.status_code != 200 or body["decisions"][0]["model_id"] != "hot":
                    failures.append(f"rest: {r.status_code} {r.text}")
                names.add(body["decisions"][0].get("model_version", "?"))
        seen.append(names)

    clients = [threading.Thread(target=f) for f in
               (stream_client, stream_client, unary_client, rest_client)]
    for t in clients:
        t.start()
    with httpx.Client(base_url=running.http, timeout=60) as admin:
        for i in range(SWAPS):
            if i % 3 == 2:
                r = admin.post("/v1/models/rollback", headers=AUTH)
            else:
                r = admin.post(f"/v1/models/hot/{1 + (i % 3) + (i // 3) % 2}/activate",
                               headers=AUTH)
            assert r.status_code == 200, r.text
            threading.Event().wait(0.05)
    done.set()
    for t in clients:
        t.join(60)
    assert failures == []
    assert len(seen) == 4 and set().union(*seen) <= versions
    assert len(set().union(*seen)) >= 2  # the clients did see the swaps
    swaps = running.service.metrics.model_swaps
    assert swaps.labels("activate")._value.get() + swaps.labels("rollback")._value.get() \
        == SWAPS + 1
