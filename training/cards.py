"""Model cards of the trained networks, built in one place for every command.

Each builder returns the card's fields as a dict for :func:`training.export.export_onnx`
(which checks them against :class:`xapp.model_card.ModelCard`); the ``command`` each
card records comes from the run's configuration (``command()``), never typed here.
:func:`write_card_json` mirrors a written card beside its model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.distill.dataset import Dataset
    from training.distill.student import StudentResult
    from training.distill.teachers import Teacher
    from training.teacher import TrainResult


def teacher_card(result: TrainResult, version: str | None = None) -> dict[str, Any]:
    """Model card fields of a trained teacher (``version``: ``--model-version``, if given)."""
    from training.teacher_run import TrainTeacherConfig

    cfg = result.config
    return {
        "model_id": f"teacher-{cfg.rollout.scenario}",
        "version": version or f"{cfg.profile}-s{cfg.seed}",
        "kind": "teacher",
        "training": {
            "algorithm": "double DQN, Huber loss, target network, epsilon-greedy",
            "config": cfg.to_dict(),
            "simulations": result.progress.simulations,
            "ue_slots": result.progress.ue_slots,
            "transitions": result.progress.transitions,
            "seconds": round(result.progress.seconds, 1),
            "resumes": result.progress.resumes,
            "command": TrainTeacherConfig.of_run(cfg, version).command(),
        },
    }


def scratch_card(result: TrainResult, size: str, version: str | None,
                 command: str) -> dict[str, Any]:
    """Card of a student-sized network trained from scratch with DQN (``--mode scratch``).

    The teacher's card under the student's name, with the distill command.
    """
    card = teacher_card(result, version)
    card.update(model_id=f"scratch-{size}", kind="scratch")
    card["training"]["mode"] = "scratch"
    card["training"]["command"] = command
    return card


def student_card(result: StudentResult, version: str, mode: str, teachers: Sequence[Teacher],
                 data: Dataset, aggregation_rounds: int, command: str) -> dict[str, Any]:
    """Card of a student distilled from ``teachers``' labels of ``data``."""
    cfg = result.config
    return {
        "model_id": f"student-{cfg.size}",
        "version": version,
        "kind": "student",
        "training": {
            "mode": mode, "loss": cfg.loss, "tau": cfg.tau, "tau_reference": cfg.tau_reference,
            "finite_buffer_share": cfg.finite_buffer_share,
            "teacher_id": ",".join(t.teacher_id for t in teachers),
            "teacher_sha256": [t.sha256 for t in teachers],
            "teacher_parameters": [t.net.parameter_count() for t in teachers],
            "dataset_samples": len(data),
            "aggregation_rounds": aggregation_rounds,
            "datasets": [{k: m.get(k) for k in ("teacher_id", "scenario", "samples", "profile")}
                         for m in data.manifests],
            "student": result.summary(),
            "command": command,
        },
        "evaluation": {"validation_agreement": result.agreement,
                       "validation_regret": result.regret},
    }


def realtime_student_card(stem: str, version: str, training: dict[str, Any]) -> dict[str, Any]:
    """Card of a student distilled during its teacher's run (``distill --mode realtime``)."""
    return {"model_id": stem, "version": version, "kind": "student",
            "training": {"mode": "realtime", **training}}


def write_card_json(onnx_path: Path) -> Path:
    """Mirror the model card of ``onnx_path`` to ``NAME.card.json`` beside it (atomically)."""
    from training.export import read_card, write_file

    out = onnx_path.with_suffix(".card.json")
    text = json.dumps(read_card(onnx_path), indent=2, sort_keys=True) + "\n"
    write_file(out, text.encode())
    return out
