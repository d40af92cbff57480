import json

import httpx
import pytest
from conftest import AUTH, BAD, mlp_bytes, report

from xapp import features
from xapp.report_fields import CQI_HISTORY


def decide(client: httpx.Client, reports: list, **extra) -> httpx.Response:
    body = {"schema_version": features.FEATURE_SCHEMA_VERSION, "cell_id": 3, "slot": 9,
            "reports": reports, **extra}
    return client.post("/v1/decisions", json=body)


def upload(client: httpx.Client, data: bytes, **params) -> httpx.Response:
    return client.post("/v1/models", content=data, headers=AUTH, params=params)


def test_decisions_health_and_model_lifecycle(start_service) -> None:
    running = start_service(max_batch_size=8)
    with httpx.Client(base_url=running.http, timeout=30) as client:
        assert client.get("/ric/v1/health/alive").status_code == 200
        not_ready = client.get("/ric/v1/health/ready")
        assert not_ready.status_code == 503 and "no active model" in not_ready.json()["reason"]
        first = decide(client, [report(), report(ue_id=5, mcs_table="MCS_TABLE_QAM256")])
        assert first.status_code == 200
        assert [d["source"] for d in first.json()["decisions"]] == ["DECISION_SOURCE_FALLBACK"] * 2
        assert client.get("/v1/models/active", headers=AUTH).status_code == 404

        assert upload(client, mlp_bytes("m", "1")).status_code == 201
        assert upload(client, mlp_bytes("m", "1")).status_code == 200
        assert upload(client, mlp_bytes("m", "2", seed=2), activate="true").status_code == 201
        assert client.get("/ric/v1/health/ready").status_code == 200
        active = client.get("/v1/models/active", headers=AUTH).json()
        assert (active["model_id"], active["version"]) == ("m", "2")
        assert len(active["sha256"]) == 64 and active["card"]["kind"] == "test"
        out = decide(client, [report(ue_id=11)]).json()
        assert out["decisions"][0]["model_version"] == "2" and out["slot"] == 9
        assert client.post("/v1/models/m/1/activate", headers=AUTH).json()["active"] == "m@1"
        assert client.post("/v1/models/rollback", headers=AUTH).json()["active"] == "m@2"
        assert client.delete("/v1/models/m/2", headers=AUTH).status_code == 409
        assert client.delete("/v1/models/m/1", headers=AUTH).status_code == 204
        assert client.delete("/v1/models/m/1", headers=AUTH).status_code == 404
        listing = client.get("/v1/models", headers=AUTH).json()
        assert [m["version"] for m in listing["models"]] == ["2"] and listing["active"] == "m@2"
        metrics = client.get("/metrics").text
        assert 'linkadapt_model_swaps_total{action="rollback"} 1.0' in metrics
        assert 'linkadapt_decisions_total{source="fallback"} 2.0' in metrics
        assert "linkadapt_request_latency_seconds_bucket" in metrics
        assert "/v1/decisions" in client.get("/openapi.json").json()["paths"]
    running.stop()

    restarted = start_service()  # same store: same active model
    with httpx.Client(base_url=restarted.http, timeout=30) as client:
        assert client.get("/ric/v1/health/ready").status_code == 200
        assert client.get("/v1/models/active", headers=AUTH).json()["version"] == "2"
        assert client.post("/v1/models/rollback", headers=AUTH).status_code == 409


