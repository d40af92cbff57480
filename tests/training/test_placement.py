"""The record of where Ray placed a run's rollout actors."""

from __future__ import annotations

from training.placement import Placement, describe, nodes

A, B = "3f2a9c1e" + "0" * 48, "81be02d4" + "1" * 48


def _placed(*where: tuple[str, str]) -> list[Placement]:
    return [Placement(actor=i, node_id=node_id, node_ip=ip) for i, (node_id, ip) in
            enumerate(where)]


def test_two_nodes_on_one_host_are_told_apart_by_their_ids() -> None:
    placements = _placed((B, "10.0.0.5"), (A, "10.0.0.5"), (A, "10.0.0.5"))
    assert describe(placements) == ("rollouts on 2 Ray nodes: 2 actors on 10.0.0.5 "
                                    "(node 3f2a9c1e), 1 actor on 10.0.0.5 (node 81be02d4)")
    assert nodes(placements) == [{"node_id": A, "node_ip": "10.0.0.5"},
                                 {"node_id": B, "node_ip": "10.0.0.5"}]


def test_one_node_and_none() -> None:
    assert describe(_placed((A, "10.0.0.6"))) == \
        "rollouts on 1 Ray node: 1 actor on 10.0.0.6 (node 3f2a9c1e)"
    assert describe([]) == "no Ray actors ran"
    assert nodes([]) == []
