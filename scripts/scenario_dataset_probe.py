r"""A probe: a student trained on the teacher's dataset plus distinct states of one scenario.

The 3x32 student's loss against the label teacher sits in bursty, and there only in
finite-traffic states: a tenth of a domain-randomized dataset. Balancing
(``--finite-buffer-share``) repeats those same states; this probe adds *new* ones
instead. It collects ``--samples`` states of ``--scenario`` with the teacher acting
(``training.distill.dataset.collect``, into ``--scenario-dataset`` unless a dataset is
already there), trains a student on that and ``--dataset`` together (both labelled by
the teacher, aggregated as multi-policy distillation aggregates its datasets), and
exports it with a card for ``linkadapt evaluate``. Not a distillation mode.

    python scripts/scenario_dataset_probe.py --dataset runs/distill-quick/dataset \
        --scenario bursty --samples 1000000 --scenario-dataset runs/dataset-bursty-1m \
        --epochs 20 --seed 0 --out runs/probe-bursty/student-3x32-s0.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.distill.dataset import (
    MANIFEST,
    CollectConfig,
    DatasetError,
    collect,
    load_datasets,
    read_manifest,
)
from training.distill.student import StudentConfig, train_student
from training.distill.teachers import load_teacher
from training.export import export_onnx
from training.sim.config import SCENARIOS

_COLLECTION_SEED = 1
"""The scenario's simulations: apart from the quick dataset's (seed 0)."""


def main(argv: list[str] | None = None) -> int:
    """Collect (if needed), train, export one student; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path,
                        default=Path("training/models/teacher-labels-quick.onnx"))
    parser.add_argument("--dataset", type=Path, required=True,
                        help="the teacher's distillation dataset (domain-randomized)")
    parser.add_argument("--scenario", default="bursty", help="scenario whose states are added")
    parser.add_argument("--samples", type=int, default=1_000_000,
                        help="states of --scenario to collect")
    parser.add_argument("--scenario-dataset", type=Path, required=True,
                        help="where the scenario's states are (collected there if absent)")
    parser.add_argument("--size", default="3x32")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--tau", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.scenario not in SCENARIOS:
        parser.error(f"--scenario must be one of {', '.join(SCENARIOS)}, got {args.scenario!r}")
    if args.samples < 1:
        parser.error(f"--samples must be >= 1, got {args.samples}")
    try:  # distill's own rules for the student's options
        config = StudentConfig(size=args.size, tau=args.tau, epochs=args.epochs, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    teacher = load_teacher(args.teacher)
    if not (args.scenario_dataset / MANIFEST).exists():
        collect(teacher, args.scenario_dataset,
                CollectConfig(samples=args.samples, seed=_COLLECTION_SEED),
                scenario=args.scenario)
    try:
        for flag, directory in (("--dataset", args.dataset),
                                ("--scenario-dataset", args.scenario_dataset)):
            if read_manifest(directory).get("teacher_sha256") != teacher.sha256:
                parser.error(f"{flag} {str(directory)!r} was labelled by another teacher")
        data = load_datasets([args.dataset, args.scenario_dataset], seed=0)
    except DatasetError as exc:
        parser.error(str(exc))
    added = read_manifest(args.scenario_dataset)
    result = train_student(data, config, teacher=teacher.net)
    print(f"{len(data)} states ({added['samples']} of {added['scenario']}), "
          f"held-out agreement {result.agreement:.4f}")
    card = {"model_id": f"student-{args.size}-{args.scenario}-states",
            "version": args.out.stem, "kind": "student",
            "training": {"probe": "scripts/scenario_dataset_probe.py",
                         "teacher_id": teacher.teacher_id,
                         "datasets": [str(args.dataset), str(args.scenario_dataset)],
                         "scenario": args.scenario, "epochs": args.epochs,
                         "tau": args.tau, "seed": args.seed}}
    export_onnx(result.net, args.out, card, latency_budget_us=None)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
