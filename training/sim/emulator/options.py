"""What to emulate and against which service: :class:`EmulatorOptions` and its limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from training.options import flag
from training.sim import config
from training.sim.policies import parse_policy
from xapp.tls_client import ClientTls

_GRPC_SCHEMES: Final = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")
"""gRPC target schemes: after one of these the address is gRPC's to parse."""
MAX_CELLS: Final = 1024
"""Most ``--cells``: each cell holds its own simulator, gRPC channel and TCP connection."""
MAX_UES: Final = 100_000
"""Most UEs over all cells (``--cells`` x ``--ues-per-cell``): a simulated UE takes ~7 kB."""



@dataclass(frozen=True)
class EmulatorOptions:
    """What to emulate and against which service. See ``linkadapt emulate --help``."""

    target: str
    cells: int = 1
    ues_per_cell: int = 4
    scenario: str = "mimo"
    slots: int = 1000
    seed: int = 0
    speed_kmh: float | None = None
    target_bler: float | None = None  # None: the scenario's own targets (10%)
    stream: bool = False
    columnar: bool | None = None  # None: columns for batches, messages for one UE
    all_ues: bool = False
    deadline_us: float | None = None
    strict_deadline: bool = False
    timeout_ms: float = 1000.0
    connect_timeout_s: float = 10.0
    give_up_s: float = 30.0
    token: str | None = None
    swap_every: int = 0
    swap_models: tuple[str, ...] = ()
    admin_url: str | None = None
    compare: str | None = None
    tls: ClientTls | None = None

    def check(self) -> None:
        """Raise ValueError naming the first bad option."""
        for name, value, low in (("cells", self.cells, 1), ("ues_per_cell", self.ues_per_cell, 1),
                                 ("slots", self.slots, 1), ("swap_every", self.swap_every, 0),
                                 ("seed", self.seed, 0)):
            if value < low:
                raise ValueError(f"{flag(name)} must be at least {low}, got {value}")
        if self.cells > MAX_CELLS:
            raise ValueError(f"--cells must be at most {MAX_CELLS} (each cell holds its own "
                             f"simulator and gRPC connection), got {self.cells}")
        if self.cells * self.ues_per_cell > MAX_UES:
            raise ValueError(f"--cells x --ues-per-cell must be at most {MAX_UES} UEs, got "
                             f"{self.cells * self.ues_per_cell} (a simulated UE takes ~7 kB)")
        host, _, port = self.target.rpartition(":")
        if not host or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"--target must be HOST:PORT with a port from 1 to 65535, "
                             f"got {self.target!r}")
        if (":" in host and not (host.startswith("[") and host.endswith("]"))
                and not self.target.startswith(_GRPC_SCHEMES)):
            raise ValueError(f"--target: an IPv6 address goes in brackets, [ADDRESS]:PORT "
                             f"(e.g. [::1]:50051), got {self.target!r}")
        if self.deadline_us is not None and not (math.isfinite(self.deadline_us)
                                                 and self.deadline_us > 0):
            raise ValueError(f"--deadline-us must be a positive number, got {self.deadline_us}")
        if not (math.isfinite(self.give_up_s) and self.give_up_s > 0):
            raise ValueError(f"--give-up-s must be a positive number, got {self.give_up_s}")
        if not (math.isfinite(self.timeout_ms) and self.timeout_ms > 0):
            raise ValueError(f"--timeout-ms must be a positive number, got {self.timeout_ms}")
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0):
            raise ValueError(f"--connect-timeout-s must be a positive number, got "
                             f"{self.connect_timeout_s}")
        if self.admin_url is not None:
            url = urlsplit(self.admin_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"--admin-url must be an http(s) URL such as "
                                 f"http://127.0.0.1:8080, got {self.admin_url!r}")
        if self.speed_kmh is not None and not (math.isfinite(self.speed_kmh)
                                               and self.speed_kmh >= 0):
            raise ValueError(f"--speed-kmh must be a number >= 0, got {self.speed_kmh}")
        if self.swap_models and not self.swap_every:
            raise ValueError("--swap-models needs --swap-every K (activate the next model "
                             "every K slots)")
        if self.swap_every:
            if not self.swap_models:
                raise ValueError("--swap-every needs --swap-models ID:VER,ID:VER")
            if not self.admin_url:
                raise ValueError("--swap-every needs --admin-url")
            if not self.token:
                raise ValueError("--swap-every needs the admin token "
                                 "(--token, --token-file or LINKADAPT_ADMIN_TOKEN)")
            for spec in self.swap_models:
                model_id, _, version = spec.partition(":")
                if not model_id or not version:
                    raise ValueError(f"--swap-models entries are ID:VER, got {spec!r}")
        if self.target_bler is not None and not (math.isfinite(self.target_bler)
                                                 and 0 < self.target_bler < 1):
            raise ValueError(f"--target-bler must be a BLER in (0, 1), got {self.target_bler:g}")
        config.config_source(self.scenario)  # ValueError listing the scenarios
        if self.compare is not None:
            parse_policy(self.compare, self.spec_target)

    @property
    def spec_target(self) -> float:
        """The target of a ``--compare`` spec written without one: ``--target-bler`` or 10%."""
        return config.DEFAULT_TARGET_BLER if self.target_bler is None else self.target_bler
