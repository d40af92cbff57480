"""The distributed path for real: a two-node Ray cluster on this machine, joined with --ray-address.

The module starts a head node (``ray start --head``) and a worker node
(``ray start --address``) with one CPU each, so that two rollout actors of one CPU
each can only run one per node, then runs ``linkadapt train-teacher`` and
``linkadapt distill`` as subprocesses of the console script against it and reads
where their actors ran from their run records. The cluster uses Ray's token
authentication with a token of its own (``RAY_AUTH_TOKEN``), never the user's
``~/.ray``. It is stopped when the module ends, whatever the tests did: each
``ray start --block`` is told to stop, then its process group is killed, then any
process left that names the cluster's own temporary directory. ``ray stop`` is not
used: it stops every Ray on the machine, not only this one.

Slow: CI runs it. ``time pytest -m slow tests/training/test_ray_cluster.py`` took 76 to
113 s on 2 cores that other work kept at a load of 6 to 8: about 20 s to start the two
nodes, 25 s for the smoke teacher, 25 s for the distillation, 20 s for the refusals.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from training.distill import dataset as ds

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
LINKADAPT = Path(sys.executable).with_name("linkadapt")
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0
"""A node that has not started in this long has failed (it takes 5-20 s on 2 busy cores)."""


def _free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports free at the time of the call."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _node_ports() -> list[str]:
    """The options of one node's own ports: two Ray nodes on one host must not share any."""
    names = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
    options = [part for name, port in zip(names, _free_ports(len(names)), strict=True)
               for part in (name, str(port))]
    # 0 and 0: each worker process binds a port of its own choosing
    return [*options, "--min-worker-port", "0", "--max-worker-port", "0"]


@dataclass
class Node:
    """One ``ray start --block`` process of the test, in a process group of its own."""

    process: subprocess.Popen[bytes]
    log: Path

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Let ``ray start`` stop its node's processes, then kill whatever of its group is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@dataclass(frozen=True)
class Cluster:
    """A running two-node cluster and what a client needs to join it."""

    address: str
    env: dict[str, str]
    temp_dir: Path


