import json

import numpy as np
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
    ({"feature_schema_version": 1}, "feature_schema_version is 1, this service needs 2"),
    ({"feature_schema_version": 3}, "feature_schema_version is 3"),
    ({"target_bler_range": [0.0, 0.3]}, r"target_bler_range must be \[low, high\]"),
    ({"target_bler_range": [0.2, 0.1]}, "target_bler_range must be"),
    ({"target_bler_range": [0.01, 1.0]}, "target_bler_range must be"),
    ({"target_bler_range": [0.01]}, "target_bler_range must be"),
    ({"target_bler_range": [0.01, "0.3"]}, "target_bler_range must be"),
    ({"target_bler_range": [True, 0.3]}, "target_bler_range must be"),
    ({"target_bler_range": 0.1}, "target_bler_range must be"),
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


def test_the_trained_target_range_is_required_and_round_trips() -> None:
    raw = card()
    del raw["target_bler_range"]
    model = onnx.load_model_from_string(mlp_bytes(with_card=False))
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(raw)})
    with pytest.raises(ModelCardError, match="missing required key 'target_bler_range'"):
        read_model_card(model)
    parsed = read_model_card(mlp_bytes(card_overrides={"target_bler_range": [0.02, 0.2]}))
    assert parsed.target_bler_range == (0.02, 0.2)
    assert parsed.to_dict()["target_bler_range"] == [0.02, 0.2]
    assert parsed.describe_range() == "0.02..0.2"


def test_a_target_at_the_end_of_the_range_is_served_as_a_float32() -> None:
    parsed = read_model_card(mlp_bytes(card_overrides={"target_bler_range": [0.01, 0.3]}))
    # 0.3 and 0.01 as the wire carries them (float32) are in; a float32 step beyond is not.
    assert parsed.serves_target(0.3) and parsed.serves_target(0.01)
    assert parsed.serves_target(float(np.float32(0.3))) and parsed.serves_target(0.1)
    assert not parsed.serves_target(float(np.nextafter(np.float32(0.3), np.float32(1))))
    assert not parsed.serves_target(float(np.nextafter(np.float32(0.01), np.float32(0))))
    assert not parsed.serves_target(0.5)
