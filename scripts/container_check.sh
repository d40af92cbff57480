#!/usr/bin/env bash
# Build the serving image with podman, run it read-only, and drive it for real.
#
#   scripts/container_check.sh [--grpc-port N] [--http-port N] [--slots N] [--keep-image]
#
# Steps: install podman/runc/debootstrap if missing (apt-get, as root); make the
# local Python 3.11 base image from Debian packages unless it exists already
# (localhost/debian-python:bookworm); build the Dockerfile against it; run the
# container with --read-only and --network=host on free loopback ports; wait for
# /ric/v1/health/alive; run the image's HEALTHCHECK; check the admin API with the
# token; then drive it with `linkadapt emulate` from the same image when the image has
# the emulator (a real decision request over REST plus the gRPC health check
# otherwise); print the size the Dockerfile adds on top of its base. With the
# project's virtualenv the container is given the Helm chart's own config file and
# token secret, and the emulator runs with the helm test hook's arguments.
#
# Idempotent: the base image is cached, the build reuses podman's layer cache, and
# every container this script starts is removed by its id on exit.
#
# Environment:
#   SKIP_CONTAINER_CHECK_IF_NO_PODMAN=1  exit 0 with a message when podman is absent
#                                        and cannot be installed
#   CONTAINER_CHECK_GRPC_PORT / _HTTP_PORT  ports (default: free ones, picked here)
#   CONTAINER_CHECK_IMAGE   image tag to build (default localhost/linkadapt-xapp:check)
#   CONTAINER_CHECK_SCENARIO, CONTAINER_CHECK_SLOTS  emulator scenario / slots (built-in
#                           arguments only; with the chart, the helm test hook's are used)
#   CONTAINER_CHECK_SLO_P99_US  p99 latency SLO of the emulator run (default 50000: shared
#                           CI cores, not a RIC node)
#   CONTAINER_CHECK_PYTHON  interpreter with helm-python-sdk (default .venv/bin/python)
#   CONTAINERS_CONF         podman settings; a sandbox-friendly file is written if unset
set -euo pipefail

cd "$(dirname "$0")/.."
started=$(date +%s)

base_image=localhost/debian-python:bookworm
image=${CONTAINER_CHECK_IMAGE:-localhost/linkadapt-xapp:check}
grpc_port=${CONTAINER_CHECK_GRPC_PORT:-}
http_port=${CONTAINER_CHECK_HTTP_PORT:-}
scenario=${CONTAINER_CHECK_SCENARIO:-mimo}
slots=${CONTAINER_CHECK_SLOTS:-300}
slo_p99_us=${CONTAINER_CHECK_SLO_P99_US:-50000}
python=${CONTAINER_CHECK_PYTHON:-.venv/bin/python}
ca_bundle=/etc/ssl/certs/ca-certificates.crt

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --grpc-port) grpc_port=$2; shift 2 ;;
        --http-port) http_port=$2; shift 2 ;;
        --slots) slots=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "container_check: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf '[container_check %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

# --- podman -------------------------------------------------------------------
ensure_podman() {
    local missing=()
    local tool
    for tool in podman runc debootstrap; do
        command -v "$tool" > /dev/null || missing+=("$tool")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
        log "installing ${missing[*]} with apt-get"
        if apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap \
                > /dev/null; then
            return 0
        fi
    fi
    if [[ ${SKIP_CONTAINER_CHECK_IF_NO_PODMAN:-0} == 1 ]]; then
        log "SKIPPED: podman/runc/debootstrap missing (${missing[*]}) and cannot be installed"
        exit 0
    fi
    fail "podman/runc/debootstrap missing (${missing[*]}) and cannot be installed"
}

configure_podman() {
    # runc + cgroupfs + no default ulimits: what podman needs in this kind of sandbox.
    if [[ -z ${CONTAINERS_CONF:-} ]]; then
        CONTAINERS_CONF=$(mktemp --tmpdir linkadapt-containers.XXXXXX.conf)
        cat > "$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
        export CONTAINERS_CONF
        cleanup_files+=("$CONTAINERS_CONF")
    fi
}

