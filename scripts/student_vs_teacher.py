"""Each model's throughput change against the first model, per BLER target and scenario.

Reads an ``evaluation.json`` of ``linkadapt evaluate --target-bler ...`` (the first
``--model`` is the reference) and prints one markdown table per target::

    python scripts/student_vs_teacher.py reports/distillation/evaluation.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def tables(result: dict) -> str:
    """The markdown tables: throughput change % / BLER % per model and scenario."""
    out = []
    for target, summary in result["targets"].items():
        models = summary["models"]
        reference, *others = models
        scenarios = list(models[reference]["scenarios"])
        out.append(f"At {float(target):.0%} (throughput change vs {reference} % / BLER %):\n")
        out.append("| model | " + " | ".join(scenarios) + " | worst |")
        out.append("|---" * (len(scenarios) + 2) + "|")
        for name in others:
            cells, worst = [], 0.0
            for sc in scenarios:
                ref = models[reference]["scenarios"][sc]["throughput_mbps"]
                row = models[name]["scenarios"][sc]
                change = 100.0 * (row["throughput_mbps"] / ref - 1.0)
                worst = min(worst, change)
                cells.append(f"{change:+.2f} / {100 * row['bler']:.1f}")
            out.append(f"| {name} | " + " | ".join(cells) + f" | {worst:+.2f} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the tables of the given evaluation.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", type=Path, help="evaluation.json with per-target summaries")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.evaluation.read_text())
        print(tables(result))
    except (OSError, ValueError, KeyError) as exc:
        print(f"student_vs_teacher: error: {args.evaluation}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
