"""``linkadapt emulate`` against the real service (gRPC + REST on loopback ports).

The models are test fixtures: small MLPs with random weights built with
onnx.helper, not trained artifacts. Each one picks different MCS for different
reports, which is all the closed-loop tests need.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from certificates import TestPki, issue, make_pki, replace_file, served_serial
from synthetic import random_mlp

from linkadapt.cli import main
from training.sim.emulator import (
    LOCAL_FALLBACK,
    EmulationResult,
    EmulatorOptions,
    run_emulation,
)
from xapp import features
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp._proto.linkadapt.v1 import linkadapt_pb2_grpc as pb_grpc
from xapp.tls_client import ClientTls

TOKEN = "emulator-test-token"
# KPIs both `simulate --json` and `emulate --json` print, computed the same way.
SHARED_KPIS = ("throughput_mbps", "bler", "spectral_efficiency", "reward", "residual_bler",
               "retransmission_share", "mean_mcs", "mcs_histogram", "ues", "slots")


def mlp_bytes(model_id: str, version: str = "1", seed: int = 0) -> bytes:
    """An ONNX MLP (44 -> 32 -> 32 -> 29) with random weights and a model card."""
    return random_mlp(model_id, version, seed=seed, kind="test")


class Service:
    """The real xApp (gRPC + uvicorn) on loopback ports, in a background thread."""

    def __init__(self, store: Path, grpc_port: int = 0, client_tls: ClientTls | None = None,
                 **overrides: Any) -> None:
        from xapp.lifecycle import serve
        from xapp.settings import Settings

        settings = Settings(host="127.0.0.1", grpc_port=grpc_port, http_port=0,
                            model_store=store, default_model=None, latency_budget_us=5000.0,
                            admin_token=TOKEN, log_level="warning", shutdown_grace_s=0.5,
                            **overrides)
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None

        def on_started(service: Any, bound: Any) -> None:
            self.bound = bound
            self._started.set()

        async def run() -> None:
            self._stop = asyncio.Event()
            await serve(settings, self._stop, on_started, handle_signals=False)

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(run(),),
                                        daemon=True)
        self._thread.start()
        assert self._started.wait(30), "service did not start"
        self.grpc_port = self.bound.grpc_port
        self.grpc = f"127.0.0.1:{self.bound.grpc_port}"
        scheme = "https" if settings.tls_cert is not None else "http"
        self.http = f"{scheme}://127.0.0.1:{self.bound.http_port}"
        self.verify: Any = True if client_tls is None else client_tls.ssl_context()

    def upload(self, data: bytes, activate: bool = False) -> None:
        response = httpx.post(f"{self.http}/v1/models", content=data,
                              params={"activate": str(activate).lower()}, verify=self.verify,
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert response.status_code in (200, 201), response.text

    def stop(self) -> None:
        if self._thread.is_alive():
            assert self._stop is not None
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
            assert not self._thread.is_alive()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        out[name] = folder / f"{name}.onnx"
        out[name].write_bytes(mlp_bytes(name, "1", seed))
    return out


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(grpc_port: int = 0, client_tls: ClientTls | None = None,
              **overrides: Any) -> Service:
        service = Service(tmp_path / "store", grpc_port, client_tls, **overrides)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def serving_a(tmp_path_factory: pytest.TempPathFactory,
              models: dict[str, Path]) -> Iterator[Service]:
    """One service for the module, serving model a (tests must not swap models on it)."""
    service = Service(tmp_path_factory.mktemp("store"))
    service.upload(models["a"].read_bytes(), activate=True)
    yield service
    service.stop()


def emulate_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["emulate", *args, "--json"])
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else {}


def simulate_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["simulate", *args, "--json", "--no-progress"]) == 0
    return dict(json.loads(capsys.readouterr().out))


# -- serving image ---------------------------------------------------------------------------

_BLOCKED_IMPORTS = """
import sys
BLOCKED = ("torch", "gymnasium", "tqdm", "matplotlib")
for name in BLOCKED:
    sys.modules[name] = None  # `import name` raises ImportError; find_spec returns None

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in the serving image")
        return None

