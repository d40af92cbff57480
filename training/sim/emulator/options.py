"""What to emulate, against which service, and the command's :class:`EmulateConfig`."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import field_validator, model_validator

from linkadapt.config import CONFIG, flag
from training.options import target_bler_problem
from training.sim import config
from training.sim.policies import parse_policy
from xapp.tls_client import ClientTls

_GRPC_SCHEMES: Final = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")
"""gRPC target schemes: after one of these the address is gRPC's to parse."""
MAX_CELLS: Final = 1024
"""Most ``--cells``: each cell holds its own simulator, gRPC channel and TCP connection."""
MAX_UES: Final = 100_000
"""Most UEs over all cells (``--cells`` x ``--ues-per-cell``): a simulated UE takes ~7 kB."""


@pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)
class EmulatorOptions:
    """What to emulate and against which service. See ``linkadapt emulate --help``."""

    target: str = "127.0.0.1:50051"
    """gRPC address of the xApp, HOST:PORT"""
    cells: int = 1
    """simulated cells, at most 1024"""
    ues_per_cell: int = 4
    """UEs per cell; at most 100000 UEs over all cells"""
    scenario: str = "mimo"
    """benchmark scenario (mimo, high-mobility, ...; an unknown name lists them) or 'random'"""
    slots: int = 1000
    """slots emulated"""
    seed: int = 0
    """random seed; cell c uses seed+c"""
    speed_kmh: float | None = None
    """override every UE's speed, km/h"""
    target_bler: float | None = None
    """first-transmission BLER target every UE reports to the xApp, in (0, 1); a --compare spec
    without one (olla, olla:D, eolla, salad) runs at it too (default: the scenario's, 0.1;
    'random' draws each UE's in 0.01..0.3)"""
    stream: bool = False
    """one bidirectional stream per cell (default: unary Decide calls)"""
    columnar: bool | None = None
    """always send ReportColumns and ask for columnar answers; --no-columnar always sends
    one UeReport per UE (default: columns for batches, a UeReport for a single UE)"""
    all_ues: bool = False
    """ask for every UE each slot, not only those starting a new TB"""
    deadline_us: float | None = None
    """latency budget of a slot, us (default: the slot duration)"""
    strict_deadline: bool = False
    """replace late answers with the local fallback rule"""
    timeout_ms: float = 1000.0
    """give up on a request after this long: the slot fails and the local fallback applies"""
    connect_timeout_s: float = 10.0
    """wait this long for the service at the start"""
    give_up_s: float = 30.0
    """stop the run (exit 1) when a cell got no answer for this long"""
    swap_every: int | None = None
    """activate the next of --swap-models every this many slots through REST (at least 1;
    needs --swap-models)"""
    swap_models: tuple[str, ...] = ()
    """comma-separated ID:VER of models already uploaded (needs --swap-every)"""
    admin_url: str | None = None
    """REST base URL of the xApp, e.g. http://127.0.0.1:8080"""
    token: str | None = None
    """bearer token (admin API; also sent with decisions); or --token-file, or
    LINKADAPT_ADMIN_TOKEN"""
    compare: str | None = None
    """also run this policy (e.g. olla, olla:0.5:0.02, eolla:0.1, salad:0.1; the forms of
    simulate --policy) in-process on the same channels and report the xApp's gain over it"""
    tls: ClientTls | None = None
    """the client's TLS (None: plaintext), from the --tls-* flags"""

    @field_validator("swap_models")
    @classmethod
    def _entries(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        """Each use of the flag may hold several comma-separated entries."""
        return tuple(m.strip() for given in models for m in given.split(",") if m.strip())

    def check(self) -> None:
        """Raise ValueError naming the first bad option."""
        for name, value, low in (("cells", self.cells, 1), ("ues_per_cell", self.ues_per_cell, 1),
                                 ("slots", self.slots, 1), ("seed", self.seed, 0)):
            if value < low:
                raise ValueError(f"{flag(name)} must be at least {low}, got {value}")
        if self.cells > MAX_CELLS:
            raise ValueError(f"--cells must be at most {MAX_CELLS} (each cell holds its own "
                             f"simulator and gRPC connection), got {self.cells}")
        if self.cells * self.ues_per_cell > MAX_UES:
            raise ValueError(f"--cells x --ues-per-cell must be at most {MAX_UES} UEs, got "
                             f"{self.cells * self.ues_per_cell} (a simulated UE takes ~7 kB)")
        self._check_target()
        for name, number in (("deadline_us", self.deadline_us), ("give_up_s", self.give_up_s),
                             ("timeout_ms", self.timeout_ms),
                             ("connect_timeout_s", self.connect_timeout_s)):
            if number is not None and not (math.isfinite(number) and number > 0):
                raise ValueError(f"{flag(name)} must be a positive number, got {number}")
        if self.admin_url is not None:
            url = urlsplit(self.admin_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"--admin-url must be an http(s) URL such as "
                                 f"http://127.0.0.1:8080, got {self.admin_url!r}")
        if self.speed_kmh is not None and not (math.isfinite(self.speed_kmh)
                                               and self.speed_kmh >= 0):
            raise ValueError(f"--speed-kmh must be a number >= 0, got {self.speed_kmh}")
        self._check_swap()
        if problem := target_bler_problem(self.target_bler):
            raise ValueError(problem)
        config.config_source(self.scenario)  # ValueError listing the scenarios
        if self.compare is not None:
            parse_policy(self.compare, self.spec_target)

    def _check_target(self) -> None:
        host, _, port = self.target.rpartition(":")
        if not host or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"--target must be HOST:PORT with a port from 1 to 65535, "
                             f"got {self.target!r}")
        if (":" in host and not (host.startswith("[") and host.endswith("]"))
                and not self.target.startswith(_GRPC_SCHEMES)):
            raise ValueError(f"--target: an IPv6 address goes in brackets, [ADDRESS]:PORT "
                             f"(e.g. [::1]:50051), got {self.target!r}")

    def _check_swap(self) -> None:
        if self.swap_every is not None and self.swap_every < 1:
            raise ValueError(f"--swap-every must be at least 1, got {self.swap_every}")
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

    @property
    def spec_target(self) -> float:
        """The target of a ``--compare`` spec written without one: ``--target-bler`` or 10%."""
        return config.DEFAULT_TARGET_BLER if self.target_bler is None else self.target_bler


