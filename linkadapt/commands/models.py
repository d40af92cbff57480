"""``linkadapt models``: manage the models of a running xApp over its REST API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Final

import httpx

from xapp.tls_client import ClientTls, add_client_arguments, client_failure_hint, client_tls_from
from xapp.tls_pem import TlsError

TOKEN_ENV: Final = "LINKADAPT_ADMIN_TOKEN"
_BODY_SHOWN: Final = 120
"""Characters of a non-JSON reply shown in the error: enough to recognise the server."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the actions (list, active, upload, activate, rollback, delete) and options."""
    parser.add_argument("--url", default=os.environ.get("LINKADAPT_URL", "http://127.0.0.1:8080"),
                        help="REST base URL (default $LINKADAPT_URL or http://127.0.0.1:8080)")
    parser.add_argument("--token-file", type=Path,
                        help=f"file with the admin bearer token (default ${TOKEN_ENV})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    add_client_arguments(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="stored models, the active one and the history")
    actions.add_parser("active", help="the serving model with its card and checksum")
    upload = actions.add_parser("upload", help="upload (and optionally activate) an ONNX model")
    upload.add_argument("file", type=Path)
    upload.add_argument("--activate", action="store_true")
    activate = actions.add_parser("activate", help="activate a stored model")
    activate.add_argument("model_id")
    activate.add_argument("version")
    actions.add_parser("rollback", help="re-activate the previously active model")
    delete = actions.add_parser("delete", help="delete an inactive model")
    delete.add_argument("model_id")
    delete.add_argument("version")


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        return str(args.token_file.read_text().strip())
    return os.environ.get(TOKEN_ENV)


def _request(args: argparse.Namespace, token: str | None, model: bytes | None,
             tls: ClientTls | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify: Any = True if tls is None else tls.ssl_context()
    # --tls-server-name: the name the certificate is checked against (e.g. through a
    # port-forward to localhost); httpcore takes it as the TLS server name.
    ext = {"sni_hostname": tls.server_name} if tls is not None and tls.server_name else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout,
                      verify=verify) as client:
        if args.action == "list":
            return client.get("/v1/models", extensions=ext)
        if args.action == "active":
            return client.get("/v1/models/active", extensions=ext)
        if args.action == "upload":
            return client.post("/v1/models", content=model,
                               params={"activate": str(args.activate).lower()},
                               headers={"Content-Type": "application/octet-stream"},
                               extensions=ext)
        if args.action == "activate":
            return client.post(f"/v1/models/{args.model_id}/{args.version}/activate",
                               extensions=ext)
        if args.action == "rollback":
            return client.post("/v1/models/rollback", extensions=ext)
        return client.delete(f"/v1/models/{args.model_id}/{args.version}", extensions=ext)


def run(args: argparse.Namespace) -> int:
    """Do the action; print the JSON answer; 0 on success, 1 on an error answer or none."""
    try:
        token = _token(args)
        model = args.file.read_bytes() if args.action == "upload" else None
        tls = client_tls_from(args)
    except OSError as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror or exc}")
    except TlsError as exc:
        return _fail(str(exc))
    if tls is not None and not args.url.startswith("https://"):
        return _fail(f"--tls-ca and --tls-cert need an https:// --url, got {args.url}")
    try:
        response = _request(args, token, model, tls)
    except httpx.InvalidURL as exc:
        return _fail(f"bad --url {args.url}: {exc}")
    except httpx.RequestError as exc:
        hint = client_failure_hint(exc, tls)
        return _fail(f"{exc.request.url}: {hint}" if hint else _unreachable(exc, args))
    ok = _print_reply(response)
    if response.status_code == 401:
        _fail(_token_hint(args, token))
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


def _unreachable(exc: httpx.RequestError, args: argparse.Namespace) -> str:
    url = exc.request.url
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return f"no reply from {url} within {args.timeout:g} s (--timeout)"
    return f"cannot reach {url}: {str(exc) or type(exc).__name__}"


def _token_hint(args: argparse.Namespace, token: str | None) -> str:
    if not token:
        return (f"the admin API needs the bearer token: pass --token-file FILE "
                f"or set {TOKEN_ENV}")
    source = f"--token-file {args.token_file}" if args.token_file is not None else TOKEN_ENV
    return f"the server refused the token from {source}: it must be the server's admin token"


def _fail(message: str) -> int:
    print(f"linkadapt models: {message}", file=sys.stderr)
    return 1
