"""Judging an evaluation's runs: the baselines' frontier and the summaries over scenarios.

Per scenario, the baseline runs give the frontier (:func:`scenario_frontier`) and
each policy is judged against it at its own BLER (:func:`policy_against_frontier`);
:func:`summarize` and :func:`family_summary` gather the figures over scenarios, and
:func:`target_summary` the models' figures at one BLER target of ``--target-bler``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from training import baselines, frontier
from training.baselines import GENIE, GENIE_DELAYED, OLLA
from training.evaluation_config import BLER_LIMIT_FACTOR, FAMILIES_VS_OLLA


def _points(runs: Mapping[str, Mapping[str, Any]], specs: Sequence[str]) -> list[frontier.Point]:
    return [frontier.Point(runs[s]["bler"], runs[s]["throughput_mbps"], s) for s in specs]


def _hull_json(hull: Sequence[frontier.Point]) -> list[dict[str, Any]]:
    return [{"spec": p.spec, "bler": p.bler, "throughput_mbps": p.throughput} for p in hull]


def _against(hull: Sequence[frontier.Point], bler: float, thp: float) -> dict[str, Any]:
    value = frontier.frontier_at(hull, bler)
    g = frontier.gain(thp, value.throughput)
    return {"frontier_mbps": value.throughput, "gain_pct": None if g is None else 100 * g,
            "extrapolated": value.extrapolated, "frontier_specs": list(value.specs),
            "frontier_weights": list(value.weights)}


def scenario_frontier(runs: Mapping[str, Mapping[str, Any]],
                      specs: Sequence[str]) -> dict[str, Any]:
    """The frontier of a scenario's baseline runs and each family against OLLA's own.

    Returns:
        ``hull`` (vertices of the frontier, by BLER), ``olla_hull`` (of the OLLA points
        alone; empty without any), and ``families``: for eOLLA, SALAD and ILLA, each
        point's ``spec``, ``bler``, ``throughput_mbps``, and against the OLLA-only
        frontier at its BLER ``frontier_mbps``, ``gain_pct``, ``extrapolated``,
        ``frontier_specs``, ``frontier_weights``.

    """
    hull = frontier.upper_hull(_points(runs, specs))
    olla = [s for s in specs if baselines.describe(s).family == OLLA]
    olla_hull = frontier.upper_hull(_points(runs, olla)) if olla else []
    families: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        family = baselines.describe(spec).family
        if family not in FAMILIES_VS_OLLA:
            continue
        row = runs[spec]
        entry = {"spec": spec, "bler": row["bler"], "throughput_mbps": row["throughput_mbps"]}
        if olla_hull:
            entry.update(_against(olla_hull, row["bler"], row["throughput_mbps"]))
        families.setdefault(family, []).append(entry)
    return {"hull": _hull_json(hull), "olla_hull": _hull_json(olla_hull), "families": families}


def policy_against_frontier(row: Mapping[str, Any], hull: Sequence[frontier.Point],
                            rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A policy's row judged at its own BLER.

    Returns:
        ``frontier_mbps`` (F at the policy's BLER), ``gain_pct`` (gain at no higher
        BLER, %), ``extrapolated`` (BLER below every baseline's), ``frontier_specs``
        and ``frontier_weights`` (the baseline configuration, or the two time-shared,
        that reach F there), ``gap_share_genie_delayed`` and ``gap_share_genie`` (share
        of the gap from F to that genie's throughput closed; None without that genie
        or a gap <= 0).

    """
    out = _against(hull, row["bler"], row["throughput_mbps"])
    for key, name in (("gap_share_genie_delayed", GENIE_DELAYED), ("gap_share_genie", GENIE)):
        genie = rows.get(name)
        out[key] = frontier.gap_share(row["throughput_mbps"], out["frontier_mbps"],
                                      None if genie is None else genie["throughput_mbps"])
    return out


# --- summary ----------------------------------------------------------------------


def gain_pct(value: float, reference: float) -> float | None:
    """Change of ``value`` relative to ``reference``, percent (None for a zero reference)."""
    return 100.0 * (value / reference - 1.0) if reference > 0 else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known and len(known) == len(values) else None


_FRONTIER_KEYS: Final = ("frontier_mbps", "gain_pct", "extrapolated", "frontier_specs",
                         "gap_share_genie_delayed", "gap_share_genie")


