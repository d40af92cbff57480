"""Exact bits: the transport block's size computed from the report inside the network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.export import export_onnx
from training.label_teacher.bits import TransportBits
from training.label_teacher.collect import Episode, episode_seed, run_episode
from training.label_teacher.network import LabelNetwork, label_network_from_state
from training.sim import bler
from training.sim.config import DMRS_RE_PER_PRB, MAX_LAYERS, PDSCH_SYMBOLS
from training.sim.tbs import transport_block_size
from xapp.features import FEATURE_NAMES, NUM_FEATURES
from xapp.nr_tables import NUM_ACTIONS
from xapp.sessions import open_session

_QM, _RATE, _, _ = bler.table_lookups()


def _reports(prbs: np.ndarray, rank: np.ndarray, table: np.ndarray,
             buffer_bytes: np.ndarray) -> np.ndarray:
    """Observation rows that carry these fields as :func:`xapp.features.observe` writes them."""
    obs = np.zeros((prbs.size, NUM_FEATURES), dtype=np.float32)
    obs[:, FEATURE_NAMES.index("log_prbs")] = np.log1p(prbs)
    obs[:, FEATURE_NAMES.index("rank")] = rank
    obs[:, FEATURE_NAMES.index("table_qam256")] = table
    obs[:, FEATURE_NAMES.index("log_buffer")] = np.log10(1.0 + buffer_bytes)
    return obs


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    prbs, rank, table = np.meshgrid(np.arange(0, 276), np.arange(1, 9), [0, 1], indexing="ij")
    return prbs.ravel(), rank.ravel(), table.ravel()


def _simulator_tbs(prbs: np.ndarray, rank: np.ndarray, table: np.ndarray) -> np.ndarray:
    layers = np.minimum(rank, MAX_LAYERS)[:, None]
    return transport_block_size(prbs[:, None], _QM[table], _RATE[table], layers,
                                symbols=PDSCH_SYMBOLS,
                                dmrs_re_per_prb=DMRS_RE_PER_PRB).astype(np.float64)


def test_every_tbs_of_every_allocation_is_the_simulators() -> None:
    # every PRB count the wire allows, ranks 1-8 (layers cap at 4), both tables, 29 MCS
    prbs, rank, table = _grid()
    want = _simulator_tbs(prbs, rank, table)
    qm_rate = _QM[table] * _RATE[table] / 1024.0
    n_info = torch.tensor(132.0 * prbs[:, None] * np.minimum(rank, 4)[:, None] * qm_rate)
    low_rate = torch.tensor((_RATE[table] <= 256).astype(np.float64))
    got = TransportBits().tbs(n_info, low_rate).numpy()
    assert want.size == 276 * 8 * 2 * NUM_ACTIONS and np.array_equal(got, want)
    # both procedures and every segmentation branch were reached
    assert (want <= 3824).sum() > 1000 and (want > 8424).sum() > 1000


def test_bits_are_capped_by_the_buffer_and_scaled_by_the_top_mcs() -> None:
    prbs, rank, table = _grid()
    rng = np.random.default_rng(0)
    buffer = np.floor(10.0 ** rng.uniform(0.0, 7.0, prbs.size))
    buffer[::7] = 1e9  # a full buffer reports a large backlog
    tbs = _simulator_tbs(prbs, rank, table)
    scale = tbs[:, -1:]
    want = np.where(scale > 0, np.minimum(tbs, 8.0 * buffer[:, None]) / np.maximum(scale, 1.0),
                    0.0)
    got = TransportBits()(torch.from_numpy(_reports(prbs, rank, table, buffer))).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-7)
    # the kink is there: in some rows low MCS fill less than the buffer, high ones all of it
    capped = (got < 1.0 - 1e-6) & np.isclose(got, got.max(axis=1, keepdims=True))
    assert capped[:, 0].sum() > 100


def test_a_labels_goodput_is_the_bits_times_its_chance_of_decoding() -> None:
    # the claim the exact mode rests on, on simulated bursty (finite buffer) decisions
    samples = run_episode(episode_seed(3, 0, 0), Episode(64, 120, 0.15, 1.0, "bursty"), None)
    bits = TransportBits()(torch.from_numpy(samples.obs)).numpy()
    assert len(samples) > 100 and (bits[samples.valid] < 0.99).mean() > 0.05
    np.testing.assert_allclose((bits * (1.0 - samples.error))[samples.valid],
                               samples.goodput[samples.valid], atol=1e-6)


def _exact_network() -> LabelNetwork:
    torch.manual_seed(0)
    net = LabelNetwork((16, 16), exact_bits=True)
    net.set_prices((0.01, 0.1, 0.3), (1.0, 0.1, 0.02))
    return net.eval()


def test_an_exact_network_has_one_head_and_survives_export(tmp_path: Path) -> None:
    net = _exact_network()
    assert net.head.out_features == NUM_ACTIONS
    assert net.parameter_count() < LabelNetwork((16, 16)).parameter_count()
    prbs, rank, table = (np.array([3, 50, 273, 106]), np.array([1, 2, 4, 8]),
                         np.array([0, 1, 0, 1]))
    obs = _reports(prbs, rank, table, np.array([40.0, 1e9, 5e4, 3e3]))
    obs[:, FEATURE_NAMES.index("log_target_bler")] = np.log(0.1)
    with torch.no_grad():
        goodput, error = net.heads(torch.from_numpy(obs))
        expected = net(torch.from_numpy(obs)).numpy()
    bits = TransportBits()(torch.from_numpy(obs))
    assert torch.allclose(goodput, bits * (1.0 - error))
    path = export_onnx(net, tmp_path / "t.onnx", {"model_id": "teacher-labels",
                                                  "version": "test", "kind": "teacher",
                                                  "target_bler_range": [0.01, 0.3]},
                       latency_budget_us=None)
    got = open_session(path).run(None, {"observation": obs})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # rebuilt from its state, it is an exact network again, with the same scores
    again = label_network_from_state(net.state_dict())
    assert again.exact_bits
    with torch.no_grad():
        assert torch.allclose(again(torch.from_numpy(obs)), torch.from_numpy(expected))


@pytest.mark.parametrize("exact", [False, True])
def test_the_state_says_which_kind_of_network_it_was(exact: bool) -> None:
    net = LabelNetwork((8,), exact_bits=exact)
    assert label_network_from_state(net.state_dict()).exact_bits is exact


@pytest.mark.slow  # Ray start and a tiny run: about 20 s
def test_a_smoke_run_with_exact_bits_exports_an_exact_teacher(tmp_path: Path) -> None:
    from linkadapt.cli import main
    from training.distill.teachers import load_teacher

    out = tmp_path / "run"
    assert main(["train-label-teacher", "--profile", "smoke", "--goodput", "exact",
                 "--out", str(out)]) == 0
    teacher = load_teacher(out / "teacher.onnx")
    assert isinstance(teacher.net, LabelNetwork) and teacher.net.exact_bits
    summary = json.loads((out / "summary.json").read_text())
    assert summary["goodput"] == "exact"
    assert "--goodput exact" in summary["command"]


def test_an_unknown_goodput_is_refused_by_name(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    from linkadapt.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train-label-teacher", "--goodput", "guessed", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--goodput" in err and "guessed" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
