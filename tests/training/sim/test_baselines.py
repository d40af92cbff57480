"""The non-learned baselines: OLLA at any target, eOLLA, SALAD; their specs and bad input.

The BLER figures are first-transmission BLER. Pooled over all UEs (``kpis["bler"]``)
they include UEs pinned at the table's top MCS (BLER ~0, e.g. 14% of mimo's UEs)
or at MCS 0, which no policy can bring to a target; the OLLA test therefore
measures the UEs that stayed inside the MCS range.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from linkadapt.cli import main
from training.sim import closed_loop, config
from training.sim.emulator import EmulatorOptions
from training.sim.emulator.emulation import run_baseline
from training.sim.link import LinkSimulator
from training.sim.policies import EOlla, Olla, Salad, parse_policy
from training.sim.policies.salad import BlerCurves
from xapp.features import ReportBatch

SLOTS = 2000
UES = 256  # enough UEs x slots that +-0.5 points at 2% is not noise (checked on seeds 0-2)


def _pooled_bler(spec: str, scenario: str, seed: int = 0) -> float:
    cfg = config.config_source(scenario)(np.random.default_rng([seed, 1]), UES)
    return float(closed_loop.run(parse_policy(spec), cfg, SLOTS, seed).kpis["bler"])


# -- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "kind", "name"), [
    ("olla", Olla, "olla:0.5"),
    ("olla:0.7", Olla, "olla:0.7"),
    ("olla:0.5:0.1", Olla, "olla:0.5:0.1"),
    ("olla:1:0.02", Olla, "olla:1:0.02"),
    ("eolla:0.1", EOlla, "eolla:0.1"),
    ("eolla:0.02", EOlla, "eolla:0.02"),
    ("salad:0.1", Salad, "salad:0.1"),
    ("salad:0.2", Salad, "salad:0.2"),
])
def test_specs_build_the_policy_with_its_name(spec: str, kind: type, name: str) -> None:
    policy = parse_policy(spec)
    assert type(policy) is kind
    assert policy.name == name


def test_old_olla_spellings_mean_a_ten_percent_target() -> None:
    for spec in ("olla", "olla:0.5", "olla:0.5:0.1"):
        policy = parse_policy(spec)
        assert isinstance(policy, Olla)
        assert policy.target == 0.1 and policy.d_up == 0.5
        assert policy.d_down == pytest.approx(0.5 / 9)
    assert parse_policy("olla:0.5:0.02").d_down == pytest.approx(0.5 * 0.02 / 0.98)
    assert Olla(0.5).name == "olla:0.5" and Olla(0.5, 0.02).name == "olla:0.5:0.02"


BAD_SPECS = [
    ("frobnicate", "unknown policy 'frobnicate'"),
    ("eolla:0.1:2", "bad policy 'eolla:0.1:2': expected eolla or eolla:TARGET"),
    ("salad:0", "bad policy 'salad:0': BLER target must be in (0, 1), got 0"),
    ("eolla:1", "bad policy 'eolla:1': BLER target must be in (0, 1), got 1"),
    ("salad:1.5", "bad policy 'salad:1.5': BLER target must be in (0, 1)"),
    ("olla:0.5:0", "bad policy 'olla:0.5:0': BLER target must be in (0, 1)"),
    ("olla:0.5:1", "bad policy 'olla:0.5:1': BLER target must be in (0, 1)"),
    ("olla:-0.5", "bad policy 'olla:-0.5': OLLA step d_up must be a positive number of dB"),
    ("olla:0:0.1", "bad policy 'olla:0:0.1': OLLA step d_up must be a positive"),
    ("olla:abc", "bad policy 'olla:abc': D_UP_DB must be a number, got 'abc'"),
    ("salad:ten", "bad policy 'salad:ten': TARGET must be a number, got 'ten'"),
    ("eolla:nan", "bad policy 'eolla:nan': TARGET must be a number, got 'nan'"),
    ("olla:0.5:0.1:3", "bad policy 'olla:0.5:0.1:3': expected olla, olla:D_UP_DB or"),
    ("salad:0.1:2", "bad policy 'salad:0.1:2': expected salad or salad:TARGET"),
    ("illa:3", "unknown policy 'illa:3'"),
    ("fixed:1:2", "bad policy 'fixed:1:2': fixed needs an MCS index"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_specs_raise_one_line_naming_the_spec(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_policy(spec)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_the_unknown_spec_message_lists_every_form() -> None:
    with pytest.raises(ValueError) as info:
        parse_policy("nope")
    for form in ("olla[:D_UP_DB[:TARGET]]", "eolla[:TARGET]", "salad[:TARGET]", "illa", "genie",
                 "genie-delayed", "fixed:K", "PATH.onnx"):
        assert form in str(info.value)


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS[:6] + BAD_SPECS[7:9] + BAD_SPECS[12:13])
def test_simulate_refuses_bad_specs_with_one_line_and_status_2(
        spec: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--policy", spec, "--ues", "2", "--slots", "10"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert captured.out == ""


@pytest.mark.parametrize("spec", ["olla:0.5:0.02", "eolla:0.1", "salad:0.1"])
def test_emulate_compare_accepts_the_new_specs_and_runs_them(spec: str) -> None:
    opts = EmulatorOptions(target="127.0.0.1:50051", compare=spec, ues_per_cell=4, slots=60)
    opts.check()
    cfgs = [config.config_source("mimo")(np.random.default_rng([0, 1]), 4)]
    emulated = {"throughput_mbps": 1.0, "spectral_efficiency": 1.0, "bler": 0.1}
    out = run_baseline(opts, cfgs, emulated)
    assert out["policy"] == spec
    assert out["kpis"]["throughput_mbps"] > 0


def test_emulate_compare_refuses_a_bad_spec_up_front() -> None:
    with pytest.raises(ValueError, match="bad policy 'salad:2'"):
        EmulatorOptions(target="127.0.0.1:50051", compare="salad:2").check()


@pytest.mark.parametrize(("spec", "kind", "name", "target"), [
    ("olla", Olla, "olla:0.5:0.02", 0.02),
    ("olla:1", Olla, "olla:1:0.02", 0.02),
    ("eolla", EOlla, "eolla:0.02", 0.02),
    ("salad", Salad, "salad:0.02", 0.02),
    ("olla:0.5:0.1", Olla, "olla:0.5:0.1", 0.1),  # a target in the spec wins
    ("eolla:0.3", EOlla, "eolla:0.3", 0.3),
    ("salad:0.1", Salad, "salad:0.1", 0.1),
])
def test_specs_without_a_target_take_the_default_target(spec: str, kind: type, name: str,
                                                        target: float) -> None:
    policy = parse_policy(spec, 0.02)
    assert type(policy) is kind and policy.name == name
    assert policy.target == target  # type: ignore[attr-defined]


def test_specs_without_a_target_keep_ten_percent_by_default() -> None:
    assert parse_policy("olla").name == "olla:0.5"
    assert parse_policy("eolla").name == "eolla:0.1" and parse_policy("salad").name == "salad:0.1"


def test_simulate_target_bler_sets_every_ue_and_the_spec_target(
        capsys: pytest.CaptureFixture[str]) -> None:
    common = ["simulate", "--scenario", "mimo", "--ues", "8", "--slots", "400", "--json",
              "--no-progress"]

    def run(*args: str) -> dict[str, object]:
        assert main([*common, *args]) == 0
        return json.loads(capsys.readouterr().out)

    default, at_10 = run("--policy", "olla"), run("--policy", "olla", "--target-bler", "0.1")
    assert default == at_10 and default["policy"] == "olla:0.5"  # 10%: unchanged
    low = run("--policy", "olla", "--target-bler", "0.01")
    assert low["policy"] == "olla:0.5:0.01"
    assert low == {**run("--policy", "olla:0.5:0.01", "--target-bler", "0.01")}
    assert low["bler"] < default["bler"]  # OLLA settles near its (lower) target


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "1.5", "nan", "inf"])
def test_simulate_and_emulate_refuse_a_bad_target_bler_in_one_line(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("simulate", "emulate"):
        assert main([command, "--target-bler", value, "--slots", "10"]) == 2
        err = capsys.readouterr().err.strip()
        assert "--target-bler must be a BLER in (0, 1)" in err and "Traceback" not in err
        assert len(err.splitlines()) == 1


# -- mechanics -----------------------------------------------------------------------------


def test_salad_curves_pass_ten_percent_at_their_threshold_and_rise_with_mcs() -> None:
    sim = LinkSimulator(config.scenario("mimo").config(8), 0)
    curves = BlerCurves(fading_span_db=4.0)
    curves.refresh(sim.reports)
    rows = np.arange(sim.n)
    layer = sim.reports.rank - 1
    snr10 = curves.snr10[rows, layer]  # (n, 29)
    for m in (0, 9, 20):
        p = curves.one_mcs(snr10[:, m], np.full(sim.n, m), sim.reports)
        assert p == pytest.approx(np.full(sim.n, 0.1))
    p_all = curves.all_mcs(np.full(sim.n, 8.0), sim.reports)
    assert (np.diff(p_all, axis=1) >= 0).all()
    # the 90%-to-10% span is at least the fading span
    lo = curves.one_mcs(snr10[:, 9] - 4.0, np.full(sim.n, 9), sim.reports)
    assert (lo <= 0.9).all()


def _with_feedback(reports: ReportBatch, ack: int, mcs: int) -> ReportBatch:
    """``reports`` with one fresh initial-transmission feedback (``ack``, ``mcs``) per UE."""
    def front(column: np.ndarray, value: int) -> np.ndarray:
        out = np.array(column, dtype=np.int64)
        out[:, 0] = value
        return out

    return replace(reports, harq_ack=front(reports.harq_ack, ack),
                   harq_mcs=front(reports.harq_mcs, mcs), harq_age=front(reports.harq_age, 0),
                   harq_initial=front(reports.harq_initial, 1))


def test_salad_learns_only_from_outcomes_its_curves_did_not_expect() -> None:
    sim = LinkSimulator(config.scenario("mimo").config(64), 0)
    policy = Salad(0.1)
    policy.reset(sim.n)
    policy.act(sim.reports, sim)  # starts every estimate at the CQI's SINR
    eta = policy.eta

    def moved(ack: int, mcs: int) -> np.ndarray:
        before = policy.sinr_db.copy()
        policy.act(_with_feedback(sim.reports, ack, mcs), sim)
        return np.asarray(policy.sinr_db - before)

    high_sinr = policy.sinr_db > 5.0
    assert high_sinr.sum() > 10
    # a NACK at MCS 0, which should have passed: down by ~eta
    assert moved(0, 0)[high_sinr] == pytest.approx(-eta, abs=0.01)
    # a NACK at MCS 27 where it was bound to fail: (almost) no news
    assert np.abs(moved(0, 27)[high_sinr & (policy.sinr_db < 12.0)]).max() < 0.05
    # an ACK at MCS 27 where it should have failed: up by ~eta
    low = policy.sinr_db < 12.0
    assert moved(1, 27)[low] == pytest.approx(eta, abs=0.05)


def test_eolla_steps_are_large_far_from_the_target_and_small_near_it() -> None:
    policy = EOlla(0.1)
    policy.reset(2)
    policy.bler_est = np.array([0.5, 0.1])  # far from 10%, on it
    sim = LinkSimulator(config.scenario("mimo").config(2), 0)
    for _ in range(20):  # until both UEs have feedback in the same slot
        policy.offset_db = np.zeros(2)
        policy.bler_est = np.array([0.5, 0.1])
        policy.update(sim.reports)
        fresh = sim.reports.harq_age[:, 0] == 0
        if fresh.all() and (sim.reports.harq_initial[:, 0] == 1).all():
            nack = sim.reports.harq_ack[:, 0] == 0
            step = np.abs(policy.offset_db)
            full = np.where(nack, 1.0, 0.1 / 0.9)
            assert step == pytest.approx(np.array([4.0, 0.1]) * full)
            return
        sim.step(np.full(2, 5))
    pytest.fail("no slot with fresh feedback for both UEs")


# -- behaviour: targets held -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["mimo", "high-mobility"])
@pytest.mark.parametrize("spec", ["salad:0.1", "eolla:0.1"])
def test_salad_and_eolla_land_on_a_ten_percent_target(spec: str, scenario: str) -> None:
    # Seeds 0-2 give 8.6-9.3% (SALAD) and 9.0-9.9% (eOLLA): below 10% because of the
    # UEs pinned at the top MCS, which SALAD's loop and eOLLA's anti-windup leave alone.
    assert _pooled_bler(spec, scenario) == pytest.approx(0.1, abs=0.015)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["salad:0.02", "eolla:0.02"])
def test_salad_and_eolla_land_on_a_two_percent_target_in_mimo(spec: str) -> None:
    assert _pooled_bler(spec, "mimo") == pytest.approx(0.02, abs=0.005)


def _in_range_bler(spec: str, scenario: str) -> tuple[float, int]:
    """BLER of the UEs that never hit MCS 0 or their top MCS, slots 1000-3000, 128 UEs."""
    cfg = config.config_source(scenario)(np.random.default_rng([0, 1]), 128)
    sim = LinkSimulator(cfg, 0)
    policy = parse_policy(spec)
    policy.reset(sim.n)
    for _ in range(1000):  # let the offsets converge from the CQI's bias
        sim.step(policy.act(sim.reports, sim))
    errors, sent = sim.kpis.first_errors.copy(), sim.kpis.first_tx.copy()
    edge = np.zeros(sim.n, dtype=bool)
    for _ in range(2000):
        out = sim.step(policy.act(sim.reports, sim))
        edge |= out.new & ((out.mcs == 0) | (out.mcs == sim.max_mcs))
    errors, sent = sim.kpis.first_errors - errors, sim.kpis.first_tx - sent
    return float(errors[~edge].sum() / sent[~edge].sum()), int((~edge).sum())


@pytest.mark.slow
@pytest.mark.parametrize("target", [0.02, 0.05, 0.2])
@pytest.mark.parametrize("scenario", ["mimo", "high-mobility", "cell-edge", "scsu"])
def test_olla_holds_any_target_where_the_mcs_range_allows(scenario: str, target: float) -> None:
    # Where the MCS range allows it: UEs that reach MCS 0 or the top MCS cannot hold a
    # target and are left out. Not in bursty: FTP-3 files leave idle gaps without HARQ
    # feedback, so the offset is stale when a file starts (measured: 7.7% at a 2% target).
    bler, ues = _in_range_bler(f"olla:0.5:{target}", scenario)
    assert ues >= 20
    assert bler == pytest.approx(target, rel=0.1)
