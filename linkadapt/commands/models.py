"""``linkadapt models``: manage the models of a running xApp over its REST API.

The options are the fields of :class:`ModelsConfig`; an action's arguments are the
fields of its own config (:data:`ACTIONS`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
from pydantic import Field
from pydantic.dataclasses import dataclass
from pydantic_settings import CliPositionalArg

from linkadapt.config import CONFIG, add_flags, build, given, parse_config
from xapp.tls_client import ClientTls, client_failure_hint, client_tls_from
from xapp.tls_pem import TlsError

TOKEN_ENV: Final = "LINKADAPT_ADMIN_TOKEN"
URL_ENV: Final = "LINKADAPT_URL"
_BODY_SHOWN: Final = 120
"""Characters of a non-JSON reply shown in the error: enough to recognise the server."""
_TLS: Final = ("tls_ca", "tls_cert", "tls_key", "tls_server_name")


@dataclass(frozen=True, config=CONFIG)
class ModelsConfig:
    """The options of every action of ``linkadapt models``."""

    url: str = "http://127.0.0.1:8080"
    """REST base URL; $LINKADAPT_URL when not given"""
    token_file: Path | None = None
    """file with the admin bearer token (default: $LINKADAPT_ADMIN_TOKEN)"""
    timeout: Annotated[float, Field(gt=0)] = 30.0
    """seconds per request"""
    tls_ca: Path | None = None
    """CA certificate that signed the service's certificate: connect over TLS"""
    tls_cert: Path | None = None
    """client certificate, for a service with mutual TLS"""
    tls_key: Path | None = None
    """key of --tls-cert"""
    tls_server_name: str | None = None
    """name to check the service's certificate against, when it differs from the host
    connected to"""


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


@dataclass(frozen=True, config=CONFIG)
class Nothing:
    """``list``, ``active``, ``rollback``: no argument."""


ACTIONS: Final[dict[str, tuple[str, type]]] = {
    "list": ("stored models, the active one and the history", Nothing),
    "active": ("the serving model with its card and checksum", Nothing),
    "upload": ("upload (and optionally activate) an ONNX model", Upload),
    "activate": ("activate a stored model", Stored),
    "rollback": ("re-activate the previously active model", Nothing),
    "delete": ("delete an inactive model", Stored),
}
"""Each action: its one-line help and the config of its arguments."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options, then the actions (list, active, upload, activate, rollback, delete)."""
    add_flags(parser, ModelsConfig, exclude=_TLS)
    add_flags(parser.add_argument_group("TLS (the service's --tls-cert / --tls-client-ca)"),
              ModelsConfig, exclude=[f.name for f in fields(ModelsConfig) if f.name not in _TLS])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, (summary, config_cls) in ACTIONS.items():
        add_flags(actions.add_parser(name, help=summary, description=summary), config_cls)


def options(args: argparse.Namespace) -> tuple[ModelsConfig, Any]:
    """The options and the action's arguments the command line gave, $LINKADAPT_URL included.

    Raises:
        ConfigError: a bad value, naming its flag.

    """
    values = given(ModelsConfig, args)
    if "url" not in values and os.environ.get(URL_ENV):
        values["url"] = os.environ[URL_ENV]
    return build(ModelsConfig, values), parse_config(ACTIONS[args.action][1], args)


def _token(config: ModelsConfig) -> str | None:
    if config.token_file is not None:
        return str(config.token_file.read_text().strip())
    return os.environ.get(TOKEN_ENV)


def _request(config: ModelsConfig, action: str, target: Any, token: str | None,
             model: bytes | None, tls: ClientTls | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify: Any = True if tls is None else tls.ssl_context()
    # --tls-server-name: the name the certificate is checked against (e.g. through a
    # port-forward to localhost); httpcore takes it as the TLS server name.
    ext = {"sni_hostname": tls.server_name} if tls is not None and tls.server_name else {}
    with httpx.Client(base_url=config.url, headers=headers, timeout=config.timeout,
                      verify=verify) as client:
        if action == "list":
            return client.get("/v1/models", extensions=ext)
        if action == "active":
            return client.get("/v1/models/active", extensions=ext)
        if action == "upload":
            return client.post("/v1/models", content=model,
                               params={"activate": str(target.activate).lower()},
                               headers={"Content-Type": "application/octet-stream"},
                               extensions=ext)
        if action == "activate":
            return client.post(f"/v1/models/{target.model_id}/{target.version}/activate",
                               extensions=ext)
        if action == "rollback":
            return client.post("/v1/models/rollback", extensions=ext)
        return client.delete(f"/v1/models/{target.model_id}/{target.version}", extensions=ext)


def run(args: argparse.Namespace) -> int:
    """Do the action; print the JSON answer; 0 on success, 1 on an error answer or none."""
    config, target = options(args)
    try:
        token = _token(config)
        model = target.file.read_bytes() if isinstance(target, Upload) else None
        tls = client_tls_from(argparse.Namespace(**asdict(config)))  # reads the --tls-* fields
    except OSError as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror or exc}")
    except TlsError as exc:
        return _fail(str(exc))
    if tls is not None and not config.url.startswith("https://"):
        return _fail(f"--tls-ca and --tls-cert need an https:// --url, got {config.url}")
    try:
        response = _request(config, args.action, target, token, model, tls)
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
