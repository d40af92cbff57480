"""TLS and mutual TLS on both transports, with certificates made at test time.

Every test runs the real service (grpc.aio + uvicorn on loopback ports) and real
clients (grpc channels, httpx, raw ``ssl`` sockets); the certificates come from
``tests/certificates.py``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from certificates import TestPki, issue, make_pki, replace_file, served_serial
from conftest import Running, report
from google.protobuf import json_format

from linkadapt.cli import main
from xapp import features
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.settings import EMBEDDED_DEFAULT_MODEL, SettingsError, load_settings
from xapp.tls import CertificateFiles, rest_ssl_context
from xapp.tls_client import ClientTls, client_failure_hint
from xapp.tls_pem import MINIMUM_VERSION, SERVER_FLAGS, TlsError, load_chain

REQUEST = {"schema_version": features.FEATURE_SCHEMA_VERSION, "cell_id": 1, "slot": 2,
           "reports": [report()]}


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def start_tls(start_service: Callable[..., Running], pki: TestPki
              ) -> Callable[..., Running]:
    """Start the service with the test server certificate (mutual: with the client CA)."""
    def start(mutual: bool = False, **overrides: Any) -> Running:
        extra = {"tls_client_ca": pki.ca.cert} if mutual else {}
        return start_service(tls_cert=pki.server.cert, tls_key=pki.server.key,
                             default_model=EMBEDDED_DEFAULT_MODEL, **extra, **overrides)
    return start


def _trusted(pki: TestPki, with_cert: bool = True) -> ClientTls:
    return ClientTls(pki.ca.cert, pki.client.cert if with_cert else None,
                     pki.client.key if with_cert else None)


def _grpc_call(target: str, tls: ClientTls | None, stream: bool) -> Any:
    """One Decide (or a one-message StreamDecisions) over a fresh channel."""
    request = pb.DecisionRequest(schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=1,
                                 slot=2, reports=[json_format.ParseDict(report(ue_id=7),
                                                                        pb.UeReport())])

    async def call() -> Any:
        channel = (grpc.aio.insecure_channel(target) if tls is None
                   else grpc.aio.secure_channel(target, tls.grpc_credentials()))
        try:
            stub = pb_grpc.LinkAdaptationStub(channel)
            if not stream:
                return await stub.Decide(request, timeout=10)
            responses = [r async for r in stub.StreamDecisions(iter([request]), timeout=10)]
            return responses[0]
        finally:
            await channel.close()

    return asyncio.run(call())


def _grpc_status(target: str, tls: ClientTls | None, stream: bool) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        _grpc_call(target, tls, stream)
    return caught.value.code()  # type: ignore[attr-defined, no-any-return]


def _rest(running: Running, tls: ClientTls | None, path: str = "/v1/decisions") -> httpx.Response:
    scheme = "http" if tls is None else "https"
    url = f"{scheme}://127.0.0.1:{running.bound.http_port}{path}"
    verify: Any = True if tls is None else tls.ssl_context()
    with httpx.Client(verify=verify, timeout=10) as client:
        if path == "/v1/decisions":
            return client.post(url, json=REQUEST)
        return client.get(url)


def _metric(running: Running, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in running.service.metrics.render().decode().splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return 0.0


def _assert_ready(running: Running, pki: TestPki) -> None:
    tls = _trusted(pki)
    assert _rest(running, tls, "/ric/v1/health/ready").status_code == 200
    assert _grpc_call(running.grpc, tls, stream=False).decisions[0].ue_id == 7


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"tls_cert": "a.crt"}, "--tls-cert and --tls-key"),
    ({"tls_cert": "a.crt", "tls_key": "a.key", "insecure": True}, "--insecure"),
    ({"tls_client_ca": "ca.crt"}, "--tls-client-ca"),
    ({"tls_cert": "a", "tls_key": "b", "tls_client_names": "gnb-1"}, "--tls-client-names"),
])
def test_contradictory_tls_settings_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(values, environ={})


def test_settings_come_from_the_environment_and_client_names_split_on_commas() -> None:
    settings = load_settings(environ={"LINKADAPT_TLS_CERT": "s.crt", "LINKADAPT_TLS_KEY": "s.key",
                                      "LINKADAPT_TLS_CLIENT_CA": "ca.crt",
                                      "LINKADAPT_TLS_CLIENT_NAMES": "gnb-1, gnb-2"})
    assert settings.tls_cert == Path("s.crt") and settings.tls_client_names == ("gnb-1", "gnb-2")
    assert load_settings(environ={"LINKADAPT_INSECURE": "1"}).insecure


def _serve(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path, *flags: str) -> tuple[int, str]:
    for name in [n for n in os.environ if n.startswith("LINKADAPT_")]:
        monkeypatch.delenv(name)
    status = main(["serve", "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
                   "--model-store", str(tmp_path / "store"), *flags])
    return status, capsys.readouterr().err


def test_serve_without_tls_or_insecure_refuses_in_one_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    status, err = _serve(capsys, monkeypatch, tmp_path)
    assert status == 2
    assert err.count("\n") == 1 and "--tls-cert" in err and "--insecure" in err


@pytest.mark.parametrize(("files", "flag"), [
    (lambda p: (p.server.cert, p.client.key), "--tls-key"),
    (lambda p: (p.server.key, p.server.key), "--tls-cert"),
    (lambda p: (p.directory / "missing.crt", p.server.key), "--tls-cert"),
])
def test_unusable_server_files_stop_serve_with_one_line_naming_the_flag(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        pki: TestPki, files: Callable[[TestPki], tuple[Path, Path]], flag: str) -> None:
    cert, key = files(pki)
    status, err = _serve(capsys, monkeypatch, tmp_path, "--tls-cert", str(cert),
                         "--tls-key", str(key))
    assert status == 2
    ours = [line for line in err.splitlines() if line.startswith("linkadapt serve:")]
    assert len(ours) == 1 and flag in ours[0], err
    assert "Traceback" not in err


def test_a_bad_client_ca_names_its_flag(pki: TestPki) -> None:
    with pytest.raises(TlsError, match="--tls-client-ca"):
        CertificateFiles(pki.server.cert, pki.server.key, pki.server.key)


def test_files_gone_between_the_read_and_the_load_name_their_flag(pki: TestPki,
                                                                  tmp_path: Path) -> None:
    # What a rotation that removes the files, then writes them, can leave a reload to see.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    gone = tmp_path / "gone.pem"
    with pytest.raises(TlsError, match=r"--tls-cert .* cannot be read"):
        load_chain(context, gone, pki.server.key, SERVER_FLAGS)
    with pytest.raises(TlsError, match=r"--tls-key .*gone\.pem: cannot be read"):
        load_chain(context, pki.server.cert, gone, SERVER_FLAGS)


def test_rest_context_refuses_anything_older_than_tls_1_2(pki: TestPki) -> None:
    context = rest_ssl_context(CertificateFiles(pki.server.cert, pki.server.key))
    assert MINIMUM_VERSION == ssl.TLSVersion.TLSv1_2
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_both_ports_refuse_tls_older_than_1_2(start_tls: Callable[..., Running],
                                              pki: TestPki) -> None:
    running = start_tls()

    def version(port: int, highest: ssl.TLSVersion) -> str | None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(pki.ca.cert)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
        with warnings.catch_warnings():  # TLSv1_1 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = highest
        context.set_alpn_protocols(["h2"])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return tls.version()
        except (ssl.SSLError, OSError):
            return None

    for port in (running.bound.grpc_port, running.bound.http_port):
        assert version(port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert version(port, ssl.TLSVersion.TLSv1_1) is None
    assert _metric(running, "linkadapt_tls_handshakes_total", transport="rest",
                   outcome="protocol_version") == 1


# -- server TLS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_grpc_over_tls_trusted_untrusted_and_plaintext_clients(
        start_tls: Callable[..., Running], pki: TestPki, stream: bool) -> None:
    running = start_tls()
    assert _grpc_call(running.grpc, ClientTls(pki.ca.cert), stream).decisions[0].ue_id == 7
    untrusted = ClientTls(pki.rogue_ca.cert)
    assert _grpc_status(running.grpc, untrusted, stream) == grpc.StatusCode.UNAVAILABLE
    assert _grpc_status(running.grpc, None, stream) == grpc.StatusCode.UNAVAILABLE
    _assert_ready(running, pki)
    assert _metric(running, "linkadapt_tls_handshakes_total", transport="grpc",
                   outcome="started") >= 3


def test_rest_over_tls_trusted_untrusted_and_plaintext_clients(
        start_tls: Callable[..., Running], pki: TestPki) -> None:
    running = start_tls()
    answer = _rest(running, ClientTls(pki.ca.cert))
    assert answer.status_code == 200 and answer.json()["decisions"][0]["ue_id"] == 17
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        _rest(running, ClientTls(pki.rogue_ca.cert))
    with pytest.raises(httpx.RemoteProtocolError):  # the server drops the plaintext request
        _rest(running, None)
    # TLS 1.2 exactly is accepted (the minimum), as is the default (1.3)
    context = ClientTls(pki.ca.cert).ssl_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=context) as client:
        assert client.get(f"https://127.0.0.1:{running.bound.http_port}/ric/v1/health/alive"
                          ).status_code == 200
    _assert_ready(running, pki)
    counted = {outcome: _metric(running, "linkadapt_tls_handshakes_total", transport="rest",
                                outcome=outcome)
               for outcome in ("client_refused_server_certificate", "not_tls")}
    assert counted == {"client_refused_server_certificate": 1, "not_tls": 1}


# -- mutual TLS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_grpc_mutual_tls_refuses_missing_and_unsigned_client_certificates(
        start_tls: Callable[..., Running], pki: TestPki, stream: bool) -> None:
    running = start_tls(mutual=True)
    assert _grpc_call(running.grpc, _trusted(pki), stream).decisions[0].ue_id == 7
    no_cert = ClientTls(pki.ca.cert)
    unsigned = ClientTls(pki.ca.cert, pki.rogue_client.cert, pki.rogue_client.key)
    for client in (no_cert, unsigned, None):
        assert _grpc_status(running.grpc, client, stream) == grpc.StatusCode.UNAVAILABLE
    _assert_ready(running, pki)


def test_rest_mutual_tls_refuses_in_the_handshake_and_counts_why(
        start_tls: Callable[..., Running], pki: TestPki) -> None:
    running = start_tls(mutual=True)
    assert _rest(running, _trusted(pki)).status_code == 200
    for client in (ClientTls(pki.ca.cert),
                   ClientTls(pki.ca.cert, pki.rogue_client.cert, pki.rogue_client.key)):
        # TLS 1.3: the client finishes its side first and learns of the refusal on reading
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
            _rest(running, client)
    _assert_ready(running, pki)
    outcomes = {o: _metric(running, "linkadapt_tls_handshakes_total", transport="rest",
                           outcome=o)
                for o in ("no_client_certificate", "untrusted_client_certificate")}
    assert outcomes == {"no_client_certificate": 1, "untrusted_client_certificate": 1}
    assert _metric(running, "linkadapt_tls_handshakes_total", transport="rest",
                   outcome="ok") == 2  # the good client and the readiness check


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_client_names_allow_listed_by_cn_or_san_and_refusals_counted(
        start_tls: Callable[..., Running], pki: TestPki, stream: bool) -> None:
    refusing = start_tls(mutual=True, tls_client_names=("gnb-2",))
    assert _grpc_status(refusing.grpc, _trusted(pki), stream) == grpc.StatusCode.PERMISSION_DENIED
    assert _metric(refusing, "linkadapt_refused_credentials_total", transport="grpc",
                   credential="client_certificate") == 1
    by_san = start_tls(mutual=True, tls_client_names=("gnb-2", "gnb-1.ran.example"))
    assert _grpc_call(by_san.grpc, _trusted(pki), stream).decisions[0].ue_id == 7
    by_cn = start_tls(mutual=True, tls_client_names=("gnb-1",))
    assert _grpc_call(by_cn.grpc, _trusted(pki), stream).decisions[0].ue_id == 7


def test_refused_decision_tokens_are_counted(start_tls: Callable[..., Running],
                                             pki: TestPki) -> None:
    running = start_tls(decisions_require_token=True)
    assert _grpc_status(running.grpc, ClientTls(pki.ca.cert), False) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert _rest(running, ClientTls(pki.ca.cert)).status_code == 401
    for transport in ("grpc", "rest"):
        assert _metric(running, "linkadapt_refused_credentials_total", transport=transport,
                       credential="decision_token") == 1


# -- rotation -----------------------------------------------------------------------------------


def test_rotated_files_are_served_to_new_connections_without_a_restart(
        start_service: Callable[..., Running], pki: TestPki, tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "tls.crt", live / "tls.key"
    replace_file(pki.server.cert, cert)
    replace_file(pki.server.key, key)
    running = start_service(tls_cert=cert, tls_key=key, tls_client_ca=pki.ca.cert,
                            default_model=EMBEDDED_DEFAULT_MODEL)
    ports = {"rest": running.bound.http_port, "grpc": running.bound.grpc_port}
    assert {served_serial(p, pki, "h2") for p in ports.values()} == {pki.server.serial}
    # half-way (a new certificate with the old key): the old pair stays in service
    renewed = issue(pki.ca, pki.directory, "renewed", "linkadapt", server=True)
    replace_file(renewed.cert, cert)
    assert served_serial(ports["rest"], pki) == pki.server.serial
    assert served_serial(ports["grpc"], pki, "h2") == pki.server.serial
    replace_file(renewed.key, key)
    assert served_serial(ports["rest"], pki) == renewed.serial
    assert served_serial(ports["grpc"], pki, "h2") == renewed.serial
    _assert_ready(running, pki)


def test_a_half_written_rotation_is_logged_once_and_taken_when_complete(
        pki: TestPki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    replace_file(pki.server.cert, cert)
    replace_file(pki.server.key, key)
    files = CertificateFiles(cert, key)
    renewed = issue(pki.ca, pki.directory, "renewed", "linkadapt", server=True)
    replace_file(renewed.cert, cert)  # a new certificate with the old key
    assert [files.refresh() for _ in range(5)] == [1] * 5  # a handshake each
    assert len([r for r in caplog.records if "cannot be loaded yet" in r.getMessage()]) == 1
    replace_file(renewed.key, key)
    assert files.refresh() == 2 and files.pems.cert == renewed.cert.read_bytes()


# -- client messages ----------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "tls", "flag"), [
    ("certificate verify failed: unable to get local issuer certificate", "ca", "--tls-ca"),
    ("Socket closed", "ca", "--tls-cert"),
    ("Socket closed", None, "--tls-ca"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", None, "--tls-ca"),
])
def test_client_failure_hints_name_the_flag(pki: TestPki, error: str, tls: str | None,
                                            flag: str) -> None:
    client = None if tls is None else ClientTls(pki.ca.cert)
    hint = client_failure_hint(error, client)
    assert hint is not None and flag in hint and "\n" not in hint


def test_client_files_are_checked_naming_the_flag(pki: TestPki) -> None:
    with pytest.raises(TlsError, match="--tls-cert and --tls-key go together"):
        ClientTls(pki.ca.cert, pki.client.cert).check()
    with pytest.raises(TlsError, match="--tls-ca"):
        ClientTls(pki.directory / "nope.crt").check()
    with pytest.raises(TlsError, match=r"--tls-key .* is not the key"):
        ClientTls(pki.ca.cert, pki.client.cert, pki.server.key).check()


@pytest.fixture
def token_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "token"
    path.write_text("test-admin-token\n")
    yield path


def test_models_command_over_mutual_tls(start_tls: Callable[..., Running], pki: TestPki,
                                        token_file: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    running = start_tls(mutual=True)
    url = f"https://127.0.0.1:{running.bound.http_port}"
    common = ["models", "--url", url, "--token-file", str(token_file)]
    tls = ["--tls-ca", str(pki.ca.cert), "--tls-cert", str(pki.client.cert),
           "--tls-key", str(pki.client.key)]
    assert main([*common, *tls, "list"]) == 0
    assert '"models"' in capsys.readouterr().out
    # through a port-forward: the certificate names localhost, not the URL's host
    assert main([*common, *tls, "--tls-server-name", "localhost", "active"]) == 0
    capsys.readouterr()
    assert main([*common, *tls, "--tls-server-name", "xapp.example", "active"]) == 1
    assert "does not name" in capsys.readouterr().err
    cases = [
        (["--tls-ca", str(pki.rogue_ca.cert), *tls[2:]], "--tls-ca"),
        (["--tls-ca", str(pki.ca.cert)], "--tls-cert"),
        (tls[:4], "--tls-key"),
        ([], "--tls-ca"),
    ]
    for flags, named in cases:
        assert main([*common, *flags, "list"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err and "Traceback" not in err, err
    assert main(["models", "--url", url.replace("https", "http"), "--token-file",
                 str(token_file), *tls, "list"]) == 1
    assert "https://" in capsys.readouterr().err
