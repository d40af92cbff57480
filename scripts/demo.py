"""The main job: serve the embedded default model and show a first MCS decision.

Starts ``linkadapt serve`` (gRPC on 50051, REST on 8080 unless LINKADAPT_GRPC_PORT /
LINKADAPT_HTTP_PORT say otherwise; the model store in serve's default place,
``model-store``, unless LINKADAPT_MODEL_STORE says otherwise), waits until it is
ready, sends one UE report to ``POST /v1/decisions`` and prints the request and the
decision, then keeps serving until Ctrl-C (``--once`` stops right after the decision).

Ports another process holds are refused first, with one line and exit status 1:
otherwise the readiness check and the decision would reach that other server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPORT = {
    "ue_id": 17, "mcs_table": "MCS_TABLE_QAM256", "wideband_cqi": 11, "cqi_age_slots": 6,
    "rank_indicator": 2, "tb_initial_total": 80, "tb_initial_errors": 7, "last_mcs": 17,
    "ss_sinr_db": 14.5, "ss_rsrp_dbm": -88.0, "buffer_bytes": 250000, "allocated_prbs": 68,
    "num_tx_antennas": 4, "numerology": 1, "csi_period_slots": 10,
    "harq": [{"ack": True, "mcs": 17, "age_slots": 0, "initial": True},
             {"ack": True, "mcs": 17, "age_slots": 1, "initial": True},
             {"ack": False, "mcs": 18, "age_slots": 2, "initial": True}],
}


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def busy_port(host: str, ports: dict[str, str]) -> str | None:
    """Say which of ``ports`` (name -> port) cannot be bound on ``host``; ``None`` if all can."""
    for name, port in ports.items():
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As the service binds: SO_REUSEADDR, so a recently stopped run is no obstacle.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host.strip("[]"), int(port)))
            except OSError as exc:
                return f"{name} port {port} on {host}: {exc.strerror or exc}"
    return None


def main() -> int:
    """Run the demo; returns the exit status."""
    http_port = os.environ.get("LINKADAPT_HTTP_PORT", "8080")
    grpc_port = os.environ.get("LINKADAPT_GRPC_PORT", "50051")
    base = f"http://127.0.0.1:{http_port}"
    busy = busy_port(os.environ.get("LINKADAPT_HOST", "0.0.0.0"),
                     {"REST": http_port, "gRPC": grpc_port})
    if busy is not None:
        print(f"make run: cannot serve, {busy} (another server holds it?). Stop it, or pick "
              "free ports: LINKADAPT_HTTP_PORT=8081 LINKADAPT_GRPC_PORT=50052 make run",
              file=sys.stderr)
        return 1
    server = subprocess.Popen([sys.executable, "-m", "linkadapt", "serve",
                               # a first-run demo on loopback: plaintext, said explicitly
                               "--insecure", "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 60
        status, body = 0, {}
        while time.monotonic() < deadline:
            if server.poll() is not None:
                print("linkadapt serve exited early; see its messages above", file=sys.stderr)
                return 1
            try:
                status, body = _get(f"{base}/ric/v1/health/ready")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        else:
            print("the service did not come up within 60 s", file=sys.stderr)
            return 1
        if server.poll() is not None:  # a port taken since the check: that was another server
            print("linkadapt serve exited early; see its messages above", file=sys.stderr)
            return 1
        print(f"readiness {base}/ric/v1/health/ready -> {status} {json.dumps(body)}")
        request = {"schema_version": 2, "cell_id": 1, "slot": 1000, "reports": [REPORT]}
        data = json.dumps(request).encode()
        post = urllib.request.Request(f"{base}/v1/decisions", data=data,
                                      headers={"content-type": "application/json"})
        with urllib.request.urlopen(post, timeout=5) as response:
            decision = json.loads(response.read())
        print("report  :", json.dumps(REPORT))
        print("decision:", json.dumps(decision, indent=2))
        if "--once" in sys.argv[1:]:
            return 0
        print(f"serving: gRPC on :{grpc_port}, REST on "
              f":{http_port} (docs at {base}/docs). Ctrl-C stops.")
        server.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
