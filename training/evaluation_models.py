"""The learned policies of an evaluation: ONNX files checked and described from their cards."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluation_config import BASELINES, ModelSpec
from training.sim.policies import check_policy_model
from xapp import features
from xapp.model_card import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, ModelCardError, load_model
from xapp.model_card import read_model_card as _read_card


def model_spec(path: str | Path) -> ModelSpec:
    """Check that ``path`` is a usable policy model and describe it from its card.

    Raises:
        ValueError: unreadable file, not ONNX, an invalid card, the wrong signature, or
            non-finite scores (:func:`~training.sim.policies.check_policy_model`).

    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read ONNX model {str(path)!r}: {exc.strerror}") from None
    try:
        proto = load_model(data)
    except ModelCardError as exc:
        raise ValueError(f"{str(path)!r}: {exc}") from None
    metadata: dict[str, Any] = {"path": str(path)}
    name = path.stem
    if any(p.key == METADATA_KEY for p in proto.metadata_props):
        try:
            card = _read_card(proto)
        except ModelCardError as exc:
            raise ValueError(f"{str(path)!r}: {exc}") from None
        name = f"{card.model_id}:{card.version}"
        metadata.update(model_id=card.model_id, version=card.version, kind=card.kind,
                        parameter_count=card.parameter_count,
                        size_kbit=card.extra.get("size_kbit", card.parameter_count * 32 / 1000))
    check_policy_model(data, path)
    metadata["inference_us"] = inference_p50_us(data)
    return ModelSpec(name=name, path=str(path), metadata=metadata)


def inference_p50_us(data: bytes, batch: int = 1, runs: int = 300) -> float:
    """Median ONNX Runtime ``run`` time (us) of the model at ``batch``, with the serving options."""
    from xapp.sessions import open_session

    session = open_session(data)
    obs = {INPUT_NAME: np.zeros((batch, features.NUM_FEATURES), dtype=np.float32)}
    for _ in range(20):
        session.run([OUTPUT_NAME], obs)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        session.run([OUTPUT_NAME], obs)
        times[i] = time.perf_counter() - start
    return round(float(np.median(times)) * 1e6, 1)


def unique_names(specs: Sequence[ModelSpec]) -> tuple[ModelSpec, ...]:
    """Rename models whose names repeat (or clash with a baseline) to ``name#2``, ``name#3``."""
    taken = set(BASELINES)
    out = []
    for spec in specs:
        name, k = spec.name, 1
        while name in taken:
            k += 1
            name = f"{spec.name}#{k}"
        taken.add(name)
        out.append(ModelSpec(name=name, path=spec.path, metadata=spec.metadata))
    return tuple(out)
