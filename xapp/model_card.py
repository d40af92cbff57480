"""The served model format and its model card: the one place that defines and parses them.

A linkadapt policy model is an ONNX model with

* one input named ``observation``: float32, shape ``[batch, NUM_FEATURES]`` (44 for
  feature schema version 2; the batch dimension is dynamic), built by
  :func:`xapp.features.observe`;
* one output named ``q_values``: float32, shape ``[batch, NUM_ACTIONS]`` (29): one
  score per MCS index 0..28. The decision is the argmax over the actions valid for
  the report's MCS table (:func:`xapp.nr_tables.valid_action_mask`);
* a model card: a JSON object stored in the ONNX ``metadata_props`` under the key
  ``linkadapt.model_card``.

Model card keys (required unless marked optional):

======================  =======  ===================================================
key                     type     meaning
======================  =======  ===================================================
model_id                str      family name, e.g. ``student-3x32`` (``[A-Za-z0-9._-]``,
                                 starting with a letter or digit, at most 64 chars)
version                 str      version within the family (same character rules)
feature_schema_version  int      must equal :data:`xapp.features.FEATURE_SCHEMA_VERSION`
num_features            int      must equal :data:`xapp.features.NUM_FEATURES`
num_actions             int      must equal :data:`xapp.nr_tables.NUM_ACTIONS`
action_map              str      ``"mcs_index"``: action i is MCS index i
kind                    str      ``"teacher"``, ``"student"``, ``"test"``, ...
parameter_count         int      trainable parameters, >= 0
created                 str      ISO 8601 timestamp
target_bler_range       list     ``[low, high]``: the BLER targets the model was trained
                                 for, 0 < low <= high < 1 (required from feature
                                 schema version 2); reports outside it are refused
training                dict     optional: training provenance
evaluation              dict     optional: evaluation results
git_revision            str      optional: revision of the code that produced it
======================  =======  ===================================================

The offline exporter writes the card with :func:`write_model_card`; the registry
reads it with :func:`read_model_card`. Unknown extra keys are kept, not refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import onnx
from google.protobuf.message import DecodeError

from xapp import features, nr_tables
from xapp.report_fields import float32

INPUT_NAME: Final = "observation"
OUTPUT_NAME: Final = "q_values"
METADATA_KEY: Final = "linkadapt.model_card"
ACTION_MAP: Final = "mcs_index"

_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE: Final = "1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
"""What ``model_id`` and ``version`` may hold (they name the model's directory in the store)."""
_REQUIRED: Final[dict[str, type]] = {
    "model_id": str,
    "version": str,
    "feature_schema_version": int,
    "num_features": int,
    "num_actions": int,
    "action_map": str,
    "kind": str,
    "parameter_count": int,
    "created": str,
}
_OPTIONAL: Final[dict[str, type]] = {"training": dict, "evaluation": dict, "git_revision": str}


_RANGE_KEY: Final = "target_bler_range"


class ModelCardError(ValueError):
    """The model card is missing, malformed, or does not match this service."""


@dataclass(frozen=True, slots=True)
class ModelCard:
    """A parsed, checked model card (see the module docstring for the keys)."""

    model_id: str
    version: str
    feature_schema_version: int
    num_features: int
    num_actions: int
    action_map: str
    kind: str
    parameter_count: int
    created: str
    target_bler_range: tuple[float, float]
    training: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    git_revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Registry key of the model: ``model_id@version``."""
        return f"{self.model_id}@{self.version}"

    @property
    def target_bounds(self) -> tuple[float, float]:
        """:attr:`target_bler_range` as float32 values, the bounds a sent target is held to.

        A target arrives as a float32 (proto ``float``, ``ReportColumns``); with the
        bounds rounded the same way, a target sent as the range's very end is in it.
        """
        low, high = self.target_bler_range
        return float32(low), float32(high)

    def serves_target(self, target: float) -> bool:
        """Whether the BLER target ``target`` (rounded to float32) lies in the trained range."""
        low, high = self.target_bounds
        return low <= float32(target) <= high

    def describe_range(self) -> str:
        """The trained range for people: ``0.01..0.3``."""
        low, high = self.target_bler_range
        return f"{low:g}..{high:g}"

    def to_dict(self) -> dict[str, Any]:
        """Return the card as a JSON-ready dict (optional keys only when set)."""
        out: dict[str, Any] = dict(self.extra)
        for name in (*_REQUIRED, *_OPTIONAL):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out[_RANGE_KEY] = list(self.target_bler_range)
        return out


def parse_model_card(raw: Mapping[str, Any]) -> ModelCard:
    """Check a card given as a mapping and return it as a :class:`ModelCard`.

    Raises:
        ModelCardError: naming the first missing or wrong key.

    """
    if not isinstance(raw, Mapping):
        raise ModelCardError("model card must be a JSON object")
    values: dict[str, Any] = {}
    for name, kind in _REQUIRED.items():
        if name not in raw:
            raise ModelCardError(f"model card: missing required key {name!r}")
        values[name] = _typed(raw[name], name, kind)
    for name, kind in _OPTIONAL.items():
        if raw.get(name) is not None:
            values[name] = _typed(raw[name], name, kind)
    for name in ("model_id", "version"):
        if not is_valid_name(values[name]):
            raise ModelCardError(
                f"model card: {name} {values[name]!r} must match {_NAME_PATTERN.pattern}"
            )
    _expect(values, "feature_schema_version", features.FEATURE_SCHEMA_VERSION)
    _expect(values, "num_features", features.NUM_FEATURES)
    _expect(values, "num_actions", nr_tables.NUM_ACTIONS)
    _expect(values, "action_map", ACTION_MAP)
    if values["parameter_count"] < 0:
        raise ModelCardError("model card: parameter_count must be >= 0")
    try:
        datetime.fromisoformat(values["created"])
    except ValueError:
        raise ModelCardError(
            f"model card: created {values['created']!r} is not an ISO 8601 timestamp"
        ) from None
    values[_RANGE_KEY] = _target_range(raw)
    extra = {k: v for k, v in raw.items()
             if k not in _REQUIRED and k not in _OPTIONAL and k != _RANGE_KEY}
    return ModelCard(**values, extra=extra)


def _target_range(raw: Mapping[str, Any]) -> tuple[float, float]:
    """The card's ``target_bler_range``: two numbers, 0 < low <= high < 1."""
    if _RANGE_KEY not in raw:
        raise ModelCardError(
            f"model card: missing required key {_RANGE_KEY!r} (the BLER targets the model "
            f"was trained for, [low, high]; required from feature schema version 2)")
    value = raw[_RANGE_KEY]
    numbers = (isinstance(value, list | tuple) and len(value) == 2
               and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))
    if not numbers or not 0 < value[0] <= value[1] < 1:  # NaN fails the comparison
        raise ModelCardError(
            f"model card: {_RANGE_KEY} must be [low, high] with 0 < low <= high < 1, "
            f"got {value!r}")
    return float(value[0]), float(value[1])


