"""The configurations of ``linkadapt distill``: one per mode, one for attaching evaluations.

Each field is one flag of the command (``dagger_rounds`` is ``--dagger-rounds``), with
its type, default and help (the attribute docstring): :mod:`linkadapt.config` generates
the flags from these classes. The options a mode uses are exactly the fields of its
configuration, so the command refuses any other by name. :meth:`RunConfig.command`
prints the command that reproduces a run, which the models' cards record.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar, Final, Literal

from pydantic.dataclasses import dataclass

from linkadapt.config import CONFIG, ConfigError, command_line
from training.networks import STUDENT_HIDDEN

__all__ = ["MODES", "REALTIME_TEACHER", "AttachConfig", "ConfigError", "DistillConfig",
           "LossOptions", "MultiConfig", "RealtimeConfig", "RunConfig", "ScratchConfig",
           "SingleConfig", "TeacherOptions", "tau_suffix"]

REALTIME_TEACHER: Final = "-realtime"
"""What the version of a realtime run's teacher ends with."""


def tau_suffix(tau: float) -> str:
    """``-tau0.01``: what tells students of a --sweep-tau run apart (file stem, version)."""
    return f"-tau{tau:g}"


@dataclass(frozen=True, config=CONFIG)
class TeacherOptions:
    """The teachers of the modes that distill given teachers (single, multi)."""

    teacher: tuple[str, ...] = ()
    """teacher ONNX, one dataset each (repeatable for --mode multi)"""
    dataset: tuple[Path, ...] = ()
    """use collected datasets instead of collecting, one per --teacher (repeatable)"""


@dataclass(frozen=True, config=CONFIG)
class RunConfig:
    """Options of every distillation mode."""

    MODE: ClassVar[str] = ""
    """The ``--mode`` this configuration runs."""

    profile: Literal["smoke", "quick", "paper"] = "quick"
    """dataset size and epochs; the teacher run for realtime/scratch"""
    student: str = "3x32"
    """student sizes, comma-separated, of 4x64, 4x32, 3x32"""
    seed: int = 0
    """random seed, 0 to 4294967295"""
    out: Path | None = None
    """output directory (default: runs/distill-MODE-PROFILE)"""
    no_int8: bool = False
    """skip the INT8 variants"""
    model_version: str | None = None
    """version in the model cards (default: from the recipe, e.g. single-kl-tau0.01-quick-s0);
    give a new one when a retrained model must sit beside an earlier one in a model store.
    INT8 variants add -int8, --sweep-tau students -tauT, a realtime run's teacher -realtime"""
    actors: int | None = None
    """Ray actors (default: the profile's)"""
    ray_address: str | None = None
    """HOST:PORT of an existing Ray cluster to run the Ray actors on instead of starting Ray
    locally (as train-teacher --ray-address)"""
    no_progress: bool = False
    """no progress bars"""

    @property
    def run_dir(self) -> Path:
        """The output directory, given or by default."""
        return self.out or Path("runs") / f"distill-{self.MODE}-{self.profile}"

    def sizes(self) -> list[str]:
        """The student sizes; ConfigError naming an unknown one."""
        sizes = [s.strip() for s in self.student.split(",") if s.strip()]
        unknown = [s for s in sizes if s not in STUDENT_HIDDEN]
        if not sizes or unknown:
            raise ConfigError(f"--student: unknown size {', '.join(unknown) or self.student!r}; "
                              f"choose of {', '.join(STUDENT_HIDDEN)}")
        return sizes

    def taus(self) -> list[float]:
        """The KL temperatures, one student each (one for a mode without --sweep-tau)."""
        sweep: str | None = getattr(self, "sweep_tau", None)
        if sweep is None:
            return [self.tau] if isinstance(self, LossOptions) else []
        try:
            taus = [float(t) for t in sweep.split(",") if t.strip()]
        except ValueError:
            raise ConfigError(f"--sweep-tau must be comma-separated numbers, got "
                              f"{sweep!r}") from None
        if not taus or any(not (t > 0 and math.isfinite(t)) for t in taus):
            raise ConfigError("--sweep-tau: temperatures must be positive numbers")
        return taus

    def command(self) -> str:
        """The canonical ``linkadapt distill`` command that reproduces this run.

        Only the options the mode uses: the command is run again as it is.
        """
        always = ["profile", "student", "seed", "out", "loss", "polish_epochs", "polish_states"]
        never = ["ray_address", "no_progress"]
        kl_tau = isinstance(self, LossOptions) and self.loss == "kl"
        sweep = getattr(self, "sweep_tau", None) if kl_tau else None
        (always if kl_tau and sweep is None else never).append("tau")
        if sweep is None:
            never.append("sweep_tau")
        names = {f.name for f in dataclasses.fields(self)}
        return command_line(["linkadapt", "distill", "--mode", self.MODE],
                            dataclasses.replace(self, out=self.run_dir),
                            always=[n for n in always if n in names],
                            exclude=[n for n in never if n in names])


