"""The ``linkadapt`` entry point itself: what every subcommand shares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `linkadapt ... | head -1`: the pipe's read end closes before the command writes.
    read_end, write_end = os.pipe()
    os.close(read_end)
    command = [sys.executable, "-m", "linkadapt.cli", "simulate", "--scenario", "mimo",
               "--ues", "4", "--slots", "20", "--json"]
    try:
        done = subprocess.run(command, cwd=REPO, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""
