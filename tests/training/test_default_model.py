"""The embedded default model: a distilled 3x32 student the xApp accepts, with its evidence."""

from __future__ import annotations

import json
from pathlib import Path

from xapp.model_card import read_model_card
from xapp.model_check import Limits, check_model
from xapp.settings import EMBEDDED_DEFAULT_MODEL

CARD_JSON = EMBEDDED_DEFAULT_MODEL.with_suffix(".card.json")


def test_default_model_is_a_distilled_3x32_student_the_service_admits() -> None:
    data = Path(EMBEDDED_DEFAULT_MODEL).read_bytes()
    check_model(data, Limits(latency_budget_us=None), origin="test")
    card = read_model_card(data)
    assert card.model_id == "student-3x32" and card.kind == "student"
    # 44 inputs (feature schema 2) x 32 + 32 + 2 x (32 x 32 + 32) + 32 x 29 + 29
    assert card.parameter_count == 4509 and card.extra["size_kbit"] < 1000
    assert card.target_bler_range == (0.01, 0.3)
    assert card.training is not None and card.training["mode"] == "single"
    assert card.training["command"].startswith("linkadapt distill ")
    assert card.evaluation is not None and card.evaluation["scenarios"]


def test_default_card_json_mirrors_the_embedded_card() -> None:
    card = read_model_card(Path(EMBEDDED_DEFAULT_MODEL).read_bytes()).to_dict()
    assert json.loads(CARD_JSON.read_text()) == card
