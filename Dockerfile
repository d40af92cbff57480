# linkadapt xApp serving image: gRPC (50051) + REST (8080), serving dependencies only.
#
# Build:  docker build -t linkadapt-xapp .
#         podman build --format docker --build-arg BASE_IMAGE=localhost/debian-python:bookworm ...
# Run:    docker run --read-only -p 50051:50051 -p 8080:8080 \
#           --tmpfs /var/lib/linkadapt linkadapt-xapp
#
# The base must provide Python 3.11 with the venv module (the official slim image
# keeps it in /usr/local/bin, Debian's python3 in /usr/bin: the virtualenv in
# /opt/venv hides the difference). Builder and runtime use the same base, so the
# venv's interpreter link is valid in both.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

# Optional CA bundle for pip (a build behind a TLS-intercepting proxy mounts the
# host's bundle and names it here); empty means pip's own certificates.
ARG PIP_CERT=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv

WORKDIR /src
# Dependencies first, in their own layer: they change far less often than the
# code. The list is read from pyproject's core dependencies (never the train or
# dev extras), so the image cannot drift from the project metadata.
COPY pyproject.toml ./
RUN [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    /opt/venv/bin/python -c "import tomllib; \
print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --requirement /tmp/requirements.txt

# The project itself: xapp (the service), linkadapt (the CLI) and training, whose
# numpy-only simulator drives `linkadapt emulate` (the helm test hook). Whatever is
# in xapp/models ships as package data. --no-deps: the layer above has them all.
# Nothing at runtime installs packages, so pip and setuptools go, and so do parts no
# serving path imports: test suites and data (numpy, onnx) and ONNX Runtime's
# transformer and quantization tooling (~30 MB). Bytecode is compiled now because
# the root filesystem is read-only at runtime.
COPY README.md ./
COPY linkadapt/ linkadapt/
COPY xapp/ xapp/
COPY training/ training/
RUN [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip \
    && cd /opt/venv/lib/python3.11/site-packages \
    && rm -rf setuptools* pkg_resources _distutils_hack distutils-precedence.pth \
       onnx/backend/test onnxruntime/transformers onnxruntime/quantization \
    && find numpy -depth -type d -name tests -exec rm -rf {} + \
    && cd /src \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib/python3.11/site-packages \
       > /dev/null

# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

ARG APP_UID=10001
LABEL org.opencontainers.image.title="linkadapt-xapp" \
      org.opencontainers.image.description="O-RAN near-RT RIC xApp: 5G NR MCS selection by a distilled RL policy" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric non-root user (Kubernetes' runAsNonRoot can only check numbers).
RUN groupadd --system --gid ${APP_UID} linkadapt \
    && useradd --system --uid ${APP_UID} --gid ${APP_UID} --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin linkadapt \
    && mkdir -p /var/lib/linkadapt/model-store \
    && chown -R ${APP_UID}:${APP_UID} /var/lib/linkadapt

COPY --from=builder /opt/venv /opt/venv

# Settings come from flags, LINKADAPT_* variables or the config file; none are
# fixed here, so a config file's "controls" are not overridden by the image.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

USER ${APP_UID}:${APP_UID}
# The default model store ("model-store", relative) is /var/lib/linkadapt/model-store,
# the only place the service writes: mount a volume (or a tmpfs) there when the
# root filesystem is read-only.
WORKDIR /var/lib/linkadapt
EXPOSE 50051 8080

# O-RAN SC liveness endpoint on whichever port the REST server was given: flag,
# environment or config file, resolved from the service's own command line.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-m", "xapp.healthcheck"]

ENTRYPOINT ["linkadapt"]
# serve needs TLS files (--tls-cert/--tls-key or LINKADAPT_TLS_*) or an explicit --insecure
# (LINKADAPT_INSECURE=1): without either it exits with one line saying so. The image
# cannot choose plaintext for its operator.
CMD ["serve"]
