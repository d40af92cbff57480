"""The README's tour works as written: its curl body gets a decision, its subcommands exist.

The curl test runs ``linkadapt serve`` as a subprocess, as a reader does, with the
embedded default model, on free loopback ports instead of the defaults.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xapp.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

_FENCED = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
_CURL_BODY = re.compile(r"-d '(\{.*?\})'", re.S)


def _code_blocks(text: str) -> list[str]:
    return _FENCED.findall(text)


def _tour(text: str) -> str:
    """The README's tour section: from its heading to the next one of the same level."""
    start = text.index("\n## A tour")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _curl_command(text: str) -> str:
    commands = [block for block in _code_blocks(text)
                if block.lstrip().startswith("curl") and "/v1/decisions" in block]
    assert len(commands) == 1, "the README should show one curl command for /v1/decisions"
    return commands[0]


def test_the_curl_example_targets_the_default_rest_port() -> None:
    command = _curl_command(README.read_text())
    port = Settings.model_fields["http_port"].default
    assert f"http://127.0.0.1:{port}/v1/decisions" in command
    assert "..." not in command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``linkadapt serve`` with its default model; yields the REST base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKADAPT_")}
    env["LINKADAPT_LOG_LEVEL"] = "warning"
    service = subprocess.Popen(
        [sys.executable, "-m", "linkadapt.cli", "serve", "--insecure", "--host", "127.0.0.1",
         "--grpc-port", "0", "--http-port", str(port), "--model-store", str(tmp_path / "store")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, "the service did not become ready"
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/ric/v1/health/ready", timeout=2) as ready:
                    if ready.status == 200:
                        break
            time.sleep(0.3)
        yield base
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_the_curl_example_gets_a_decision(served: str) -> None:
    match = _CURL_BODY.search(_curl_command(README.read_text()))
    assert match, "the curl command should carry its JSON body as -d '{...}'"
    body = json.loads(match.group(1))
    request = urllib.request.Request(f"{served}/v1/decisions", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        pytest.fail(f"{exc.code}: {exc.read().decode()}")
    assert status == 200
    [decision] = answer["decisions"]
    assert decision["ue_id"] == body["reports"][0]["ue_id"]
    assert decision["source"] == "DECISION_SOURCE_MODEL"
    assert 0 <= decision["mcs"] <= 27  # MCS_TABLE_QAM256 (TS 38.214 Table 5.1.3.1-2)
    # the answer the README shows is the embedded default's own
    text = README.read_text()
    shown = text[text.index(_curl_command(text)):]
    [answer_block] = re.findall(r"```json\n(.*?)```", shown, re.S)[:1]
    [shown_decision] = json.loads(answer_block)["decisions"]
    assert {k: decision[k] for k in ("mcs", "model_id", "model_version")} == \
        {k: shown_decision[k] for k in ("mcs", "model_id", "model_version")}


def _console_script() -> Callable[[list[str]], int]:
    """The ``linkadapt`` entry point pyproject.toml installs."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["linkadapt"].partition(":")
    main: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
    return main


def _tour_subcommands() -> list[str]:
    tour = _tour(README.read_text())
    names = {name for block in _code_blocks(tour)
             for name in re.findall(r"(?:^|[\s`(])linkadapt ([a-z][a-z-]*)", block, re.M)}
    names |= set(re.findall(r"`(?:LINKADAPT_\w+=\S+ )?linkadapt ([a-z][a-z-]*)", tour))
    return sorted(names)


def test_the_tour_names_the_main_subcommands() -> None:
    assert {"serve", "simulate", "train-label-teacher", "distill", "emulate"} <= set(
        _tour_subcommands())


@pytest.mark.parametrize("name", _tour_subcommands())
def test_every_subcommand_of_the_tour_exists(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _console_script()([name, "--help"])
    assert exited.value.code == 0
    assert f"linkadapt {name}" in capsys.readouterr().out
