import json

import onnx
import pytest
from conftest import card, mlp_bytes

from xapp.model_card import METADATA_KEY, ModelCardError, read_model_card, write_model_card


def test_card_round_trips_through_onnx_metadata() -> None:
    model = onnx.load_model_from_string(mlp_bytes("student-3x32", "2.1"))
    parsed = read_model_card(model)
    assert (parsed.model_id, parsed.version, parsed.kind) == ("student-3x32", "2.1", "test")
    write_model_card(model, card("other", "3", training={"epochs": 4}))
    again = read_model_card(model.SerializeToString())
    assert again.key == "other@3" and again.training == {"epochs": 4}
    assert [p.key for p in model.metadata_props].count(METADATA_KEY) == 1


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"feature_schema_version": 2}, "feature_schema_version is 2"),
    ({"num_actions": 28}, "num_actions is 28"),
    ({"model_id": "../evil"}, "model_id"),
    ({"parameter_count": True}, "parameter_count must be of type int"),
    ({"created": "yesterday"}, "ISO 8601"),
])
def test_bad_cards_are_refused_with_the_key(overrides: dict, reason: str) -> None:
    with pytest.raises(ModelCardError, match=reason):
        read_model_card(mlp_bytes(card_overrides=overrides))


def test_missing_card_and_key() -> None:
    with pytest.raises(ModelCardError, match="no card"):
        read_model_card(mlp_bytes(with_card=False))
    raw = card()
    del raw["kind"]
    model = onnx.load_model_from_string(mlp_bytes(with_card=False))
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(raw)})
    with pytest.raises(ModelCardError, match="missing required key 'kind'"):
        read_model_card(model)
