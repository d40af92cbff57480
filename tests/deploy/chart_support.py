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
    "exposed-and-labelled": {
        "service": {"type": "NodePort", "grpcNodePort": 30051},
        "commonLabels": {"app.kubernetes.io/part-of": "ran", "team": "ran"},
        "podLabels": {"team": "pods"},
        "priorityClassName": "ran-critical",
        "tolerations": [{"key": "ric", "operator": "Exists", "effect": "NoSchedule"}],
        "pdb": {"maxUnavailable": 0},
        "persistence": {"existingClaim": "ric-models"},
        "updateStrategy": {"type": "RollingUpdate",
                           "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
    },
    "plaintext": {"tls": {"enabled": False}},
    "mutual-tls": {
        "tls": {"secretName": "ric-xapp-tls", "mutual": True, "clientNames": ["gnb-1"]},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "tests": {"emulator": {"tlsSecretName": "ric-gnb-1-tls"}},
    },
    "no-persistence": {
        "persistence": {"enabled": False},
        "auth": {"enabled": False},
        "readinessProbe": {"requireModel": False},
        "image": {"digest": "sha256:" + "ab" * 32},
    },
}

Manifests = list[dict[str, Any]]


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping holds a key twice (PyYAML would keep the last one silently)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate mapping keys.

    Kubernetes decodes manifests strictly: a duplicate key (e.g. a label written twice)
    is an error there, or a value silently replaced, depending on the client.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKeyError(None, None, f"duplicate key {key!r}",
                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_manifests(rendered: dict[str, str]) -> Manifests:
    """Split the rendered templates into Kubernetes objects (NOTES.txt left out).

    Raises:
        DuplicateKeyError: a manifest holds a mapping key twice.

    """
    objects: Manifests = []
    for name, text in sorted(rendered.items()):
        if name.endswith("NOTES.txt"):
            continue
        for document in yaml.load_all(text, Loader=UniqueKeyLoader):
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
