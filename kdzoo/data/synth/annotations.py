"""Annotators: noisy volunteers, partial SONYC-team rows and the verified truth, as v1 CSV rows.

Marks are ``{fine tag: proximity}``; :func:`annotation_row` turns them into v1 cells."""

from __future__ import annotations

import math

import numpy as np

from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.dsp import pick
from kdzoo.data.synth.scenes import COARSE_PREVALENCE, Event, Scene
from kdzoo.data.synth.taxonomy import COARSE, FINE, FINE_COARSE, FINE_TAGS, fine_tag

PROXIMITIES = ("near", "far", "notsure")
_PROXIMITY_P = {False: (0.7, 0.1, 0.2), True: (0.15, 0.6, 0.25)}
_FALSE_WEIGHTS = tuple(float(p) for p in COARSE_PREVALENCE / COARSE_PREVALENCE.mean())
VOLUNTEERS_PER_CLIP = 3
VOLUNTEER_POOL = 400
TEAM_POOL = 8
Marks = dict[str, str]


def truth_marks(scene: Scene) -> Marks:
    """The verified labels (annotator 0): each event's fine tag, or its X tag when uncertain; no proximity."""
    return {fine_tag(ev.coarse, ev.label): "-1" for ev in scene}


def miss_probability(snr_db: float, difficulty: Difficulty | None = None) -> float:
    """Chance a volunteer misses an event at ``snr_db``: ``miss_rate`` at mid-range, logistic in SNR."""
    d = difficulty or Difficulty()
    if d.miss_rate in (0.0, 1.0):
        return d.miss_rate
    mid = 0.5 * (d.snr_db[0] + d.snr_db[1])
    logit = math.log(d.miss_rate / (1.0 - d.miss_rate)) - (snr_db - mid) / d.miss_slope_db
    return 1.0 / (1.0 + math.exp(-logit))


def false_probability(coarse: int, difficulty: Difficulty | None = None) -> float:
    """Chance a volunteer tags absent class ``coarse``: ``false_rate`` scaled by the class's prevalence relative
    to the mean (people imagine a passing car far more often than a dog), so the class average is ``false_rate``."""
    d = difficulty or Difficulty()
    return min(1.0, d.false_rate * _FALSE_WEIGHTS[coarse - 1])


def _volunteer_key(rng: np.random.Generator, ev: Event, d: Difficulty) -> int | str:
    keys = list(FINE[ev.coarse])
    if len(keys) == 1 or rng.random() < d.fine_accuracy:
        return ev.subtype
    if rng.random() < 0.6:
        return "X"
    siblings = [k for k in keys if k not in (ev.subtype, "X")]
    return siblings[int(rng.integers(len(siblings)))]


def _mark(marks: Marks, tag: str, proximity: str) -> None:
    if tag not in marks or proximity == "near":
        marks[tag] = proximity


def annotate_volunteer(rng: np.random.Generator, scene: Scene, difficulty: Difficulty | None = None) -> Marks:
    """One volunteer's marks: misses quiet events, confuses fine tags, rarely adds a spurious class."""
    d = difficulty or Difficulty()
    marks: Marks = {}
    for ev in scene:
        if rng.random() >= miss_probability(ev.snr_db, d):
            proximity = PROXIMITIES[pick(rng, _PROXIMITY_P[ev.far])]
            _mark(marks, fine_tag(ev.coarse, _volunteer_key(rng, ev, d)), proximity)
    present = {ev.coarse for ev in scene}
    for c, keys in FINE.items():
        if c not in present and rng.random() < false_probability(c, d):
            key = list(keys)[int(rng.integers(len(keys)))]
            _mark(marks, fine_tag(c, key), PROXIMITIES[int(rng.integers(3))])
    return marks


def annotate_team(rng: np.random.Generator, scene: Scene) -> tuple[Marks, set[int]]:
    """A SONYC-team row: the truth for 1-3 coarse groups it annotated (returned), nothing (-1) for the rest."""
    groups = {int(c) for c in rng.choice(list(COARSE), size=int(rng.integers(1, 4)), replace=False)}
    return {fine_tag(ev.coarse, ev.label): "-1" for ev in scene if ev.coarse in groups}, groups


def annotation_row(head: tuple[str, int, str], annotator: int, marks: Marks, groups: set[int] | None = None) -> list:
    """v1 cells for one annotator: presence 0/1 (-1 for groups not annotated), proximity or "-1", coarse any."""
    annotated = [groups is None or c in groups for c in FINE_COARSE]
    presence = [int(t in marks) if ok else -1 for t, ok in zip(FINE_TAGS, annotated, strict=True)]
    proximity = [marks.get(t, "-1") if ok else "-1" for t, ok in zip(FINE_TAGS, annotated, strict=True)]
    coarse = [
        -1 if groups is not None and c not in groups else int(any(t.startswith(f"{c}-") for t in marks))
        for c in COARSE
    ]
    return [*head, annotator, *presence, *proximity, *coarse]
