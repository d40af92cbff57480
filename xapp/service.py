"""The assembled service: settings, metrics, decision core, registry and the auth rule.

Both transports receive one :class:`Service`; ``linkadapt serve`` builds it once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from xapp.core import DecisionCore
from xapp.errors import AdminDisabled, ServiceError, Unauthenticated
from xapp.metrics import Metrics
from xapp.model_check import Limits
from xapp.policy import Policy
from xapp.registry import DEFAULT_KEY, Registry
from xapp.settings import Settings

log = logging.getLogger(__name__)


class Service:
    """Everything the transports share.

    Args:
        settings: validated settings.

    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.core = DecisionCore(self.metrics, settings.max_batch_size, settings.fallback_backoff)
        self.registry = Registry(
            settings.model_store,
            Limits(settings.max_model_bytes, settings.latency_budget_us),
            self.core.set_policy,
            settings.default_model,
        )
        self._token = settings.token()
        self.core.set_policy(self._initial_policy(), "startup")

    def _initial_policy(self) -> Policy | None:
        """Return the store's active model, else the embedded default, else ``None``."""
        if self.registry.active_key is not None:
            try:
                return self.registry.load_active()
            except (ServiceError, OSError, ValueError) as exc:
                self.core.not_ready_reason = (
                    f"active model {self.registry.active_key} cannot be loaded: {exc}"
                )
                log.error("%s; serving fallback decisions", self.core.not_ready_reason)
                return None
        path = self.settings.default_model
        if path is None or not path.is_file():
            self.core.not_ready_reason = (
                "no active model in the store and no embedded default model; "
                "upload and activate one"
            )
            log.warning("%s; serving fallback decisions", self.core.not_ready_reason)
            return None
        try:
            policy = self.registry.load(DEFAULT_KEY)
        except (ServiceError, OSError) as exc:
            self.core.not_ready_reason = f"default model {path} is not valid: {exc}"
            log.error("%s; serving fallback decisions", self.core.not_ready_reason)
            return None
        self.registry.serving_default()
        log.info("serving the default model %s (%s)", policy.card.key, path)
        return policy

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
        self._check_token(authorization)

    def check_decisions(self, authorization: str | None) -> None:
        """Check an ``Authorization`` header for decisions (open unless configured).

        Raises:
            Unauthenticated: a token is required and it is missing or wrong.

        """
        if self.settings.decisions_require_token:
            self._check_token(authorization)

    def _check_token(self, authorization: str | None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
        assert self._token is not None
        # Constant time, and on digests so the length of the token does not leak either.
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                                   hashlib.sha256(self._token.encode()).digest()):
            raise Unauthenticated("invalid bearer token")