@pytest.mark.parametrize(("reports", "extra", "status", "field", "ue"), [
    ([report(), report(wideband_cqi=-1)], {}, 422, "wideband_cqi", 1),
    ([report(buffer_bytes=-5)], {}, 422, "buffer_bytes", 0),
    ([report(), report(), report(rank_indicator=None)], {}, 422, "rank_indicator", 2),
    ([report(harq=[{"ack": True, "mcs": 40, "age_slots": 1}])], {}, 422, "harq[0].mcs", 0),
    ([report(), report(cqi_history=[{"cqi": 9, "age_slots": 12}, {"cqi": 16, "age_slots": 22}])],
     {}, 422, "cqi_history[1].cqi", 1),
    ([report(cqi_history=[{"cqi": 9}])], {}, 422, "cqi_history[0].age_slots", 0),
    ([report(cqi_history=[{"cqi": 9, "age_slots": 12}] * (CQI_HISTORY + 1))], {}, 422,
     "cqi_history", 0),
    ([report(cqi_history={"cqi": 9})], {}, 422, "cqi_history", 0),
    ([report()], {"schema_version": 7}, 422, "schema_version", -1),
    ([report()] * 9, {}, 413, "", -1),
    # Wrong JSON types: refused, never a 500 (and true is no table number).
    ([report(mcs_table=[1])], {}, 422, "mcs_table", 0),
    ([report(), report(mcs_table={})], {}, 422, "mcs_table", 1),
    ([report(mcs_table=True)], {}, 422, "mcs_table", 0),
    ([report(ue_id="abc")], {}, 422, "ue_id", 0),
    ([report(), report(ue_id=[1])], {}, 422, "ue_id", 1),
    ([report(ue_id=-1)], {}, 422, "ue_id", 0),
    ([report(ue_id=2**64)], {}, 422, "ue_id", 0),
    ([report(), 1], {}, 422, "(report)", 1),
])
def test_decision_errors(start_service, reports, extra, status, field, ue) -> None:
    running = start_service(max_batch_size=8)
    with httpx.Client(base_url=running.http, timeout=30) as client:
        response = decide(client, reports, **extra)
        assert response.status_code == status
        error = response.json()["error"]
        assert (error["field"], error["ue_index"]) == (field, ue)
        assert ("limit is 8" in error["message"]) == (status == 413)
        if ue >= 0:
            assert error["message"].startswith(f"reports[{ue}]")
        metrics = client.get("/metrics").text
        assert f'linkadapt_errors_total{{code="{status}",transport="rest"}} 1.0' in metrics
        assert 'linkadapt_decisions_total{source="fallback"} 0.0' in metrics  # none decided


def test_bodies_that_are_not_a_json_object_get_400_and_chunked_bodies_the_limit(
        start_service) -> None:
    running = start_service(max_request_bytes=4096)
    json_type = {"content-type": "application/json"}
    with httpx.Client(base_url=running.http, timeout=30) as client:
        for content, headers, reason in [
            (b'{"schema_version": 2, bad', json_type, "not valid JSON at character 22"),
            (b"[]", json_type, "must be a JSON object"),
            (b"hello", {"content-type": "text/plain"}, "sent as application/json, got text/plain"),
        ]:
            response = client.post("/v1/decisions", content=content, headers=headers)
            assert response.status_code == 400, content
            error = response.json()["error"]
            assert error["code"] == "INVALID_ARGUMENT" and reason in error["message"], error
            assert (error["field"], error["ue_index"]) == ("", -1)

        def chunks(body: bytes):  # no length known in advance: sent chunked
            yield from (body[i:i + 1000] for i in range(0, len(body), 1000))

        body = json.dumps({"schema_version": 2, "cell_id": 4, "reports": [report()]}).encode()
        small = client.post("/v1/decisions", content=chunks(body), headers=json_type)
        assert small.status_code == 200 and small.json()["cell_id"] == 4
        big = client.post("/v1/decisions", content=chunks(body + b" " * 5000), headers=json_type)
        assert big.status_code == 413
        assert "exceeds the limit of 4096 bytes" in big.json()["error"]["message"]


def test_unexpected_failures_answer_with_the_error_body(start_service, monkeypatch,
                                                        caplog) -> None:
    running = start_service()

    def broken() -> list:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(running.service.registry, "list", broken)
    with httpx.Client(base_url=running.http, timeout=30) as client:
        response = client.get("/v1/models", headers=AUTH)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "INTERNAL"
        assert "RuntimeError" in response.json()["error"]["message"]
        assert 'linkadapt_errors_total{code="500",transport="rest"} 1.0' in \
            client.get("/metrics").text
        assert client.get("/v1/models", headers=AUTH).status_code == 500
    # Each failure is counted; its traceback is logged once per interval.
    assert len([r for r in caplog.records if r.exc_info]) == 1


def test_openapi_documents_the_error_body(start_service) -> None:
    running = start_service()
    with httpx.Client(base_url=running.http, timeout=30) as client:
        spec = client.get("/openapi.json").json()
    decide_responses = spec["paths"]["/v1/decisions"]["post"]["responses"]
    assert {"400", "401", "413", "422", "500"} <= decide_responses.keys()
    assert decide_responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorBody")
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    activate = spec["paths"]["/v1/models/{model_id}/{version}/activate"]["post"]["responses"]
    assert {"401", "403", "404", "422", "503"} <= activate.keys()
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_bad_uploads_keep_the_active_model_serving(start_service) -> None:
    running = start_service(max_model_bytes=1 << 20)
    with httpx.Client(base_url=running.http, timeout=60) as client:
        assert upload(client, mlp_bytes("good", "1"), activate="true").status_code == 201
        for name, (make, reason) in BAD.items():
            response = upload(client, make(), activate="true")
            assert 400 <= response.status_code < 500, name
            assert reason.replace("\\", "") in response.json()["error"]["message"] or \
                response.status_code == 413, (name, response.text)
            served = decide(client, [report()]).json()["decisions"][0]
            assert (served["model_id"], served["source"]) == ("good", "DECISION_SOURCE_MODEL")
        assert [m["model_id"] for m in client.get("/v1/models", headers=AUTH).json()["models"]] \
            == ["good"]


