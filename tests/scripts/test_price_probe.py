"""scripts/price_probe.py: variant specs, and gains judged against a stored frontier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import load_script

SCRIPT = Path(__file__).parents[2] / "scripts" / "price_probe.py"
probe = load_script("price_probe")


def test_a_variant_names_its_gain_and_price_scales() -> None:
    assert probe.parse_variant("gain=12") == (12.0, {})
    assert probe.parse_variant("0.02=x3,0.05=x20") == (3.0, {0.02: 3.0, 0.05: 20.0})


@pytest.mark.parametrize("spec", ["gain=x", "0.02=three", "price"])
def test_a_bad_variant_is_one_clear_line(spec: str) -> None:
    with pytest.raises(ValueError, match=f"--variant '{spec}'"):
        probe.parse_variant(spec)
    done = subprocess.run([sys.executable, str(SCRIPT), "--variant", spec],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("price_probe: error: --variant")


def test_gains_are_at_no_higher_bler_over_the_stored_hull() -> None:
    hull = [{"spec": "fixed:0", "bler": 0.0, "throughput_mbps": 10.0},
            {"spec": "salad:0.02", "bler": 0.02, "throughput_mbps": 100.0}]
    stored = {"frontiers": {"mimo": {"hull": hull}}}
    v0 = {"mimo": {"throughput_mbps": 60.0, "bler": 0.01, "bler_within_limit": True}}
    v1 = {"mimo": {"throughput_mbps": 110.0, "bler": 0.03, "bler_within_limit": False}}
    result = {"targets": {"0.02": {"models": {"price-probe:v0": {"scenarios": v0},
                                              "price-probe:v1": {"scenarios": v1}}}}}
    # F(1%) = 55 on the chord, so 60 is +9.1%; at 3% F is flat at 100 and 3% > 1.2 x 2%
    assert probe.judge(result, stored) == [
        "target 0.02, v0: mean +9.09 | mimo +9.1/1.00",
        "target 0.02, v1: mean +10.00 | mimo +10.0/3.00!"]
