"""The corpus plan: every clip's split, sensor, file name and scene, and its annotation rows.

Clips ``0 .. clips-1`` are split into ``train`` and ``validate`` (sensor-disjoint, as in the real data). The
held-out ``test`` clips come after them (indices ``clips .. clips+test_clips-1``) on sensors of their own, drawn
from a separate random stream: adding or resizing the test split never changes a train or validate clip, so a
teacher trained on the corpus before the test split existed still sees exactly its training data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kdzoo.data.synth.annotations import (
    TEAM_POOL,
    VOLUNTEER_POOL,
    VOLUNTEERS_PER_CLIP,
    annotate_team,
    annotate_volunteer,
    annotation_row,
    truth_marks,
)
from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.scenes import STREAM_ANNOTATIONS, STREAM_SPLIT, Scene, clip_scene


@dataclass(frozen=True)
class ClipPlan:
    """Where clip ``index`` goes and what it holds."""

    index: int
    split: str
    sensor: int
    filename: str
    scene: Scene


def _sensor_count(n_clips: int, cap: int) -> int:
    return min(cap, max(1, math.ceil(n_clips / 6)))


TEST_SENSORS = 20
"""At most this many sensors in the test split (train <= 35, validate <= 8, all from 100 ids, never shared)."""


def _assign(clips: int, seed: int, validate_fraction: float) -> tuple[list[str], list[int], set[int]]:
    """Split and sensor of each train/validate clip, and the sensor ids the two splits hold."""
    rng = np.random.default_rng([seed, 0, STREAM_SPLIT])
    n_val = min(clips - 1, max(1, round(clips * validate_fraction)))
    is_val = np.zeros(clips, dtype=bool)
    is_val[rng.permutation(clips)[:n_val]] = True
    n_train_sensors, n_val_sensors = _sensor_count(clips - n_val, 35), _sensor_count(n_val, 8)
    ids = rng.choice(100, size=n_train_sensors + n_val_sensors, replace=False)
    pools = {"train": ids[:n_train_sensors], "validate": ids[n_train_sensors:]}
    splits = ["validate" if v else "train" for v in is_val]
    return splits, [int(rng.choice(pools[s])) for s in splits], {int(i) for i in ids}


def _assign_test(test_clips: int, seed: int, taken: set[int]) -> list[int]:
    """Sensor of each test clip, from ids no train or validate clip uses (own stream: train/validate unchanged)."""
    rng = np.random.default_rng([seed, 1, STREAM_SPLIT])
    free = np.array(sorted(set(range(100)) - taken))
    pool = rng.choice(free, size=min(len(free), _sensor_count(test_clips, TEST_SENSORS)), replace=False)
    return [int(s) for s in rng.choice(pool, size=test_clips)]


def plan_corpus(clips: int, seed: int, validate_fraction: float, clip_seconds: float, d: Difficulty,
                test_clips: int = 0) -> list[ClipPlan]:
    """Every clip's split (sensor-disjoint, as in the real data), sensor, file name and scene: ``clips`` train and
    validate clips, then ``test_clips`` held-out test clips."""
    splits, sensors, taken = _assign(clips, seed, validate_fraction)
    splits += ["test"] * test_clips
    sensors += _assign_test(test_clips, seed, taken) if test_clips else []
    return [
        ClipPlan(i, split, sensor, f"{sensor:02d}_{i:06d}.wav", clip_scene(seed, i, clip_seconds, d))
        for i, (split, sensor) in enumerate(zip(splits, sensors, strict=True))
    ]


def clip_rows(plan: ClipPlan, seed: int, d: Difficulty) -> list[list]:
    """All CSV rows of one clip: 3 volunteers; on validate also an optional team row and the truth (id 0); on
    test the truth row only (the held-out split is scored against the verified labels, like v2.3's test split)."""
    rng = np.random.default_rng([seed, plan.index, STREAM_ANNOTATIONS])
    head = (plan.split, plan.sensor, plan.filename)
    if plan.split == "test":
        return [annotation_row(head, 0, truth_marks(plan.scene))]
    ids = rng.choice(np.arange(1, VOLUNTEER_POOL + 1), size=VOLUNTEERS_PER_CLIP, replace=False)
    rows = [annotation_row(head, int(a), annotate_volunteer(rng, plan.scene, d)) for a in ids]
    if plan.split == "validate":
        if rng.random() < d.team_prob:
            marks, groups = annotate_team(rng, plan.scene)
            rows.append(annotation_row(head, -int(rng.integers(1, TEAM_POOL + 1)), marks, groups))
        rows.append(annotation_row(head, 0, truth_marks(plan.scene)))
    return rows
