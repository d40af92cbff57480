"""How the label teacher's window feedback holds BLER at a low target, for several gains.

A probe, not a training run: the committed teacher's heads and calibrated prices are
kept, only the feedback gain (``training.label_teacher.network.FEEDBACK_GAIN``) of the
exported graph changes, so the BLER and throughput of each gain show what that lever
alone can do before anyone retrains with it. Prints one line per run and, with
``--json``, the figures as one JSON object.

    python scripts/feedback_probe.py --gains 3,6,12 --scenarios high-mobility,bursty \
        --targets 0.02,0.05
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

TEACHER = Path("training/models/teacher-labels-quick.onnx")


def main() -> None:
    """Run the teacher at each gain, scenario and target; print throughput and BLER."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gains", default="3,6,12", help="feedback gains (committed: 3)")
    parser.add_argument("--scenarios", default="high-mobility,bursty,mimo")
    parser.add_argument("--targets", default="0.02,0.05")
    parser.add_argument("--ues", type=int, default=128)
    parser.add_argument("--slots", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import training.label_teacher.network as network
    from training.distill.teachers import load_teacher
    from training.export import export_onnx
    from training.sim.closed_loop import run
    from training.sim.simulate import SimulateConfig

    teacher = load_teacher(TEACHER)
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for gain in (float(g) for g in args.gains.split(",")):
            network.FEEDBACK_GAIN = gain  # read when the graph is traced
            path = export_onnx(teacher.net, Path(tmp) / f"gain{gain:g}.onnx",
                               {"model_id": "feedback-probe", "version": f"gain{gain:g}",
                                "kind": "teacher"}, latency_budget_us=None)
            for scenario in args.scenarios.split(","):
                for target in (float(t) for t in args.targets.split(",")):
                    policy, ues = SimulateConfig(
                        scenario=scenario, policy=str(path), ues=args.ues, slots=args.slots,
                        seed=args.seed, target_bler=target).setup()
                    kpis = run(policy, ues, args.slots, args.seed).kpis
                    key = f"gain {gain:g}, {scenario}, target {target:g}"
                    figures[key] = {"throughput_mbps": round(kpis["throughput_mbps"], 2),
                                    "bler_percent": round(100 * kpis["bler"], 2)}
                    if not args.json:
                        print(f"{key}: {figures[key]['throughput_mbps']} Mbit/s, "
                              f"BLER {figures[key]['bler_percent']}%", flush=True)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
