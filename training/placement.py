"""Where Ray placed the rollout actors of a run: the node of each, and a one-line summary.

A run that joins a cluster (``--ray-address``) should say whether its actors were
spread over the cluster's nodes or all landed on one; the teacher and the
distillation record these placements in their run records and print the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, TypedDict


class Placement(TypedDict):
    """The Ray node one actor ran on."""

    actor: int
    """Index of the actor in its run."""
    node_id: str
    """Ray's hex node id (unique per node, also for several nodes on one host)."""
    node_ip: str
    """IP address the node registered with."""


def current_node() -> tuple[str, str]:
    """``(node_id, node_ip)`` of the Ray node this code runs on (call it inside an actor)."""
    import ray

    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()


def actor_placements(workers: Sequence[Any]) -> list[Placement]:
    """Ask each actor (with a ``node`` method returning :func:`current_node`) where it runs."""
    import ray

    nodes = ray.get([w.node.remote() for w in workers])
    return [Placement(actor=i, node_id=node_id, node_ip=node_ip)
            for i, (node_id, node_ip) in enumerate(nodes)]


def describe(placements: Sequence[Placement]) -> str:
    """The placements as one line, nodes on one host told apart by their ids.

    For example ``rollouts on 2 Ray nodes: 2 actors on 10.0.0.5 (node 3f2a9c1e), 1 actor
    on 10.0.0.6 (node 81be02d4)``.
    """
    if not placements:
        return "no Ray actors ran"
    per_node = Counter((p["node_id"], p["node_ip"]) for p in placements)
    nodes = len(per_node)
    parts = [f"{count} actor{'s' if count != 1 else ''} on {ip} (node {node_id[:8]})"
             for (node_id, ip), count in sorted(per_node.items(),
                                                key=lambda item: (item[0][1], item[0][0]))]
    return f"rollouts on {nodes} Ray node{'s' if nodes != 1 else ''}: {', '.join(parts)}"


def nodes(placements: Sequence[Placement]) -> list[dict[str, str]]:
    """The distinct nodes of ``placements`` as ``{"node_id", "node_ip"}``, sorted by IP and id."""
    unique = {(p["node_ip"], p["node_id"]) for p in placements}
    return [{"node_id": node_id, "node_ip": ip} for ip, node_id in sorted(unique)]
