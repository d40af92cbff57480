"""``linkadapt serve``: run the xApp (gRPC + REST) until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from xapp.settings import SettingsError, load_settings


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


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; 2 on bad settings, 0 after a graceful stop."""
    flags = {k: v for k, v in vars(args).items() if k != "config"}
    try:
        settings = load_settings(flags, config_file=args.config)
        token = settings.token()
    except (SettingsError, ValueError) as exc:
        print(f"linkadapt serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if token is None:
        logging.getLogger(__name__).warning(
            "no admin token configured: the model management API is disabled")
    from xapp.runner import serve  # imported late: --help stays fast

    asyncio.run(serve(settings))
    return 0
