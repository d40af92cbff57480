"""The frontier's baseline list: families, grids, what a spec says, and bad specs."""

from __future__ import annotations

import pytest

from training import baselines


def test_the_default_list_is_every_family_over_its_grid() -> None:
    specs = baselines.baseline_specs()
    steps, targets = baselines.DEFAULT_OLLA_STEPS_DB, baselines.DEFAULT_TARGETS
    olla = [s for s in specs if s.startswith("olla:")]
    assert len(olla) == len(steps) * len(targets)
    assert "olla:0.25:0.01" in olla and "olla:2:0.3" in olla
    assert [s for s in specs if s.startswith("eolla:")] == [f"eolla:{t:g}" for t in targets]
    assert [s for s in specs if s.startswith("salad:")] == [f"salad:{t:g}" for t in targets]
    assert "illa" in specs
    assert [s for s in specs if s.startswith("fixed:")] == [f"fixed:{k}" for k in range(0, 29, 4)]
    assert len(set(specs)) == len(specs)
    assert {baselines.describe(s).family for s in specs} == set(baselines.FRONTIER_FAMILIES)


def test_a_grid_gives_exactly_its_specs() -> None:
    assert baselines.baseline_specs([1.0], [0.05, 0.2], [3]) == [
        "olla:1:0.05", "olla:1:0.2", "eolla:0.05", "eolla:0.2", "salad:0.05", "salad:0.2",
        "illa", "fixed:3"]


@pytest.mark.parametrize(("spec", "family", "target", "step"), [
    ("olla", "olla", 0.1, 0.5),  # the old spellings keep meaning the 10% target
    ("olla:2", "olla", 0.1, 2.0),
    ("olla:0.25:0.02", "olla", 0.02, 0.25),
    ("eolla:0.05", "eolla", 0.05, None),
    ("salad:0.3", "salad", 0.3, None),
    ("illa", "illa", None, None),
    ("fixed:4", "fixed", None, None),
    ("genie-delayed", "genie-delayed", None, None),
])
def test_describe_reads_family_target_and_step(spec: str, family: str, target: float | None,
                                               step: float | None) -> None:
    info = baselines.describe(spec)
    assert (info.family, info.target, info.d_up_db) == (family, target, step)


@pytest.mark.parametrize(("specs", "message"), [
    (["olla:1", "nosuch:0.1"], "--baselines: unknown policy 'nosuch:0.1'"),
    (["olla:-1"], "'olla:-1'"),
    (["fixed:x"], "'fixed:x'"),
    (["illa", "illa"], "--baselines: 'illa' is named twice"),
    (["genie"], "--baselines: 'genie' is a reference"),
    (["genie-delayed"], "--baselines: 'genie-delayed' is a reference"),
    (["m.onnx"], "--baselines: 'm.onnx' is a model"),
])
def test_check_specs_names_the_bad_spec(specs: list[str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        baselines.check_specs(specs, "--baselines")
    assert str(err.value).startswith("--baselines: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_check_specs_accepts_every_frontier_family() -> None:
    baselines.check_specs(["olla", "olla:1", "olla:0.5:0.02", "eolla:0.1", "salad:0.05", "illa",
                           "fixed:0", "fixed:28"], "--baselines")
