"""What the Dockerfile promises; the image itself is built and run by scripts/container_check.sh."""

from __future__ import annotations

import re
import tomllib

from chart_support import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_base_image_is_a_build_argument_defaulting_to_slim_python_311() -> None:
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert re.fullmatch(r"(docker\.io/library/)?python:3\.11-slim(-\w+)?", default)
    assert _instructions("FROM") == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE} AS runtime"]


def test_runtime_is_non_root_with_ports_and_a_healthcheck() -> None:
    (user,) = _instructions("USER")
    assert re.fullmatch(r"\$\{APP_UID\}:\$\{APP_UID\}", user)
    assert re.search(r"^ARG APP_UID=[1-9][0-9]{3,}$", DOCKERFILE, flags=re.MULTILINE)
    assert _instructions("EXPOSE") == ["50051 8080"]
    (health,) = _instructions("HEALTHCHECK")
    assert health.startswith("--interval")
    # the check that resolves the port as the service does (tests/xapp/test_healthcheck.py)
    command = DOCKERFILE.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    assert 'CMD ["python3", "-m", "xapp.healthcheck"]' in command


def test_dependencies_come_from_pyproject_without_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "['project']['dependencies']" in DOCKERFILE
    assert "optional-dependencies" not in DOCKERFILE and "[train" not in DOCKERFILE
    assert "--no-deps ." in DOCKERFILE
    assert not any(re.match(r"(torch|ray)\b", d) for d in project["dependencies"])


def test_build_context_leaves_the_rest_of_the_repository_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().split("\n")
    assert "*" in lines
    assert {"!xapp/", "!training/", "!linkadapt/", "!pyproject.toml"} <= set(lines)