@dataclass(frozen=True, config=CONFIG)
class LossOptions(RunConfig):
    """Options of the modes that distill a student from a teacher's Q-values."""

    loss: Literal["kl", "nll", "mse"] = "kl"
    """distillation loss"""
    tau: float = 0.01
    """teacher temperature of the KL loss"""
    learning_rate: float = 3e-3
    """Adam step size of the student (realtime: at most 1e-3)"""


@dataclass(frozen=True, config=CONFIG)
class MultiConfig(LossOptions, TeacherOptions):
    """``--mode multi``: scenario teachers' datasets aggregated into one student."""

    MODE: ClassVar[str] = "multi"

    sweep_tau: str | None = None
    """comma-separated temperatures: one student per temperature instead of --tau"""
    tau_reference: float | None = None
    """a teacher score: in a state whose best score is below it the KL temperature shrinks in
    proportion (to a tenth of --tau at most), so that the teacher's choice stays as sharp where
    all scores are small (little data buffered) as elsewhere; default: --tau everywhere"""
    finite_buffer_share: float | None = None
    """share of finite-traffic UEs' states in every epoch, reached by repeating the rarer kind
    (a domain-randomized dataset holds a tenth; a student errs most there); default: as collected"""
    samples: int | None = None
    """states collected per teacher (default: the profile's)"""
    epochs: int | None = None
    """passes over the dataset (default: the profile's)"""


@dataclass(frozen=True, config=CONFIG)
class SingleConfig(MultiConfig):
    """``--mode single``: one teacher, its dataset, one student per size."""

    MODE: ClassVar[str] = "single"

    dagger_rounds: int = 0
    """after training, N rounds of running the student, labelling the states it visits with
    the teacher, and training again on all data (dataset aggregation)"""
    dagger_samples: int | None = None
    """states collected per aggregation round (default: half the profile's samples)"""
    scenario_states: tuple[str, ...] = ()
    """SCENARIO:N (repeatable): also collect N states of that benchmark scenario with the
    teacher acting (into OUT/dataset-SCENARIO) and train on them with the rest: distinct
    states of a kind a domain-randomized dataset holds few of (finite traffic, all of
    bursty's UEs, is a tenth of it)"""

    def scenario_samples(self) -> list[tuple[str, int]]:
        """The --scenario-states as (scenario, states); ConfigError naming a bad one."""
        from training.sim.config import SCENARIOS

        pairs: list[tuple[str, int]] = []
        for item in self.scenario_states:
            name, sep, count = item.partition(":")
            if not sep or not count.strip().isdigit():
                raise ConfigError(f"--scenario-states takes SCENARIO:N (N states), got {item!r}")
            name, n = name.strip(), int(count)
            if name not in SCENARIOS:
                raise ConfigError(f"--scenario-states: unknown scenario {name!r}; choose of "
                                  f"{', '.join(SCENARIOS)}")
            if n < 1:
                raise ConfigError(f"--scenario-states {item!r}: N must be at least 1")
            if name in (p[0] for p in pairs):
                raise ConfigError(f"--scenario-states names {name!r} twice")
            pairs.append((name, n))
        return pairs


@dataclass(frozen=True, config=CONFIG)
class ScratchConfig(RunConfig):
    """``--mode scratch``: the control, the student network trained from scratch with DQN."""

    MODE: ClassVar[str] = "scratch"

    simulations: int | None = None
    """simulations of the DQN run (default: the teacher profile's)"""


@dataclass(frozen=True, config=CONFIG)
class RealtimeConfig(LossOptions):
    """``--mode realtime``: a DQN teacher and a student distilled from it in one run."""

    MODE: ClassVar[str] = "realtime"

    simulations: int | None = None
    """simulations of the DQN run (default: the teacher profile's)"""
    polish_epochs: int = 10
    """passes over the run's last minibatch states, labelled by the final teacher, after the
    run (0: none)"""
    polish_states: int = 1_000_000
    """how many of the last minibatch states the polish uses"""


@dataclass(frozen=True, config=CONFIG)
class AttachConfig:
    """``--attach-evaluation``: store an evaluation's figures in the models' cards."""

    attach_evaluation: Path | None = None
    """instead of distilling: store this 'linkadapt evaluate' result (evaluation.json) in
    the cards of the --model files"""
    model: tuple[Path, ...] = ()
    """model whose card gets --attach-evaluation (repeatable)"""
    regenerate: tuple[str, ...] = ()
    """a command that regenerates the model, recorded in its card (repeatable, in order)"""
    no_progress: bool = False
    """no progress bars (nothing to show here; accepted as in every mode)"""


DistillConfig = SingleConfig | MultiConfig | RealtimeConfig | ScratchConfig
"""The configuration of one distillation run."""
MODES: Final[dict[str, type[DistillConfig]]] = {
    cls.MODE: cls for cls in (SingleConfig, MultiConfig, RealtimeConfig, ScratchConfig)}
"""The configuration of each ``--mode``, the default (single) first."""

