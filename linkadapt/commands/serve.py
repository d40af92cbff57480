"""``linkadapt serve``: run the xApp (gRPC + REST) until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from xapp.settings import ENV_PREFIX, Settings, SettingsError, load_settings

PLAINTEXT_REFUSED = ("no TLS certificate: pass --tls-cert and --tls-key (LINKADAPT_TLS_CERT, "
                     "LINKADAPT_TLS_KEY, or tls_cert and tls_key in the config file), or "
                     "--insecure (LINKADAPT_INSECURE=1, insecure: true) to serve plaintext")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``serve``; each also reads ``LINKADAPT_<NAME>`` and the config file."""
    parser.add_argument("--config", type=Path, help="O-RAN SC style JSON config file "
                        "(its 'controls' section) (default: none; LINKADAPT_CONFIG)")
    parser.add_argument("--host", help="bind address")
    parser.add_argument("--grpc-port", type=int, help="gRPC port")
    parser.add_argument("--http-port", type=int, help="REST port")
    parser.add_argument("--model-store", type=Path, help="model store directory")
    parser.add_argument("--default-model", type=Path,
                        help="model served while the store has none active")
    parser.add_argument("--max-batch-size", type=int, help="most UE reports per request")
    parser.add_argument("--latency-budget-us", type=float,
                        help="median batch-1 inference budget for uploads, us")
    parser.add_argument("--max-model-bytes", type=int, help="largest accepted ONNX upload")
    parser.add_argument("--fallback-backoff", type=int, help="MCS back-off of the fallback rule")
    parser.add_argument("--default-target-bler", type=float, metavar="T",
                        help="BLER target of reports without one, in (0, 1) (default: 0.1); "
                             "served models must be trained for it")
    parser.add_argument("--admin-token-file", type=Path,
                        help="file holding the admin bearer token")
    parser.add_argument("--decisions-require-token", action="store_true", default=None,
                        help="require the bearer token for decisions too")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        help="log level")
    tls = parser.add_argument_group("TLS (a certificate and key, unless plaintext is asked for)")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate (chain) of gRPC and REST")
    tls.add_argument("--tls-key", type=Path, help="PEM private key of the TLS certificate")
    tls.add_argument("--tls-client-ca", type=Path,
                     help="CA of client certificates: mutual TLS, clients without a "
                     "certificate it signed are refused in the handshake")
    tls.add_argument("--tls-client-names",
                     help="comma-separated client certificate names (CN or DNS SAN) allowed "
                     "to ask for decisions (needs a client CA)")
    tls.add_argument("--insecure", action="store_true", default=None,
                     help="serve plaintext, without TLS")
    show_defaults(parser)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """End each settings flag's help with its default and the variable that also sets it.

    The flags default to ``None`` (so that the environment and the config file
    can fill them in): the defaults shown are the settings' own.
    """
    parser.epilog = ("Each flag can also be set with the LINKADAPT_<NAME> variable shown, or "
                     "in the 'controls' of the --config file; a flag wins over both, the "
                     "variable over the file.")
    for action in parser._actions:
        field = Settings.model_fields.get(action.dest)
        if field is None or not action.option_strings:
            continue
        default = _DEFAULT_SHOWN.get(action.dest, field.default)
        shown = "off" if default is False else "none" if default is None else default
        action.help = (f"{action.help or field.description} (default: {shown}; "
                       f"{ENV_PREFIX}{action.dest.upper()})")


# Defaults better said in words than as the value.
_DEFAULT_SHOWN: Final = {
    "model_store": "model-store, in the working directory",
    "default_model": "the embedded xapp/models/default.onnx",
    "admin_token_file": f"none: the token is read from {ENV_PREFIX}ADMIN_TOKEN",
}


def settings_problem(error: SettingsError, args: argparse.Namespace,
                     environ: Mapping[str, str] | None = None) -> str:
    """One line naming each bad value as the user gave it: the flag, the variable or the file."""
    env = os.environ if environ is None else environ
    flags = {a.dest: a.option_strings[0] for a in _parser_actions()}
    named = []
    for field, reason in error.problems:
        top = field.split(".")[0]
        if top in flags and getattr(args, top, None) is not None:
            where = flags[top]
        elif f"{ENV_PREFIX}{top.upper()}" in env:
            where = f"{ENV_PREFIX}{top.upper()}"
        elif top and (args.config or env.get(f"{ENV_PREFIX}CONFIG")):
            where = f"{args.config or env[f'{ENV_PREFIX}CONFIG']}: controls.{field}"
        else:
            where = field or "settings"
        named.append(f"{where}: {reason}")
    return "; ".join(named) or str(error)


def _parser_actions() -> list[argparse.Action]:
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return [a for a in parser._actions if a.option_strings]


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
    except SettingsError as exc:
        print(f"linkadapt serve: error: {settings_problem(exc, args)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"linkadapt serve: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if token is None:
        logging.getLogger(__name__).warning(
            "no admin token configured: the model management API is disabled")
    # imported late: --help stays fast
    from xapp.lifecycle import serve
    from xapp.service import StartupError

    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        print(f"linkadapt serve: {exc}", file=sys.stderr)
        return 2
    return 0