# --- images -------------------------------------------------------------------
ensure_base_image() {
    if podman image exists "$base_image"; then
        log "base image $base_image: cached"
        return 0
    fi
    local mirror rootfs
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
             || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d --tmpdir linkadapt-rootfs.XXXXXX)
    cleanup_dirs+=("$rootfs")
    log "making $base_image with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$mirror" > "$rootfs.log" 2>&1 \
        || { tail -20 "$rootfs.log"; fail "debootstrap"; }
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | podman import - "$base_image" > /dev/null 2>&1
    log "base image $base_image: imported"
}

build_image() {
    local mounts=() certs=()
    if [[ -f $ca_bundle ]]; then
        # Package downloads may pass a TLS proxy only the host trusts: lend its CA
        # bundle to the build steps (never to the image).
        mounts=(-v "$ca_bundle:$ca_bundle:ro")
        certs=(--build-arg "PIP_CERT=$ca_bundle")
    fi
    log "building $image (FROM $base_image)"
    # docker format: the OCI format has no HEALTHCHECK.
    podman build --format docker --network=host "${mounts[@]}" "${certs[@]}" \
        --build-arg "BASE_IMAGE=$base_image" -t "$image" . > "$build_log" 2>&1 \
        || { tail -40 "$build_log"; fail "podman build"; }
    log "built $image"
}

image_bytes_of() { podman image inspect --format '{{.Size}}' "$1"; }

# --- the chart's view of the pod ------------------------------------------------
render_chart() {
    # With the project's virtualenv (helm-python-sdk), the container gets the config
    # file and admin token exactly as the chart mounts them, and the emulator runs with
    # the helm test hook's own arguments. Without it, built-in settings and arguments.
    chart_dir=$(mktemp -d --tmpdir linkadapt-chart.XXXXXX)
    cleanup_dirs+=("$chart_dir")
    [[ -x $python ]] && "$python" -c "import helm_python" 2> /dev/null || return 1
    "$python" - "$chart_dir" <<'PY' || return 1
import json, pathlib, sys
import helm_python as helm
import yaml

out = pathlib.Path(sys.argv[1])
token = "container-check-token"
with helm.Chart.load("deploy/helm/linkadapt") as chart:
    rendered = chart.render({"auth": {"adminToken": token}, "tls": {"enabled": False}}, name="check",
                           namespace="ricxapp")
objects = [d for name, text in rendered.items() if name.endswith(".yaml")
           for d in yaml.safe_load_all(text) if d]
config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["config-file.json"]
hook = next(o for o in objects if o["kind"] == "Pod")["spec"]["containers"][0]["args"]
controls = json.loads(config)["controls"]
for name, content in (("config/config-file.json", config),
                      ("secret/" + pathlib.Path(controls["admin_token_file"]).name, token),
                      ("hook-args", "\n".join(hook)), ("token", token),
                      ("model-store", controls["model_store"])):
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(content)
PY
    chmod -R a+rX "$chart_dir"
}

# --- running ------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_get() {  # URL -> prints "STATUS BODY"
    python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError as e:
    print(0, e)
PY
}

wait_alive() {
    local deadline=$(( $(date +%s) + 90 ))
    while (( $(date +%s) < deadline )); do
        if [[ $(http_get "http://127.0.0.1:$http_port/ric/v1/health/alive") == 200* ]]; then
            return 0
        fi
        [[ $(podman inspect --format '{{.State.Running}}' "$cid") == true ]] \
            || { podman logs "$cid" | tail -30; fail "the container exited"; }
        sleep 1
    done
    podman logs "$cid" | tail -30
    fail "no /ric/v1/health/alive within 90 s"
}

run_in_image() {  # a second, short-lived container from the same image (like the helm test)
    local cidfile
    cidfile=$(mktemp -u --tmpdir linkadapt-check-cid.XXXXXX)
    cleanup_cidfiles+=("$cidfile")
    podman run --rm --cidfile "$cidfile" --network=host --read-only \
        --entrypoint "$1" "$image" "${@:2}" 2> >(grep -v "systemd connection" >&2)
}

