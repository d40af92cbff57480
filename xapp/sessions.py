"""The one way this project opens an ONNX Runtime session: CPU, the serving options.

The service, the admission checks, the simulator, training's evaluation and
export parity checks and the benchmarks all run models through
:func:`open_session`, so a model is timed and checked under the options it is
served with.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

_PROVIDERS = ["CPUExecutionProvider"]


def session_options() -> ort.SessionOptions:
    """ORT options for serving: one thread, sequential, no spinning.

    Spinning threads wreck the tail latency when client and server share two
    cores; one intra-op thread is the fastest for models this small.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def open_session(model: bytes | Path) -> ort.InferenceSession:
    """Open a CPU session with :func:`session_options` on serialized ONNX bytes or a file.

    Raises whatever ONNX Runtime raises for a model it cannot load.
    """
    data = model.read_bytes() if isinstance(model, Path) else model
    return ort.InferenceSession(data, sess_options=session_options(), providers=_PROVIDERS)
