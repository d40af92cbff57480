"""Student inference time in-process: ONNX Runtime, one thread, float and INT8, batch 1 and 1024.

Each model gets a session with one intra-op thread, sequential execution and no
spinning (the service's settings); ``run`` is timed in a tight loop after a warm-up.
Without ``--model`` it measures freshly initialized 3x32 students exported to a
temporary directory (the time does not depend on the weights) and their INT8
variants; with ``--model`` (repeatable) the given files, e.g. the embedded default.

    python benchmarks/student_inference.py [--model xapp/models/default.onnx] [--json]

``--json`` prints ``{"results": [{"model", "precision", "batch", "p50_us", "p99_us",
"mean_us", "runs"}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from xapp.features import NUM_FEATURES
from xapp.model_card import INPUT_NAME, OUTPUT_NAME
from xapp.sessions import open_session


def session(path: Path) -> ort.InferenceSession:
    """A session with the service's options (:func:`xapp.sessions.open_session`)."""
    return open_session(path)


def measure(path: Path, batch: int, runs: int) -> dict[str, float]:
    """p50/p99/mean of ``run`` in microseconds at ``batch``."""
    sess = session(path)
    rng = np.random.default_rng(0)
    feed = {INPUT_NAME: rng.normal(size=(batch, NUM_FEATURES)).astype(np.float32)}
    for _ in range(min(200, runs)):
        sess.run([OUTPUT_NAME], feed)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        sess.run([OUTPUT_NAME], feed)
        times[i] = time.perf_counter() - start
    us = times * 1e6
    return {"p50_us": round(float(np.percentile(us, 50)), 2),
            "p99_us": round(float(np.percentile(us, 99)), 2),
            "mean_us": round(float(us.mean()), 2), "runs": runs}


def fresh_students(directory: Path) -> list[Path]:
    """A 3x32 student exported to ONNX and its INT8 variant."""
    from training.distill.quantize import quantize_int8
    from training.export import export_onnx
    from training.networks import student_network

    net = student_network("3x32")
    path = export_onnx(net, directory / "student-3x32.onnx",
                       {"model_id": "student-3x32", "version": "bench", "kind": "student"},
                       latency_budget_us=None)
    return [path, quantize_int8(path, directory / "student-3x32-int8.onnx")]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", type=Path, default=[],
                        help="ONNX model (repeatable); its '-int8' variant beside it is "
                             "measured too when present")
    parser.add_argument("--runs", type=int, default=5000, help="timed runs per case")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linkadapt-bench-") as scratch:
        models = []
        for m in args.model:
            models.append(m)
            int8 = m.with_name(f"{m.stem}-int8.onnx")
            if int8.is_file():
                models.append(int8)
        if not models:
            models = fresh_students(Path(scratch))
        results = []
        for path in models:
            precision = "int8" if "int8" in path.stem else "float32"
            for batch in (1, 1024):
                runs = args.runs if batch == 1 else max(args.runs // 10, 200)
                results.append({"model": str(path.name), "precision": precision,
                                "batch": batch, **measure(path, batch, runs)})
    if args.json:
        print(json.dumps({"results": results}))
        return
    print(f"{'model':<28} {'precision':<9} {'batch':>5} {'p50 us':>9} {'p99 us':>9}")
    for r in results:
        print(f"{r['model']:<28} {r['precision']:<9} {r['batch']:>5} {r['p50_us']:>9.1f} "
              f"{r['p99_us']:>9.1f}")


if __name__ == "__main__":
    main()