drive_with_emulator() {
    local args=() arg previous=
    if [[ $chart_rendered == 1 ]]; then
        # The helm test hook's arguments; only the target (the service is on loopback
        # here) and the latency SLO (two shared, busy cores here, not a RIC node) change.
        while IFS= read -r arg || [[ -n $arg ]]; do
            case $previous in
                --target) arg=127.0.0.1:$grpc_port ;;
                --slo-p99-us) arg=$slo_p99_us ;;
            esac
            args+=("$arg")
            previous=$arg
        done < "$chart_dir/hook-args"
        source="the helm test hook's arguments"
    else
        args=(emulate --target "127.0.0.1:$grpc_port" --cells 2 --ues-per-cell 8
              --scenario "$scenario" --slots "$slots" --seed 1 --stream
              --slo-p99-us "$slo_p99_us" --max-bler 0.5)
        source="built-in arguments"
    fi
    log "driving it with the emulator ($source): linkadapt ${args[*]}"
    run_in_image linkadapt "${args[@]}" || fail "linkadapt emulate against the container"
    driver="emulator ($source)"
}

drive_with_requests() {
    log "no emulator in the image yet: a REST decision request and the gRPC health check"
    local body
    body=$(python3 - "$http_port" <<'PY'
import json, sys, urllib.request
report = {"ue_id": 17, "mcs_table": "MCS_TABLE_QAM64", "wideband_cqi": 9, "cqi_age_slots": 4,
          "rank_indicator": 2, "harq": [{"ack": True, "mcs": 12, "age_slots": 2, "initial": True}],
          "tb_initial_total": 30, "tb_initial_errors": 3, "last_mcs": 13, "ss_sinr_db": 12.5,
          "ss_rsrp_dbm": -85.0, "buffer_bytes": 120000, "allocated_prbs": 52,
          "num_tx_antennas": 4, "numerology": 1, "csi_period_slots": 20}
request = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/v1/decisions", method="POST",
    data=json.dumps({"schema_version": 2, "cell_id": 1, "slot": 0, "reports": [report]}).encode(),
    headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=5) as response:
    decision = json.load(response)["decisions"][0]
assert 0 <= decision["mcs"] <= 28, decision
print(json.dumps(decision))
PY
) || fail "REST decision request"
    log "decision: $body"
    run_in_image python3 -c "
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
with grpc.insecure_channel('127.0.0.1:$grpc_port') as channel:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
print('grpc health:', health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
assert reply.status == health_pb2.HealthCheckResponse.SERVING
" || fail "gRPC health check"
    driver="REST decision request + gRPC health"
}

# --- main ---------------------------------------------------------------------
cid=
cleanup_files=()
cleanup_dirs=()
cleanup_cidfiles=()
build_log=$(mktemp --tmpdir linkadapt-build.XXXXXX.log)
cleanup_files+=("$build_log")

cleanup() {
    local status=$? file
    if [[ -n $cid ]]; then
        podman rm -f "$cid" > /dev/null 2>&1 || true
    fi
    for file in "${cleanup_cidfiles[@]}"; do
        if [[ -s $file ]]; then podman rm -f "$(cat "$file")" > /dev/null 2>&1 || true; fi
        rm -f "$file"
    done
    rm -rf "${cleanup_dirs[@]}" "${cleanup_files[@]}"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_podman
configure_podman
ensure_base_image
build_image

grpc_port=${grpc_port:-$(free_port)}
http_port=${http_port:-$(free_port)}
[[ $grpc_port != "$http_port" ]] || fail "gRPC and HTTP ports must differ"
mounts=(--tmpfs /var/lib/linkadapt/model-store:rw,U)
chart_rendered=0
if render_chart; then
    chart_rendered=1
    # As the chart mounts them: config file, admin token secret, model store volume.
    mounts=(-v "$chart_dir/config:/etc/linkadapt/config:ro"
            -v "$chart_dir/secret:/etc/linkadapt/secret:ro"
            --tmpfs "$(cat "$chart_dir/model-store"):rw,U"
            -e LINKADAPT_CONFIG=/etc/linkadapt/config/config-file.json)
    log "config file and admin token: rendered from the chart"
else
    log "no helm-python-sdk: the image's defaults, no admin token"
fi
log "running it: --read-only, --network=host, gRPC 127.0.0.1:$grpc_port, HTTP 127.0.0.1:$http_port"
# The HTTP port is a flag (the others come from the environment): the image's
# HEALTHCHECK must find it on the service's command line, not in LINKADAPT_HTTP_PORT.
cid=$(podman run -d --network=host --read-only "${mounts[@]}" \
    -e LINKADAPT_HOST=127.0.0.1 -e "LINKADAPT_GRPC_PORT=$grpc_port" -e LINKADAPT_INSECURE=1 \
    "$image" serve --http-port "$http_port" 2> >(grep -v "systemd connection" >&2))
wait_alive
log "alive: $(http_get "http://127.0.0.1:$http_port/ric/v1/health/alive")"

# The image's own HEALTHCHECK (podman has no systemd timer here to run it by itself).
podman healthcheck run "$cid" > /dev/null || fail "the image's HEALTHCHECK"
log "image HEALTHCHECK: healthy"
user=$(podman exec "$cid" id -u)
[[ $user != 0 ]] || fail "the service runs as root"
ready=$(http_get "http://127.0.0.1:$http_port/ric/v1/health/ready")
case $ready in
    200*) model="a validated model (ready)" ;;
    503*) model="no model: fallback decisions only (not ready)" ;;
    *) fail "unexpected readiness answer: $ready" ;;
