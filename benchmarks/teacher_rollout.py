"""Teacher training speed: environment steps per second with 1 and 2 Ray rollout actors.

Each actor runs a vectorized simulator (``--ues`` UE rows, domain-randomized)
and chooses MCS with the 108k-parameter teacher network (epsilon-greedy), as in
training. Measured: UE-slots simulated per second summed over actors, with the
learner idle (rollout capacity), and the learner's gradient steps per second
on the same machine.

    python benchmarks/teacher_rollout.py [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import ray
import torch

from training.dqn import DqnConfig, DqnLearner
from training.networks import teacher_network
from training.replay import ReplayBuffer
from training.rollout import RolloutConfig, RolloutWorker


def rollout_rate(actors: int, ues: int, chunk_slots: int, chunks: int) -> float:
    """UE-slots per second over ``actors`` Ray actors (after one warm-up chunk each)."""
    net = teacher_network()
    weights = ray.put({k: v.numpy().copy() for k, v in net.state_dict().items()})
    remote = ray.remote(num_cpus=1)(RolloutWorker)
    workers = [remote.remote(RolloutConfig(ues=ues), net.hidden, i) for i in range(actors)]
    ray.get([w.rollout.remote(weights, chunk_slots, 0.1) for w in workers])
    start = time.perf_counter()
    ray.get([w.rollout.remote(weights, chunk_slots * chunks, 0.1) for w in workers])
    elapsed = time.perf_counter() - start
    for w in workers:
        ray.kill(w)
    return actors * ues * chunk_slots * chunks / elapsed


def learner_rate(batch_size: int, steps: int) -> float:
    """Gradient steps per second of the teacher learner on random transitions."""
    torch.set_num_threads(1)
    learner = DqnLearner(teacher_network(), DqnConfig(batch_size=batch_size))
    replay = ReplayBuffer(100_000)
    worker = RolloutWorker(RolloutConfig(ues=256), learner.online.hidden, 0)
    weights = {k: v.numpy().copy() for k, v in learner.online.state_dict().items()}
    while len(replay) < 50_000:
        replay.add(worker.rollout(weights, 50, 1.0).transitions)
    rng = np.random.default_rng(0)
    for _ in range(5):
        learner.update(replay.sample(rng, batch_size))
    start = time.perf_counter()
    for _ in range(steps):
        learner.update(replay.sample(rng, batch_size))
    return steps / (time.perf_counter() - start)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ues", type=int, default=1024)
    parser.add_argument("--chunk-slots", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    one = rollout_rate(1, args.ues, args.chunk_slots, args.chunks)
    two = rollout_rate(2, args.ues, args.chunk_slots, args.chunks)
    ray.shutdown()
    steps = learner_rate(2048, 100)
    result = {"ues_per_actor": args.ues, "env_steps_per_s_1_actor": round(one),
              "env_steps_per_s_2_actors": round(two),
              "learner_updates_per_s_batch_2048": round(steps, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"rollout, {args.ues} UEs per actor (UE-slots per second, learner idle):")
        print(f"  1 actor : {one:12,.0f}")
        print(f"  2 actors: {two:12,.0f}")
        print(f"learner: {steps:.1f} gradient steps/s at batch 2048 "
              f"({steps * 2048:,.0f} samples/s)")


if __name__ == "__main__":
    main()
