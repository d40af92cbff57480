"""Fixtures of the xapp tests: small ONNX models built with onnx.helper, and reports.

The models here are test fixtures (random or hand-set weights), not trained
artifacts; they never go to xapp/models/.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from xapp import features, nr_tables
from xapp.model_card import write_model_card

OPSET = 17


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(1234)
    np.random.seed(1234)  # noqa: NPY002 - seeds any legacy global-RNG use too


def card(model_id: str = "mlp", version: str = "1", **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_id": model_id,
        "version": version,
        "feature_schema_version": features.FEATURE_SCHEMA_VERSION,
        "num_features": features.NUM_FEATURES,
        "num_actions": nr_tables.NUM_ACTIONS,
        "action_map": "mcs_index",
        "kind": "test",
        "parameter_count": 0,
        "created": "2025-01-01T00:00:00+00:00",
        "target_bler_range": [0.01, 0.3],
    }
    out.update(overrides)
    return out


def _finish(graph: onnx.GraphProto, meta: dict[str, Any] | None, raw: bool = False) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    if meta is not None and raw:  # a card write_model_card would refuse
        helper.set_model_props(model, {"linkadapt.model_card": json.dumps(meta)})
    elif meta is not None:
        write_model_card(model, meta)
    return model.SerializeToString()


def mlp_bytes(
    model_id: str = "mlp",
    version: str = "1",
    *,
    hidden: tuple[int, ...] = (32, 32),
    seed: int = 0,
    in_width: int = features.NUM_FEATURES,
    out_width: int = nr_tables.NUM_ACTIONS,
    out_bias: np.ndarray | None = None,
    nan_weights: bool = False,
    padding_bytes: int = 0,
    card_overrides: dict[str, Any] | None = None,
    with_card: bool = True,
) -> bytes:
    """An MLP (MatMul, Add, Relu) with random weights; options make it bad on purpose."""
    rng = np.random.default_rng(seed)
    widths = (in_width, *hidden, out_width)
    nodes, inits = [], []
    x = "observation"
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        bias = np.zeros(b, np.float32)
        last = i == len(widths) - 2
        if last and out_bias is not None:
            w[:] = 0
            bias = out_bias.astype(np.float32)
        if last and nan_weights:
            bias[3] = np.nan
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]))
        out = "q_values" if last else f"a{i}"
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [out if last else f"z{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [out]))
        x = out
    if padding_bytes:
        inits.append(numpy_helper.from_array(np.zeros(padding_bytes // 4, np.float32), "pad"))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT, ["batch", in_width])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT, ["batch", out_width])],
        inits,
    )
    params = sum(int(np.prod(t.dims)) for t in inits)
    meta = {**card(model_id, version, parameter_count=params), **(card_overrides or {})}
    return _finish(graph, meta if with_card else None, raw=card_overrides is not None)


def slow_bytes(model_id: str = "slow", version: str = "1", layers: int = 200) -> bytes:
    """A valid model that is orders of magnitude over any sane budget (~30 ms).

    Its 1024x1024 weights are made at run time (ConstantOfShape), so the file is tiny.
    """
    def const(name: str, shape: list[int]) -> onnx.NodeProto:
        return helper.make_node(
            "ConstantOfShape", [f"{name}_shape"], [name],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1e-3]),
        )

    inits = [
        numpy_helper.from_array(np.array(s, np.int64), f"{n}_shape")
        for n, s in (("win", [features.NUM_FEATURES, 1024]), ("w", [1024, 1024]),
                     ("wout", [1024, nr_tables.NUM_ACTIONS]))
    ]
    nodes = [const("win", []), const("w", []), const("wout", [])]
    nodes.append(helper.make_node("MatMul", ["observation", "win"], ["h0"]))
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("MatMul", [f"h{layers}", "wout"], ["q_values"]))
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT,
                                       ["batch", features.NUM_FEATURES])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT,
                                       ["batch", nr_tables.NUM_ACTIONS])],
        inits,
    )
    return _finish(graph, card(model_id, version))


def report(**overrides: Any) -> dict[str, Any]:
    """One valid UE report as a JSON-style mapping (proto field names)."""
    out: dict[str, Any] = {
        "ue_id": 17,
        "mcs_table": "MCS_TABLE_QAM64",
        "wideband_cqi": 9,
        "cqi_age_slots": 4,
        "rank_indicator": 2,
        "harq": [{"ack": True, "mcs": 12, "age_slots": 2, "initial": True},
                 {"ack": False, "mcs": 14, "age_slots": 6, "initial": True}],
        "tb_initial_total": 30,
        "tb_initial_errors": 3,
        "last_mcs": 13,
        "ss_sinr_db": 12.5,
        "ss_rsrp_dbm": -85.0,
        "buffer_bytes": 120000,
        "allocated_prbs": 52,
        "num_tx_antennas": 4,
        "numerology": 1,
        "csi_period_slots": 20,
    }
    out.update(overrides)
    return out


@pytest.fixture
def make_mlp() -> Callable[..., bytes]:
    return mlp_bytes


@pytest.fixture
def store_dir(tmp_path: Any) -> Iterator[Any]:
    path = tmp_path / "store"
    yield path


TOKEN = "test-admin-token"


class Running:
    """A real service (gRPC + uvicorn) on loopback ports, in a background thread."""

    def __init__(self, settings: Any) -> None:
        import asyncio
        import threading

        from xapp.lifecycle import serve

        self.settings = settings
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: Any = None
        self.service: Any = None

        def on_started(service: Any, bound: Any) -> None:
            self.service, self.bound = service, bound
            self._started.set()

        async def main() -> None:
            self._stop = asyncio.Event()
            await serve(settings, self._stop, on_started, handle_signals=False)

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(main(),),
                                        daemon=True)
        self._thread.start()
        assert self._started.wait(30), "service did not start"
        self.http = f"http://127.0.0.1:{self.bound.http_port}"
        self.grpc = f"127.0.0.1:{self.bound.grpc_port}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive()


def make_settings(store: Any, **overrides: Any) -> Any:
    from xapp.settings import Settings

    values: dict[str, Any] = {
        "host": "127.0.0.1", "grpc_port": 0, "http_port": 0, "model_store": store,
        "default_model": None, "latency_budget_us": 5000.0, "admin_token": TOKEN,
        "log_level": "warning", "shutdown_grace_s": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def start_service(store_dir: Any) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**overrides: Any) -> Running:
        running = Running(make_settings(store_dir, **overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        if running._thread.is_alive():
            running.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


# Purpose-built bad uploads: name -> (bytes factory, part of the refusal reason).
BAD: dict[str, tuple[Callable[[], bytes], str]] = {
    "garbage": (lambda: b"\x08\x01garbage bytes, not a model" * 20, "not an ONNX model"),
    "truncated": (lambda: mlp_bytes()[: len(mlp_bytes()) // 2], "not an ONNX model"),
    "wrong input width": (lambda: mlp_bytes(in_width=43), "must have shape [batch, 44]"),
    "wrong output size": (lambda: mlp_bytes(out_width=28), "must have shape [batch, 29]"),
    "nan weights": (lambda: mlp_bytes(nan_weights=True), "non-finite outputs"),
    "too large": (lambda: mlp_bytes(padding_bytes=2 << 20), "limit is"),
    "too slow": (lambda: slow_bytes(), "too slow"),
    "no card": (lambda: mlp_bytes(with_card=False), "no card"),
    "wrong schema": (lambda: mlp_bytes(card_overrides={"feature_schema_version": 9}),
                     "feature_schema_version"),
}
