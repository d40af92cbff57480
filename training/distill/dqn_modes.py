"""The distillation modes that train a DQN network themselves: ``realtime`` and ``scratch``.

``realtime``: a teacher trained with DQN and a student distilled from its latest
Q-values in the same run, then polished on the final teacher's labels of the last
states it saw. ``scratch``: the control, the student network trained from scratch
with DQN.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from training.cards import realtime_student_card, scratch_card, teacher_card, write_card_json
from training.distill.config import REALTIME_TEACHER, RealtimeConfig, ScratchConfig
from training.distill.pipeline import export_student, progress_bar
from training.distill.plan import DistillPlan
from training.placement import describe, nodes
from training.teacher_config import DQN_TARGET_BLER

if TYPE_CHECKING:
    from training.distill.realtime import RealtimeResult
    from training.teacher import TrainResult


def run_dqn_mode(cfg: RealtimeConfig | ScratchConfig, plan: DistillPlan) -> dict[str, Any]:
    """Train the planned DQN run (and, realtime, its student); the summary of the run."""
    from training import teacher as teacher_training

    teacher_cfg = plan.teacher_cfg
    assert teacher_cfg is not None  # planned for these modes
    bar = progress_bar(cfg, teacher_cfg.simulations, "sim", cfg.MODE)
    done = 0.0

    def on_chunk(m: dict[str, float]) -> None:
        nonlocal done
        if bar is not None:
            bar.update(m["train/simulations"] - done)
            bar.set_postfix(thp=f"{m['rollout/throughput_mbps']:.1f}Mb/s",
                            bler=f"{m['rollout/bler']:.3f}")
        done = m["train/simulations"]

    try:
        if isinstance(cfg, ScratchConfig):
            result = teacher_training.train(teacher_cfg, cfg.run_dir,
                                            ray_address=cfg.ray_address, on_chunk=on_chunk)
            return _scratch_outputs(cfg, result)
        from training.distill.realtime import train_realtime

        stem, scfg = plan.students[0]
        rt = train_realtime(teacher_cfg, scfg, cfg.run_dir, on_chunk=on_chunk,
                            polish_epochs=cfg.polish_epochs, polish_states=cfg.polish_states,
                            ray_address=cfg.ray_address)
    finally:
        if bar is not None:
            bar.close()
    return _realtime_outputs(cfg, rt, stem, scfg.tau)


def _scratch_outputs(cfg: ScratchConfig, result: TrainResult) -> dict[str, Any]:
    size = cfg.sizes()[0]
    card = scratch_card(result, size, cfg.model_version, cfg.command())
    entry = export_student(cfg, f"scratch-{size}", result.net, card, None, DQN_TARGET_BLER)
    print(f"distill: {describe(result.placements)}", file=sys.stderr)
    return {"mode": "scratch", "out": str(cfg.run_dir), "seconds":
            round(result.progress.seconds, 1), "students": [entry],
            "ray_nodes": nodes(result.placements)}


def _realtime_outputs(cfg: RealtimeConfig, rt: RealtimeResult, stem: str,
                      tau: float) -> dict[str, Any]:
    from training.export import export_onnx

    tcard = teacher_card(rt.teacher)
    # -realtime: not the key of a train-teacher run of the same version
    tcard["version"] = f"{cfg.model_version or tcard['version']}{REALTIME_TEACHER}"
    teacher_path = export_onnx(rt.teacher.net, cfg.run_dir / "teacher.onnx", tcard,
                               target_bler_range=DQN_TARGET_BLER)
    write_card_json(teacher_path)
    version = (cfg.model_version
               or f"realtime-{cfg.loss}-tau{tau:g}-{cfg.profile}-s{cfg.seed}")
    card = realtime_student_card(stem, version, {
        "loss": cfg.loss, "tau": tau, "teacher_id": f"{tcard['model_id']}:{tcard['version']}",
        "student_updates": rt.student_updates,
        "polish_epochs": cfg.polish_epochs if rt.polish_states else 0,
        "polish_states": rt.polish_states, "dataset_samples": rt.teacher.progress.transitions,
        "seconds": round(rt.seconds, 1), "command": cfg.command()})
    entry = export_student(cfg, stem, rt.student, card, None, DQN_TARGET_BLER)
    print(f"distill: {describe(rt.teacher.placements)}", file=sys.stderr)
    return {"mode": "realtime", "out": str(cfg.run_dir), "teacher_onnx": str(teacher_path),
            "seconds": round(rt.seconds, 1), "student_updates": rt.student_updates,
            "students": [entry], "ray_nodes": nodes(rt.teacher.placements)}
