"""The train/serve feature contract: observation layout, validation, simulator reports."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from training.sim import config
from training.sim.link import LinkSimulator
from xapp import features, nr_tables


def _report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "mcs_table": "MCS_TABLE_QAM256", "wideband_cqi": 9, "cqi_age_slots": 5,
        "rank_indicator": 2, "tb_initial_total": 10, "tb_initial_errors": 1,
        "allocated_prbs": 50, "num_tx_antennas": 4, "numerology": 1, "csi_period_slots": 20,
        "buffer_bytes": 999, "last_mcs": 14, "ss_sinr_db": 12.5, "target_bler": 0.02,
        "harq": [{"ack": False, "mcs": 16, "age_slots": 0, "initial": True},
                 {"ack": True, "mcs": 15, "age_slots": 3}],
    }
    report.update(overrides)
    return report


def test_observation_layout() -> None:
    assert len(features.FEATURE_NAMES) == features.NUM_FEATURES == 44
    assert features.FEATURE_SCHEMA_VERSION == 2 and features.FEATURE_NAMES[43] == "log_target_bler"
    obs = features.observe(features.batch_from_records([_report()]))
    assert obs.shape == (1, 44) and obs.dtype == np.float32
    row = dict(zip(features.FEATURE_NAMES, obs[0], strict=True))
    cqi_mcs = nr_tables.cqi_to_mcs(9, nr_tables.QAM256)
    assert cqi_mcs == 15
    assert row["cqi"] == 9 and row["cqi_mcs"] == 15
    assert row["cqi_efficiency"] == pytest.approx(3.9023)
    assert row["table_qam256"] == 1 and row["rank"] == 2
    assert row["ss_sinr_db"] == pytest.approx(12.5) and row["has_ss_sinr"] == 1
    assert row["has_ss_rsrp"] == 0 and row["ss_rsrp_dbm"] == -100
    assert row["last_mcs_delta"] == 14 - 15 and row["has_last_mcs"] == 1
    assert row["window_bler"] == pytest.approx(0.1)
    assert row["harq_ack_0"] == -1 and row["harq_ack_1"] == 1 and row["harq_ack_2"] == 0
    assert row["harq_mcs_delta_0"] == 1 and row["harq_mcs_delta_1"] == 0
    assert row["log_harq_age_1"] == pytest.approx(math.log1p(3))
    assert row["log_harq_age_7"] == pytest.approx(math.log1p(1000))
    assert row["log2_csi_period"] == pytest.approx(math.log2(20))
    # ln of the target as the wire carries it (float32), computed in float64
    assert row["log_target_bler"] == np.float32(math.log(float(np.float32(0.02))))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"wideband_cqi": 16}, "wideband_cqi"),
        ({"wideband_cqi": None}, "wideband_cqi"),
        ({"rank_indicator": 0}, "rank_indicator"),
        ({"cqi_age_slots": -1}, "cqi_age_slots"),
        ({"ss_sinr_db": math.nan}, "ss_sinr_db"),
        ({"buffer_bytes": -5}, "buffer_bytes"),
        ({"mcs_table": "QAM1024"}, "mcs_table"),
        ({"csi_period_slots": 7}, "csi_period_slots"),
        ({"tb_initial_errors": 11}, "tb_initial_errors"),
        ({"last_mcs": 28}, "last_mcs"),  # table 2 has no MCS 28
        ({"harq": [{"ack": True, "age_slots": 1}]}, "harq[0].mcs"),
        ({"harq": [{"ack": True, "mcs": 3, "age_slots": 1}] * 9}, "harq"),
        ({"wideband_cqi": 3.5}, "wideband_cqi"),
        ({"target_bler": 0}, "target_bler"),
        ({"target_bler": -0.1}, "target_bler"),
        ({"target_bler": 1}, "target_bler"),
        ({"target_bler": 1.5}, "target_bler"),
        ({"target_bler": math.nan}, "target_bler"),
        ({"target_bler": math.inf}, "target_bler"),
        ({"target_bler": 1e-50}, "target_bler"),  # 0 as a float32
        ({"target_bler": "0.1"}, "target_bler"),
        ({"target_bler": True}, "target_bler"),
    ],
)
def test_bad_reports_name_the_field_and_the_ue(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(features.ReportError) as info:
        features.batch_from_records([_report(), _report(**overrides)])
    assert info.value.field == field
    assert info.value.ue_index == 1
    assert f"reports[1].{field}" in str(info.value)


def test_validate_catches_out_of_range_columns() -> None:
    batch = features.batch_from_records([_report(), _report()])
    features.validate(batch)
    bad = features.ReportBatch(**{**{f: getattr(batch, f) for f in batch.__dataclass_fields__},
                                  "cqi": np.array([3, 17])})
    with pytest.raises(features.ReportError, match=r"reports\[1\]\.wideband_cqi"):
        features.validate(bad)


def test_a_bad_target_is_refused_as_a_bler_with_the_value() -> None:
    for value, shown in ((0, "0"), (math.nan, "nan"), (1.5, "1.5"), (-0.1, "-0.1")):
        with pytest.raises(features.ReportError) as info:
            features.batch_from_records([_report(target_bler=value)])
        assert str(info.value) == f"reports[0].target_bler: must be a BLER in (0, 1), got {shown}"
    batch = features.batch_from_records([_report(target_bler=None), _report()])
    assert math.isnan(batch.target_bler[0]) and batch.target_bler[1] == np.float32(0.02)


def test_every_report_the_simulator_builds_is_valid_for_the_service() -> None:
    cfg = config.randomized(np.random.default_rng(5), 512)
    sim = LinkSimulator(cfg, 5)
    # Each UE reports its own target, as the wire carries it (float32).
    assert np.array_equal(sim.reports.target_bler,
                          cfg.target_bler.astype(np.float32).astype(np.float64))
    assert len(np.unique(sim.reports.target_bler)) > 100
    rng = np.random.default_rng(0)
    for _ in range(120):
        features.validate(sim.reports)
        obs = features.observe(sim.reports)
        assert np.isfinite(obs).all()
        sim.step(rng.integers(0, 29, sim.n))


def test_cqi_to_mcs_and_action_mask() -> None:
    assert nr_tables.cqi_to_mcs(15, 1) == 28 and nr_tables.cqi_to_mcs(15, 2) == 27
    assert nr_tables.cqi_to_mcs(0, 1) == 0 and nr_tables.cqi_to_mcs(1, 2) == 0
    # same (Qm, R): CQI 10 of table 1 is 64QAM R 466 = MCS 18 of table 1
    assert nr_tables.cqi_to_mcs(10, 1) == 18
    mask = nr_tables.valid_action_mask(np.array([1, 2]))
    assert mask[0].all() and mask[1, :28].all() and not mask[1, 28]
    with pytest.raises(ValueError, match="mcs_table must be"):
        nr_tables.mcs_table(3)
