"""The assembled service: settings, metrics, decision core, registry and the auth rule.

Both transports receive one :class:`Service`; ``linkadapt serve`` builds it once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable

from xapp.core import DecisionCore
from xapp.error_log import RefusalLog
from xapp.errors import AdminDisabled, ServiceError, Unauthenticated
from xapp.metrics import Metrics
from xapp.model_check import Limits
from xapp.policy import Policy
from xapp.registry import DEFAULT_KEY, Registry
from xapp.settings import Settings

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The service cannot start (unusable model store, bad default model, port in use).

    The message is one line for the operator and names what is wrong.
    """


class Service:
    """Everything the transports share.

    Args:
        settings: validated settings.

    Raises:
        StartupError: the model store cannot be used, or the default model is not valid.

    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.refusals = RefusalLog()
        self.core = DecisionCore(self.metrics, settings.max_batch_size, settings.fallback_backoff,
                                 settings.default_target_bler)
        self.registry = _open_registry(settings, self.core.set_policy,
                                       self.metrics.store_generation.set)
        self._token = settings.token()
        # Hashed once: with decisions_require_token every decision compares against it.
        self._token_digest = (None if self._token is None
                              else hashlib.sha256(self._token.encode()).digest())
        policy = self._initial_policy()
        self.core.set_policy(policy, "startup")
        self.registry.started(policy)

    def _initial_policy(self) -> Policy | None:
        """Return the store's active model, else the embedded default, else ``None``.

        Raises:
            StartupError: the default model file exists but is not a valid model.

        """
        default = self._load_default()
        active = self.registry.active_key
        if active is None or (active == DEFAULT_KEY and default is not None):
            return self._serve_default(default)
        try:
            return self.registry.load_active()
        except (ServiceError, OSError, ValueError) as exc:
            self.core.not_ready_reason = f"active model {active} cannot be loaded: {exc}"
            log.error("%s; serving fallback decisions", self.core.not_ready_reason)
            return None

    def _serve_default(self, default: Policy | None) -> Policy | None:
        if default is None:
            self.core.not_ready_reason = (
                "no active model in the store and no embedded default model; "
                "upload and activate one"
            )
            log.warning("%s; serving fallback decisions", self.core.not_ready_reason)
            return None
        self.registry.serving_default()
        log.info("serving the default model %s (%s)", default.card.key,
                 self.settings.default_model)
        return default

    def _load_default(self) -> Policy | None:
        """Load and check the default model, or return ``None`` when there is none.

        Checked even when the store has an active model: the default is where a
        rollback may return to, and a broken file is better found now than then.
        """
        path = self.settings.default_model
        if path is None or not path.is_file():
            return None
        try:
            return self.registry.load(DEFAULT_KEY)
        except (ServiceError, OSError) as exc:
            raise StartupError(f"the default model {path} is not a valid model: {exc}") from None

    @property
    def ready(self) -> bool:
        """True once a validated model serves."""
        return self.core.policy is not None

    def check_admin(self, authorization: str | None) -> None:
        """Check an ``Authorization`` header for the admin API.

        Raises:
            AdminDisabled: no token is configured.
            Unauthenticated: missing or wrong bearer token.

        """
        if self._token is None:
            raise AdminDisabled("the admin API is disabled: no admin token is configured")
        self._check_token(authorization, "admin_token", "rest")

    def check_decisions(self, authorization: str | None, transport: str = "rest") -> None:
        """Check an ``Authorization`` header for decisions (open unless configured).

        Raises:
            Unauthenticated: a token is required and it is missing or wrong.

        """
        if self.settings.decisions_require_token:
            self._check_token(authorization, "decision_token", transport)

    def _check_token(self, authorization: str | None, credential: str, transport: str) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            self.metrics.refused_credentials.labels(transport, credential).inc()
            raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
        assert self._token_digest is not None
        # Constant time, and on digests so the length of the token does not leak either.
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                                   self._token_digest):
            self.metrics.refused_credentials.labels(transport, credential).inc()
            raise Unauthenticated("invalid bearer token")


def _open_registry(
    settings: Settings, on_activate: Callable[[Policy | None, str], None],
    on_generation: Callable[[int], None],
) -> Registry:
    """Open (or create) the model store.

    Raises:
        StartupError: the store cannot be created or read, or its state file is corrupt.

    """
    root = settings.model_store
    try:
        return Registry(root, Limits(settings.max_model_bytes, settings.latency_budget_us,
                                     settings.default_target_bler),
                        on_activate, settings.default_model, on_generation)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename is not None else ""
        reason = f"{exc.strerror}{where}" if exc.strerror else str(exc)
        raise StartupError(f"cannot use the model store {root}: {reason}") from None
    except json.JSONDecodeError as exc:
        raise StartupError(f"cannot use the model store {root}: its state file "
                           f"{root / 'state.json'} is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise StartupError(f"cannot use the model store {root}: {exc}") from None