def test_auth_rules_and_body_limit(start_service) -> None:
    running = start_service(decisions_require_token=True, max_request_bytes=4096)
    with httpx.Client(base_url=running.http, timeout=30) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Basic x"}).status_code == 401
        assert client.get("/v1/models", headers=AUTH).status_code == 200
        assert decide(client, [report()]).status_code == 401
        ok = client.post("/v1/decisions", headers=AUTH, json={"schema_version": 2,
                                                              "reports": [report()]})
        assert ok.status_code == 200
        big = client.post("/v1/decisions", headers=AUTH, content=b"{" + b" " * 10_000 + b"}",
                          params={}, )
        assert big.status_code == 413
    running.stop()
    no_token = start_service(admin_token=None)
    with httpx.Client(base_url=no_token.http, timeout=30) as client:
        assert client.get("/v1/models", headers=AUTH).status_code == 403
        assert decide(client, [report()]).status_code == 200


def test_activation_answers_name_the_registry_key(start_service, tmp_path) -> None:
    default = tmp_path / "default.onnx"
    default.write_bytes(mlp_bytes("m", "1"))  # the same card key as the stored model below
    running = start_service(default_model=default)
    with httpx.Client(base_url=running.http, timeout=30) as client:
        assert upload(client, mlp_bytes("m", "1", seed=3)).status_code == 201
        active = client.post("/v1/models/m/1/activate", headers=AUTH).json()
        assert (active["active"], active["origin"], active["model_id"]) == ("m@1", "store", "m")
        back = client.post("/v1/models/rollback", headers=AUTH).json()
        assert (back["active"], back["origin"], back["version"]) == ("default", "embedded", "1")
        assert back["sha256"] != active["sha256"]
        assert client.get("/v1/models", headers=AUTH).json()["active"] == "default"


def test_docs_are_served_without_internet(start_service) -> None:
    """/docs and /redoc load every asset from the service itself (an offline RIC cluster)."""
    import re

    running = start_service()
    with httpx.Client(base_url=running.http, timeout=30) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200
            assets = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", html.text)
            assets += re.findall(r"""url\s*:\s*['"]([^'"]+)['"]""", html.text)
            assert assets
            for asset in assets:
                assert not asset.startswith(("http:", "https:", "//")), asset
                assert client.get(asset).status_code == 200, asset
        assert client.get("/openapi.json").json()["info"]["title"] == "linkadapt xApp"


def test_garbage_decision_bodies_are_refused_cleanly(start_service, caplog) -> None:
    """Random bytes and mutated valid bodies: 4xx with a reason, counted, logged once."""
    import logging
    import random

    running = start_service()
    running.service.registry.upload(mlp_bytes("m", "1"))
    running.service.registry.activate("m@1")
    rng = random.Random(15)
    valid = json.dumps({"schema_version": features.FEATURE_SCHEMA_VERSION, "cell_id": 1,
                        "slot": 2, "reports": [report(), report(ue_id=3)]}).encode()
    odd = [b"-1", b"1e309", b"null", b"[]", b"{}", b'"x"', b"99999999999999999999999", b"NaN"]

    def mutated() -> bytes:
        body = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body))
            op = rng.randrange(3)
            if op == 0:
                body[at] = rng.randrange(256)
            elif op == 1:
                del body[at:at + rng.randint(1, 5)]
            else:
                body[at:at] = rng.choice(odd)
        return bytes(body)

    bodies = [rng.randbytes(rng.randint(0, 200)) for _ in range(300)]
    bodies += [mutated() for _ in range(300)]
    caplog.set_level(logging.INFO)
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=running.http, timeout=30) as client:
        for body in bodies:
            response = client.post("/v1/decisions", content=body,
                                   headers={"content-type": "application/json"})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code != 200:
                assert "\n" not in response.json()["error"]["message"]
        assert client.get("/ric/v1/health/ready").status_code == 200
        metrics = client.get("/metrics").text
    assert set(statuses) <= {200, 400, 422} and statuses.get(200, 0) < len(bodies)
    for status in (400, 422):
        if status in statuses:
            counted = f'linkadapt_errors_total{{code="{status}",transport="rest"}}'
            assert f"{counted} {statuses[status]}.0" in metrics
    assert not [r for r in caplog.records if r.exc_info]
    refused = [r for r in caplog.records if r.name == "xapp.refused"]
    assert 1 <= len(refused) <= 2 * len({400, 422} & set(statuses))  # at most once per interval