def _start(args: list[str], env: dict[str, str], log: Path) -> Node:
    with open(log, "wb") as out:
        process = subprocess.Popen([str(RAY), "start", "--block", *args], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return Node(process, log)


def _wait_listening(port: int, node: Node) -> None:
    """Until something accepts connections on loopback ``port`` (``node`` must not exit)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if node.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"ray start failed:\n{node.log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def _processes_naming(text: str) -> list[int]:
    """Ids of the processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and a worker node of one CPU each; stopped at the end whatever happened."""
    # Short and under /tmp: Ray's Unix sockets live in it and a socket path has at most
    # 107 characters, which pytest's tmp_path would exceed.
    temp_dir = Path(tempfile.mkdtemp(prefix="la-ray-", dir="/tmp"))
    env = {**os.environ,
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0",
           # the actors import this checkout's training package, as the clients do
           "PYTHONPATH": os.pathsep.join(dict.fromkeys(
               filter(None, [str(REPO), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])))}
    env.pop("RAY_ADDRESS", None)
    gcs_port, client_port = _free_ports(2)
    address = f"127.0.0.1:{gcs_port}"
    common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--disable-usage-stats"]
    nodes: list[Node] = []
    survivors: list[int] = []
    try:
        nodes.append(_start(["--head", "--port", str(gcs_port), "--temp-dir", str(temp_dir),
                             "--include-dashboard", "false",
                             "--ray-client-server-port", str(client_port),
                             *_node_ports(), *common], env, temp_dir / "head.log"))
        # The worker node needs only the head's GCS: it starts while the head finishes.
        _wait_listening(gcs_port, nodes[0])
        nodes.append(_start(["--address", address, *_node_ports(), *common], env,
                            temp_dir / "worker.log"))
        for node in nodes:
            node.wait_started()
        yield Cluster(address, env, temp_dir)
    finally:
        for node in reversed(nodes):
            node.stop()
        survivors = _processes_naming(str(temp_dir))
        for pid in survivors:  # only the test's own: they name its fresh temporary directory
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not survivors, f"Ray processes of the test outlived their ray start: {survivors}"


def _linkadapt(cluster: Cluster, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINKADAPT), *args, "--no-progress"], env=env or cluster.env,
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def _own_lines_only(stderr: str, prefix: str) -> None:
    """Every stderr line is the command's own: no Ray start-up notice, warning or log line."""
    foreign = [line for line in stderr.splitlines() if not line.startswith(prefix)]
    assert not foreign, "\n".join(foreign)


@pytest.fixture(scope="module")
def teacher_run(cluster: Cluster,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """A smoke teacher with two actors trained on the cluster: run directory, summary, stderr."""
    out = tmp_path_factory.mktemp("cluster-teacher")
    run = _linkadapt(cluster, "train-teacher", "--profile", "smoke", "--actors", "2",
                     "--out", str(out), "--ray-address", cluster.address)
    assert run.returncode == 0, run.stderr
    return out, json.loads(run.stdout.strip().splitlines()[-1]), run.stderr


def test_the_teacher_runs_its_rollout_actors_on_both_nodes(
        teacher_run: tuple[Path, dict, str]) -> None:
    _, summary, stderr = teacher_run
    placements = summary["ray_nodes"]
    assert [p["actor"] for p in placements] == [0, 1]
    assert len({p["node_id"] for p in placements}) == 2  # the cluster's two nodes
    assert "teacher: rollouts on 2 Ray nodes: 1 actor on " in stderr
    _own_lines_only(stderr, "teacher: ")


def test_the_distillation_collects_its_dataset_on_both_nodes(
        cluster: Cluster, teacher_run: tuple[Path, dict, str], tmp_path: Path) -> None:
    teacher_dir, _, _ = teacher_run
    out = tmp_path / "distill"
    run = _linkadapt(cluster, "distill", "--teacher", str(teacher_dir / "teacher.onnx"),
                     "--profile", "smoke", "--actors", "2", "--epochs", "1", "--no-int8",
                     "--out", str(out), "--ray-address", cluster.address)
    assert run.returncode == 0, run.stderr
    manifest = ds.read_manifest(out / "dataset")
    assert len({p["node_id"] for p in manifest["ray_nodes"]}) == 2
    assert len(json.loads(run.stdout.strip().splitlines()[-1])["ray_nodes"]) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert {n["node_id"] for n in summary["ray_nodes"]} == \
        {p["node_id"] for p in manifest["ray_nodes"]}
    assert "rollouts on 2 Ray nodes" in run.stderr
    _own_lines_only(run.stderr, "distill: ")


def test_a_wrong_token_is_refused_in_one_line_naming_the_fix(cluster: Cluster,
                                                            tmp_path: Path) -> None:
    # one connection attempt instead of Ray's twenty, one a second
    env = {**cluster.env, "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_gcs_server_port_wait_time_s": "1"}
    run = _linkadapt(cluster, "train-teacher", "--profile", "smoke", "--out",
                     str(tmp_path / "run"), "--ray-address", cluster.address, env=env)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"linkadapt train-teacher: error: cannot join the Ray cluster at {cluster.address}: "
        "it uses token authentication and did not accept this process (RAY_AUTH_MODE is "
        "token); set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the "
        "cluster's token, which `ray get-auth-token` prints on its head node")
    assert not (tmp_path / "run").exists()  # nothing written


def test_more_actors_than_the_cluster_has_cpus_are_refused(cluster: Cluster,
                                                          tmp_path: Path) -> None:
    run = _linkadapt(cluster, "distill", "--mode", "scratch", "--profile", "smoke",
                     "--actors", "3", "--out", str(tmp_path / "run"),
                     "--ray-address", cluster.address)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"linkadapt distill: error: 3 actors need 3 CPUs; the Ray cluster at "
        f"{cluster.address} has 2: lower --actors or add nodes"]
    assert not (tmp_path / "run").exists()
