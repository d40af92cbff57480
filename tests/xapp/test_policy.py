import numpy as np
import pytest
from conftest import mlp_bytes

from xapp import features, nr_tables
from xapp.core import DecisionCore
from xapp.metrics import Metrics
from xapp.model_check import Limits, check_model, probe_batch
from xapp.policy import fallback_mcs, masked_argmax


def test_masked_argmax_never_picks_mcs_28_for_the_256qam_table() -> None:
    q = np.tile(np.arange(29, dtype=np.float32), (2, 1))
    assert masked_argmax(q, np.array([1, 2])).tolist() == [28, 27]


def test_masked_argmax_is_the_argmax_over_each_tables_valid_actions() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 33, 1000):
        q = rng.standard_normal((n, nr_tables.NUM_ACTIONS)).astype(np.float32)
        table = rng.integers(1, 3, n)
        penalty = np.where(nr_tables.valid_action_mask(table), 0.0, -np.inf)
        expected = np.argmax(q + penalty, axis=1)
        before = q.copy()
        assert masked_argmax(q, table).tolist() == expected.tolist()
        assert np.array_equal(q, before)  # the caller's Q-values are left alone


def test_masked_argmax_keeps_the_first_of_tied_maxima() -> None:
    rng = np.random.default_rng(11)
    for n in (1, 5, 1000):
        q = rng.integers(-2, 3, (n, nr_tables.NUM_ACTIONS)).astype(np.float32)  # many ties
        q[: n // 2, 28] = 9  # MCS 28 the best: valid for 64QAM only
        q[0, 3] = -0.0  # -0.0 == 0.0 as far as the maximum is concerned
        table = rng.integers(1, 3, n)
        penalty = np.where(nr_tables.valid_action_mask(table), 0.0, -np.inf)
        assert masked_argmax(q, table).tolist() == np.argmax(q + penalty, axis=1).tolist()


@pytest.mark.parametrize("n", [3, 1000])
def test_masked_argmax_gives_a_valid_index_for_rows_with_nan(n: int) -> None:
    q = np.zeros((n, nr_tables.NUM_ACTIONS), dtype=np.float32)
    q[0, 4] = np.nan
    q[1, :] = np.nan
    mcs = masked_argmax(q, np.full(n, 2))
    assert mcs.dtype == np.int64 and ((0 <= mcs) & (mcs <= 27)).all() and mcs[2] == 0


def test_q_row_runs_the_same_model_as_q_values() -> None:
    policy = check_model(mlp_bytes(hidden=(32, 32, 32), seed=5), Limits(latency_budget_us=None))
    observations = features.observe(probe_batch(40, np.random.default_rng(2)))
    for observation in observations:
        row = observation.tolist()
        want = policy.q_values(observation[None, :])[0].tolist()
        assert policy.q_row(row) == want
        policy._single_row.lock.acquire()  # the buffers are busy: the plain path answers
        try:
            assert policy.q_row(row) == want
        finally:
            policy._single_row.lock.release()


def test_fallback_is_cqi_mcs_minus_backoff_clipped_at_zero() -> None:
    cqi = np.array([0, 1, 9, 15, 15])
    table = np.array([1, 1, 1, 1, 2])
    expected = np.clip(nr_tables.cqi_to_mcs(cqi, table) - 2, 0, None)
    assert fallback_mcs(cqi, table).tolist() == expected.tolist()
    assert fallback_mcs(cqi, table)[0] == 0
    assert fallback_mcs(cqi, table, backoff=0)[3] == nr_tables.cqi_to_mcs(15, 1)


def test_core_uses_model_then_falls_back_per_row_on_non_finite_output() -> None:
    metrics = Metrics()
    core = DecisionCore(metrics)
    batch = probe_batch(50, np.random.default_rng(3))
    none = core.decide(batch)
    assert not none.from_model.any() and none.model_id == ""
    bias = np.arange(29, dtype=np.float64)
    core.set_policy(check_model(mlp_bytes(out_bias=bias), Limits(latency_budget_us=None)))
    out = core.decide(batch)
    assert out.from_model.all() and out.model_id == "mlp"
    assert out.mcs.tolist() == np.where(batch.mcs_table == 1, 28, 27).tolist()
    nan_policy = check_model(mlp_bytes(out_bias=bias), Limits(latency_budget_us=None))
    object.__setattr__(nan_policy, "session", _NanSession())
    core.set_policy(nan_policy)
    out = core.decide(batch)
    assert not out.from_model.any()
    assert out.mcs.tolist() == fallback_mcs(batch.cqi, batch.mcs_table).tolist()
    assert metrics.fallbacks.labels("non_finite_output")._value.get() == 50


def test_core_falls_back_when_inference_raises() -> None:
    metrics = Metrics()
    core = DecisionCore(metrics)
    policy = check_model(mlp_bytes(), Limits(latency_budget_us=None))
    object.__setattr__(policy, "session", None)  # run() now raises AttributeError
    core.set_policy(policy)
    batch = probe_batch(4, np.random.default_rng(0))
    out = core.decide(batch)
    assert not out.from_model.any()
    assert metrics.fallbacks.labels("inference_error")._value.get() == 4


class _NanSession:
    def run(self, names, feeds):
        n = feeds["observation"].shape[0]
        return [np.full((n, 29), np.nan, np.float32)]


def test_probe_batch_is_valid() -> None:
    features.validate(probe_batch(500, np.random.default_rng(1)))
