"""The ``distill`` pipeline: teachers -> small students, exported to ONNX (float and INT8).

:func:`distill` runs one checked configuration of any mode (see
:mod:`training.distill.config`): ``single`` and ``multi`` collect (or load) the
teachers' datasets and train one student per size and temperature, ``single``
optionally with dataset-aggregation rounds; ``realtime`` and ``scratch`` train a
DQN network (:mod:`training.distill.dqn_modes`). :func:`attach_evaluation` stores a
``linkadapt evaluate`` result in models' cards.

Writes to the run directory: ``dataset*/`` (shards + manifest), ``student-SIZE.onnx``
and ``student-SIZE.card.json``, ``student-SIZE-int8.onnx`` (+ card), ``tensorboard/``
and ``summary.json``. Every file is written whole or not at all: a dataset is
collected beside its directory and renamed over it when complete, models and cards
are renamed over the old ones.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from training.cards import student_card, write_card_json
from training.distill import dataset as ds
from training.distill.config import (
    AttachConfig,
    ConfigError,
    DistillConfig,
    MultiConfig,
    SingleConfig,
)
from training.distill.plan import (
    DistillPlan,
    dagger_dir,
    dataset_dirs,
    plan,
    scenario_dirs,
    student_version,
)
from training.distill.profiles import DistillProfile
from training.distill.student import StudentResult
from training.distill.teachers import Teacher, trained_range
from training.export import write_file
from training.networks import QNetwork
from training.placement import describe, nodes


def distill(cfg: DistillConfig) -> dict[str, Any]:
    """Check, run and summarize one distillation run; the summary is also ``summary.json``.

    Everything that can refuse the configuration is built before any dataset is
    collected or any network trained.
    """
    checked = plan(cfg)
    if isinstance(cfg, MultiConfig):
        summary = _run_distillation(cfg, checked)
    else:
        from training.distill.dqn_modes import run_dqn_mode

        summary = run_dqn_mode(cfg, checked)
    text = json.dumps(summary, indent=2) + "\n"
    write_file(cfg.run_dir / "summary.json", text.encode())
    return summary


def attach_evaluation(cfg: AttachConfig) -> Iterator[dict[str, Any]]:
    """Store the evaluation in each model's card; yield each model's new figures once written.

    All or nothing: every model is read and its new card built before any is written.
    """
    from training.distill.card import read_evaluation, with_evaluation

    evaluation = cfg.attach_evaluation
    if evaluation is None or not cfg.model:
        raise ConfigError("--attach-evaluation needs --model PATH.onnx")
    result = read_evaluation(evaluation)
    updated = [(model, *with_evaluation(model, result, evaluation,
                                        commands=cfg.regenerate))
               for model in cfg.model]
    for model, proto, card in updated:
        write_file(model, proto.SerializeToString())
        write_card_json(model)
        yield {"model": str(model), "evaluation": card["evaluation"]}


def progress_bar(cfg: DistillConfig, total: float, unit: str, desc: str) -> Any:
    """A progress bar on stderr, or None with ``no_progress``."""
    if cfg.no_progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True)


def export_student(cfg: DistillConfig, stem: str, net: QNetwork, card: dict[str, Any],
                   data: ds.Dataset | None,
                   target_bler_range: tuple[float, float]) -> dict[str, Any]:
    """Write ``stem``.onnx with its card (and the INT8 variant); the summary's entry."""
    from training.export import export_onnx, read_card

    path = export_onnx(net, cfg.run_dir / f"{stem}.onnx", card,
                       target_bler_range=target_bler_range)
    write_card_json(path)
    entry: dict[str, Any] = {"onnx": str(path), "parameters": net.parameter_count(),
                             "size_kbit": net.size_kbit(),
                             "evaluation": read_card(path).get("evaluation")}
    print(f"distill: {stem}: {net.parameter_count():,} parameters, {net.size_kbit():.1f} kbit "
          f"float32 -> {path}", file=sys.stderr)
    if not cfg.no_int8:
        from training.distill.quantize import fidelity, quantize_int8

        int8 = quantize_int8(path, cfg.run_dir / f"{stem}-int8.onnx")
        if data is not None:
            sample = min(len(data), 200_000)
            entry["int8_fidelity"] = fidelity(path, int8, data.obs[-sample:], data.q[-sample:])
        write_card_json(int8)
        entry["int8_onnx"] = str(int8)
        print(f"distill: {stem}-int8: {net.parameter_count() * 8 / 1000:.1f} kbit -> {int8}"
              + (f", MCS agreement with float {entry['int8_fidelity']['agreement_with_float']:.4f}"
                 if "int8_fidelity" in entry else ""), file=sys.stderr)
    return entry


# --- single / multi ---------------------------------------------------------------


