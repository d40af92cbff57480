"""Gymnasium API of the simulator: registration, checker, scalar vs vector agreement, autoreset."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import training.sim  # noqa: F401 - registers LinkAdaptation-v0
from training.sim.env import LinkAdaptationEnv, LinkAdaptationVectorEnv
from xapp.features import NUM_FEATURES


@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning")  # unbounded dB values
def test_scalar_env_passes_the_gymnasium_checker() -> None:
    env = gymnasium.make("LinkAdaptation-v0", scenario="mimo", episode_slots=50)
    check_env(env.unwrapped, skip_render_check=True)


def test_make_vec_gives_the_native_vector_env() -> None:
    envs = gymnasium.make_vec("LinkAdaptation-v0", num_envs=256,
                              vectorization_mode="vector_entry_point")
    assert isinstance(envs, LinkAdaptationVectorEnv)
    obs, _ = envs.reset(seed=1)
    assert obs.shape == (256, NUM_FEATURES)
    assert obs.dtype == np.float32
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert reward.shape == terminated.shape == truncated.shape == (256,)
    assert envs.observation_space.contains(obs)
    assert ((reward >= 0) & (reward <= 1)).all()
    assert info["new_tx"].shape == (256,)


@pytest.mark.parametrize("scenario", ["random", "high-mobility", "bursty"])
def test_scalar_and_vector_env_agree_step_by_step(scenario: str) -> None:
    scalar = LinkAdaptationEnv(scenario=scenario, episode_slots=40)
    vector = LinkAdaptationVectorEnv(num_envs=1, scenario=scenario, episode_slots=40)
    obs_s, _ = scalar.reset(seed=7)
    obs_v, _ = vector.reset(seed=7)
    np.testing.assert_array_equal(obs_s, obs_v[0])
    actions = np.random.default_rng(0).integers(0, 29, 100)
    for a in actions:  # crosses two episode boundaries
        obs_s, r_s, term_s, trunc_s, _ = scalar.step(np.int64(a))
        obs_v, r_v, term_v, trunc_v, info = vector.step(np.array([a]))
        if trunc_s:
            obs_s, _ = scalar.reset()
            np.testing.assert_array_equal(obs_s, obs_v[0])  # same-step autoreset
            assert "final_obs" in info
        np.testing.assert_array_equal(obs_s, obs_v[0])
        assert r_s == r_v[0]
        assert (term_s, trunc_s) == (bool(term_v[0]), bool(trunc_v[0]))


def test_episodes_draw_fresh_configurations() -> None:
    envs = LinkAdaptationVectorEnv(num_envs=64, scenario="random", episode_slots=5)
    envs.reset(seed=3)
    first = envs.simulator.cfg.carrier_ghz.copy()
    for _ in range(5):
        envs.step(np.zeros(64, dtype=np.int64))
    assert not np.array_equal(first, envs.simulator.cfg.carrier_ghz)


def test_same_seed_same_trajectory_and_bad_arguments() -> None:
    a = LinkAdaptationVectorEnv(num_envs=8, scenario="mimo", episode_slots=30)
    b = LinkAdaptationVectorEnv(num_envs=8, scenario="mimo", episode_slots=30)
    np.testing.assert_array_equal(a.reset(seed=4)[0], b.reset(seed=4)[0])
    for _ in range(10):
        act = np.full(8, 12)
        np.testing.assert_array_equal(a.step(act)[0], b.step(act)[0])
    with pytest.raises(ValueError, match="unknown scenario"):
        LinkAdaptationVectorEnv(num_envs=2, scenario="nope")
    with pytest.raises(ValueError, match="number of UEs"):
        LinkAdaptationVectorEnv(num_envs=0)
    scalar = LinkAdaptationEnv()
    scalar.reset(seed=1)
    with pytest.raises(ValueError, match="MCS index"):
        scalar.step(np.int64(40))


def test_scenario_ues_draw_their_targets_from_a_given_range() -> None:
    from xapp.features import FEATURE_NAMES

    column = FEATURE_NAMES.index("log_target_bler")
    fixed, _ = LinkAdaptationVectorEnv(num_envs=400, scenario="mimo").reset(seed=3)
    np.testing.assert_allclose(np.exp(fixed[:, column]), 0.1, rtol=1e-6)  # the scenario's
    drawn, _ = LinkAdaptationVectorEnv(num_envs=400, scenario="mimo",
                                       target_bler=(0.01, 0.3)).reset(seed=3)
    targets = np.exp(drawn[:, column])
    assert targets.min() >= 0.01 * (1 - 1e-6) and targets.max() <= 0.3 * (1 + 1e-6)
    assert targets.min() < 0.015 and targets.max() > 0.2  # spread over the range, per UE
    # the targets alone change: the channels are the scenario's, drawn as before
    other = [i for i in range(NUM_FEATURES) if i != column]
    np.testing.assert_array_equal(drawn[:, other], fixed[:, other])
    with pytest.raises(ValueError, match="target range must lie in"):
        LinkAdaptationVectorEnv(num_envs=4, scenario="mimo", target_bler=(0.3, 0.01))
