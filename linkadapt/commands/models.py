"""``linkadapt models``: manage the models of a running xApp over its REST API.

The options are the fields of :class:`ModelsConfig`; an action's arguments are the
fields of its own config (:data:`ACTIONS`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
from pydantic import Field
from pydantic.dataclasses import dataclass
from pydantic_settings import CliPositionalArg

from linkadapt.config import CONFIG, add_flags, build, given, parse_config
from xapp.tls_client import ClientTls, add_client_arguments, client_failure_hint, client_tls_from
from xapp.tls_pem import TlsError

TOKEN_ENV: Final = "LINKADAPT_ADMIN_TOKEN"
URL_ENV: Final = "LINKADAPT_URL"
_BODY_SHOWN: Final = 120
"""Characters of a non-JSON reply shown in the error: enough to recognise the server."""


@dataclass(frozen=True, config=CONFIG)
class ModelsConfig:
    """The options of every action of ``linkadapt models``."""

    url: str = "http://127.0.0.1:8080"
    """REST base URL; $LINKADAPT_URL when not given"""
    token_file: Path | None = None
    """file with the admin bearer token (default: $LINKADAPT_ADMIN_TOKEN)"""
    timeout: Annotated[float, Field(gt=0)] = 30.0
    """seconds per request"""


@dataclass(frozen=True, config=CONFIG)
class Upload:
    """``upload``: store an ONNX model."""

    file: CliPositionalArg[Path]
    """the ONNX model file"""
    activate: bool = False
    """serve it once stored"""


@dataclass(frozen=True, config=CONFIG)
class Stored:
    """``activate``, ``delete``: one stored model."""

    model_id: CliPositionalArg[str]
    """the model's id"""
    version: CliPositionalArg[str]
    """its version"""


ACTIONS: Final[dict[str, tuple[str, str, type | None]]] = {
    "list": ("stored models, the active one and the history", "GET /v1/models", None),
    "active": ("the serving model with its card and checksum", "GET /v1/models/active", None),
    "upload": ("upload (and optionally activate) an ONNX model", "POST /v1/models", Upload),
    "activate": ("activate a stored model", "POST /v1/models/{model_id}/{version}/activate",
                 Stored),
    "rollback": ("re-activate the previously active model", "POST /v1/models/rollback", None),
    "delete": ("delete an inactive model", "DELETE /v1/models/{model_id}/{version}", Stored),
}
"""Each action: its one-line help, its REST call and the config of its arguments."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options, then the actions (list, active, upload, activate, rollback, delete).

    The ``--tls-*`` flags are the clients' shared ones (:mod:`xapp.tls_client`); the
    action is a hand-written subcommand, as each has arguments of its own.
    """
    add_flags(parser, ModelsConfig)
    add_client_arguments(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, (summary, _, config_cls) in ACTIONS.items():
        action = actions.add_parser(name, help=summary, description=summary)
        if config_cls is not None:
            add_flags(action, config_cls)


def _options(args: argparse.Namespace) -> tuple[ModelsConfig, Any]:
    """The options (over $LINKADAPT_URL) and the action's arguments; ConfigError if bad."""
    values = given(ModelsConfig, args)
    if "url" not in values and os.environ.get(URL_ENV):
        values["url"] = os.environ[URL_ENV]
    config_cls = ACTIONS[args.action][2]
    return build(ModelsConfig, values), config_cls and parse_config(config_cls, args)


def _token(config: ModelsConfig) -> str | None:
    if config.token_file is not None:
        return str(config.token_file.read_text().strip())
    return os.environ.get(TOKEN_ENV)


def _request(config: ModelsConfig, call: str, target: Any, token: str | None,
             model: bytes | None, tls: ClientTls | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify: Any = True if tls is None else tls.ssl_context()
    # --tls-server-name: the name the certificate is checked against (e.g. through a
    # port-forward to localhost); httpcore takes it as the TLS server name.
    ext = {"sni_hostname": tls.server_name} if tls is not None and tls.server_name else {}
    upload: dict[str, Any] = {}
    if isinstance(target, Upload):
        upload = {"content": model,
                  "params": {"activate": str(target.activate).lower()},
                  "headers": {"Content-Type": "application/octet-stream"}}
    method, path = call.split(" ", 1)
    path = path.format(**(asdict(target) if target is not None else {}))
    with httpx.Client(base_url=config.url, headers=headers, timeout=config.timeout,
                      verify=verify) as client:
        return client.request(method, path, extensions=ext, **upload)


def run(args: argparse.Namespace) -> int:
    """Do the action; print the JSON answer; 0 on success, 1 on an error answer or none."""
    config, target = _options(args)
    try:
        token = _token(config)
        model = target.file.read_bytes() if isinstance(target, Upload) else None
        tls = client_tls_from(args)
    except OSError as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror or exc}")
    except TlsError as exc:
        return _fail(str(exc))
    if tls is not None and not config.url.startswith("https://"):
        return _fail(f"--tls-ca and --tls-cert need an https:// --url, got {config.url}")
    try:
        response = _request(config, ACTIONS[args.action][1], target, token, model, tls)
    except httpx.InvalidURL as exc:
        return _fail(f"bad --url {config.url}: {exc}")
    except httpx.RequestError as exc:
        hint = client_failure_hint(exc, tls)
        return _fail(f"{exc.request.url}: {hint}" if hint else _unreachable(exc, config))
    ok = _print_reply(response)
    if response.status_code == 401:
        _fail(_token_hint(config, token))
    return 0 if ok else 1


def _print_reply(response: httpx.Response) -> bool:
    """Print the JSON reply (stdout on success, else stderr); False on an error or no JSON."""
    body: Any = {"status": response.status_code}
    if response.content:
        try:
            body = response.json()
        except ValueError:  # JSONDecodeError, or bytes that are not even UTF-8
            start = " ".join(response.text.split())
            if len(start) > _BODY_SHOWN:
                start = start[:_BODY_SHOWN] + "..."
            _fail(f"HTTP {response.status_code} from {response.request.url} is not a JSON "
                  f"reply (not a linkadapt service?): {start!r}")
            return False
    out = sys.stdout if response.is_success else sys.stderr
    print(json.dumps(body, indent=2), file=out)
    return response.is_success


def _unreachable(exc: httpx.RequestError, config: ModelsConfig) -> str:
    url = exc.request.url
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return f"no reply from {url} within {config.timeout:g} s (--timeout)"
    return f"cannot reach {url}: {str(exc) or type(exc).__name__}"


def _token_hint(config: ModelsConfig, token: str | None) -> str:
    if not token:
        return (f"the admin API needs the bearer token: pass --token-file FILE "
                f"or set {TOKEN_ENV}")
    source = f"--token-file {config.token_file}" if config.token_file else TOKEN_ENV
    return f"the server refused the token from {source}: it must be the server's admin token"


def _fail(message: str) -> int:
    print(f"linkadapt models: {message}", file=sys.stderr)
    return 1
