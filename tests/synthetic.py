"""Random-weight MLPs in the served model format, for load tests, benchmarks and checks.

They have the shape of a real policy (``observation`` [batch, 44] ->
``q_values`` [batch, 29]) and a valid model card, so the service admits and
serves them exactly like a trained student; their decisions mean nothing. Also, for the
tests of ``scripts/``: a small teacher-labelled distillation dataset
(:func:`teacher_dataset`) and a script loaded as a module (:func:`load_script`).
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from xapp import features, nr_tables
from xapp.model_card import INPUT_NAME, OUTPUT_NAME, write_model_card

_CREATED = "2025-01-01T00:00:00+00:00"


def random_mlp(model_id: str, version: str = "1", *, hidden: tuple[int, ...] = (32, 32),
               seed: int = 0, kind: str = "synthetic") -> bytes:
    """Serialized ONNX MLP (MatMul, Add, Relu; He-scaled random weights) with a model card."""
    rng = np.random.default_rng(seed)
    widths = (features.NUM_FEATURES, *hidden, nr_tables.NUM_ACTIONS)
    nodes, inits, x = [], [], INPUT_NAME
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        last = i == len(widths) - 2
        weights = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        inits += [numpy_helper.from_array(weights, f"w{i}"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
        out = OUTPUT_NAME if last else f"a{i}"
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [out if last else f"z{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [out]))
        x = out
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                       ["batch", features.NUM_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       ["batch", nr_tables.NUM_ACTIONS])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    write_model_card(model, {
        "model_id": model_id, "version": version, "kind": kind,
        "feature_schema_version": features.FEATURE_SCHEMA_VERSION,
        "num_features": features.NUM_FEATURES, "num_actions": nr_tables.NUM_ACTIONS,
        "action_map": "mcs_index", "created": _CREATED, "target_bler_range": [0.01, 0.3],
        "parameter_count": sum(int(np.prod(t.dims)) for t in inits)})
    return model.SerializeToString()


def teacher_dataset(out: Path, teacher_path: Path, *, envs: int, slots: int,
                    seed: int) -> Path:
    """A small distillation dataset at ``out``, labelled by the teacher at ``teacher_path``.

    Its states are those a fixed MCS visits in ``envs`` random-scenario simulations
    over ``slots`` slots (tests of the probes that train on a dataset).
    """
    import torch

    from training.distill import dataset as ds
    from training.distill.teachers import load_teacher
    from training.sim.env import LinkAdaptationVectorEnv

    teacher = load_teacher(teacher_path)
    env = LinkAdaptationVectorEnv(num_envs=envs, scenario="random")
    obs, _ = env.reset(seed=seed)
    states = []
    for _ in range(slots):
        states.append(obs)
        obs, *_ = env.step(np.full(envs, 9))
    all_obs = np.concatenate(states).astype(np.float32)
    with torch.no_grad():
        q = teacher.net(torch.from_numpy(all_obs)).numpy()
    ds.write_dataset(out, ds.TeacherSamples(all_obs, q), teacher_id=teacher.teacher_id,
                     teacher_sha256=teacher.sha256)
    return out


def load_script(name: str) -> ModuleType:
    """``scripts/NAME.py`` loaded as a module (``scripts/`` is not a package)."""
    path = Path(__file__).parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
