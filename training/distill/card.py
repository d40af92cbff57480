"""Model cards of students: attach the figures of a ``linkadapt evaluate`` run.

The card's ``evaluation`` gets, per scenario, the student's throughput and BLER
and their change relative to the evaluation's reference (the teacher), plus the
worst case over scenarios, so the file carries the evidence for its own use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx

from training.export import _write_atomically
from xapp.model_card import read_model_card, write_model_card


class CardError(ValueError):
    """The evaluation cannot be attached; the message says why."""


def evaluation_figures(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The figures of model ``name`` in an evaluation result (``evaluation.json``)."""
    reference = result["summary"]["reference"]
    scenarios: dict[str, Any] = {}
    for scenario, rows in result["scenarios"].items():
        if name not in rows:
            raise CardError(f"model {name!r} is not in the evaluation (scenario {scenario!r} "
                            f"has {', '.join(rows)})")
        row, ref = rows[name], rows[reference]
        scenarios[scenario] = {
            "throughput_mbps": row["throughput_mbps"], "bler": row["bler"],
            "reward": row["reward"],
            "throughput_change_pct": _change(row["throughput_mbps"], ref["throughput_mbps"]),
            "bler_change_pct": _change(row["bler"], ref["bler"]),
        }
    thp = [s["throughput_change_pct"] for s in scenarios.values()]
    bler = [abs(s["bler_change_pct"]) for s in scenarios.values()]
    cfg = result["config"]
    return {"reference": reference, "ues": cfg["ues"], "slots": cfg["slots"],
            "seed": cfg["seed"], "scenarios": scenarios,
            "worst_throughput_change_pct": min(thp) if thp else None,
            "max_abs_bler_change_pct": max(bler) if bler else None}


def _change(value: float, reference: float) -> float:
    return 100.0 * (value / reference - 1.0) if reference > 0 else 0.0


def attach_evaluation(model: Path, evaluation: Path, extra: Mapping[str, Any] | None = None,
                      commands: Sequence[str] = ()) -> dict[str, Any]:
    """Store the evaluation figures of ``model`` in its card; return the new card."""
    try:
        result = json.loads(Path(evaluation).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CardError(f"cannot read the evaluation {str(evaluation)!r}: {exc}") from None
    proto = onnx.load_model(str(model))
    card = read_model_card(proto).to_dict()
    name = f"{card['model_id']}:{card['version']}"
    figures = evaluation_figures(result, name)
    figures["report"] = str(Path(evaluation).parent)
    card["evaluation"] = {**(card.get("evaluation") or {}), **figures, **(extra or {})}
    if commands:
        card.setdefault("training", {})["regenerate"] = list(commands)
    write_model_card(proto, card)
    _write_atomically(Path(model), proto.SerializeToString())
    return card
