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

from xapp.model_card import ModelCardError, load_model, read_model_card, write_model_card


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


def read_evaluation(path: Path) -> dict[str, Any]:
    """Read and check an evaluation result (``evaluation.json`` of ``linkadapt evaluate``).

    Raises:
        CardError: the file cannot be read or lacks what the card needs, naming the field.

    """
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"cannot read the evaluation {str(path)!r}: {exc}") from None
    _check_evaluation(result, f"evaluation {str(path)!r}")
    return result


def _check_evaluation(result: Any, where: str) -> None:
    if not isinstance(result, dict):
        raise CardError(f"{where}: not a 'linkadapt evaluate' result (a JSON object)")
    for key in ("summary", "scenarios", "config"):
        if not isinstance(result.get(key), dict):
            raise CardError(f"{where}: {key} must be an object, is "
                            f"{'missing' if key not in result else repr(result[key])}")
    reference = result["summary"].get("reference")
    if not isinstance(reference, str):
        raise CardError(f"{where}: summary.reference must be a model name, is {reference!r}")
    for key in ("ues", "slots", "seed"):
        if not _is_number(result["config"].get(key)):
            raise CardError(f"{where}: config.{key} must be a number, is "
                            f"{result['config'].get(key)!r}")
    for scenario, rows in result["scenarios"].items():
        if not isinstance(rows, dict) or reference not in rows:
            raise CardError(f"{where}: scenario {scenario!r} has no row of the reference "
                            f"{reference!r}")
        for name, row in rows.items():
            for kpi in ("throughput_mbps", "bler", "reward"):
                value = row.get(kpi) if isinstance(row, dict) else None
                if not _is_number(value):
                    raise CardError(f"{where}: scenarios.{scenario}.{name}.{kpi} must be a "
                                    f"number, is {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def with_evaluation(model: Path, result: Mapping[str, Any], evaluation: Path,
                    commands: Sequence[str] = ()) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The model at ``model`` with the figures of the checked ``result`` in its card.

    Nothing is written: the caller writes the model (and its card) once every model
    it attaches to has been prepared.

    Raises:
        CardError: the model cannot be read, has no valid card, is not in the evaluation,
            or the new card is invalid.

    """
    try:
        proto = load_model(Path(model).read_bytes())
        card = read_model_card(proto).to_dict()
    except OSError as exc:
        raise CardError(f"cannot read {str(model)!r}: {exc.strerror or exc}") from None
    except ModelCardError as exc:
        raise CardError(f"{str(model)!r}: {exc}") from None
    name = f"{card['model_id']}:{card['version']}"
    try:
        figures = evaluation_figures(result, name)
    except CardError as exc:
        raise CardError(f"{str(model)!r}: {exc}") from None
    figures["report"] = str(Path(evaluation).parent)
    card["evaluation"] = {**(card.get("evaluation") or {}), **figures}
    if commands:
        card.setdefault("training", {})["regenerate"] = list(commands)
    try:
        write_model_card(proto, card)
    except ModelCardError as exc:
        raise CardError(f"{str(model)!r}: the card with the evaluation is invalid: {exc}") \
            from None
    return proto, card
