"""The Grafana dashboard shipped with the chart."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chart_support import CHART, FULLNAME, kind_of, render
from exported_metrics import sample_names

DASHBOARD = CHART / "dashboards" / "linkadapt.json"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return parsed


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"]
              if isinstance(v.get("query"), dict)]
    return exprs


def test_dashboard_references_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    exported = sample_names()
    used = {name for expr in _expressions(dashboard)
            for name in re.findall(r"\blinkadapt_[a-z_]+", expr)}
    assert used and used <= exported, used - exported


def test_dashboard_covers_the_key_figures(dashboard: dict[str, Any]) -> None:
    text = " ".join(_expressions(dashboard))
    for name in ("linkadapt_decisions_total", "linkadapt_request_latency_seconds_bucket",
                 "linkadapt_fallbacks_total", "linkadapt_errors_total",
                 "linkadapt_model_loaded", "linkadapt_model_info", "linkadapt_model_swaps_total",
                 "linkadapt_store_generation",
                 "linkadapt_request_ues_bucket"):
        assert name in text, name


def test_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_chart_ships_the_dashboard_for_the_grafana_sidecar(
    dashboard: dict[str, Any]
) -> None:
    assert not [o for o in render() if o["metadata"]["name"] == f"{FULLNAME}-dashboard"]
    objects = render({"metrics": {"dashboard": {"enabled": True, "folder": "RIC"}}})
    config_map = kind_of(objects, "ConfigMap", "-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"]["grafana_folder"] == "RIC"
    assert json.loads(config_map["data"]["linkadapt.json"]) == dashboard