@pydantic.dataclasses.dataclass(frozen=True, config=CONFIG)
class EmulateConfig(EmulatorOptions):
    """Every flag of ``linkadapt emulate``; building one checks all, naming the first bad one."""

    token_file: Path | None = None
    """file holding the token"""
    slo_p99_us: float | None = None
    """largest acceptable p99 decision latency, us"""
    max_bler: float | None = None
    """largest acceptable first-transmission BLER, 0..1"""
    max_missed_slots: int | None = None
    """largest acceptable number of missed slots"""
    load: Literal["cells", "ues"] | None = None
    """double the cells (or UEs per cell) from --cells / --ues-per-cell until p99 exceeds the
    deadline; report the largest load that held"""
    load_max: int = 64
    """highest level of the ramp"""
    load_repeats: int = 1
    """runs per level; the level is the run with the median p99"""
    json: bool = False
    """print the results as one JSON object"""

    @model_validator(mode="after")
    def _checked(self) -> EmulateConfig:
        if self.max_bler is not None and not 0 <= self.max_bler <= 1:
            raise ValueError(f"--max-bler must be in 0..1, got {self.max_bler}")
        if self.slo_p99_us is not None and not self.slo_p99_us > 0:
            raise ValueError(f"--slo-p99-us must be positive, got {self.slo_p99_us}")
        if self.max_missed_slots is not None and self.max_missed_slots < 0:
            raise ValueError(f"--max-missed-slots must be >= 0, got {self.max_missed_slots}")
        if self.token is None:  # --token, else --token-file, else the variable; set once
            object.__setattr__(self, "token", self._read_token())
        self.check()
        if self.load is not None:
            self._check_load(self.load)
        return self

    def _read_token(self) -> str | None:
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip() or None
            except OSError as exc:
                raise ValueError(f"cannot read --token-file {str(self.token_file)!r}: "
                                 f"{exc.strerror}") from None
        return os.environ.get("LINKADAPT_ADMIN_TOKEN") or None

    def _check_load(self, axis: str) -> None:
        if self.swap_every or self.compare:
            raise ValueError("--load runs alone: no --swap-every or --compare")
        levels = [("--cells", self.cells), ("--ues-per-cell", self.ues_per_cell)]
        (start_flag, start), (other_flag, other) = levels if axis == "cells" else levels[::-1]
        if self.load_max < start:
            raise ValueError(f"--load-max {self.load_max} is below the first level of the "
                             f"ramp ({start_flag} {start}): no level would run")
        if self.load_repeats < 1:
            raise ValueError(f"--load-repeats must be at least 1, got {self.load_repeats}")
        if axis == "cells" and self.load_max > MAX_CELLS:
            raise ValueError(f"--load-max must be at most {MAX_CELLS} with --load cells (the "
                             f"--cells limit), got {self.load_max}")
        if self.load_max * other > MAX_UES:
            raise ValueError(f"--load-max {self.load_max} x {other_flag} {other} must be at "
                             f"most {MAX_UES} UEs with --load {axis}")
