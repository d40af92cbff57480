"""The Helm chart, linted and rendered by Helm's own library, validated against Kubernetes."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from chart_support import (
    CASES,
    CHART,
    DESCRIPTOR,
    FULLNAME,
    KUBE_VERSION,
    DuplicateKeyError,
    Manifests,
    UniqueKeyLoader,
    chart,
    kind_of,
    parse_manifests,
    render,
    render_raw,
)

from xapp.settings import Settings, load_settings

# Custom resources have no schema in the Kubernetes OpenAPI documents: their kinds are
# skipped by kubernetes-validate on purpose (the Prometheus Operator validates them).
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_lint_is_clean_for_every_case(name: str) -> None:
    values = CASES[name]
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    # Severity 1 is informational (e.g. "icon is recommended"); warnings fail strict lint.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_manifest_validates_against_kubernetes(name: str) -> None:
    values = CASES[name]
    objects = render(values)
    validated = 0
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            continue
        manifest = {k: v for k, v in obj.items() if k != "__template__"}
        kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        validated += 1
    assert validated >= 6


@pytest.mark.parametrize(("name", "kinds"), [
    ("defaults", {"Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim",
                  "PodDisruptionBudget", "ServiceAccount", "Pod"}),
    ("existing-secret", {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim",
                         "PodDisruptionBudget", "ServiceAccount", "Pod"}),
    ("scaled-and-fenced", {"Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim",
                           "PodDisruptionBudget", "ServiceAccount", "Pod",
                           "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy"}),
    ("exposed-and-labelled", {"Deployment", "Service", "ConfigMap", "Secret",
                              "PodDisruptionBudget", "ServiceAccount", "Pod"}),
    ("no-persistence", {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget",
                        "ServiceAccount", "Pod"}),
])
def test_each_case_renders_its_resources(name: str, kinds: set[str]) -> None:
    objects = render(CASES[name])
    assert {o["kind"] for o in objects} == kinds
    services = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Service")
    assert services == [f"{FULLNAME}-grpc", f"{FULLNAME}-http"]


def test_the_duplicate_key_loader_refuses_duplicates() -> None:
    with pytest.raises(DuplicateKeyError, match="duplicate key 'a'"):
        yaml.load("labels: {a: x, b: y}\na: 1\nb: {a: 1}\na: 2\n", Loader=UniqueKeyLoader)


LABELLED = {
    "commonLabels": {"app.kubernetes.io/part-of": "ran", "app.kubernetes.io/version": "1",
                     "team": "ran"},
    "podLabels": {"team": "pods", "app.kubernetes.io/managed-by": "me"},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"team": "prom"}},
                "dashboard": {"enabled": True, "labelKey": "team"}},
    "networkPolicy": {"enabled": True},
    "autoscaling": {"enabled": True},
    "persistence": {"accessModes": ["ReadWriteMany"]},
}


@pytest.mark.parametrize("values", [{}, LABELLED], ids=["defaults", "labelled"])
def test_rendered_manifests_hold_each_key_once(values: dict[str, Any]) -> None:
    for name, text in render_raw(values).items():
        if name.endswith(".yaml"):
            list(yaml.load_all(text, Loader=UniqueKeyLoader))  # raises on a duplicate key


def test_common_labels_override_built_in_labels_but_not_the_selector() -> None:
    objects = render(LABELLED)
    selector = kind_of(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "ran", obj["__template__"]
        assert labels["app.kubernetes.io/version"] == "1"
        if obj["kind"] != "Pod":
            assert selector.items() <= labels.items()
    pod_labels = _xapp_pod(objects)["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert pod_labels["team"] == "pods" and pod_labels["app.kubernetes.io/managed-by"] == "me"
    assert kind_of(objects, "ServiceMonitor")["metadata"]["labels"]["team"] == "prom"
    assert kind_of(objects, "ConfigMap", "-dashboard")["metadata"]["labels"]["team"] == "1"
    test_pod = kind_of(objects, "Pod")["metadata"]["labels"]
    assert test_pod["app.kubernetes.io/component"] == "test"  # out of the Services


@pytest.mark.parametrize("name", ["commonLabels", "podLabels", "config"])
def test_null_label_maps_and_controls_render(name: str) -> None:
    values: dict[str, Any] = {"config": {"extraControls": None}} if name == "config" else {
        name: None}
    assert kind_of(render(values), "Deployment")


@pytest.mark.parametrize("key", ["app.kubernetes.io/name", "app.kubernetes.io/instance",
                                 "app.kubernetes.io/component"])
@pytest.mark.parametrize("where", ["commonLabels", "podLabels"])
def test_selector_labels_cannot_be_overridden(where: str, key: str) -> None:
    with pytest.raises(helm.HelmError, match=f"{where} cannot set {key}"):
        render_raw({where: {key: "other"}})


def test_exposing_grpc_keeps_the_http_service_internal() -> None:
    objects = render({"service": {"type": "NodePort", "grpcNodePort": 30051}})
    grpc = kind_of(objects, "Service", "-grpc")["spec"]
    assert grpc["type"] == "NodePort" and grpc["ports"][0]["nodePort"] == 30051
    http = kind_of(objects, "Service", "-http")["spec"]
    assert http["type"] == "ClusterIP"  # admin API, /metrics and /docs stay in the cluster
    assert "nodePort" not in http["ports"][0]
    objects = render({"service": {"httpType": "LoadBalancer", "httpNodePort": 30080}})
    assert kind_of(objects, "Service", "-grpc")["spec"]["type"] == "ClusterIP"
    http = kind_of(objects, "Service", "-http")["spec"]
    assert http["type"] == "LoadBalancer" and http["ports"][0]["nodePort"] == 30080
    defaults = render()
    for suffix in ("-grpc", "-http"):
        service = kind_of(defaults, "Service", suffix)["spec"]
        assert service["type"] == "ClusterIP" and "nodePort" not in service["ports"][0]


def _xapp_pod(objects: Manifests) -> dict[str, Any]:
    pod: dict[str, Any] = kind_of(objects, "Deployment")["spec"]["template"]
    return pod


@pytest.mark.parametrize("name", sorted(CASES))
def test_pods_meet_the_restricted_security_standard(name: str) -> None:
    values = CASES[name]
    objects = render(values)
    for pod_spec in (_xapp_pod(objects)["spec"], kind_of(objects, "Pod")["spec"]):
        assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod_spec["automountServiceAccountToken"] is False
        (container,) = pod_spec["containers"]
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"]["limits"] and container["resources"]["requests"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts  # the only scratch space on a read-only root filesystem


def test_probes_use_grpc_health_and_the_oran_health_endpoints() -> None:
    # plaintext; under TLS the image's health check probes (tests/deploy/test_chart_tls.py)
    (container,) = _xapp_pod(render({"tls": {"enabled": False}}))["spec"]["containers"]
    assert container["startupProbe"]["grpc"] == {"port": 50051}
    assert container["livenessProbe"]["httpGet"] == {"path": "/ric/v1/health/alive",
                                                     "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ric/v1/health/ready",
                                                      "port": "http"}
    assert container["livenessProbe"]["periodSeconds"] == 10


def test_probe_timings_are_overridable_and_fallback_only_serving_can_be_ready() -> None:
    objects = render({"readinessProbe": {"requireModel": False, "periodSeconds": 3},
                      "startupProbe": {"enabled": False}, "tls": {"enabled": False}})
    (container,) = _xapp_pod(objects)["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ric/v1/health/alive"
    assert container["readinessProbe"]["periodSeconds"] == 3
    assert "requireModel" not in container["readinessProbe"]
    assert "startupProbe" not in container


def _checksums(objects: Manifests) -> dict[str, str]:
    annotations = _xapp_pod(objects)["metadata"]["annotations"]
    return {k: v for k, v in annotations.items() if k.startswith("checksum/")}


def test_config_and_token_changes_roll_the_pods() -> None:
    base = _checksums(render({"auth": {"adminToken": "one"}}))
    assert set(base) == {"checksum/config", "checksum/secret"}
    assert all(re.fullmatch("[0-9a-f]{64}", v) for v in base.values())
    assert _checksums(render({"auth": {"adminToken": "one"}})) == base  # deterministic
    new_config = _checksums(render({"auth": {"adminToken": "one"},
                                     "config": {"logLevel": "debug"}}))
    assert new_config["checksum/config"] != base["checksum/config"]
    assert new_config["checksum/secret"] == base["checksum/secret"]
    new_token = _checksums(render({"auth": {"adminToken": "two"}}))
    assert new_token["checksum/secret"] != base["checksum/secret"]
    assert new_token["checksum/config"] == base["checksum/config"]


def test_a_generated_token_does_not_roll_the_pods_on_every_render() -> None:
    # The token is random on each offline render (no lookup), so hashing the Secret
    # would roll the pods on every helm upgrade or GitOps sync: the checksum hashes
    # only stable inputs.
    first, second = render(), render()
    assert kind_of(first, "Secret")["data"] != kind_of(second, "Secret")["data"]
    assert _checksums(first) == _checksums(second)
    assert set(_checksums(first)) == {"checksum/config", "checksum/secret"}
    given = _checksums(render({"auth": {"adminToken": "one"}}))
    assert given["checksum/secret"] != _checksums(first)["checksum/secret"]


def test_existing_secret_is_mounted_and_none_is_created() -> None:
    objects = render(CASES["existing-secret"])
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert set(_checksums(objects)) == {"checksum/config"}
    volumes = {v["name"]: v for v in _xapp_pod(objects)["spec"]["volumes"]}
    assert volumes["admin-token"]["secret"]["secretName"] == "ric-admin"
    assert volumes["admin-token"]["secret"]["items"] == [{"key": "token", "path": "token"}]
    controls = _controls(objects)
    assert controls["admin_token_file"] == "/etc/linkadapt/secret/token"


def test_generated_token_is_random_and_given_token_is_kept() -> None:
    def token(values: dict[str, Any]) -> str:
        data: dict[str, str] = kind_of(render(values), "Secret")["data"]
        return data["admin-token"]
    assert token({}) != token({})
    assert token({"auth": {"adminToken": "s3cret"}}) == "czNjcmV0"  # base64 of s3cret


def _controls(objects: Manifests) -> dict[str, Any]:
    config = kind_of(objects, "ConfigMap", FULLNAME)["data"]["config-file.json"]
    controls: dict[str, Any] = json.loads(config)["controls"]
    return controls


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_config_file_is_one_the_service_accepts(name: str, tmp_path: Any) -> None:
    values = CASES[name]
    objects = render(values)
    config = tmp_path / "config-file.json"
    config.write_text(kind_of(objects, "ConfigMap", FULLNAME)["data"]["config-file.json"])
    settings = load_settings(environ={}, config_file=config)  # the service's own loader
    (container,) = _xapp_pod(objects)["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (settings.grpc_port, settings.http_port) == (ports["grpc"], ports["http"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(settings.model_store) == mounts["model-store"]
    assert {"name": "LINKADAPT_CONFIG",
            "value": f"{mounts['config']}/config-file.json"} in container["env"]
    if (values.get("auth") or {}).get("enabled", True):
        assert str(settings.admin_token_file).startswith(mounts["admin-token"] + "/")
    else:
        assert settings.admin_token_file is None and "admin-token" not in mounts


def test_values_reach_the_config_file() -> None:
    controls = _controls(render({"config": {"maxBatchSize": 1024, "latencyBudgetUs": 80.5,
                                            "defaultTargetBler": 0.02},
                                 "containerPorts": {"grpc": 50052}}))
    assert controls["max_batch_size"] == 1024
    assert controls["latency_budget_us"] == 80.5
    assert controls["grpc_port"] == 50052
    assert controls["default_target_bler"] == 0.02


def test_the_default_target_bler_is_ten_percent_and_checked() -> None:
    assert _controls(render())["default_target_bler"] == 0.1
    for bad in (0, 1, 1.5, -0.1, "0.1"):
        with pytest.raises(helm.HelmError, match="defaultTargetBler"):
            render_raw({"config": {"defaultTargetBler": bad}})


# The controls the chart writes itself, and what sets each one instead. In
# config.extraControls they fail the render: the chart's value would win silently.
CHART_CONTROLS = {
    "host": "LINKADAPT_HOST in extraEnvVars",
    "grpc_port": "containerPorts.grpc",
    "http_port": "containerPorts.http",
    "model_store": "persistence.mountPath",
    "log_level": "config.logLevel",
    "max_batch_size": "config.maxBatchSize",
    "max_request_bytes": "config.maxRequestBytes",
    "max_model_bytes": "config.maxModelBytes",
    "latency_budget_us": "config.latencyBudgetUs",
    "fallback_backoff": "config.fallbackBackoff",
    "default_target_bler": "config.defaultTargetBler",
    "decisions_require_token": "config.decisionsRequireToken",
    "shutdown_grace_s": "config.shutdownGraceSeconds",
    "admin_token_file": "auth.existingSecret",
    "admin_token": "auth.adminToken or auth.existingSecret",
    "tls_cert": "tls.enabled and tls.secretName",
    "tls_key": "tls.enabled and tls.secretName",
    "tls_client_ca": "tls.mutual",
    "tls_client_names": "tls.clientNames",
    "insecure": "tls.enabled=false",
}


def test_extra_controls_accept_the_controls_the_chart_does_not_set() -> None:
    schema = chart().schema
    assert schema is not None
    extra = schema["properties"]["config"]["properties"]["extraControls"]
    # Every settings field gets past the schema (a typo does not), so that a field the
    # chart sets reaches the render's refusal, which names the value to use instead.
    assert sorted(extra["propertyNames"]["enum"]) == sorted(Settings.model_fields)
    # The others with the same types and bounds as the descriptor's controls schema.
    descriptor = json.loads((DESCRIPTOR / "controls-schema.json").read_text())["properties"]
    assert set(CHART_CONTROLS) <= set(descriptor) == set(Settings.model_fields)
    assert extra["properties"] == {
        name: {k: v for k, v in field.items() if k != "default"}
        for name, field in descriptor.items() if name not in CHART_CONTROLS}
    model = "/etc/linkadapt/models/cell.onnx"
    controls = _controls(render({"config": {"extraControls": {"default_model": model}}}))
    assert controls["default_model"] == model and controls["host"] == "0.0.0.0"


def test_every_control_the_chart_writes_is_refused_in_extra_controls() -> None:
    written = {key for case in ("defaults", "mutual-tls", "plaintext")
               for key in _controls(render(CASES[case]))}
    assert written | {"admin_token"} == set(CHART_CONTROLS)  # admin_token: never, auth.* do


@pytest.mark.parametrize(("key", "instead"), sorted(CHART_CONTROLS.items()))
def test_extra_controls_the_chart_sets_fail_the_render(key: str, instead: str) -> None:
    value = _controls(render()).get(key, "s3cret")  # even the chart's own value
    with pytest.raises(helm.HelmError,
                       match=rf"config\.extraControls\.{key}: .*{re.escape(instead)}"):
        render_raw({"config": {"extraControls": {key: value}}})


@pytest.mark.parametrize(("values", "message"), [
    # Neither is applied: the chart's info and 8080 would have been rendered silently.
    ({"config": {"extraControls": {"log_level": "debug", "http_port": 9000}}},
     "config.extraControls.http_port: set containerPorts.http instead"),
    ({"config": {"extraControls": {"default_model": "/models/cell.onnx", "host": "::"}}},
     "config.extraControls.host: the chart binds 0.0.0.0"),
    # A merge keeping only non-empty chart values let 5 win over fallbackBackoff 0.
    ({"config": {"fallbackBackoff": 0, "extraControls": {"fallback_backoff": 5}}},
     "config.extraControls.fallback_backoff: set config.fallbackBackoff instead"),
    # The service would refuse it without a token: a crash loop, not a failed render.
    ({"auth": {"enabled": False}, "config": {"extraControls": {"decisions_require_token": True}}},
     "config.extraControls.decisions_require_token: set config.decisionsRequireToken instead"),
])
def test_extra_controls_never_lose_silently(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render_raw(values)


def test_zero_and_false_chart_values_reach_the_config_file() -> None:
    controls = _controls(render({"config": {
        "fallbackBackoff": 0, "shutdownGraceSeconds": 0, "decisionsRequireToken": False,
        "extraControls": {"default_model": "/models/cell.onnx"}}}))
    assert controls["fallback_backoff"] == 0 and controls["shutdown_grace_s"] == 0
    assert controls["decisions_require_token"] is False


def test_persistence_off_uses_an_empty_dir() -> None:
    volumes = {v["name"]: v for v in _xapp_pod(render(CASES["no-persistence"]))["spec"]["volumes"]}
    assert volumes["model-store"] == {"name": "model-store", "emptyDir": {}}
    volumes = {v["name"]: v for v in _xapp_pod(render())["spec"]["volumes"]}
    claim = volumes["model-store"]["persistentVolumeClaim"]["claimName"]
    assert claim == f"{FULLNAME}-model-store"


# A ReadWriteOnce(Pod) volume cannot attach to a surge pod on another node: the old pod
# stops (and releases the volume) before the new one starts. Not Recreate: see below.
ONE_AT_A_TIME = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
# A shared store (or none): a new pod is ready before an old one stops.
SURGE = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


@pytest.mark.parametrize(("values", "strategy"), [
    ({}, SURGE),
    ({"persistence": {"accessModes": ["ReadWriteOnce"]}}, ONE_AT_A_TIME),
    ({"persistence": {"accessModes": ["ReadWriteOncePod"]}}, ONE_AT_A_TIME),
    ({"persistence": {"accessModes": ["ReadWriteMany", "ReadWriteOnce"]}}, ONE_AT_A_TIME),
    # An existing claim's access modes are unknown: taken as ReadWriteOnce.
    ({"persistence": {"existingClaim": "store", "accessModes": ["ReadWriteMany"]}},
     ONE_AT_A_TIME),
    ({"persistence": {"accessModes": ["ReadWriteMany"]}}, SURGE),
    ({"persistence": {"enabled": False}}, SURGE),
    # The operator's choice always wins.
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}),
    ({"persistence": {"existingClaim": "store"}, "updateStrategy": {"type": "RollingUpdate"}},
     {"type": "RollingUpdate"}),
    ({"updateStrategy": {"type": "Recreate"}}, {"type": "Recreate"}),
])
def test_update_strategy_follows_the_model_store(
    values: dict[str, Any], strategy: dict[str, Any]
) -> None:
    assert kind_of(render(values), "Deployment")["spec"]["strategy"] == strategy


def _three_way_merge(old: dict[str, Any], new: dict[str, Any],
                     live: dict[str, Any]) -> dict[str, Any]:
    """What ``helm upgrade`` leaves of a live object (Helm 3's three-way merge patch).

    Fields of ``new`` are set, fields of ``old`` missing from ``new`` are deleted, and
    fields only the live object holds (the API server's defaults) are kept.
    """
    merged = {k: v for k, v in live.items() if k in new or k not in old}
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _three_way_merge(old.get(key) or {}, value, merged[key])
        else:
            merged[key] = value
    return merged


def _strategy_errors(strategy: dict[str, Any]) -> list[str]:
    """The API server's checks of a Deployment strategy (apps/v1 validation)."""
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "Recreate":
        return ["rollingUpdate may not be specified when strategy type is 'Recreate'"] if (
            rolling is not None) else []
    if rolling and rolling.get("maxSurge", 1) in (0, "0%") and rolling.get(
            "maxUnavailable", 1) in (0, "0%"):
        return ["maxUnavailable may not be 0 when maxSurge is 0"]
    return []


def test_the_three_way_merge_model_reproduces_the_recreate_upgrade_failure() -> None:
    live = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    merged = _three_way_merge({"type": "RollingUpdate"}, {"type": "Recreate"}, live)
    assert _strategy_errors(merged) == [  # helm/helm#5144
        "rollingUpdate may not be specified when strategy type is 'Recreate'"]


@pytest.mark.parametrize("values", [
    {"persistence": {"accessModes": ["ReadWriteOncePod"]}},
    {"persistence": {"existingClaim": "store"}}, *CASES.values(),
], ids=["read-write-once-pod", "existing-claim", *CASES])
def test_the_default_strategy_upgrades_a_release_of_chart_0_1_0(values: dict[str, Any]) -> None:
    # Chart 0.1.0 rendered {type: RollingUpdate}; the API server defaulted rollingUpdate.
    old = {"type": "RollingUpdate"}
    live = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    new = kind_of(render(values), "Deployment")["spec"]["strategy"]
    merged = _three_way_merge(old, new, live)
    assert _strategy_errors(merged) == []
    assert merged["type"] == new["type"]
    assert (new.get("rollingUpdate") or {}).items() <= (merged.get("rollingUpdate") or {}).items()
    # and a later upgrade from this chart's own strategy patches cleanly too
    for later in ({"type": "RollingUpdate"}, ONE_AT_A_TIME):
        assert _strategy_errors(_three_way_merge(new, later, merged)) == []


def _count(value: int | str, replicas: int, round_up: bool) -> int:
    """A Deployment's or PDB's ``N`` or ``"N%"`` as pods (Kubernetes' intstr rounding)."""
    if isinstance(value, int):
        return value
    share = int(value.rstrip("%")) * replicas
    return -(-share // 100) if round_up else share // 100


def _fewest_ready_pods(objects: Any) -> tuple[int, list[str]]:
    """The fewest ready xApp pods a rollout or a voluntary eviction can leave, and why.

    A rollout may stop ``maxUnavailable`` pods (rounded down) before their successors
    are ready, and it can make progress only with a surge (``maxSurge``, rounded up) or
    something unavailable; a surge pod on another node can start only on a store it can
    attach (ReadWriteMany, or no claim). The PDB bounds drains and other evictions.
    """
    deployment = kind_of(objects, "Deployment")["spec"]
    hpa = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    replicas = hpa[0]["spec"]["minReplicas"] if hpa else deployment["replicas"]
    strategy = deployment["strategy"]
    problems = []
    assert strategy["type"] == "RollingUpdate", strategy  # Recreate stops every pod first
    rolling = strategy.get("rollingUpdate", {})
    surge = _count(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _count(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        problems.append("the rollout can never progress")
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    if surge and claims and "ReadWriteMany" not in claims[0]["spec"]["accessModes"]:
        problems.append("a surge pod on another node cannot attach the store")
    pdb = kind_of(objects, "PodDisruptionBudget")["spec"]
    if "minAvailable" in pdb:
        after_eviction = _count(pdb["minAvailable"], replicas, round_up=True)
    else:
        after_eviction = replicas - _count(pdb["maxUnavailable"], replicas, round_up=True)
    probe = deployment["template"]["spec"]["containers"][0]["readinessProbe"]
    # Plaintext: an HTTP GET of /ready; under TLS the image's health check with --ready.
    ready = (probe["httpGet"]["path"] == "/ric/v1/health/ready" if "httpGet" in probe
             else "--ready" in probe["exec"]["command"])
    if not ready:
        problems.append("a pod counts as ready before a model serves")
    return min(replicas - unavailable, after_eviction), problems


@pytest.mark.parametrize("name", ["defaults", "scaled-and-fenced"])
def test_the_defaults_keep_a_ready_pod_through_rollouts_and_drains(name: str) -> None:
    fewest, problems = _fewest_ready_pods(render(CASES[name]))
    assert problems == [] and fewest >= 1


@pytest.mark.parametrize(("values", "problem"), [
    ({"replicaCount": 1, "persistence": {"accessModes": ["ReadWriteOnce"]}}, None),
    ({"updateStrategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "100%"}}}, None),
    ({"pdb": {"minAvailable": 0}}, None),
    ({"persistence": {"accessModes": ["ReadWriteOnce"]},
      "updateStrategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
     "cannot attach"),
])
def test_the_rollout_check_catches_a_gap(values: dict[str, Any], problem: str | None) -> None:
    """The check above can fail: settings that do leave no ready pod (or never finish)."""
    fewest, problems = _fewest_ready_pods(render(values))
    assert fewest < 1 or any(problem in p for p in problems if problem)


def test_hpa_pdb_servicemonitor_and_networkpolicy() -> None:
    objects = render(CASES["scaled-and-fenced"])
    assert "replicas" not in kind_of(objects, "Deployment")["spec"]  # the HPA owns it
    hpa = kind_of(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu", "memory"]
    assert kind_of(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    monitor = kind_of(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    policy = kind_of(objects, "NetworkPolicy")["spec"]
    sources = policy["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {f"{FULLNAME}-client": "true"}}} in sources
    assert {"namespaceSelector": {"matchLabels": {"ric": "e2"}}} in sources
    test_pod = kind_of(objects, "Pod")
    assert test_pod["metadata"]["labels"][f"{FULLNAME}-client"] == "true"
    assert kind_of(objects, "PersistentVolumeClaim")["spec"]["storageClassName"] == ""


# A label key's name part: 63 characters at most, alphanumeric at both ends.
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


@pytest.mark.parametrize("fullname", ["x" * 58, "x" * 55 + "-yy", "ric-linkadapt"])
def test_the_client_label_key_is_valid_and_shared(fullname: str) -> None:
    objects = render({"fullnameOverride": fullname, "networkPolicy": {"enabled": True}})
    policy = kind_of(objects, "NetworkPolicy")["spec"]
    (key,) = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert LABEL_NAME.fullmatch(key) and key.endswith("-client"), key
    assert fullname.startswith(key.removesuffix("-client"))
    assert kind_of(objects, "Pod")["metadata"]["labels"][key] == "true"
    for obj in objects:
        if obj["kind"] == "Service":
            assert LABEL_NAME.fullmatch(obj["metadata"]["name"])


def test_default_pdb_allows_one_disruption() -> None:
    assert kind_of(render(), "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": kind_of(render(), "Deployment")["spec"]["selector"],
    }


@pytest.mark.parametrize(("pdb", "spec"), [
    ({"maxUnavailable": 0}, {"maxUnavailable": 0}),  # blocks voluntary evictions: honoured
    ({"minAvailable": 0}, {"minAvailable": 0}),
    ({"minAvailable": "50%"}, {"minAvailable": "50%"}),
    ({"maxUnavailable": 2}, {"maxUnavailable": 2}),
])
def test_pdb_honours_zero(pdb: dict[str, Any], spec: dict[str, Any]) -> None:
    rendered = kind_of(render({"pdb": pdb}), "PodDisruptionBudget")["spec"]
    assert {k: v for k, v in rendered.items() if k != "selector"} == spec


def test_image_reference() -> None:
    def image(values: dict[str, Any]) -> str:
        (container,) = _xapp_pod(render(values))["spec"]["containers"]
        return str(container["image"])
    assert image({}) == "docker.io/linkadapt/linkadapt-xapp:0.1.0"  # appVersion
    assert image({"image": {"registry": "", "tag": "1.2.3"}}) == "linkadapt/linkadapt-xapp:1.2.3"
    digest = CASES["no-persistence"]["image"]["digest"]
    assert image(CASES["no-persistence"]).endswith(f"@{digest}")


def test_helm_test_hook_runs_the_emulator_with_slos() -> None:
    pod = kind_of(render(), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    (xapp,) = _xapp_pod(render())["spec"]["containers"]
    assert container["image"] == xapp["image"]  # the emulator ships in the serving image
    args = container["args"]
    assert args[0] == "emulate"
    assert args[args.index("--target") + 1] == f"{FULLNAME}-grpc:50051"
    assert float(args[args.index("--slo-p99-us") + 1]) > 0
    assert 0 < float(args[args.index("--max-bler") + 1]) < 1
    assert all(isinstance(a, str) for a in args)


@pytest.mark.skipif(importlib.util.find_spec("linkadapt.commands.emulate") is None,
                    reason="the emulator command is not in this tree yet")
def test_helm_test_arguments_parse_with_the_real_emulator() -> None:
    from linkadapt.commands import emulate as emulate_command

    parser = argparse.ArgumentParser(prog="linkadapt emulate", exit_on_error=False)
    emulate_command.add_arguments(parser)
    (container,) = kind_of(render(), "Pod")["spec"]["containers"]
    parsed = parser.parse_args(container["args"][1:])
    assert parsed.target == f"{FULLNAME}-grpc:50051"
    assert parsed.slots == 300 and parsed.stream is True


def test_helm_test_sends_the_token_when_decisions_require_it() -> None:
    objects = render({"config": {"decisionsRequireToken": True},
                      "auth": {"existingSecret": "ric-admin"}})
    kubernetes_validate.validate(
        {k: v for k, v in kind_of(objects, "Pod").items() if k != "__template__"},
        KUBE_VERSION, strict=True)
    spec = kind_of(objects, "Pod")["spec"]
    (container,) = spec["containers"]
    token_file = container["args"][container["args"].index("--token-file") + 1]
    assert token_file == "/etc/linkadapt/secret/admin-token"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["admin-token"]["secret"]["secretName"] == "ric-admin"
    (plain,) = kind_of(render(), "Pod")["spec"]["containers"]
    assert "--token-file" not in plain["args"]


def test_emulator_hook_can_be_disabled() -> None:
    assert not [o for o in render({"tests": {"emulator": {"enabled": False}}})
                if o["kind"] == "Pod"]


@pytest.mark.parametrize(("values", "message"), [
    ({"replicaCount": -1}, "replicaCount"),
    ({"replicaCount": "two"}, "replicaCount"),
    ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ({"config": {"logLevel": "verbose"}}, "logLevel"),
    ({"tests": {"emulator": {"maxBler": 1.5}}}, "maxBler"),
    ({"replicas": 2}, "replicas"),  # a typo is refused, not ignored
    # The service refuses unknown controls and bad types at start-up: a crash loop.
    ({"config": {"extraControls": {"max_batch": 8}}}, "max_batch"),
    ({"config": {"extraControls": {"default_model": 5}}}, "default_model"),
])
def test_schema_rejects_bad_values_in_a_real_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render_raw(values)


@pytest.mark.parametrize(("values", "message"), [
    ({"config": {"decisionsRequireToken": True}, "auth": {"enabled": False}},
     "decisionsRequireToken needs auth.enabled"),
    ({"containerPorts": {"grpc": 8080}}, "must differ"),
    ({"config": {"shutdownGraceSeconds": 30}}, "below terminationGracePeriodSeconds"),
    ({"config": {"extraControls": {"admin_token": "s3cret"}}},
     "config.extraControls.admin_token: use auth.adminToken or auth.existingSecret"),
    ({"config": {"extraControls": {"admin_token": "s3cret"}}, "auth": {"enabled": False}},
     "config.extraControls.admin_token: use auth.adminToken or auth.existingSecret"),
    ({"service": {"grpcNodePort": 30051}}, "service.grpcNodePort needs service.type"),
    ({"service": {"type": "NodePort", "httpNodePort": 30080}},
     "service.httpNodePort needs service.httpType"),
])
def test_combinations_the_service_would_refuse_fail_the_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render_raw(values)


def test_notes_render() -> None:
    notes = render_raw()["linkadapt/templates/NOTES.txt"]
    assert f"{FULLNAME}-grpc.ricxapp.svc:50051" in notes
    assert "readinessProbe.requireModel=false" in notes
    scaled = render_raw({"replicaCount": 3, "persistence": {"accessModes": ["ReadWriteOnce"]}})
    assert "ReadWriteOnce" in scaled["linkadapt/templates/NOTES.txt"]
    assert "WARNING" not in notes and "NOTE: one replica" not in notes
    assert "admin API" not in notes
    fenced = render_raw({"networkPolicy": {"enabled": True}})["linkadapt/templates/NOTES.txt"]
    assert f'{FULLNAME}-client: "true"' in fenced
    exposed = render_raw({"service": {"type": "LoadBalancer", "httpType": "NodePort"}})
    assert "service.httpType=NodePort exposes the admin API" in exposed[
        "linkadapt/templates/NOTES.txt"]


def _notes(values: dict[str, Any]) -> str:
    return render_raw(values)["linkadapt/templates/NOTES.txt"]


def test_notes_warn_about_a_single_attach_model_store_shared_by_replicas() -> None:
    one_pod = _notes({"replicaCount": 2, "persistence": {"accessModes": ["ReadWriteOncePod"]}})
    assert "WARNING" in one_pod and "ReadWriteOncePod" in one_pod
    # An existing claim's access modes are unknown: persistence.accessModes is not read.
    existing = _notes({"autoscaling": {"enabled": True},
                       "persistence": {"existingClaim": "store", "accessModes": ["ReadWriteMany"]}})
    assert "WARNING" in existing and "persistence.existingClaim (store)" in existing
    assert "accessModes" not in existing
    assert "WARNING" not in _notes({"replicaCount": 2,
                                    "persistence": {"accessModes": ["ReadWriteMany"]}})
    assert "WARNING" not in _notes({"replicaCount": 1})
    assert "NOTE: one replica" in _notes({"replicaCount": 1})
    own_stores = _notes({"persistence": {"enabled": False}})
    assert "WARNING" in own_stores and "reaches one pod only" in own_stores


NODE_AFFINITY = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "ric", "operator": "In", "values": ["true"]}]}]}}
# One replica per node: common, and copied to the test pod it would keep that pod off
# every node running a replica.
ONE_REPLICA_PER_NODE = {"requiredDuringSchedulingIgnoredDuringExecution": [{
    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "linkadapt",
                                      "app.kubernetes.io/instance": "ric"}},
    "topologyKey": "kubernetes.io/hostname"}]}


def test_the_helm_test_pod_is_scheduled_like_the_xapp() -> None:
    values = {"nodeSelector": {"ric": "true"}, "priorityClassName": "ran-critical",
              "tolerations": [{"key": "ric", "operator": "Exists", "effect": "NoSchedule"}],
              "affinity": {"nodeAffinity": NODE_AFFINITY,
                           "podAntiAffinity": ONE_REPLICA_PER_NODE}}
    objects = render(values)
    xapp, test = _xapp_pod(objects)["spec"], kind_of(objects, "Pod")["spec"]
    for key in ("nodeSelector", "tolerations", "priorityClassName"):
        assert test[key] == xapp[key] == values[key], key
    assert xapp["affinity"] == values["affinity"]
    assert test["affinity"] == {"nodeAffinity": NODE_AFFINITY}  # on the same nodes only
    kubernetes_validate.validate(
        {k: v for k, v in kind_of(objects, "Pod").items() if k != "__template__"},
        KUBE_VERSION, strict=True)


@pytest.mark.parametrize("affinity", [{"podAntiAffinity": ONE_REPLICA_PER_NODE}, {}, None])
def test_the_helm_test_pod_has_no_affinity_without_a_node_affinity(
    affinity: dict[str, Any] | None,
) -> None:
    assert "affinity" not in kind_of(render({"affinity": affinity}), "Pod")["spec"]


def _leaf_paths(values: Any, prefix: str = "") -> set[str]:
    if isinstance(values, dict) and values:
        return set().union(*(_leaf_paths(v, f"{prefix}{k}.") for k, v in values.items()))
    return {prefix.rstrip(".")}


def test_every_value_is_documented_where_it_is_defined() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, flags=re.MULTILINE))
    leaves = _leaf_paths(chart().values)
    undocumented = {p for p in leaves
                    if not any(p == d or p.startswith(f"{d}.") for d in documented)}
    assert undocumented == set()
    unknown = {d for d in documented
               if not any(p == d or p.startswith(f"{d}.") for p in leaves)}
    assert unknown == set()


def test_default_values_pass_the_schema() -> None:
    chart().validate_schema(chart().values)
    schema = chart().schema
    assert schema is not None and schema["additionalProperties"] is False
    assert set(schema["properties"]) - {"global"} == set(chart().values)


def test_templates_hold_one_resource_each() -> None:
    rendered = render_raw(CASES["scaled-and-fenced"])
    for name, text in rendered.items():
        if name.endswith(".yaml"):
            assert len([d for d in parse_manifests({name: text})]) <= 1, name
