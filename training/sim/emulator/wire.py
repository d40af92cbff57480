"""The wire: report batches encoded as ``DecisionRequest`` messages, answers decoded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.sim.emulator.errors import SlotFailure
from xapp import features
from xapp._proto.linkadapt.v1 import linkadapt_pb2 as pb
from xapp.columns import encode_columns
from xapp.features import ReportBatch
from xapp.proto_reports import protos_from_batch

_MODEL: Final = pb.DECISION_SOURCE_MODEL
_FALLBACK: Final = pb.DECISION_SOURCE_FALLBACK
SERVICE_FALLBACK: Final = "service-fallback"
"""Model key recorded for slots the service answered with its fallback rule only."""


def build_request(cell_id: int, slot: int, batch: ReportBatch, ue_ids: npt.NDArray[np.int64],
                  columnar: bool) -> Any:
    """The ``DecisionRequest`` of one cell-slot: columns (and columnar answer) or messages."""
    if columnar:
        return pb.DecisionRequest(
            schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=cell_id, slot=slot,
            columns=encode_columns(batch, ue_ids), columnar_response=True)
    return pb.DecisionRequest(
        schema_version=features.FEATURE_SCHEMA_VERSION, cell_id=cell_id, slot=slot,
        reports=protos_from_batch(batch, ue_ids.tolist()))


@dataclass(frozen=True)
class Answer:
    """The decoded answer of one request."""

    mcs: npt.NDArray[np.int64]
    from_model: npt.NDArray[np.bool_]
    model: str  # "ID@VERSION" of the model behind the MODEL rows, or SERVICE_FALLBACK


def parse_response(response: Any, request: Any, ue_ids: npt.NDArray[np.int64]) -> Answer:
    """Check a ``DecisionResponse`` against its request and decode it.

    Raises:
        SlotFailure: an error reply, or an answer for another slot or other UEs.

    """
    if response.HasField("error"):
        error = response.error
        raise SlotFailure(f"{error.code}: {error.message}", error.code)
    if response.slot != request.slot or response.cell_id != request.cell_id:
        raise SlotFailure(f"answer for cell {response.cell_id} slot {response.slot}, "
                          f"expected cell {request.cell_id} slot {request.slot}")
    n = ue_ids.size
    if response.HasField("columns"):
        columns = response.columns
        mcs = np.frombuffer(columns.mcs, np.uint8).astype(np.int64)
        source = np.frombuffer(columns.source, np.uint8)
        model_id, version = columns.model_id, columns.model_version
    else:
        decisions = response.decisions
        if [d.ue_id for d in decisions] != ue_ids.tolist():
            raise SlotFailure(f"slot {request.slot}: decisions do not match the UEs asked")
        mcs = np.array([d.mcs for d in decisions], dtype=np.int64)
        source = np.array([d.source for d in decisions], dtype=np.uint8)
        first = next((d for d in decisions if d.source == _MODEL), None)
        model_id, version = (first.model_id, first.model_version) if first else ("", "")
    if mcs.shape != (n,) or source.shape != (n,):
        raise SlotFailure(f"slot {request.slot}: {mcs.size} decisions for {n} UEs")
    from_model = source == _MODEL
    if not np.all(from_model | (source == _FALLBACK)):
        raise SlotFailure(f"slot {request.slot}: unknown decision source")
    model = f"{model_id}@{version}" if from_model.any() else SERVICE_FALLBACK
    return Answer(mcs, from_model, model)
