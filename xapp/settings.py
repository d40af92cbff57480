"""Service settings: one typed class that fails fast on bad values.

Sources, highest priority first: command-line flags, environment variables
(``LINKADAPT_<FIELD>``, e.g. ``LINKADAPT_GRPC_PORT``), the O-RAN SC style JSON
config file (``--config FILE`` or ``LINKADAPT_CONFIG``; its ``"controls"``
section holds these same field names), then the defaults below.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from xapp.defaults import (
    DEFAULT_BACKOFF,
    DEFAULT_LATENCY_BUDGET_US,
    DEFAULT_MAX_MODEL_BYTES,
    DEFAULT_TARGET_BLER,
)

ENV_PREFIX: Final = "LINKADAPT_"
EMBEDDED_DEFAULT_MODEL: Final = Path(__file__).parent / "models" / "default.onnx"


class SettingsError(ValueError):
    """A setting has a bad value; the message names it.

    ``problems``: ``(field, reason)`` for each bad value (field ``""`` when the
    reason concerns no one field), so that a command can name where it came from.
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class Settings(BaseModel):
    """Everything the service can be configured with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("0.0.0.0", description="address both servers bind to")
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port (0: any free)")
    http_port: int = Field(8080, ge=0, le=65535, description="REST port (0: any free)")
    model_store: Path = Field(Path("model-store"), description="model store directory")
    default_model: Path | None = Field(
        EMBEDDED_DEFAULT_MODEL, description="model served while the store has no active one"
    )
    max_batch_size: int = Field(4096, ge=1, le=1_000_000,
                                description="most UE reports per request")
    max_request_bytes: int = Field(8 << 20, ge=1024, description="largest request body")
    max_model_bytes: int = Field(DEFAULT_MAX_MODEL_BYTES, ge=1024,
                                 description="largest accepted ONNX upload")
    latency_budget_us: float = Field(DEFAULT_LATENCY_BUDGET_US, gt=0,
                                     description="median batch-1 inference budget for uploads, us")
    fallback_backoff: int = Field(DEFAULT_BACKOFF, ge=0, le=28,
                                  description="MCS steps the fallback rule backs off")
    default_target_bler: float = Field(
        DEFAULT_TARGET_BLER, gt=0, lt=1, allow_inf_nan=False,
        description="first-transmission BLER target of reports that carry none; every "
        "model served must have been trained for it (its card's target_bler_range)")
    admin_token: SecretStr | None = Field(None, description="bearer token of the admin API")
    admin_token_file: Path | None = Field(None, description="file holding the admin bearer token")
    decisions_require_token: bool = Field(False,
                                          description="require the bearer token for decisions too")
    store_poll_s: float = Field(0.5, gt=0, le=60,
                                description="how often a replica checks the shared model store "
                                "for an activation made through another replica")
    shutdown_grace_s: float = Field(5.0, ge=0, description="time in-flight calls get on SIGTERM")
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) of gRPC and REST")
    tls_key: Path | None = Field(None, description="PEM private key of the TLS certificate")
    tls_client_ca: Path | None = Field(
        None, description="CA of client certificates: mutual TLS, clients without a "
        "certificate it signed are refused in the handshake")
    tls_client_names: tuple[str, ...] = Field(
        (), description="comma-separated client certificate names (CN or DNS SAN) allowed "
        "to ask for decisions (needs a client CA)")
    insecure: bool = Field(False, description="serve plaintext, without TLS, on purpose")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")

    @field_validator("default_model")
    @classmethod
    def _default_model_is_a_file(cls, path: Path | None) -> Path | None:
        # Runs only on a configured path, not on the embedded default: a build
        # without the embedded model still starts (not ready until an upload).
        if path is not None and not path.is_file():
            reason = "is a directory" if path.is_dir() else "does not exist"
            raise ValueError(f"the default model file {path} {reason}")
        return path

    @field_validator("tls_client_names", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # The environment and flags give one string: "gnb-1,gnb-2".
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> Settings:
        from xapp.tls import check_server_settings  # xapp.tls imports grpc: keep settings light

        check_server_settings(self)
        return self

    @model_validator(mode="after")
    def _token_sources(self) -> Settings:
        if self.admin_token is not None and self.admin_token_file is not None:
            raise ValueError("set admin_token or admin_token_file, not both")
        if self.decisions_require_token and self.token() is None:
            raise ValueError("decisions_require_token needs an admin token")
        return self

    def token(self) -> str | None:
        """Return the bearer token (read from ``admin_token_file`` if set), or ``None``."""
        if self.admin_token_file is not None:
            try:
                value = self.admin_token_file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"admin_token_file: {exc}") from None
            return value or None
        return self.admin_token.get_secret_value() if self.admin_token else None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources (flags > environment > config file > defaults) and validate.

    Args:
        flags: values from the command line; ``None`` values are ignored.
        environ: the environment (``os.environ`` by default).
        config_file: O-RAN SC config file; ``LINKADAPT_CONFIG`` when ``None``.

    Raises:
        SettingsError: naming every bad value.

    """
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = config_file or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG")
                           else None)
    if path is not None:
        merged.update(_config_controls(path))
    for name in Settings.model_fields:
        value = env.get(f"{ENV_PREFIX}{name.upper()}")
        if value is not None:
            merged[name] = None if value == "" and name == "default_model" else value
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = [(".".join(map(str, e["loc"])), _message(e)) for e in exc.errors()]
        reasons = "; ".join(f"{field or 'settings'}: {reason}" for field, reason in problems)
        raise SettingsError(f"bad settings: {reasons}", problems) from None


def _message(error: Mapping[str, Any]) -> str:
    """Return pydantic's message without the "Value error, " it puts before our own."""
    return str(error["msg"]).removeprefix("Value error, ")


def _config_controls(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    controls = document.get("controls", {}) if isinstance(document, dict) else None
    if not isinstance(controls, dict):
        raise SettingsError(f"config file {path}: 'controls' must be an object")
    return dict(controls)


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (as gRPC targets and URLs want it)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"