esac
log "uid $user; serving $model: $ready"

if [[ $chart_rendered == 1 ]]; then
    token=$(cat "$chart_dir/token")
    python3 - "$http_port" "$token" <<'PY' || fail "admin API with the chart's token"
import sys, urllib.error, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/v1/models"
def status(headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
assert status({"Authorization": f"Bearer {sys.argv[2]}"}) == 200
assert status({}) == 401, status({})
PY
    log "admin API: 200 with the secret's token, 401 without"
fi

# Without an embedded default model the service answers with the fallback rule and is
# not ready. Upload and activate a small test model through the admin API (the
# image's ONNX checks and ONNX Runtime do the work), and readiness must follow.
if [[ $ready == 503* && $chart_rendered == 1 ]]; then
    if "$python" - "$chart_dir/model.onnx" <<'PY' 2> /dev/null
import sys
from tests.synthetic import random_mlp  # a valid random 2x32 MLP with a model card
with open(sys.argv[1], "wb") as f:
    f.write(random_mlp("container-check", "1"))
PY
    then
        LINKADAPT_ADMIN_TOKEN=$(cat "$chart_dir/token") "$python" -m linkadapt.cli models \
            --url "http://127.0.0.1:$http_port" upload "$chart_dir/model.onnx" --activate \
            > /dev/null || fail "upload and activation of a test model"
        ready=$(http_get "http://127.0.0.1:$http_port/ric/v1/health/ready")
        [[ $ready == 200* ]] || fail "not ready after a model was activated: $ready"
        model="$model; then a test model uploaded and activated over REST (ready)"
        log "test model uploaded and activated: $ready"
    else
        log "no test model generator (tests/synthetic.py): serving stays fallback-only"
    fi
fi

if podman exec "$cid" python3 -c "import training.sim.emulate_command" > /dev/null 2>&1; then
    drive_with_emulator
else
    drive_with_requests
fi

metrics=$(http_get "http://127.0.0.1:$http_port/metrics")
decisions=$(grep -E '^linkadapt_decisions_total' <<< "$metrics" | tr '\n' ' ' || true)
[[ -n $decisions ]] || fail "/metrics has no linkadapt_decisions_total"
log "metrics: $decisions"
podman logs "$cid" 2>&1 | grep -qE 'Traceback' && { podman logs "$cid" | tail -30; fail "errors in the service log"; }

base_bytes=$(image_bytes_of "$base_image")
image_bytes=$(image_bytes_of "$image")
added_mb=$(( (image_bytes - base_bytes) / 1000000 ))
log "image $image: $(( image_bytes / 1000000 )) MB; base $base_image: $(( base_bytes / 1000000 )) MB"
log "size added on top of the base: $added_mb MB"
log "driven by: $driver; model: $model"
log "OK in $(( $(date +%s) - started )) s"
