"""Could a 3x32 student read fewer inputs? Distil one on the k most important features.

A 3x32 MLP on all 43 features has 4,477 parameters, 24x fewer than the 7x128
teacher; reading at most 16 features would make it 30x. This ranks the features
by permutation importance (the drop in MCS agreement with the dataset's teacher
when one feature column is shuffled, for ``--rank-model`` on 200k states), builds
a 3x32 whose first layer sees only the top ``--inputs`` of them (a Gather after
the normalization: the ONNX input would stay the 43-feature contract), trains it
and, for comparison, a full-input 3x32 the same way, and prints held-out
agreement and regret of both.

Usage::

    python scripts/input_subset_student.py --dataset runs/distill-quick/dataset
        --rank-model xapp/models/default.onnx [--inputs 16] [--epochs 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.distill.dataset import load_dataset
from training.distill.student import StudentConfig, train_student
from training.networks import QNetwork
from xapp.features import FEATURE_NAMES
from xapp.model_check import Limits, check_model
from xapp.nr_tables import NUM_ACTIONS
from xapp.policy import masked_argmax


class SubsetNetwork(QNetwork):
    """A Q-network whose MLP reads only the features at ``inputs`` (after normalization)."""

    inputs: torch.Tensor

    def __init__(self, hidden: tuple[int, ...], inputs: list[int]) -> None:
        super().__init__(hidden)
        self.register_buffer("inputs", torch.tensor(inputs, dtype=torch.int64))
        layers: list[nn.Module] = []
        width = len(inputs)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, NUM_ACTIONS))
        self.mlp = nn.Sequential(*layers)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """Q-values per MCS index from the selected features."""
        normalized = (observation - self.obs_mean) / self.obs_std
        return self.mlp(normalized.index_select(1, self.inputs))


def importance(model: Path, obs: np.ndarray, q: np.ndarray, seed: int) -> list[float]:
    """Agreement lost by ``model`` when each feature column is shuffled, per feature."""
    policy = check_model(model.read_bytes(), Limits(latency_budget_us=None))
    table = np.where(obs[:, FEATURE_NAMES.index("table_qam256")] > 0.5, 2, 1)
    teacher = masked_argmax(q, table)

    def agreement(o: np.ndarray) -> float:
        return float((masked_argmax(policy.q_values(o), table) == teacher).mean())

    base = agreement(obs)
    rng = np.random.default_rng(seed)
    drops = []
    for j in range(obs.shape[1]):
        shuffled = obs.copy()
        shuffled[:, j] = shuffled[rng.permutation(len(obs)), j]
        drops.append(base - agreement(shuffled))
    return drops


def main(argv: list[str] | None = None) -> int:
    """Rank the features, train the subset and the full-input 3x32, print both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--rank-model", type=Path, required=True)
    parser.add_argument("--inputs", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset)
    rows = np.random.default_rng(args.seed).choice(len(data), min(200_000, len(data)),
                                                   replace=False)
    drops = importance(args.rank_model, data.obs[rows], data.q[rows], args.seed)
    chosen = sorted(range(len(drops)), key=lambda j: -drops[j])[:args.inputs]
    cfg = StudentConfig(size="3x32", epochs=args.epochs, seed=args.seed)
    results: dict[str, dict[str, Any]] = {}
    for name, inputs in (("subset", chosen), ("full", list(range(len(FEATURE_NAMES))))):
        torch.manual_seed(args.seed)
        net = SubsetNetwork((32, 32, 32), inputs)
        net.set_normalization(data.obs[:200_000])
        result = train_student(data, cfg, net=net)
        results[name] = {"inputs": [FEATURE_NAMES[j] for j in inputs],
                         "parameters": net.parameter_count(),
                         "agreement": result.agreement, "regret": result.regret}
    if args.json:
        print(json.dumps(results))
    else:
        for name, r in results.items():
            print(f"{name}: {len(r['inputs'])} inputs, {r['parameters']:,} parameters, "
                  f"held-out agreement {r['agreement']:.4f}, regret {r['regret']:.5f}")
        print("subset:", ", ".join(results["subset"]["inputs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
