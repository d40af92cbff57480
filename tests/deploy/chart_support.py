"""The chart rendered and linted by Helm's own library, for the deployment tests.

``helm-python-sdk`` binds Helm's Go SDK (v4) through ctypes, so these tests run the
real template engine, schema validation and linter without a ``helm`` binary or a
cluster. Manifests are checked against the Kubernetes OpenAPI schemas of
:data:`KUBE_VERSION` with ``kubernetes-validate``.
"""

from __future__ import annotations

import atexit
import functools
from pathlib import Path
from typing import Any, Final

import helm_python as helm
import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
CHART: Final = ROOT / "deploy" / "helm" / "linkadapt"
DESCRIPTOR: Final = ROOT / "deploy" / "xapp-descriptor"
RELEASE: Final = "ric"
NAMESPACE: Final = "ricxapp"
FULLNAME: Final = "ric-linkadapt"
# The Kubernetes version the manifests are validated against (and the linter targets).
KUBE_VERSION: Final = "1.30.0"

# The value combinations every rendering test runs with.
CASES: Final[dict[str, dict[str, Any]]] = {
    "defaults": {},
    "existing-secret": {"auth": {"existingSecret": "ric-admin", "existingSecretKey": "token"}},
    "scaled-and-fenced": {
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4, "targetMemory": 80},
        "pdb": {"create": True, "minAvailable": 1},
        "persistence": {"accessModes": ["ReadWriteMany"], "storageClass": "-"},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
                    "dashboard": {"enabled": True, "folder": "RIC"}},
        "networkPolicy": {"enabled": True, "ingressNSMatchLabels": {"ric": "e2"},
                          "metricsNamespaceSelector": {"name": "monitoring"}},
        "commonAnnotations": {"team": "ran"},
    },
    "no-persistence": {
        "persistence": {"enabled": False},
        "auth": {"enabled": False},
        "readinessProbe": {"requireModel": False},
        "image": {"digest": "sha256:" + "ab" * 32},
    },
}

Manifests = list[dict[str, Any]]


def parse_manifests(rendered: dict[str, str]) -> Manifests:
    """Split the rendered templates into Kubernetes objects (NOTES.txt left out)."""
    objects: Manifests = []
    for name, text in sorted(rendered.items()):
        if name.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                document.setdefault("metadata", {}).setdefault("annotations", {})
                objects.append(document | {"__template__": name})
    return objects


def kind_of(objects: Manifests, kind: str, suffix: str = "") -> dict[str, Any]:
    """The one object of ``kind`` (whose name ends with ``suffix``)."""
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{len(found)} {kind} objects named *{suffix}"
    return found[0]


@functools.cache
def chart() -> helm.Chart:
    """The chart, loaded once (and released at exit)."""
    loaded = helm.Chart.load(CHART)
    atexit.register(loaded.close)
    return loaded


def render_raw(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Render every template as an install of release ``ric`` in ``ricxapp``."""
    return chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(values: dict[str, Any] | None = None) -> Manifests:
    """Render and parse the Kubernetes objects."""
    return parse_manifests(render_raw(values))
