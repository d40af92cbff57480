"""``linkadapt serve``: run the xApp (gRPC + REST) until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from xapp.settings import Settings, SettingsError, load_settings

PLAINTEXT_REFUSED = ("no TLS certificate: pass --tls-cert and --tls-key (LINKADAPT_TLS_CERT, "
                     "LINKADAPT_TLS_KEY, or tls_cert and tls_key in the config file), or "
                     "--insecure (LINKADAPT_INSECURE=1, insecure: true) to serve plaintext")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``serve``; each also reads ``LINKADAPT_<NAME>`` and the config file."""
    parser.add_argument("--config", type=Path, help="O-RAN SC style JSON config file "
                        "(its 'controls' section); also LINKADAPT_CONFIG")
    parser.add_argument("--host", help="bind address (default 0.0.0.0)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (default 50051)")
    parser.add_argument("--http-port", type=int, help="REST port (default 8080)")
    parser.add_argument("--model-store", type=Path, help="model store directory")
    parser.add_argument("--default-model", type=Path,
                        help="model served while the store has none active "
                        "(default: the embedded xapp/models/default.onnx)")
    parser.add_argument("--max-batch-size", type=int, help="most UE reports per request")
    parser.add_argument("--latency-budget-us", type=float,
                        help="median batch-1 inference budget for uploads (default 100)")
    parser.add_argument("--max-model-bytes", type=int, help="largest accepted ONNX upload")
    parser.add_argument("--fallback-backoff", type=int, help="MCS back-off of the fallback rule")
    parser.add_argument("--admin-token-file", type=Path,
                        help="file holding the admin bearer token (or LINKADAPT_ADMIN_TOKEN)")
    parser.add_argument("--decisions-require-token", action="store_true", default=None,
                        help="require the bearer token for decisions too")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    tls = parser.add_argument_group("TLS (required unless --insecure)")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate (chain) of gRPC and REST")
    tls.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    tls.add_argument("--tls-client-ca", type=Path,
                     help="CA of client certificates: mutual TLS, clients without a "
                     "certificate it signed are refused in the handshake")
    tls.add_argument("--tls-client-names",
                     help="comma-separated client certificate names (CN or DNS SAN) allowed "
                     "to ask for decisions (needs --tls-client-ca)")
    tls.add_argument("--insecure", action="store_true", default=None,
                     help="serve plaintext, without TLS (also LINKADAPT_INSECURE=1)")


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None
                  ) -> Settings:
    """The settings ``serve`` runs with: its flags over the environment over the config file.

    ``environ``: the environment to read (``os.environ`` by default).
    """
    flags = {k: v for k, v in vars(args).items() if k != "config"}
    return load_settings(flags, environ=environ, config_file=args.config)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a graceful stop.

    2, with one line on stderr, on bad settings or when the service cannot start
    (model store, default model, a port in use).
    """
    try:
        settings = settings_from(args)
        token = settings.token()
        if settings.tls_cert is None and not settings.insecure:
            raise SettingsError(PLAINTEXT_REFUSED)
    except (SettingsError, ValueError) as exc:
        print(f"linkadapt serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if token is None:
        logging.getLogger(__name__).warning(
            "no admin token configured: the model management API is disabled")
    # imported late: --help stays fast
    from xapp.runner import serve
    from xapp.service import StartupError

    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        print(f"linkadapt serve: {exc}", file=sys.stderr)
        return 2
    return 0
