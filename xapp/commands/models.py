"""``linkadapt models``: manage the models of a running xApp over its REST API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the actions (list, active, upload, activate, rollback, delete) and options."""
    parser.add_argument("--url", default=os.environ.get("LINKADAPT_URL", "http://127.0.0.1:8080"),
                        help="REST base URL (default $LINKADAPT_URL or http://127.0.0.1:8080)")
    parser.add_argument("--token-file", type=Path,
                        help="file with the admin bearer token (default $LINKADAPT_ADMIN_TOKEN)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
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
    return os.environ.get("LINKADAPT_ADMIN_TOKEN")


def _request(args: argparse.Namespace) -> httpx.Response:
    token = _token(args)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
        if args.action == "list":
            return client.get("/v1/models")
        if args.action == "active":
            return client.get("/v1/models/active")
        if args.action == "upload":
            return client.post("/v1/models", content=args.file.read_bytes(),
                               params={"activate": str(args.activate).lower()},
                               headers={"Content-Type": "application/octet-stream"})
        if args.action == "activate":
            return client.post(f"/v1/models/{args.model_id}/{args.version}/activate")
        if args.action == "rollback":
            return client.post("/v1/models/rollback")
        return client.delete(f"/v1/models/{args.model_id}/{args.version}")


def run(args: argparse.Namespace) -> int:
    """Do the action; print the JSON answer; 0 on success, 1 on an error answer."""
    try:
        response = _request(args)
    except (httpx.HTTPError, OSError) as exc:
        print(f"linkadapt models: {exc}", file=sys.stderr)
        return 1
    body: Any = response.json() if response.content else {"status": response.status_code}
    out = sys.stdout if response.is_success else sys.stderr
    print(json.dumps(body, indent=2), file=out)
    return 0 if response.is_success else 1
