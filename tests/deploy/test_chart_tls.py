"""The chart under TLS (the default), mutual TLS and plaintext: Secret, probes, helm test,
ServiceMonitor and the config file the service reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from chart_support import CASES, FULLNAME, Manifests, kind_of, render

from linkadapt.commands import emulate as emulate_command
from xapp.healthcheck import alive_url
from xapp.settings import load_settings

TLS_DIR = "/etc/linkadapt/tls"


def _xapp(objects: Manifests) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = kind_of(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return spec, container


def _settings(objects: Manifests, tmp_path: Path) -> Any:
    config = tmp_path / "config-file.json"
    config.write_text(kind_of(objects, "ConfigMap")["data"]["config-file.json"])
    return load_settings(environ={}, config_file=config)


def _emulator_args(objects: Manifests) -> argparse.Namespace:
    parser = argparse.ArgumentParser(exit_on_error=False)
    emulate_command.add_arguments(parser)
    (container,) = kind_of(objects, "Pod")["spec"]["containers"]
    return parser.parse_args(container["args"][1:])


def test_tls_is_on_by_default_with_the_whole_secret_mounted(tmp_path: Path) -> None:
    objects = render()
    spec, container = _xapp(objects)
    volume = next(v for v in spec["volumes"] if v["name"] == "tls")
    assert volume["secret"] == {"secretName": f"{FULLNAME}-tls", "defaultMode": 0o440}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "tls")
    # no subPath and no items: a renewed Secret reaches the running pod
    assert mount == {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}
    settings = _settings(objects, tmp_path)
    assert (settings.tls_cert, settings.tls_key) == (Path(f"{TLS_DIR}/tls.crt"),
                                                     Path(f"{TLS_DIR}/tls.key"))
    assert settings.tls_client_ca is None and not settings.insecure
    # the admin token Secret stays
    assert any(v["name"] == "admin-token" for v in spec["volumes"])
    assert settings.admin_token_file is not None


def test_probes_run_the_health_check_which_speaks_the_services_tls(tmp_path: Path) -> None:
    objects = render()
    _, container = _xapp(objects)
    check = ["python3", "-m", "xapp.healthcheck"]
    assert container["startupProbe"]["exec"]["command"] == check
    assert container["livenessProbe"]["exec"]["command"] == check
    assert container["readinessProbe"]["exec"]["command"] == [*check, "--ready"]
    assert "httpGet" not in container["livenessProbe"]
    # what the check resolves from the pod's config file: HTTPS on the container port
    assert alive_url(_settings(objects, tmp_path)) == \
        "https://127.0.0.1:8080/ric/v1/health/alive"
    _, fallback_ok = _xapp(render({"readinessProbe": {"requireModel": False}}))
    assert fallback_ok["readinessProbe"]["exec"]["command"] == check


def test_mutual_tls_reaches_the_config_the_helm_test_and_the_servicemonitor(
        tmp_path: Path) -> None:
    objects = render(CASES["mutual-tls"])
    settings = _settings(objects, tmp_path)
    assert settings.tls_client_ca == Path(f"{TLS_DIR}/ca.crt")
    assert settings.tls_client_names == ("gnb-1",)
    spec, _ = _xapp(objects)
    assert next(v for v in spec["volumes"] if v["name"] == "tls")["secret"]["secretName"] == \
        "ric-xapp-tls"
    args = _emulator_args(objects)
    assert (args.tls_ca, args.tls_cert, args.tls_key) == (
        Path(f"{TLS_DIR}/ca.crt"), Path(f"{TLS_DIR}/tls.crt"), Path(f"{TLS_DIR}/tls.key"))
    test_volumes = {v["name"]: v for v in kind_of(objects, "Pod")["spec"]["volumes"]}
    assert test_volumes["tls"]["secret"]["secretName"] == "ric-gnb-1-tls"
    (endpoint,) = kind_of(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    tls = endpoint["tlsConfig"]
    assert tls["serverName"] == f"{FULLNAME}-http.ricxapp.svc"
    assert tls["ca"] == {"secret": {"name": "ric-xapp-tls", "key": "ca.crt"}}
    assert tls["cert"] == {"secret": {"name": "ric-xapp-tls", "key": "tls.crt"}}
    assert tls["keySecret"] == {"name": "ric-xapp-tls", "key": "tls.key"}


def test_server_only_tls_helm_test_trusts_the_ca_without_a_client_certificate() -> None:
    objects = render({"metrics": {"serviceMonitor": {"enabled": True}}})
    args = _emulator_args(objects)
    assert args.tls_ca == Path(f"{TLS_DIR}/ca.crt") and args.tls_cert is None
    (endpoint,) = kind_of(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert set(endpoint["tlsConfig"]) == {"serverName", "ca"}
    given = {"ca": {"configMap": {"name": "ric-ca", "key": "ca.crt"}}, "serverName": "xapp"}
    objects = render({"metrics": {"serviceMonitor": {"enabled": True, "tlsConfig": given}}})
    (endpoint,) = kind_of(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["tlsConfig"] == given


def test_plaintext_only_when_asked_and_then_as_before(tmp_path: Path) -> None:
    objects = render(CASES["plaintext"])
    assert _settings(objects, tmp_path).insecure
    spec, container = _xapp(objects)
    assert not any(v["name"] == "tls" for v in spec["volumes"])
    assert container["startupProbe"]["grpc"] == {"port": 50051}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ric/v1/health/ready"
    assert _emulator_args(objects).tls_ca is None
    monitored = render({**CASES["plaintext"], "metrics": {"serviceMonitor": {"enabled": True}}})
    (endpoint,) = kind_of(monitored, "ServiceMonitor")["spec"]["endpoints"]
    assert "scheme" not in endpoint and "tlsConfig" not in endpoint
    config = json.loads(kind_of(render(), "ConfigMap")["data"]["config-file.json"])
    assert "insecure" not in config["controls"]


@pytest.mark.parametrize(("values", "message"), [
    ({"tls": {"clientNames": ["gnb-1"]}}, "tls.clientNames needs tls.mutual"),
    ({"tls": {"enabled": False, "mutual": True}}, "need tls.enabled"),
    ({"config": {"extraControls": {"tls_cert": "/x.crt"}}}, "set tls.enabled and tls.secretName"),
    ({"config": {"extraControls": {"insecure": True}}}, "set tls.enabled=false"),
    ({"tls": {"clientNames": ["a,b"], "mutual": True}}, "clientNames"),
])
def test_tls_values_the_service_would_refuse_fail_the_render(
        values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(values)
