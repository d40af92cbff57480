"""The configurations of ``linkadapt distill``: one per mode, one for attaching evaluations.

Each field is one option of the command (``--dagger-rounds`` is ``dagger_rounds``) with
its default; the options a mode uses are exactly the fields of its configuration, so
the command refuses any other by name. :meth:`RunConfig.command` prints the command
that reproduces a run, which the models' cards record.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

from training.networks import STUDENT_HIDDEN
from training.options import flag

REALTIME_TEACHER: Final = "-realtime"
"""What the version of a realtime run's teacher ends with."""


class ConfigError(ValueError):
    """Bad options or inputs; the message names the option."""


def tau_suffix(tau: float) -> str:
    """``-tau0.01``: what tells students of a --sweep-tau run apart (file stem, version)."""
    return f"-tau{tau:g}"


@dataclass(frozen=True)
class RunConfig:
    """Options of every distillation mode."""

    MODE: ClassVar[str] = ""
    """The ``--mode`` this configuration runs."""

    student: str = "3x32"
    """Student sizes, comma-separated names of :data:`~training.networks.STUDENT_HIDDEN`."""
    profile: str = "quick"
    """Dataset size and epochs (single, multi); the teacher run (realtime, scratch)."""
    actors: int | None = None
    """Ray actors (None: the profile's)."""
    seed: int = 0
    """Random seed of the run."""
    no_int8: bool = False
    """Skip the INT8 variants."""
    out: Path | None = None
    """Output directory (None: runs/distill-MODE-PROFILE)."""
    model_version: str | None = None
    """Version in the model cards (None: from the recipe)."""
    ray_address: str | None = None
    """HOST:PORT of a Ray cluster for the actors (None: Ray in-process)."""
    no_progress: bool = False
    """No progress bars."""

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
            return [getattr(self, "tau", default("tau"))]
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
        parts = ["linkadapt", "distill", "--mode", self.MODE]
        for t in getattr(self, "teacher", ()):
            parts += ["--teacher", str(t)]
        for d in getattr(self, "dataset", ()):
            parts += ["--dataset", str(d)]
        parts += ["--profile", self.profile, "--student", self.student]
        parts += self._loss_options()
        for name in ("samples", "epochs", "simulations", "actors", "dagger_rounds",
                     "dagger_samples"):
            if value := getattr(self, name, None):  # unset, or --dagger-rounds' default 0
                parts += [flag(name), str(value)]
        learning_rate = getattr(self, "learning_rate", default("learning_rate"))
        if learning_rate != default("learning_rate"):
            parts += ["--learning-rate", f"{learning_rate:g}"]
        if isinstance(self, RealtimeConfig):
            parts += ["--polish-epochs", str(self.polish_epochs),
                      "--polish-states", str(self.polish_states)]
        parts += ["--seed", str(self.seed), "--out", str(self.run_dir)]
        if self.no_int8:  # the rerun writes the same files, no INT8 variants
            parts += ["--no-int8"]
        if self.model_version is not None:
            parts += ["--model-version", self.model_version]
        return shlex.join(parts)

    def _loss_options(self) -> list[str]:
        if not isinstance(self, LossOptions):
            return []
        parts = ["--loss", self.loss]
        if self.loss == "kl":
            sweep = getattr(self, "sweep_tau", None)
            parts += ["--sweep-tau", sweep] if sweep else ["--tau", f"{self.tau:g}"]
        return parts


@dataclass(frozen=True)
class LossOptions(RunConfig):
    """Options of the modes that distill a student from a teacher's Q-values."""

    loss: str = "kl"
    """Distillation loss: kl, nll or mse."""
    tau: float = 0.01
    """Teacher temperature of the KL loss."""
    learning_rate: float = 3e-3
    """Adam step size of the student (realtime: at most 1e-3)."""


@dataclass(frozen=True)
class MultiConfig(LossOptions):
    """``--mode multi``: scenario teachers' datasets aggregated into one student."""

    MODE: ClassVar[str] = "multi"

    teacher: tuple[str, ...] = ()
    """Teacher ONNX files, one dataset each."""
    dataset: tuple[Path, ...] = ()
    """Collected datasets to use instead of collecting, one per teacher."""
    sweep_tau: str | None = None
    """Comma-separated temperatures: one student per temperature instead of ``tau``."""
    samples: int | None = None
    """States collected per teacher (None: the profile's)."""
    epochs: int | None = None
    """Passes over the dataset (None: the profile's)."""


@dataclass(frozen=True)
class SingleConfig(MultiConfig):
    """``--mode single``: one teacher, its dataset, one student per size."""

    MODE: ClassVar[str] = "single"

    dagger_rounds: int = 0
    """Dataset aggregation rounds after training (the student acts, the teacher labels)."""
    dagger_samples: int | None = None
    """States collected per aggregation round (None: half the profile's samples)."""


@dataclass(frozen=True)
class ScratchConfig(RunConfig):
    """``--mode scratch``: the control, the student network trained from scratch with DQN."""

    MODE: ClassVar[str] = "scratch"

    simulations: int | None = None
    """Simulations of the DQN run (None: the teacher profile's)."""


@dataclass(frozen=True)
class RealtimeConfig(LossOptions):
    """``--mode realtime``: a DQN teacher and a student distilled from it in one run."""

    MODE: ClassVar[str] = "realtime"

    simulations: int | None = None
    """Simulations of the teacher run (None: the teacher profile's)."""
    polish_epochs: int = 10
    """Passes over the run's last minibatch states, labelled by the final teacher (0: none)."""
    polish_states: int = 1_000_000
    """How many of the last minibatch states the polish uses."""


@dataclass(frozen=True)
class AttachConfig:
    """``--attach-evaluation``: store an evaluation's figures in the models' cards."""

    attach_evaluation: Path
    """The ``linkadapt evaluate`` result (evaluation.json)."""
    model: tuple[Path, ...] = ()
    """Models whose cards get the figures."""
    regenerate: tuple[str, ...] = ()
    """Commands that regenerate the models, recorded in their cards in order."""
    no_progress: bool = False
    """No progress bars (nothing to show here; accepted as in every mode)."""


DistillConfig = SingleConfig | MultiConfig | RealtimeConfig | ScratchConfig
"""The configuration of one distillation run."""
MODES: Final[dict[str, type[DistillConfig]]] = {
    cls.MODE: cls for cls in (SingleConfig, MultiConfig, RealtimeConfig, ScratchConfig)}
"""The configuration of each ``--mode``, the default (single) first."""


def default(name: str) -> Any:
    """The default of option ``name`` in the modes that have it."""
    for cls in MODES.values():
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f.default
    raise KeyError(name)
