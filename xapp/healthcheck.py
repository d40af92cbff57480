"""The container's HEALTHCHECK: is the ``linkadapt serve`` of this container alive?

``python -m xapp.healthcheck`` asks ``/ric/v1/health/alive`` on the REST port the
service itself resolved. That port can come from a ``--http-port`` flag, the
environment, or the config file (``--config`` or ``LINKADAPT_CONFIG``). The
check reads the service's command line and environment (PID 1's in a
container; with an init process as PID 1, the first ``linkadapt ... serve``
process found) and applies the service's own rules to them (:func:`xapp.settings.load_settings`:
flags > environment > config file > defaults). A check that read only
``LINKADAPT_HTTP_PORT`` would probe 8080 while the service listens elsewhere,
and mark a healthy container unhealthy.

When the service serves TLS (its ``--tls-cert``), the check speaks HTTPS and trusts
exactly that certificate file (no CA or host name needed for the local service);
under mutual TLS it presents the service's own certificate and key unless
``--tls-cert``/``--tls-key`` are given. ``--tls-ca`` checks against a CA instead.
``--ready`` asks ``/ric/v1/health/ready``, for a readiness probe.

Exit status 0 when the endpoint answers 200, 1 otherwise (what Docker and
podman expect of a HEALTHCHECK command), with one line saying why.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from linkadapt.commands import serve
from xapp.settings import Settings, host_port
from xapp.tls_client import ClientTls, client_failure_hint, pinned_context
from xapp.tls_pem import TlsError

_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
"""Wildcard bind addresses and the loopback address that reaches them."""


def serve_arguments(cmdline: Sequence[str]) -> list[str]:
    """The arguments after ``serve`` in a ``linkadapt serve ...`` command line.

    Raises:
        ValueError: the command line is not one of ``serve``.

    """
    for i, word in enumerate(cmdline):
        if word == "serve":
            return list(cmdline[i + 1:])
    raise ValueError(f"not a 'linkadapt serve' command line: {' '.join(cmdline)!r}")


def served_settings(arguments: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """The settings ``linkadapt serve`` resolves from these arguments and this environment."""
    parser = argparse.ArgumentParser(add_help=False)
    serve.add_arguments(parser)
    args, _ = parser.parse_known_args(list(arguments))
    return serve.settings_from(args, environ)


def alive_url(settings: Settings, path: str = "/ric/v1/health/alive") -> str:
    """Where the liveness endpoint of a service with these settings answers locally."""
    host = _ANY_ADDRESS.get(settings.host, settings.host)
    scheme = "http" if settings.tls_cert is None else "https"
    return f"{scheme}://{host_port(host, settings.http_port)}{path}"


def tls_context(settings: Settings, args: argparse.Namespace) -> ssl.SSLContext | None:
    """How the check speaks TLS to a service with these settings (``None``: plaintext).

    Without ``--tls-ca`` it trusts exactly the certificate the service serves (the
    file of its ``--tls-cert``); under mutual TLS it presents ``--tls-cert`` /
    ``--tls-key``, else the service's own certificate and key (which the client CA
    must then have signed for client use, as a cert-manager Certificate with both
    usages is).

    Raises:
        TlsError: a file cannot be used, naming its flag.

    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    if args.tls_ca is not None:
        return ClientTls(args.tls_ca, args.tls_cert, args.tls_key).ssl_context()
    client = None
    if settings.tls_client_ca is not None:
        client = ((args.tls_cert, args.tls_key) if args.tls_cert is not None
                  else (settings.tls_cert, settings.tls_key))
    return pinned_context(settings.tls_cert, client)


def _environ(pid: int) -> dict[str, str]:
    """The environment process ``pid`` started with (this process's if it cannot be read)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def _cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_service(cmdline: Sequence[str]) -> bool:
    """``linkadapt serve ...`` (the console script or ``python -m linkadapt.cli``)."""
    words = [Path(word).name for word in cmdline]
    starts = [i for i, word in enumerate(words) if word in ("linkadapt", "linkadapt.cli")]
    return bool(starts) and "serve" in words[starts[0] + 1:]


def find_service() -> int:
    """This container's service: PID 1, else the first ``linkadapt serve`` process found."""
    if _is_service(_cmdline(1)):
        return 1
    pids = sorted(int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    for pid in pids:
        try:
            cmdline = _cmdline(pid)
        except OSError:  # gone, or not ours to read
            continue
        if _is_service(cmdline):
            return pid
    return 1  # serve_arguments names what PID 1 runs instead


def main(argv: Sequence[str] | None = None) -> int:
    """Probe the service; 0 when alive, 1 (with one line on stderr) otherwise."""
    parser = argparse.ArgumentParser(prog="python -m xapp.healthcheck",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, default=None,
                        help="process of the service whose command line to read (default: "
                             "PID 1, or the first 'linkadapt serve' process)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--ready", action="store_true",
                        help="ask /ric/v1/health/ready (a validated model serves) instead")
    group = parser.add_argument_group("TLS (default: trust the certificate the service "
                                      "serves; under mutual TLS, present it too)")
    group.add_argument("--tls-ca", type=Path, help="CA that signed the service's certificate")
    group.add_argument("--tls-cert", type=Path, help="client certificate (mutual TLS)")
    group.add_argument("--tls-key", type=Path, help="key of --tls-cert")
    args = parser.parse_args(argv)
    try:
        pid = find_service() if args.pid is None else args.pid
        settings = served_settings(serve_arguments(_cmdline(pid)), _environ(pid))
    except (OSError, ValueError) as exc:  # ConfigError: a bad setting, named
        print(f"healthcheck: cannot tell the service's REST port: {exc}", file=sys.stderr)
        return 1
    try:
        context = tls_context(settings, args)
    except TlsError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    url = alive_url(settings, "/ric/v1/health/ready" if args.ready else "/ric/v1/health/alive")
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as reply:
            if reply.status == 200:
                return 0
            print(f"healthcheck: {url} answered {reply.status}", file=sys.stderr)
    except OSError as exc:  # urllib's URLError and HTTPError included
        reason = getattr(exc, "reason", exc)
        hint = client_failure_hint(reason, ClientTls(args.tls_ca, args.tls_cert, args.tls_key)
                                   if context is not None else None)
        print(f"healthcheck: {url}: {hint or exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