sys.meta_path.insert(0, Blocker())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} was not blocked")
import training.sim.emulator, linkadapt.commands.emulate
from linkadapt.cli import main
try:
    main(["emulate", "--help"])
except SystemExit as exc:
    assert exc.code == 0
loaded = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED and sys.modules[n])
print("LOADED", loaded)
"""


def test_emulator_imports_without_torch_gymnasium_tqdm_matplotlib() -> None:
    done = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORTS], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    assert "--target" in done.stdout  # the help text of the command


# -- train/serve consistency --------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "ues"), [
    (["--columnar"], 6), (["--stream"], 6), (["--no-columnar"], 6),
    (["--stream", "--no-columnar"], 6), ([], 1), (["--stream"], 1)],
    ids=["unary-columns", "stream-auto", "unary-reports", "stream-reports", "unary-1ue",
         "stream-1ue"])
def test_emulate_equals_simulate_decision_for_decision(
        serving_a: Service, models: dict[str, Path], capsys: pytest.CaptureFixture[str],
        wire: list[str], ues: int) -> None:
    common = ["--scenario", "random", "--seed", "5", "--slots", "400"]
    expected = simulate_json(capsys, *common, "--ues", str(ues), "--policy", str(models["a"]))
    status, got = emulate_json(capsys, "--target", serving_a.grpc, *common,
                               "--cells", "1", "--ues-per-cell", str(ues), *wire)
    assert status == 0
    assert {k: got[k] for k in SHARED_KPIS} == {k: expected[k] for k in SHARED_KPIS}
    assert got["failed_slots"] == 0 and got["fallback_share"] == 0.0
    assert got["requests"] > 0 and got["latency_p99_us"] > 0


@pytest.mark.parametrize(("wire", "ues"), [
    (["--columnar"], 6), (["--stream", "--no-columnar"], 6), ([], 1)],
    ids=["unary-columns", "stream-reports", "unary-1ue"])
def test_emulate_equals_simulate_at_a_non_default_target(
        serving_a: Service, models: dict[str, Path], capsys: pytest.CaptureFixture[str],
        wire: list[str], ues: int) -> None:
    """Every UE reports 2%: the service observes the very target the simulator does."""
    common = ["--scenario", "mimo", "--seed", "5", "--slots", "300"]
    at_2 = [*common, "--target-bler", "0.02"]
    expected = simulate_json(capsys, *at_2, "--ues", str(ues), "--policy", str(models["a"]))
    status, got = emulate_json(capsys, "--target", serving_a.grpc, *at_2, "--cells", "1",
                               "--ues-per-cell", str(ues), "--compare", "olla", *wire)
    assert status == 0
    assert {k: got[k] for k in SHARED_KPIS} == {k: expected[k] for k in SHARED_KPIS}
    assert got["failed_slots"] == 0 and got["fallback_share"] == 0.0
    # The compared spec without a target runs at 2% too: simulate's olla at --target-bler.
    olla = simulate_json(capsys, *at_2, "--ues", str(ues), "--policy", "olla")
    assert got["compare"]["policy"] == olla["policy"] == "olla:0.5:0.02"
    assert {k: got["compare"]["kpis"][k] for k in SHARED_KPIS} == {
        k: olla[k] for k in SHARED_KPIS}
    if ues > 1:  # the target reached the policy: the model decides otherwise at 10%
        at_10 = simulate_json(capsys, *common, "--ues", str(ues), "--policy", str(models["a"]))
        assert at_10["mcs_histogram"] != expected["mcs_histogram"]


def test_cells_are_simulate_runs_with_consecutive_seeds_and_compare_olla(
        serving_a: Service, models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--scenario", "mimo", "--slots", "300"]
    status, got = emulate_json(capsys, "--target", serving_a.grpc, *common, "--seed", "3",
                               "--cells", "2", "--ues-per-cell", "3", "--stream",
                               "--compare", "olla")
    assert status == 0
    for cell, seed in ((0, "3"), (1, "4")):
        expected = simulate_json(capsys, *common, "--seed", seed, "--ues", "3",
                                 "--policy", str(models["a"]))
        row = got["per_cell"][cell]
        assert {k: row[k] for k in SHARED_KPIS} == {k: expected[k] for k in SHARED_KPIS}
        olla = simulate_json(capsys, *common, "--seed", seed, "--ues", "3", "--policy", "olla")
        assert olla["throughput_mbps"] > 0
    assert got["ues"] == 6 and got["slots"] == 300
    compare = got["compare"]
    assert compare["policy"] == "olla:0.5"
    gain = (got["throughput_mbps"] / compare["kpis"]["throughput_mbps"] - 1) * 100
    assert compare["throughput_gain_pct"] == pytest.approx(gain)
    # with one cell, the baseline is exactly `simulate --policy olla`
    status, one = emulate_json(capsys, "--target", serving_a.grpc, *common, "--seed", "3",
                               "--ues-per-cell", "3", "--compare", "olla")
    olla = simulate_json(capsys, *common, "--seed", "3", "--ues", "3", "--policy", "olla")
    assert {k: one["compare"]["kpis"][k] for k in SHARED_KPIS} == {
        k: olla[k] for k in SHARED_KPIS}


def test_table_output(serving_a: Service, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "--target", serving_a.grpc, "--slots", "100", "--cells", "2",
                 "--compare", "olla", "--deadline-us", "1000000"]) == 0
    out = capsys.readouterr().out
    for text in ("throughput (mean per UE)", "BLER (first transmissions)", "spectral efficiency",
                 "MCS histogram", "fallback decisions", "decision latency, us",
                 "missed deadline (1000000 us)", "per cell:", "versus olla:0.5"):
        assert text in out


# -- a few thousand slots, both modes ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_two_thousand_slots_closed_loop(serving_a: Service, stream: bool) -> None:
    result = run_emulation(EmulatorOptions(target=serving_a.grpc, ues_per_cell=4, slots=2000,
                                           stream=stream, seed=11))
    k = result.kpis
    assert k["slots"] == 2000 and k["failed_slots"] == 0
    assert k["requests"] > 1500 and k["decisions"] >= k["requests"]
    assert k["fallback_share"] == 0.0
    assert 0 < k["latency_p50_us"] <= k["latency_p99_us"] <= k["latency_max_us"]
    assert k["throughput_mbps"] > 0 and sum(k["mcs_histogram"]) > 0
    assert [s.model for s in result.segments] == ["a@1"]


# -- SLOs ----------------------------------------------------------------------------------------


def test_slo_flags_exit_non_zero_when_violated(serving_a: Service,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--target", serving_a.grpc, "--slots", "150"]
    status, met = emulate_json(capsys, *base, "--slo-p99-us", "10000000", "--max-bler", "1")
    assert status == 0 and met["slo_violations"] == []
    status, slow = emulate_json(capsys, *base, "--slo-p99-us", "1")
    assert status == 1 and "p99 latency" in slow["slo_violations"][0]
    status, bad = emulate_json(capsys, *base, "--max-bler", "0")
    assert bad["bler"] > 0 and status == 1 and "BLER" in bad["slo_violations"][0]
    assert main(["emulate", *base, "--deadline-us", "1", "--max-missed-slots", "0"]) == 1
    assert "SLO violated" in capsys.readouterr().out


def test_bad_options_and_unreachable_service_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cases = [
        (["--target", f"127.0.0.1:{port}", "--connect-timeout-s", "0.3"], "cannot reach"),
        (["--scenario", "moon"], "unknown scenario"),
        (["--cells", "0"], "--cells must be at least 1"),
        (["--swap-every", "10"], "--swap-models"),
        (["--max-bler", "2"], "--max-bler"),
        (["--target", "nowhere"], "HOST:PORT"),
        (["--seed", "-1"], "--seed must be at least 0, got -1"),
        (["--connect-timeout-s", "nan"], "--connect-timeout-s must be a positive number"),
        (["--max-missed-slots", "-5"], "--max-missed-slots must be >= 0"),
        (["--load", "cells", "--load-max", "0"], "--load-max 0 is below the first level"),
        (["--load", "ues", "--ues-per-cell", "8", "--load-max", "4"],
         "(--ues-per-cell 8): no level would run"),
        (["--load", "cells", "--load-repeats", "0"], "--load-repeats must be at least 1"),
        (["--swap-every", "10", "--swap-models", "a:1", "--token", "t", "--admin-url",
          "notaurl"], "--admin-url must be an http(s) URL"),
    ]
    for args, message in cases:
        assert main(["emulate", "--target", f"127.0.0.1:{port}", "--connect-timeout-s", "0.3",
                     *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)


def test_malformed_target_too_many_cells_and_ignored_swap_flags_are_refused_at_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    port_range = "--target must be HOST:PORT with a port from 1 to 65535"
    cases = [
        (["--target", "127.0.0.1:abc"], f"{port_range}, got '127.0.0.1:abc'"),
        (["--target", ":0"], f"{port_range}, got ':0'"),
        (["--target", ":50051"], f"{port_range}, got ':50051'"),
        (["--target", "127.0.0.1:0"], port_range),
        (["--target", "127.0.0.1:99999"], port_range),
        (["--target", "::1"], "an IPv6 address goes in brackets, [ADDRESS]:PORT"),
        (["--target", "fe80::1:50051"], "got 'fe80::1:50051'"),
        (["--cells", "100000"], "--cells must be at most 1024"),
        (["--cells", "100", "--ues-per-cell", "5000"],
         "--cells x --ues-per-cell must be at most 100000 UEs, got 500000"),
        (["--load", "cells", "--load-max", "4096"], "--load-max must be at most 1024"),
        (["--load", "ues", "--cells", "4", "--load-max", "65536"],
         "--load-max 65536 x --cells 4 must be at most 100000 UEs"),
        (["--load", "cells", "--ues-per-cell", "1000", "--load-max", "1024"],
         "--load-max 1024 x --ues-per-cell 1000 must be at most 100000 UEs with --load cells"),
        (["--swap-every", "0", "--swap-models", "a:1"], "--swap-every must be at least 1, got 0"),
        (["--swap-models", "a:1"], "--swap-models needs --swap-every K"),
        (["--swap-models", "a:1", "--admin-url", "http://127.0.0.1:1", "--token", "t"],
         "--swap-models needs --swap-every K"),
        (["--swap-every", "10"], "--swap-every needs --swap-models"),
    ]
    for args, message in cases:
        started = time.monotonic()
        assert main(["emulate", "--target", closed, "--connect-timeout-s", "5", *args]) == 2, args
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == "", (args, captured.err)
        assert captured.err.startswith("linkadapt emulate: error: ")
        assert captured.err.count("\n") == 1, captured.err
        assert time.monotonic() - started < 3, args  # refused before connecting


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_a_service_refusing_every_request_says_why_and_fails(
        start_service: Callable[..., Service], models: dict[str, Path],
        capsys: pytest.CaptureFixture[str], stream: bool) -> None:
    service = start_service(max_batch_size=4)
    service.upload(models["a"].read_bytes(), activate=True)
    args = ["--target", service.grpc, "--ues-per-cell", "5", "--all-ues", "--slots", "5",
            *(["--stream"] if stream else [])]
    why = ("run failed: the service refused every request: RESOURCE_EXHAUSTED: 5 reports in "
           "one request; the limit is 4 - lower --ues-per-cell (or drop --all-ues) or raise "
           "the service's limit (linkadapt serve --max-batch-size)")
    assert main(["emulate", *args]) == 1  # without an SLO flag too
    assert why in capsys.readouterr().out
    assert main(["emulate", *args, "--slo-p99-us", "5000"]) == 1
    out = capsys.readouterr().out
    assert why in out and "None" not in out
    assert "SLO violated: no p99 latency: no request got an answer (--slo-p99-us 5000)" in out
    status, got = emulate_json(capsys, *args)
    assert status == 1
    assert got["aborted"] == why.removeprefix("run failed: ")
    assert got["errors"] == {"RESOURCE_EXHAUSTED": 5} and got["fallback_share"] == 1.0
    # batches within the limit get answers: no UE asks every slot, so the run holds
    status, got = emulate_json(capsys, "--target", service.grpc, "--ues-per-cell", "4",
                               "--all-ues", "--slots", "5")
    assert status == 0 and got["aborted"] == "" and got["failed_slots"] == 0


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_a_refused_decision_token_stops_the_run_at_once(
        start_service: Callable[..., Service], models: dict[str, Path],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        stream: bool) -> None:
    monkeypatch.delenv("LINKADAPT_ADMIN_TOKEN", raising=False)
    service = start_service(decisions_require_token=True)
    service.upload(models["a"].read_bytes(), activate=True)
    run = ["emulate", "--target", service.grpc, "--slots", "50",
           *(["--stream"] if stream else [])]
    cases = [([], "pass the service's token with --token, --token-file or LINKADAPT_ADMIN_TOKEN"),
             (["--token", "wrong"],
              "check the token given by --token, --token-file or LINKADAPT_ADMIN_TOKEN")]
    for token, hint in cases:
        started = time.monotonic()
        assert main([*run, *token]) == 2, token  # not after --give-up-s (30 s)
        captured = capsys.readouterr()
        assert captured.err.startswith("linkadapt emulate: error: the service refused the "
                                       "decision requests: UNAUTHENTICATED: ")
        assert hint in captured.err and captured.err.count("\n") == 1 and captured.out == ""
        assert time.monotonic() - started < 10
    assert main([*run, "--token", TOKEN]) == 0
    monkeypatch.setenv("LINKADAPT_ADMIN_TOKEN", TOKEN)
    assert main(run) == 0
    capsys.readouterr()


# -- robustness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_emulator_survives_a_service_restart(start_service: Callable[..., Service],
                                             models: dict[str, Path], stream: bool) -> None:
    service = start_service()
    service.upload(models["a"].read_bytes(), activate=True)
    port = service.grpc_port
    progress = {"slots": 0}
    reached = threading.Event()
    resume = threading.Event()
    outcome: dict[str, EmulationResult] = {}

    def on_slot(done: int) -> None:
        progress["slots"] = done
        if done == 200:
            # Hold the emulator here until the service is down: under load a graceful
            # stop can take longer than the remaining 400 slots on a live stream.
            reached.set()
            resume.wait(60)

    def emulate() -> None:
        outcome["result"] = run_emulation(EmulatorOptions(
            target=service.grpc, slots=600, stream=stream, timeout_ms=500), on_slot)

    thread = threading.Thread(target=emulate, daemon=True)
    thread.start()
    assert reached.wait(60)
    service.stop()
    stopped_at = progress["slots"]
    resume.set()
    time.sleep(0.5)
    assert progress["slots"] < 600  # the emulator backs off while the service is down
    start_service(grpc_port=port)  # same store: model a is active again
    thread.join(120)
    result = outcome["result"]
    k = result.kpis
    assert k["slots"] == 600
    assert k["failed_slots"] > 0 and k["missed_slots"] >= k["failed_slots"]
    assert k["local_fallback_decisions"] > 0
    assert k["failed_slots"] < 600 - stopped_at  # it resumed
    models_seen = [s.model for s in result.segments]
    assert models_seen[0] == "a@1" and LOCAL_FALLBACK in models_seen
    assert models_seen[-1] == "a@1"  # answered by the service again after the restart


def test_emulator_gives_up_when_the_service_stays_down(start_service: Callable[..., Service],
                                                       models: dict[str, Path]) -> None:
    service = start_service()
    service.upload(models["a"].read_bytes(), activate=True)
    reached = threading.Event()
    outcome: dict[str, EmulationResult] = {}

    def emulate() -> None:
        outcome["result"] = run_emulation(
            EmulatorOptions(target=service.grpc, slots=100000, stream=True, give_up_s=0.5),
            lambda done: reached.set() if done == 50 else None)

    thread = threading.Thread(target=emulate, daemon=True)
    thread.start()
    assert reached.wait(60)
    service.stop()
    thread.join(60)
    result = outcome["result"]
    assert "gave up" in result.aborted
    assert 50 <= result.kpis["slots"] < 100000 and result.kpis["failed_slots"] > 0


class _Silent(pb_grpc.LinkAdaptationServicer):
    """A service that accepts requests and never answers."""

    async def Decide(self, request: Any, context: Any) -> Any:
        await asyncio.sleep(30)

    async def StreamDecisions(self, requests: Any, context: Any) -> Any:
        async for _ in requests:
            await asyncio.sleep(30)
        yield pb.DecisionResponse()


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_a_service_that_never_answers_fails_slots_after_the_timeout(stream: bool) -> None:
    async def scenario() -> EmulationResult:
        server = grpc.aio.server()
        pb_grpc.add_LinkAdaptationServicer_to_server(_Silent(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            from training.sim.emulator import emulate

            return await emulate(EmulatorOptions(target=f"127.0.0.1:{port}", slots=3,
                                                 stream=stream, timeout_ms=200))
        finally:
            await server.stop(None)

    started = time.monotonic()
    result = asyncio.run(scenario())
    k = result.kpis
    assert k["failed_slots"] == k["requests"] == 3 and k["missed_slots"] == 3
    assert k["fallback_share"] == 1.0 and k["latency_p99_us"] is None
    assert list(k["errors"]) == ["DEADLINE_EXCEEDED" if not stream else "no answer within 200 ms"]
    assert time.monotonic() - started < 10


def _requests_with_garbage() -> list[Any]:
    good = pb.DecisionRequest(schema_version=features.FEATURE_SCHEMA_VERSION, slot=1)
    good.columns.num_ues = 0
    bad_columns = pb.DecisionRequest(schema_version=features.FEATURE_SCHEMA_VERSION, slot=2)
    bad_columns.columns.num_ues = 3
    bad_columns.columns.ue_id = b"\x01\x02"
    return [bad_columns, pb.DecisionRequest(schema_version=99, slot=3),
            pb.DecisionRequest(schema_version=features.FEATURE_SCHEMA_VERSION, slot=4,
                               reports=[pb.UeReport(ue_id=1)])]


def test_service_survives_disconnects_and_garbage(serving_a: Service) -> None:
    host, port = "127.0.0.1", serving_a.grpc_port
    # 1. raw garbage on the TCP port, and a valid HTTP/2 preface followed by garbage frames
    for payload in (b"\x00\xff garbage " * 200,
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x99\x00\x00\x00\x00\x01"
                    + bytes(range(256)) * 4):
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(payload)
            sock.settimeout(1)
            try:
                sock.recv(1024)
            except OSError:
                pass
    # 2. bytes that are not a DecisionRequest, on both RPCs
    with grpc.insecure_channel(serving_a.grpc) as channel:
        raw = channel.unary_unary("/linkadapt.v1.LinkAdaptation/Decide",
                                  request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as undecodable:
            raw(b"\xff\xff\xff\xff garbage", timeout=5)
        assert undecodable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        raw_stream = channel.stream_stream("/linkadapt.v1.LinkAdaptation/StreamDecisions",
                                           request_serializer=None, response_deserializer=None)
        # On a stream, an error reply; the stream goes on.
        replies = [pb.DecisionResponse.FromString(r) for r in raw_stream(
            iter([b"\xff\xff\xff\xff garbage", _requests_with_garbage()[0].SerializeToString()]),
            timeout=5)]
        assert [r.error.code for r in replies] == ["INVALID_ARGUMENT"] * 2
        # 3. malformed requests: INVALID_ARGUMENT on unary, error replies on a stream
        stub = pb_grpc.LinkAdaptationStub(channel)
        for request in _requests_with_garbage():
            with pytest.raises(grpc.RpcError) as refused:
                stub.Decide(request, timeout=5)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        replies = list(stub.StreamDecisions(iter(_requests_with_garbage()), timeout=5))
        assert [r.HasField("error") for r in replies] == [True, True, True]
        # 4. a client that writes and disconnects mid-stream without reading
        call = stub.StreamDecisions(iter(_requests_with_garbage() * 50), timeout=5)
        next(call)
        call.cancel()
    # 5. an emulator process killed mid-stream
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkadapt", "emulate", "--target", serving_a.grpc, "--stream",
         "--slots", "100000", "--ues-per-cell", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[3])
    try:
        time.sleep(4)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(30)
    # the service still answers, in both modes
    for stream in (False, True):
        result = run_emulation(EmulatorOptions(target=serving_a.grpc, slots=100, stream=stream))
        assert result.kpis["failed_slots"] == 0 and result.kpis["fallback_share"] == 0.0


# -- hot swap --------------------------------------------------------------------------------------


def test_hot_swap_drill_has_no_failed_slots(start_service: Callable[..., Service],
                                            models: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    service = start_service()
    service.upload(models["a"].read_bytes(), activate=True)
    service.upload(models["b"].read_bytes())
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    status, got = emulate_json(
        capsys, "--target", service.grpc, "--slots", "900", "--ues-per-cell", "4", "--stream",
        "--swap-every", "300", "--swap-models", "b:1,a:1", "--admin-url", service.http,
        "--token-file", str(token_file))
    assert status == 0, got.get("slo_violations")
    assert got["failed_slots"] == 0 and got["fallback_share"] == 0.0
    assert [s["ok"] for s in got["swaps"]] == [True, True]
    segments = got["segments"]
    assert [s["model"] for s in segments] == ["a@1", "b@1", "a@1"]
    assert segments[0]["first_slot"] == 0 and segments[-1]["end_slot"] == 900
    assert sum(s["slots"] for s in segments) == 900
    # the models choose differently: the KPIs change with the swap
    assert segments[0]["mean_mcs"] != segments[1]["mean_mcs"]
    assert segments[0]["throughput_mbps"] != segments[1]["throughput_mbps"]
    # a model the service does not store is refused before the run (bad option)
    status, bad = emulate_json(
        capsys, "--target", service.grpc, "--slots", "60", "--swap-every", "30",
        "--swap-models", "missing:9", "--admin-url", service.http, "--token", TOKEN)
    assert status == 2 and bad == {}


def test_a_failed_activation_during_a_drill_violates_its_slo() -> None:
    from linkadapt.commands.emulate import slo_violations
    from training.sim.emulator import SwapEvent

    kpis = {"latency_p99_us": 100.0, "bler": 0.1, "missed_slots": 0, "failed_slots": 0}
    opts = EmulatorOptions(target="x:1", swap_every=30, swap_models=("b:1",),
                           admin_url="http://x:8080", token="t")
    args = argparse.Namespace(slo_p99_us=None, max_bler=None, max_missed_slots=None)
    swaps = [SwapEvent(30, "b@1", False, "HTTP 404: no stored model b@1", 0.01)]
    result = EmulationResult(opts, 500.0, kpis, [], [], swaps, None, 1.0)
    assert slo_violations(args, result) == [
        "hot-swap drill: 1 activations failed (HTTP 404: no stored model b@1)"]


def test_hot_swap_drill_checks_the_admin_api_before_the_run(
        serving_a: Service, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    drill = ["emulate", "--target", serving_a.grpc, "--slots", "2000", "--swap-every", "10"]
    cases = [
        (["--swap-models", "a:1", "--admin-url", serving_a.http, "--token", "wrong"],
         "refused the admin token (HTTP 401)"),
        (["--swap-models", "a:1,b:7", "--admin-url", serving_a.http, "--token", TOKEN],
         "--swap-models b:7 not stored in the service (stored: a:1)"),
        (["--swap-models", "a:1", "--admin-url", closed, "--token", TOKEN],
         f"cannot reach the admin API at {closed}"),
    ]
    for args, message in cases:
        started = time.monotonic()
        assert main([*drill, *args]) == 2, args  # bad options: before any of the slots
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == ""
        assert time.monotonic() - started < 20


# -- load mode -------------------------------------------------------------------------------------


def test_load_ramp_reports_the_largest_load_within_budget(
        serving_a: Service, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["emulate", "--target", serving_a.grpc, "--load", "cells", "--load-max", "2",
                   "--slots", "40", "--ues-per-cell", "2", "--deadline-us", "10000000",
                   "--stream", "--json"])
    got = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [s["cells"] for s in got["steps"]] == [1, 2]
    assert got["best"]["cells"] == 2 and got["mode"] == "stream"
    status = main(["emulate", "--target", serving_a.grpc, "--load", "ues", "--slots", "20",
                   "--deadline-us", "1"])
    assert status == 1
    assert "no load level kept p99 within the budget" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["127.0.0.1:50051", "localhost:50051", "[::1]:50051",
                                    "dns:///localhost:50051", "ipv6:[::1]:50051"])
def test_targets_grpc_understands_pass_the_up_front_check(target: str) -> None:
    EmulatorOptions(target=target).check()  # raises ValueError naming --target otherwise


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_pki(tmp_path / "pki")


def _client_flags(pki: TestPki) -> list[str]:
    return ["--tls-ca", str(pki.ca.cert), "--tls-cert", str(pki.client.cert),
            "--tls-key", str(pki.client.key)]


def _mutual(start_service: Callable[..., Service], pki: TestPki, models: dict[str, Path],
            cert: Path | None = None, key: Path | None = None) -> Service:
    service = start_service(client_tls=ClientTls(pki.ca.cert, pki.client.cert, pki.client.key),
                            tls_cert=cert or pki.server.cert, tls_key=key or pki.server.key,
                            tls_client_ca=pki.ca.cert, tls_client_names=("gnb-1",))
    service.upload(models["a"].read_bytes(), activate=True)
    return service


@pytest.mark.parametrize("wire", [[], ["--stream"]], ids=["unary", "stream"])
def test_emulate_equals_simulate_over_mutual_tls(
        start_service: Callable[..., Service], pki: TestPki, models: dict[str, Path],
        capsys: pytest.CaptureFixture[str], wire: list[str]) -> None:
    service = _mutual(start_service, pki, models)
    common = ["--scenario", "random", "--seed", "5", "--slots", "400"]
    expected = simulate_json(capsys, *common, "--ues", "6", "--policy", str(models["a"]))
    status, got = emulate_json(capsys, "--target", service.grpc, *common, "--cells", "1",
                               "--ues-per-cell", "6", *wire, *_client_flags(pki))
    assert status == 0 and got["tls"] is True
    assert {k: got[k] for k in SHARED_KPIS} == {k: expected[k] for k in SHARED_KPIS}
    assert got["failed_slots"] == 0 and got["fallback_share"] == 0.0


def test_certificates_rotate_while_the_emulator_streams(
        start_service: Callable[..., Service], pki: TestPki, models: dict[str, Path],
        tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "tls.crt", live / "tls.key"
    replace_file(pki.server.cert, cert)
    replace_file(pki.server.key, key)
    service = _mutual(start_service, pki, models, cert, key)
    renewed = issue(pki.ca, pki.directory, "renewed", "linkadapt", server=True)
    served: list[int] = []

    def on_slot(done: int) -> None:
        if done == 150:  # mid-run, the stream open: cert-manager renews the certificate
            served.append(served_serial(service.grpc_port, pki, "h2"))
            replace_file(renewed.key, key)
            replace_file(renewed.cert, cert)
            served.append(served_serial(service.grpc_port, pki, "h2"))

    result = run_emulation(EmulatorOptions(
        target=service.grpc, cells=2, ues_per_cell=4, slots=400, stream=True,
        tls=ClientTls(pki.ca.cert, pki.client.cert, pki.client.key)), on_slot)
    assert served == [pki.server.serial, renewed.serial]
    k = result.kpis
    assert k["slots"] == 400 and k["requests"] > 0
    assert k["failed_slots"] == 0 and k["errors"] == {} and k["fallback_share"] == 0.0
    assert result.aborted == ""


def test_tls_client_errors_exit_2_with_one_line_naming_the_flag(
        start_service: Callable[..., Service], pki: TestPki, models: dict[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    service = _mutual(start_service, pki, models)
    cases = [
        (["--tls-ca", str(pki.rogue_ca.cert), *_client_flags(pki)[2:]], "--tls-ca"),
        (["--tls-ca", str(pki.ca.cert)], "--tls-cert"),
        (["--tls-ca", str(pki.ca.cert), "--tls-cert", str(pki.rogue_client.cert),
          "--tls-key", str(pki.rogue_client.key)], "--tls-cert"),
        ([], "--tls-ca"),
        (["--tls-ca", str(pki.ca.cert), "--tls-cert", str(pki.client.cert)], "--tls-key"),
    ]
    for flags, named in cases:
        status = main(["emulate", "--target", service.grpc, "--slots", "5",
                       "--connect-timeout-s", "20", *flags])
        err = capsys.readouterr().err
        assert status == 2, err
        assert err.count("\n") == 1 and named in err and "Traceback" not in err, err
        assert "within 20 s" not in err  # said at once, not after the connect timeout
