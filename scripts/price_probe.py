"""What the label teacher's error price does at low targets, judged at no higher BLER.

A probe, not a training run: a label teacher's heads are kept (the committed one's
unless ``--teacher`` names another); each variant only scales its calibrated price
at some targets and may set another window-feedback gain
(``training.label_teacher.network.FEEDBACK_GAIN``). Every variant is exported, run
by ``linkadapt evaluate --no-baselines`` on the evaluation seed, and judged against
the frontier of the baselines stored in an evaluation report of the same seed, UEs
and slots (the baselines do not read the target, so their runs are the same).
Prints one line per variant and target: the mean gain at no higher BLER, and each
scenario's gain / BLER, with ``!`` where the BLER is above 1.2 x the target.

    python scripts/price_probe.py --variant gain=3 --variant 0.02=x3,0.05=x20 \
        --target-bler 0.02,0.05
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TEACHER = Path("training/models/teacher-labels-long.onnx")
REPORT = Path("reports/teacher-labels-long/evaluation.json")


def parse_variant(spec: str) -> tuple[float, dict[float, float]]:
    """``gain=G,T=xS,...`` -> (feedback gain, {target: price scale}); ValueError naming it."""
    gain, scales = 3.0, {}
    for part in filter(None, spec.split(",")):
        key, _, value = part.partition("=")
        try:
            if key == "gain":
                gain = float(value)
            else:
                scales[float(key)] = float(value.removeprefix("x"))
        except ValueError:
            raise ValueError(f"--variant {spec!r}: {part!r} is neither gain=G nor T=xS") from None
    return gain, scales


def export_variant(name: str, spec: str, out: Path, teacher: Path = TEACHER) -> Path:
    """``teacher`` with ``spec``'s prices and gain, as ``out/name.onnx``."""
    import training.label_teacher.network as network
    from training.distill.teachers import load_teacher
    from training.export import export_onnx
    from training.label_teacher.calibrate import CALIBRATION_TARGETS

    gain, scales = parse_variant(spec)
    net = copy.deepcopy(load_teacher(teacher).net)
    unknown = sorted(set(scales) - set(CALIBRATION_TARGETS))
    if unknown:
        raise ValueError(f"--variant {spec!r}: {unknown} are not calibration targets "
                         f"{list(CALIBRATION_TARGETS)}")
    prices = [p * scales.get(t, 1.0) for t, p in
              zip(CALIBRATION_TARGETS, net.prices(CALIBRATION_TARGETS), strict=True)]
    net.set_prices(CALIBRATION_TARGETS, prices)
    network.FEEDBACK_GAIN = gain  # read when the graph is traced
    return export_onnx(net, out / f"{name}.onnx", {"model_id": "price-probe", "version": name,
                                                  "kind": "teacher"}, latency_budget_us=None)


def judge(result: dict, stored: dict) -> list[str]:
    """One line per (variant, target): gains at no higher BLER over the stored frontier.

    The gain is :func:`training.evaluation_summary.policy_against_frontier`'s, the
    BLER check the evaluation's own (``bler_within_limit``, 1.2 x the target).
    """
    from training.evaluation_summary import policy_against_frontier
    from training.frontier import Point

    hulls = {scenario: [Point(p["bler"], p["throughput_mbps"], p["spec"]) for p in f["hull"]]
             for scenario, f in stored["frontiers"].items()}
    lines = []
    for target, block in result["targets"].items():
        for name, model in block["models"].items():
            cells, gains = [], []
            for scenario, row in model["scenarios"].items():
                g = policy_against_frontier(row, hulls[scenario], {})["gain_pct"]
                if g is not None:
                    gains.append(g)
                over = "" if row["bler_within_limit"] else "!"
                shown = "n/a" if g is None else f"{g:+.1f}"
                cells.append(f"{scenario} {shown}/{100 * row['bler']:.2f}{over}")
            mean = f"{sum(gains) / len(gains):+.2f}" if gains else "n/a"
            lines.append(f"target {float(target):g}, {name.split(':')[-1]}: mean {mean} | "
                         + " | ".join(cells))
    return lines


def main() -> int:
    """Export every variant, run it, print its gains."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True,
                        help="gain=G and/or T=xS (scale the price at calibration target T)")
    parser.add_argument("--target-bler", default="0.02,0.05")
    parser.add_argument("--teacher", type=Path, default=TEACHER, help="label teacher ONNX")
    parser.add_argument("--report", type=Path, default=REPORT,
                        help="evaluation.json whose frontier judges (same seed, UEs, slots)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    stored = json.loads(args.report.read_text())
    run = stored["config"]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            paths = [export_variant(f"v{i}", spec, Path(tmp), args.teacher)
                     for i, spec in enumerate(args.variant)]
        except ValueError as exc:
            print(f"price_probe: error: {exc}", file=sys.stderr)
            return 2
        command = [sys.executable, "-m", "linkadapt", "evaluate", "--no-baselines", "--json",
                   "--target-bler", args.target_bler, "--workers", str(args.workers),
                   "--ues", str(run["ues"]), "--slots", str(run["slots"]),
                   "--seed", str(run["seed"]), "--out", str(Path(tmp) / "report")]
        for path in paths:
            command += ["--model", str(path)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True,
                                           text=True).stdout)
    for i, spec in enumerate(args.variant):
        print(f"v{i}: {spec}")
    print("\n".join(judge(result, stored)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
