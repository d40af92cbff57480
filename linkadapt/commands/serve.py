"""``linkadapt serve``: run the xApp (gRPC + REST) until SIGTERM.

The flags are the fields of :class:`xapp.settings.Settings`; each can also be set with
its ``LINKADAPT_<NAME>`` variable or in the ``controls`` of the config file
(:func:`xapp.settings.load_settings`: flag > variable > file > default).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from linkadapt.config import ConfigError, add_flags, flag, given
from xapp.settings import ENV_PREFIX, Settings, SettingsError, load_settings

PLAINTEXT_REFUSED = ("no TLS certificate: pass --tls-cert and --tls-key (LINKADAPT_TLS_CERT, "
                     "LINKADAPT_TLS_KEY, or tls_cert and tls_key in the config file), or "
                     "--insecure (LINKADAPT_INSECURE=1, insecure: true) to serve plaintext")
NOT_FLAGS: Final = ("admin_token", "max_request_bytes", "store_poll_s", "shutdown_grace_s")
"""Settings without a flag: the token is a secret (a command line is visible to every
process), the others are tuned in the environment or the config file only."""
TLS: Final = ("tls_cert", "tls_key", "tls_client_ca", "tls_client_names", "insecure")
"""The settings of the TLS group of ``--help``."""
_DEFAULT_SHOWN: Final = {
    "model_store": "model-store, in the working directory",
    "default_model": "the embedded xapp/models/default.onnx",
    "admin_token_file": f"none: the token is read from {ENV_PREFIX}ADMIN_TOKEN",
}
"""Defaults better said in words than as the value."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and one flag per setting (less :data:`NOT_FLAGS`)."""
    parser.add_argument("--config", type=Path, metavar="PATH", help="O-RAN SC style JSON "
                        "config file (its 'controls' section) (default: none; "
                        f"{ENV_PREFIX}CONFIG)")
    add_flags(parser, Settings, exclude=(*NOT_FLAGS, *TLS))
    tls = parser.add_argument_group("TLS (a certificate and key, unless plaintext is asked for)")
    add_flags(tls, Settings, exclude=[name for name in Settings.model_fields if name not in TLS])
    show_defaults(parser)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """End each setting's help with its default and the variable that also sets it.

    A flag left out does not override the environment or the config file: the
    defaults shown are the settings' own.
    """
    parser.epilog = ("Each flag can also be set with the LINKADAPT_<NAME> variable shown, or "
                     "in the 'controls' of the --config file; a flag wins over both, the "
                     "variable over the file.")
    for action in parser._actions:
        field = Settings.model_fields.get(action.dest)
        if field is None:
            continue
        default = _DEFAULT_SHOWN.get(action.dest, field.default)
        shown = "off" if default is False else "none" if default in (None, ()) else default
        action.help = (f"{field.description} (default: {shown}; "
                       f"{ENV_PREFIX}{action.dest.upper()})")


def settings_problem(error: SettingsError, flags: Mapping[str, Any], config: Path | None,
                     environ: Mapping[str, str] | None = None) -> str:
    """One line naming each bad value as the user gave it: the flag, the variable or the file.

    ``flags``: the settings the command line gave; ``config``: its ``--config``.
    """
    env = os.environ if environ is None else environ
    config_file = config or env.get(f"{ENV_PREFIX}CONFIG")
    named = []
    for field, reason in error.problems:
        top = field.split(".")[0]
        if top in flags:
            where = flag(top)
        elif f"{ENV_PREFIX}{top.upper()}" in env:
            where = f"{ENV_PREFIX}{top.upper()}"
        elif top and config_file:
            where = f"{config_file}: controls.{field}"
        else:
            where = field or "settings"
        named.append(f"{where}: {reason}")
    return "; ".join(named) or str(error)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None
                  ) -> Settings:
    """The settings ``serve`` runs with: its flags over the environment over the config file.

    ``environ``: the environment to read (``os.environ`` by default).

    Raises:
        ConfigError: naming each bad value by its flag, variable or config file key.

    """
    flags = given(Settings, args, exclude=NOT_FLAGS)
    try:
        return load_settings(flags, environ=environ, config_file=args.config)
    except SettingsError as exc:
        raise ConfigError(settings_problem(exc, flags, args.config, environ)) from None


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a graceful stop.

    ConfigError (exit status 2, one line) on bad settings; 2, with one line on stderr,
    when the service cannot start (model store, default model, a port in use).
    """
    settings = settings_from(args)
    try:
        token = settings.token()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if settings.tls_cert is None and not settings.insecure:
        raise ConfigError(PLAINTEXT_REFUSED)
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
