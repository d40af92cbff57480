import json
import re
from pathlib import Path

import pytest
from conftest import BAD, mlp_bytes

from xapp.errors import (
    ModelConflict,
    ModelNotFound,
    ModelRejected,
    ModelTooLarge,
    StoreUnavailable,
)
from xapp.model_check import Limits
from xapp.registry import DEFAULT_KEY, Registry


def make(root: Path) -> tuple[Registry, list]:
    swaps: list = []
    registry = Registry(root, Limits(latency_budget_us=5000.0),
                        lambda policy, action: swaps.append((policy and policy.card.key, action)))
    return registry, swaps


@pytest.mark.parametrize("name", BAD)
def test_bad_uploads_are_refused_and_nothing_is_stored(tmp_path: Path, name: str) -> None:
    registry, swaps = make(tmp_path)
    data, reason = BAD[name]
    with pytest.raises(ModelRejected, match=re.escape(reason)) as info:
        registry.upload(data())
    assert isinstance(info.value, ModelTooLarge) == (name == "too large")
    assert registry.list() == [] and swaps == []
    assert not [p for p in (tmp_path / "models").iterdir()]


def test_activate_rollback_delete_and_restart(tmp_path: Path) -> None:
    registry, swaps = make(tmp_path)
    for v in ("1", "2", "3"):
        stored, created = registry.upload(mlp_bytes("m", v, seed=int(v)))
        assert created and stored.key == f"m@{v}"
    assert registry.upload(mlp_bytes("m", "1", seed=1))[1] is False  # idempotent
    with pytest.raises(ModelConflict, match="another checksum"):
        registry.upload(mlp_bytes("m", "1", seed=99))
    with pytest.raises(ModelConflict, match="no previous"):
        registry.rollback()
    for v in ("1", "2", "3"):
        registry.activate(f"m@{v}")
    assert registry.rollback().card.key == "m@2"
    assert registry.active_key == "m@2" and registry.history == ["m@1"]
    with pytest.raises(ModelConflict, match="active model"):
        registry.delete("m@2")
    registry.delete("m@3")
    with pytest.raises(ModelNotFound):
        registry.activate("m@3")
    with pytest.raises(ModelNotFound):
        registry.activate("../etc@passwd")
    assert [k for k, _ in swaps] == ["m@1", "m@2", "m@3", "m@2"]
    assert swaps[-1][1] == "rollback"

    again, _ = make(tmp_path)  # restart
    assert again.active_key == "m@2" and again.history == ["m@1"]
    policy = again.load_active()
    assert policy is not None and policy.card.key == "m@2"
    assert again.rollback().card.key == "m@1"
    assert json.loads((tmp_path / "state.json").read_text())["active"] == "m@1"


def test_tampered_model_file_is_refused_on_load(tmp_path: Path) -> None:
    registry, _ = make(tmp_path)
    registry.upload(mlp_bytes("m", "1"))
    path = tmp_path / "models" / "m" / "1" / "model.onnx"
    path.write_bytes(mlp_bytes("m", "1", seed=5))
    with pytest.raises(ModelRejected, match="checksum mismatch"):
        registry.activate("m@1")
    assert registry.active_key is None


def test_rollback_returns_to_the_embedded_default(tmp_path: Path) -> None:
    default = tmp_path / "default.onnx"
    default.write_bytes(mlp_bytes("embedded", "1"))
    swaps: list = []
    registry = Registry(tmp_path / "store", Limits(latency_budget_us=5000.0),
                        lambda policy, action: swaps.append((policy.card.key, action)), default)
    assert registry.load(DEFAULT_KEY).origin == "embedded"
    registry.serving_default()  # what the service does when it starts on the default
    registry.upload(mlp_bytes("m", "1"))
    registry.activate("m@1")
    assert registry.history == [DEFAULT_KEY]
    policy = registry.rollback()
    assert (policy.card.key, policy.origin) == ("embedded@1", "embedded")
    assert registry.active_key == DEFAULT_KEY and registry.history == []
    assert swaps == [("m@1", "activate"), ("embedded@1", "rollback")]
    again = Registry(tmp_path / "store", Limits(), lambda *_: None, default)  # restart
    assert again.active_key == DEFAULT_KEY
    assert again.load_active().origin == "embedded"  # type: ignore[union-attr]
    with pytest.raises(ModelNotFound):
        again.delete(DEFAULT_KEY)
    without = Registry(tmp_path / "store", Limits(), lambda *_: None, None)
    with pytest.raises(ModelNotFound, match="no embedded default"):
        without.load_active()


def test_activate_rechecks_latency_but_restart_and_rollback_do_not(tmp_path: Path) -> None:
    registry, _ = make(tmp_path)
    for v in ("1", "2"):
        registry.upload(mlp_bytes("m", v, seed=int(v)))
    registry.activate("m@1")
    strict = Registry(tmp_path, Limits(latency_budget_us=1e-6), lambda *_: None)
    with pytest.raises(ModelRejected, match="too slow"):
        strict.activate("m@2")
    assert strict.active_key == "m@1"  # refused: nothing changed
    assert strict.load_active().card.key == "m@1"  # type: ignore[union-attr]
    registry.activate("m@2")
    strict = Registry(tmp_path, Limits(latency_budget_us=1e-6), lambda *_: None)
    assert strict.rollback().card.key == "m@1"


