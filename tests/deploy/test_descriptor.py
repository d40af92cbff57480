"""The O-RAN SC xApp descriptor: the onboarder's rules, the controls schema, the service."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from chart_support import CHART, DESCRIPTOR

import linkadapt
from xapp.settings import Settings, load_settings


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DESCRIPTOR / name).read_text())
    return document


@pytest.fixture(scope="module")
def descriptor() -> dict[str, Any]:
    return _load("config-file.json")


@pytest.fixture(scope="module")
def onboarder() -> jsonschema.Draft7Validator:
    schema = _load("onboarder-schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def controls_schema() -> jsonschema.Draft7Validator:
    schema = _load("controls-schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_descriptor_passes_the_onboarder_rules(
    descriptor: dict[str, Any], onboarder: jsonschema.Draft7Validator
) -> None:
    onboarder.validate(descriptor)


def _without(document: dict[str, Any], *path: str | int) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return broken


def _with(document: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return broken


@pytest.mark.parametrize("breakage", [
    lambda d: _without(d, "name"),
    lambda d: _without(d, "version"),
    lambda d: _without(d, "containers"),
    lambda d: _without(d, "messaging"),
    lambda d: _with(d, "1.0", "version"),
    lambda d: _with(d, "v1.0.0", "version"),
    lambda d: _with(d, "LinkAdapt", "name"),
    lambda d: _with(d, [], "containers"),
    lambda d: _without(d, "containers", 0, "image", "tag"),
    lambda d: _without(d, "containers", 0, "image", "registry"),
    lambda d: _with(d, "linkadapt:0.1.0", "containers", 0, "image"),
    lambda d: _without(d, "livenessProbe", "httpGet", "port"),
    lambda d: _with(d, "8080", "readinessProbe", "httpGet", "port"),
    lambda d: _without(d, "messaging", "ports", 0, "description"),
    lambda d: _with(d, 70000, "messaging", "ports", 1, "port"),
], ids=["no-name", "no-version", "no-containers", "no-messaging", "short-version",
        "v-version", "uppercase-name", "empty-containers", "no-tag", "no-registry",
        "image-string", "probe-without-port", "port-as-string", "port-without-description",
        "port-out-of-range"])
def test_broken_descriptors_are_refused(
    descriptor: dict[str, Any], onboarder: jsonschema.Draft7Validator, breakage: Any
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        onboarder.validate(breakage(descriptor))


def test_probes_and_ports_match_the_service(descriptor: dict[str, Any]) -> None:
    assert descriptor["livenessProbe"]["httpGet"] == {"path": "/ric/v1/health/alive", "port": 8080}
    assert descriptor["readinessProbe"]["httpGet"] == {"path": "/ric/v1/health/ready", "port": 8080}
    ports = {p["name"]: p["port"] for p in descriptor["messaging"]["ports"]}
    assert ports == {"http": 8080, "grpc": 50051}
    (container,) = descriptor["containers"]
    assert {p["container"] for p in descriptor["messaging"]["ports"]} == {container["name"]}


def test_versions_agree(descriptor: dict[str, Any]) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert descriptor["version"] == chart["appVersion"] == linkadapt.__version__
    assert descriptor["containers"][0]["image"]["tag"] == chart["appVersion"]


def test_controls_schema_covers_exactly_the_settings(
    controls_schema: jsonschema.Draft7Validator,
) -> None:
    assert set(controls_schema.schema["properties"]) == set(Settings.model_fields)


def test_descriptor_controls_pass_the_schema_and_the_service(
    descriptor: dict[str, Any], controls_schema: jsonschema.Draft7Validator, tmp_path: Path
) -> None:
    controls_schema.validate(descriptor["controls"])
    config = tmp_path / "config-file.json"
    config.write_text(json.dumps(descriptor))
    settings = load_settings(environ={}, config_file=config)
    assert settings.http_port == descriptor["livenessProbe"]["httpGet"]["port"]
    assert settings.grpc_port == 50051


@pytest.mark.parametrize("controls", [
    {"grpc_port": 70000},
    {"log_level": "verbose"},
    {"max_batch_size": 0},
    {"unknown_setting": 1},
    {"admin_token": "a", "admin_token_file": "/b"},
    {"default_target_bler": 0},
    {"default_target_bler": 1},
    {"default_target_bler": -0.1},
])
def test_controls_schema_refuses_what_the_service_refuses(
    controls_schema: jsonschema.Draft7Validator, controls: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        controls_schema.validate(controls)
    config = tmp_path / "config-file.json"
    config.write_text(json.dumps({"controls": controls}))
    with pytest.raises(ValueError, match="bad settings"):
        load_settings(environ={}, config_file=config)


def test_descriptor_passes_every_onboarder_releases_rule_for_metrics(
    descriptor: dict[str, Any]
) -> None:
    """Onboarder releases disagree on ``metrics``: a list in the documented schema (the
    project's copy), an object in the built-in schema dms_cli validates against in
    recent ones. A descriptor that has the section fails one of them."""
    documented = _load("onboarder-schema.json")
    built_in = copy.deepcopy(documented)
    built_in["properties"]["metrics"] = {"type": "object"}
    listed = [{"objectName": "linkadapt", "objectInstance": "xapp", "type": "counter",
               "name": "linkadapt_decisions_total", "description": "decisions"}]
    for schema in (documented, built_in):
        jsonschema.Draft7Validator(schema).validate(descriptor)
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'object'"):
        jsonschema.Draft7Validator(built_in).validate({**descriptor, "metrics": listed})
