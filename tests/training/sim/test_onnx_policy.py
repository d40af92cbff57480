"""ONNX policies: a model that is not a linkadapt policy is refused at load, by every command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from synthetic import random_mlp

from linkadapt.cli import main
from training.sim.policies import OnnxPolicy
from xapp import features


def _matmul_model(path: Path, *, dtype: int = TensorProto.FLOAT,
                  inputs: int = features.NUM_FEATURES, outputs: int = 29, bias: float = 0.0,
                  input_name: str = "observation") -> Path:
    """``input @ zeros + bias``: the smallest graph with a chosen signature."""
    np_dtype = np.float32 if dtype == TensorProto.FLOAT else np.float64
    inits = [numpy_helper.from_array(np.zeros((inputs, outputs), np_dtype), "w"),
             numpy_helper.from_array(np.full(outputs, bias, np_dtype), "b")]
    nodes = [helper.make_node("MatMul", [input_name, "w"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["q_values"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(input_name, dtype, ["batch", inputs])],
        [helper.make_tensor_value_info("q_values", dtype, ["batch", outputs])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path.write_bytes(model.SerializeToString())
    return path


BAD_MODELS = {
    "float64": ({"dtype": TensorProto.DOUBLE}, "input 'observation' must be float32"),
    "ten_inputs": ({"inputs": 10}, "input 'observation' must have shape [batch, 44]"),
    "44_outputs": ({"outputs": 44}, "output 'q_values' must have shape [batch, 29]"),
    "renamed_input": ({"input_name": "x"}, "exactly one input named 'observation'"),
    "nan_scores": ({"bias": float("nan")}, "non-finite outputs (NaN or inf)"),
}


@pytest.fixture(params=list(BAD_MODELS))
def bad_model(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    kwargs, message = BAD_MODELS[request.param]
    return _matmul_model(tmp_path / f"{request.param}.onnx", **kwargs), message


def test_onnx_policy_refuses_a_model_that_is_not_a_policy(bad_model: tuple[Path, str]) -> None:
    path, message = bad_model
    with pytest.raises(ValueError) as info:
        OnnxPolicy(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_onnx_policy_loads_a_policy_without_a_card(tmp_path: Path) -> None:
    policy = OnnxPolicy(_matmul_model(tmp_path / "zeros.onnx", bias=1.0))
    assert policy.name == "zeros.onnx"
    with_card = tmp_path / "mlp.onnx"
    with_card.write_bytes(random_mlp("m", "1"))
    assert OnnxPolicy(with_card).name == "mlp.onnx"


def test_simulate_refuses_it_before_running(bad_model: tuple[Path, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path, message = bad_model
    assert main(["simulate", "--policy", str(path), "--ues", "2", "--slots", "5",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("linkadapt simulate: error:") and message in err
    assert "Traceback" not in err


def test_emulate_compare_refuses_it_before_connecting(bad_model: tuple[Path, str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, message = bad_model
    # port 1: nobody listens; the model check must come first
    assert main(["emulate", "--target", "127.0.0.1:1", "--connect-timeout-s", "0.2",
                 "--compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "cannot reach" not in err


def test_evaluate_refuses_nan_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _matmul_model(tmp_path / "nan.onnx", bias=float("nan"))
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(path), "--ues", "2", "--slots", "5",
                 "--scenarios", "mimo", "--out", str(out)]) == 2
    assert "non-finite outputs" in capsys.readouterr().err
    assert not out.exists()
