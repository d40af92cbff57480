"""Every benchmark script starts as the docs run it: ``python benchmarks/NAME.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (REPO / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_runs_from_the_repository_root(script: str) -> None:
    # A plain interpreter, as a reader runs it: sys.path[0] is benchmarks/, not the repo.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, f"benchmarks/{script}", "--help"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