def _typed(value: Any, name: str, kind: type) -> Any:
    # bool is an int in Python; a card saying "num_actions": true is wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ModelCardError(
            f"model card: {name} must be of type {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _expect(values: Mapping[str, Any], name: str, expected: object) -> None:
    if values[name] != expected:
        raise ModelCardError(
            f"model card: {name} is {values[name]!r}, this service needs {expected!r}"
        )


def write_model_card(model: onnx.ModelProto, card: ModelCard | Mapping[str, Any]) -> None:
    """Store ``card`` (checked first) in ``model.metadata_props``, replacing any old card.

    Raises:
        ModelCardError: when the card is not valid.

    """
    parsed = card if isinstance(card, ModelCard) else parse_model_card(card)
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(parsed.to_dict(), sort_keys=True)


def load_model(data: bytes) -> onnx.ModelProto:
    """Parse serialized ONNX bytes.

    Raises:
        ModelCardError: when the bytes are not an ONNX model.

    """
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelCardError(f"not an ONNX model: {exc}") from None
    if not model.graph.node and not model.graph.output:
        raise ModelCardError("not an ONNX model: no graph")
    return model


def read_model_card(model: bytes | onnx.ModelProto) -> ModelCard:
    """Read and check the card of an ONNX model given as bytes or as a ``ModelProto``.

    Raises:
        ModelCardError: when the model has no card or the card is not valid.

    """
    proto = load_model(model) if isinstance(model, bytes | bytearray) else model
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            try:
                raw = json.loads(entry.value)
            except json.JSONDecodeError as exc:
                raise ModelCardError(f"model card is not valid JSON: {exc}") from None
            return parse_model_card(raw)
    raise ModelCardError(f"model has no card (metadata_props key {METADATA_KEY!r})")


def is_valid_name(value: str) -> bool:
    """Whether ``value`` may be a card's ``model_id`` or ``version`` (:data:`NAME_RULE`)."""
    return _NAME_PATTERN.fullmatch(value) is not None