def test_a_store_that_cannot_be_written_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    registry, swaps = make(tmp_path)
    for v in ("1", "2", "3"):
        registry.upload(mlp_bytes("m", v, seed=int(v)))
    registry.activate("m@1")
    registry.activate("m@2")
    state = (tmp_path / "state.json").read_text()
    swaps.clear()

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("xapp.registry.write_atomic", full)
    for action in (lambda: registry.activate("m@3"), registry.rollback,
                   lambda: registry.delete("m@1"), lambda: registry.upload(mlp_bytes("m", "4"))):
        with pytest.raises(StoreUnavailable, match=r"No space left on device.*nothing was changed"):
            action()
        assert (registry.active_key, registry.history) == ("m@2", ["m@1"])
    assert swaps == []  # the core was never told of a change
    assert (tmp_path / "state.json").read_text() == state
    assert [m.key for m in registry.list()] == ["m@1", "m@2", "m@3"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]  # no leftovers
    monkeypatch.undo()
    assert registry.rollback().card.key == "m@1"  # the history survived intact
    registry.delete("m@2")
    assert [m.key for m in registry.list()] == ["m@1", "m@3"]


@pytest.mark.parametrize(("state", "reason"), [
    ("[]", "must hold a JSON object, holds list"),
    ('{"format": 1, "active": "m@1", "history": "m@0"}', "a list of model keys"),
    ('{"format": 1, "active": 3, "history": []}', "a model key or null"),
    ('{"format": 7}', "unknown store format 7"),
])
def test_a_malformed_state_file_is_refused_by_name(tmp_path: Path, state: str, reason: str) -> None:
    (tmp_path / "state.json").write_text(state)
    with pytest.raises(ValueError, match=re.escape(reason)):
        make(tmp_path)


def test_replicas_on_one_store_follow_each_other(tmp_path: Path, caplog) -> None:
    """Two registries on one store: what one writes, the other adopts at its next sync."""
    one, one_swaps = make(tmp_path)
    two, two_swaps = make(tmp_path)
    assert two.sync() is False  # nothing changed yet
    one.upload(mlp_bytes("m", "1", seed=1))
    two.upload(mlp_bytes("m", "2", seed=2))
    one.activate("m@1")
    assert (one.generation, one.applied_generation, two.applied_generation) == (1, 1, 0)
    assert two.sync() is True and two_swaps == [("m@1", "sync")]
    assert two.sync() is False and two.applied_generation == 1
    two.activate("m@2")  # builds on the history one wrote
    assert one.sync() is True and one_swaps[-1] == ("m@2", "sync")
    assert one.rollback().card.key == "m@1"  # the history is the store's, not the process's
    assert two.sync() is True and two_swaps[-1] == ("m@1", "sync")
    one.upload(mlp_bytes("m", "3", seed=3))
    one.activate("m@3")
    two.delete("m@2")  # a new generation that only changes the history: no swap
    swaps = len(one_swaps)
    assert one.sync() is False and len(one_swaps) == swaps
    assert one.applied_generation == two.generation == 5
    # two wrote generation 5 before it had applied 4: it must still swap m@3 in.
    assert two.applied_generation == 3
    assert two.sync() is True and two_swaps[-1] == ("m@3", "sync")

    # A state naming a model this replica cannot load: it keeps serving, says so once.
    state = json.loads((tmp_path / "state.json").read_text())
    state.update(generation=6, active="gone@1")
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert two.sync() is False and two.sync() is False
    assert two.applied_generation == 5 and two_swaps[-1][0] == "m@3"
    assert len([r for r in caplog.records if "gone@1" in r.getMessage()]) == 1


def test_a_refused_local_write_still_lets_the_replica_catch_up(tmp_path: Path) -> None:
    """A write that re-read a newer state and then failed must not hide that state from sync."""
    one, _ = make(tmp_path)
    two, two_swaps = make(tmp_path)
    one.upload(mlp_bytes("m", "1", seed=1))
    one.activate("m@1")
    with pytest.raises(ModelNotFound):
        two.activate("missing@1")  # re-reads generation 1 under the lock, then fails
    assert two.applied_generation == 0
    assert two.sync() is True and two_swaps == [("m@1", "sync")]


def test_a_replica_that_started_without_its_model_keeps_trying(tmp_path: Path) -> None:
    """Start-up could not load the active model: the generation is not marked applied."""
    one, _ = make(tmp_path)
    one.upload(mlp_bytes("m", "1", seed=1))
    one.activate("m@1")
    model = tmp_path / "models" / "m" / "1" / "model.onnx"
    good = model.read_bytes()
    model.write_bytes(b"not a model")  # not yet readable, as on NFS before the file shows
    two, two_swaps = make(tmp_path)
    with pytest.raises(ModelRejected):
        two.load_active()
    two.started(None)
    assert two.applied_generation == 0 and two.sync() is False
    model.write_bytes(good)
    assert two.sync() is True and two_swaps == [("m@1", "sync")]
    assert two.applied_generation == 1
