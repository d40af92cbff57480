"""Every ONNX Runtime session of the project has the serving options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from synthetic import random_mlp

from xapp.features import NUM_FEATURES
from xapp.model_card import INPUT_NAME, OUTPUT_NAME
from xapp.sessions import open_session


def test_sessions_run_on_one_thread_sequentially_without_spinning(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(random_mlp("m"))
    for session in (open_session(path), open_session(path.read_bytes())):
        options = session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
        assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert session.get_providers() == ["CPUExecutionProvider"]
        q = session.run([OUTPUT_NAME], {INPUT_NAME: np.zeros((2, NUM_FEATURES), np.float32)})[0]
        assert q.shape == (2, 29)