def _datasets(cfg: MultiConfig, teachers: list[Teacher],
              prof: DistillProfile) -> tuple[ds.Dataset, list[Path]]:
    """The datasets a run trains on, with their directories.

    The given ones or the teachers' collected now, then the --scenario-states collected now.
    """
    # (teacher, directory, collection settings, scenario: None for the teacher's own)
    jobs: list[tuple[Teacher, Path, ds.CollectConfig, str | None]] = []
    dirs = list(cfg.dataset)
    if not cfg.dataset:
        dirs = dataset_dirs(cfg, teachers)
        jobs += [(t, d, prof.collect, None) for t, d in zip(teachers, dirs, strict=True)]
    for i, (name, n, directory) in enumerate(scenario_dirs(cfg), start=1):
        # simulations apart from the main dataset's (seed) and the aggregation rounds'
        collect = dataclasses.replace(prof.collect, samples=n, seed=prof.collect.seed + i)
        jobs.append((teachers[0], directory, collect, name))
        dirs.append(directory)
    for teacher, directory, collect, scenario in jobs:
        bar = progress_bar(cfg, collect.samples, "samples",
                           f"collect {scenario or teacher.scenario}")
        last = 0

        def on_chunk(n: int, bar: Any = bar) -> None:
            nonlocal last
            if bar is not None:
                bar.update(n - last)
            last = n

        try:
            manifest = ds.collect(teacher, directory, collect, profile=prof.name,
                                  scenario=scenario, ray_address=cfg.ray_address,
                                  on_chunk=on_chunk)
        finally:
            if bar is not None:
                bar.close()
        print(f"distill: dataset {directory}: {manifest['samples']} states of "
              f"{manifest['scenario']} in {manifest['seconds']} s, "
              f"{describe(manifest['ray_nodes'])}", file=sys.stderr)
    return ds.load_datasets(dirs, seed=cfg.seed, targets=teachers_range(teachers)), dirs


def _run_distillation(cfg: MultiConfig, plan: DistillPlan) -> dict[str, Any]:
    from training.distill.student import train_student

    teachers, prof = plan.teachers, plan.prof
    data, dirs = _datasets(cfg, teachers, prof)
    print(f"distill: {len(data)} states from {', '.join(t.teacher_id for t in teachers)}",
          file=sys.stderr)
    single_teacher = teachers[0].net if isinstance(cfg, SingleConfig) else None
    # the manifests of the datasets this run collected say where their actors ran
    collected = list(data.manifests)[len(cfg.dataset):]
    students = []
    for stem, scfg in plan.students:
        bar = progress_bar(cfg, prof.epochs, "epoch", stem)

        def on_epoch(m: dict[str, float], bar: Any = bar) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{m['distill/loss']:.4f}",
                                agree=f"{m['validation/agreement']:.4f}")

        try:
            result = train_student(data, scfg, single_teacher,
                                   log_dir=cfg.run_dir / "tensorboard" / stem, on_epoch=on_epoch)
        finally:
            if bar is not None:
                bar.close()
        student_data = data
        if isinstance(cfg, SingleConfig) and cfg.dagger_rounds:
            result, student_data = _aggregate(cfg, prof, teachers[0], stem, dirs, result)
            collected += student_data.manifests[len(data.manifests):]
        card = _student_card(cfg, result, teachers, student_data, prof)
        students.append(export_student(cfg, stem, result.net, card, student_data,
                                       teachers_range(teachers)))
    return {"mode": cfg.MODE, "samples": len(data), "out": str(cfg.run_dir),
            "teachers": [t.teacher_id for t in teachers], "students": students,
            "ray_nodes": nodes([p for m in collected for p in m.get("ray_nodes", [])])}


def _aggregate(cfg: SingleConfig, prof: DistillProfile, teacher: Teacher, stem: str,
               base: list[Path], result: StudentResult) -> tuple[StudentResult, ds.Dataset]:
    """Dataset aggregation: the student acts, the teacher labels, the student trains again."""
    from training.distill.student import train_student

    samples = cfg.dagger_samples or max(1, prof.collect.samples // 2)
    added: list[Path] = []
    for r in range(1, cfg.dagger_rounds + 1):
        directory = dagger_dir(cfg, stem, r)
        collect = dataclasses.replace(prof.collect, samples=samples,
                                      seed=prof.collect.seed + 1000 * r)
        manifest = ds.collect(teacher, directory, collect, profile=prof.name,
                              actor=result.net, actor_id=f"{stem} (aggregation round {r})",
                              ray_address=cfg.ray_address)
        added.append(directory)
        data = ds.load_datasets([*base, *added], seed=cfg.seed + r,
                                targets=teachers_range([teacher]))
        print(f"distill: {stem}: aggregation round {r}: {manifest['samples']} states visited "
              f"by the student in {manifest['seconds']} s; training on {len(data)}",
              file=sys.stderr)
        before = result.agreement
        result = train_student(data, result.config, teacher.net,
                               log_dir=cfg.run_dir / "tensorboard" / f"{stem}-dagger-{r}")
        print(f"distill: {stem}: held-out agreement {before:.4f} -> {result.agreement:.4f}",
              file=sys.stderr)
    return result, data


def teachers_range(teachers: list[Teacher]) -> tuple[float, float]:
    """The BLER targets every teacher was trained for: a student learns no others.

    A teacher without a range in its card (feature schema 1 had none) is taken at 10%.
    """
    ranges = [trained_range(t) for t in teachers]
    low, high = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if low > high:
        raise ConfigError("the teachers were trained for BLER targets that do not overlap: "
                          + ", ".join(f"{t.teacher_id} {r[0]:g}..{r[1]:g}"
                                      for t, r in zip(teachers, ranges, strict=True)))
    return float(low), float(high)


def _student_card(cfg: MultiConfig, result: StudentResult, teachers: list[Teacher],
                  data: ds.Dataset, prof: DistillProfile) -> dict[str, Any]:
    version = student_version(cfg, result.config, prof)
    rounds = cfg.dagger_rounds if isinstance(cfg, SingleConfig) else 0
    return student_card(result, version, cfg.MODE, teachers, data, rounds, cfg.command())
