"""scripts/student_vs_teacher.py: the README's student-vs-teacher figures from an evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "student_vs_teacher.py"


def _evaluation(tmp_path: Path) -> Path:
    def scenarios(thp: float) -> dict:
        return {"mimo": {"throughput_mbps": thp, "bler": 0.1},
                "scsu": {"throughput_mbps": 2 * thp, "bler": 0.02}}

    result = {"targets": {"0.1": {"models": {"teacher": {"scenarios": scenarios(100.0)},
                                             "student": {"scenarios": scenarios(99.0)}}},
                          "0.02": {"models": {"teacher": {"scenarios": scenarios(50.0)},
                                              "student": {"scenarios": scenarios(50.5)}}}}}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(result))
    return path


def test_changes_are_against_the_first_model_per_target(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), str(_evaluation(tmp_path))],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "At 10% (throughput change vs teacher" in done.stdout
    assert "| student | -1.00 / 10.0 | -1.00 / 2.0 | -1.00 |" in done.stdout
    assert "| student | +1.00 / 10.0 | +1.00 / 2.0 | +0.00 |" in done.stdout


def test_a_file_without_targets_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "e.json"
    bad.write_text("{}")
    done = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("student_vs_teacher: error:")
