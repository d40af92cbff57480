"""Garbage on the gRPC transport: random bytes and mutated valid requests, unary and streamed.

Every payload must get an answer with a status the client can act on (never
``UNKNOWN``), the server log must hold no traceback and at most one line per kind
of refusal and interval, every refusal must be counted, and the service must stay
ready and keep answering valid requests.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter

import grpc
import pytest
from conftest import mlp_bytes
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from test_grpc_server import request

from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.error_log import LOG_INTERVAL_S
from xapp.grpc_server import SERVICE_NAME

RANDOM_PAYLOADS = 2000
MUTATED_PAYLOADS = 2000
DECIDE = f"/{SERVICE_NAME}/Decide"
STREAM = f"/{SERVICE_NAME}/StreamDecisions"


def random_payload(rng: random.Random) -> bytes:
    """Bytes of a random length (empty included), uniformly random."""
    return rng.randbytes(rng.choice((0, 1, 2, 5, 17, 64, 300, 2000)))


def mutated_payload(rng: random.Random, valid: list[bytes]) -> bytes:
    """A valid serialized request with a few bytes flipped, cut, repeated or inserted."""
    data = bytearray(rng.choice(valid))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        at = rng.randrange(len(data) or 1)
        if op == 0 and data:
            data[at] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            data[at] = rng.randrange(256)
        elif op == 2:
            del data[at:]
        elif op == 3:
            data[at:at] = rng.randbytes(rng.randint(1, 8))
        else:
            data += data[at:at + rng.randint(1, 32)]
    return bytes(data)


def valid_payloads() -> list[bytes]:
    out = []
    for n in (1, 2, 5):
        for overrides in ({}, {"mcs_table": "MCS_TABLE_QAM256"}, {"wideband_cqi": 0}):
            req = request(n, slot=n, **overrides)
            out.append(req.SerializeToString())
            req.columnar_response = True
            out.append(req.SerializeToString())
    return out


def grpc_errors(http: str) -> Counter[str]:
    import urllib.request

    with urllib.request.urlopen(f"{http}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name == "linkadapt_errors":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["transport"] == "grpc":
                    counts[sample.labels["code"]] += int(sample.value)
    return counts


@pytest.fixture
def fuzz_service(start_service):
    running = start_service(max_batch_size=64)
    running.service.registry.upload(mlp_bytes("m", "1"))
    running.service.registry.activate("m@1")
    return running


def test_garbage_gets_a_clear_status_and_no_traceback(fuzz_service, caplog, capfd) -> None:
    running = fuzz_service
    rng = random.Random(15)
    valid = valid_payloads()
    payloads = [random_payload(rng) for _ in range(RANDOM_PAYLOADS)]
    payloads += [mutated_payload(rng, valid) for _ in range(MUTATED_PAYLOADS)]
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    unary: Counter[str] = Counter()
    streamed: Counter[str] = Counter()
    with grpc.insecure_channel(running.grpc) as channel:
        decide = channel.unary_unary(DECIDE)
        for payload in payloads:
            try:
                pb.DecisionResponse.FromString(decide(payload, timeout=10))
                unary["OK"] += 1
            except grpc.RpcError as exc:
                unary[exc.code().name] += 1
                assert "\n" not in exc.details()
        # The same payloads down one stream: each gets its reply, the stream survives.
        stream = channel.stream_stream(STREAM)
        replies = [pb.DecisionResponse.FromString(r)
                   for r in stream(iter(payloads), timeout=120)]
        assert len(replies) == len(payloads)
        for reply in replies:
            streamed[reply.error.code if reply.HasField("error") else "OK"] += 1
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        after = pb.DecisionResponse.FromString(decide(valid[0], timeout=10))
        assert after.decisions[0].model_id == "m"
    elapsed = time.monotonic() - started

    assert "UNKNOWN" not in unary and "UNKNOWN" not in streamed
    assert unary["INVALID_ARGUMENT"] > RANDOM_PAYLOADS // 2  # most garbage is refused ...
    assert unary["OK"] > 0  # ... and some mutations still decode to a valid request
    assert set(unary) <= {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}
    assert +unary == +streamed  # the transports judge alike

    refused = Counter({k: v for k, v in unary.items() if k != "OK"})
    assert grpc_errors(running.http) == refused + refused  # unary and streamed, each counted

    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    out, err = capfd.readouterr()
    lines = Counter(r.getMessage().split(":")[0] for r in caplog.records
                    if r.name == "xapp.refused")
    assert "Traceback" not in out + err
    print(f"unary: {dict(unary)}; streamed: {dict(streamed)}; log lines: {dict(lines)}")
    most = 1 + int(elapsed // LOG_INTERVAL_S)
    assert lines and all(count <= most for count in lines.values()), lines