def summarize(scenarios: Mapping[str, Mapping[str, Mapping[str, Any]]],
              reference: str) -> dict[str, Any]:
    """Per policy (all but the reference): throughput change vs ``reference``, BLER vs OLLA's.

    Per scenario: ``throughput_gain_pct`` vs the reference, ``bler``,
    ``reference_bler``, ``olla_bler``, ``gap_closed`` (share of the OLLA-to-genie
    throughput gap) and ``gap_closed_genie_delayed`` (of the OLLA-to-genie-delayed
    gap); with a frontier, ``frontier`` (see :func:`policy_against_frontier`).
    Over scenarios: ``mean_throughput_gain_pct``, ``worst_throughput_gain_pct`` with
    its ``worst_scenario``, ``mean_gap_closed``, ``mean_gap_closed_genie_delayed``, and at
    no higher BLER
    ``mean_frontier_gain_pct``, ``worst_frontier_gain_pct`` with its
    ``worst_frontier_scenario``, ``mean_gap_share_genie_delayed`` and
    ``mean_gap_share_genie``. Figures that need a missing policy are ``None``.
    """
    names = list(next(iter(scenarios.values()))) if scenarios else []
    policies: dict[str, Any] = {}
    for policy in names:
        if policy == reference:
            continue
        per: dict[str, Any] = {}
        for scenario, rows in scenarios.items():
            row, ref = rows[policy], rows.get(reference)
            olla, genie, delayed = rows.get(OLLA), rows.get(GENIE), rows.get(GENIE_DELAYED)
            thp = row["throughput_mbps"]
            genie_thp = None if genie is None else genie["throughput_mbps"]
            delayed_thp = None if delayed is None else delayed["throughput_mbps"]
            per[scenario] = {
                "throughput_mbps": thp,
                "throughput_gain_pct": None if ref is None else gain_pct(
                    thp, ref["throughput_mbps"]),
                "bler": row["bler"],
                "reference_bler": None if ref is None else ref["bler"],
                "bler_change_pct": None if ref is None else gain_pct(row["bler"], ref["bler"]),
                "olla_bler": None if olla is None else olla["bler"],
                # share of the OLLA-to-genie gap (1 = as good as the genie)
                "gap_closed": None if olla is None else frontier.gap_share(
                    thp, olla["throughput_mbps"], genie_thp),
                # the same, of the OLLA-to-genie-delayed gap
                "gap_closed_genie_delayed": None if olla is None else frontier.gap_share(
                    thp, olla["throughput_mbps"], delayed_thp),
                "frontier": row.get("frontier"),
            }
        first = next(iter(scenarios.values()))[policy]
        policies[policy] = {
            "role": first["role"],
            "metadata": first.get("metadata", {}),
            **_over_scenarios(per, lambda p: p["throughput_gain_pct"], "throughput_gain_pct",
                              "worst_scenario"),
            "mean_gap_closed": _mean([p["gap_closed"] for p in per.values()]),
            "mean_gap_closed_genie_delayed": _mean(
                [p["gap_closed_genie_delayed"] for p in per.values()]),
            **_over_scenarios(per, lambda p: (p["frontier"] or {}).get("gain_pct"),
                              "frontier_gain_pct", "worst_frontier_scenario"),
            **{f"mean_{key}": _mean([(p["frontier"] or {}).get(key) for p in per.values()])
               for key in ("gap_share_genie_delayed", "gap_share_genie")},
            "scenarios": per,
        }
    return {"reference": reference, "policies": policies}


def _over_scenarios(per: Mapping[str, Any], value: Callable[[Any], float | None], name: str,
                    worst_key: str) -> dict[str, Any]:
    values = {s: value(p) for s, p in per.items()}
    known = {s: v for s, v in values.items() if v is not None}
    worst = min(known, key=lambda s: known[s]) if known else None
    return {f"mean_{name}": _mean(list(values.values())),
            f"worst_{name}": None if worst is None else known[worst], worst_key: worst}


def family_summary(frontiers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each family's best point against the OLLA-only frontier at its BLER, per scenario.

    Returns:
        ``{family: {scenario: {"spec", "gain_pct", "bler"}}}``, the highest gain.

    """
    out: dict[str, dict[str, Any]] = {}
    for scenario, f in frontiers.items():
        for family, entries in f["families"].items():
            known = [e for e in entries if e.get("gain_pct") is not None]
            if known:
                best = max(known, key=lambda e: e["gain_pct"])
                out.setdefault(family, {})[scenario] = {"spec": best["spec"],
                                                        "gain_pct": best["gain_pct"],
                                                        "bler": best["bler"]}
    return out


def target_summary(scenarios: Mapping[str, Mapping[str, Mapping[str, Any]]],
                   models: Sequence[str], target: float) -> dict[str, Any]:
    """The models asked for BLER target ``target``, judged against the frontier.

    Args:
        scenarios: ``{scenario: {policy: row}}`` with the models' rows at ``target``
            (each with its ``frontier`` when the baselines ran).
        models: names of the models' rows.
        target: the BLER target the models were asked for.

    Returns:
        ``target_bler``, ``bler_limit`` (:data:`BLER_LIMIT_FACTOR` x target) and
        ``models``: per model, per scenario ``throughput_mbps``, ``bler``,
        ``bler_within_limit``, and from the frontier ``frontier_mbps``, ``gain_pct``,
        ``extrapolated``, ``gap_share_genie_delayed`` (None without baselines); over
        scenarios ``mean_gain_pct``, ``worst_gain_pct`` with its ``worst_scenario``,
        ``mean_gap_share_genie_delayed``, ``bler_within_limit`` (in every scenario)
        and ``bler_over_limit`` (the scenarios where it is not).

    """
    limit = BLER_LIMIT_FACTOR * target
    out: dict[str, Any] = {}
    for name in models:
        per: dict[str, Any] = {}
        for scenario, rows in scenarios.items():
            row = rows[name]
            f = row.get("frontier") or {}
            per[scenario] = {
                "throughput_mbps": row["throughput_mbps"], "bler": row["bler"],
                # a hair of slack: 1.2 * 0.1 is 0.12000000000000001 in floating point
                "bler_within_limit": bool(row["bler"] <= limit + 1e-12),
                **{key: f.get(key) for key in ("frontier_mbps", "gain_pct", "extrapolated",
                                               "gap_share_genie_delayed")},
            }
        over = [s for s, p in per.items() if not p["bler_within_limit"]]
        out[name] = {
            **_over_scenarios(per, lambda p: p["gain_pct"], "gain_pct", "worst_scenario"),
            "mean_gap_share_genie_delayed": _mean(
                [p["gap_share_genie_delayed"] for p in per.values()]),
            "bler_within_limit": not over, "bler_over_limit": over,
            "scenarios": per,
        }
    return {"target_bler": target, "bler_limit": limit, "models": out}
