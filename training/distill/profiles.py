"""Distillation profiles, named as the teacher's: ``smoke``, ``quick``, ``paper``."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.distill.dataset import CollectConfig


@dataclass(frozen=True)
class DistillProfile:
    """Dataset size and training length of a distillation run."""

    name: str
    """Profile name."""
    collect: CollectConfig = field(default_factory=CollectConfig)
    """Dataset collection per teacher."""
    epochs: int = 30
    """Passes over the dataset per student."""
    batch_size: int = 1024
    """Samples per gradient step."""


PROFILES: dict[str, DistillProfile] = {
    # tests: a few thousand states, a few seconds
    "smoke": DistillProfile(
        "smoke", CollectConfig(samples=6_000, actors=1, ues=128, episode_slots=100,
                               chunk_slots=50, shard_samples=4_000), epochs=3, batch_size=256),
    # 2M states from 2 actors; three students in well under 15 minutes on 2 cores
    "quick": DistillProfile("quick", CollectConfig(samples=2_000_000, actors=2), epochs=20,
                            batch_size=2048),
    # the paper's scale: about 20M states from 16 actors (a Ray cluster)
    "paper": DistillProfile(
        "paper", CollectConfig(samples=20_000_000, actors=16, episode_slots=1000,
                               shard_samples=1_000_000), epochs=10, batch_size=4096),
}


def distill_profile(name: str) -> DistillProfile:
    """The profile called ``name``."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") \
            from None
