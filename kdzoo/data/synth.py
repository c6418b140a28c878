"""A generated stand-in for SONYC-UST v1 (DCASE 2019 Task 5), written in the real corpus's exact layout.

Why: no real corpus can be downloaded here, yet the SONYC loader, the official metric and every recipe need data.
:func:`synth_ust` writes procedural urban scenes (traffic background, 0-4 labelled events from the 8 coarse
classes, unlabelled confusers) together with crowd-style annotations (3 noisy volunteers per clip, a verified
ground-truth row and sometimes a SONYC-team row on validate), so the real loader reads it unchanged::

    root/annotations.csv                  v1 columns (see :func:`annotation_columns`)
    root/dcase-ust-taxonomy.yaml          the official taxonomy (8 coarse, 23 fine + 6 X)
    root/audio-dev/{train,validate}/SS_NNNNNN.wav   16-bit PCM mono, SS = sensor id
    root/.synth.json                      version, seed and parameters; written last, so it marks completeness

Every random draw comes from a generator keyed by ``(seed, clip index, stream)``: the corpus is identical for any
worker count, and the labels never depend on how the audio was rendered. The difficulty knobs are the fields of
:class:`Difficulty`; :func:`synth_ust` takes each as a keyword argument.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import soundfile as sf
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from scipy import signal
from scipy.special import ndtri

logger = logging.getLogger(__name__)

SYNTH_VERSION = "1.0.0"
"""Bump whenever the output for a given seed and parameters changes, so stale corpora are regenerated."""

MARKER_NAME = ".synth.json"
PARTIAL_NAME = ".synth.partial"
"""Present while a generation is under way (or crashed): lets a rerun overwrite its own unfinished output."""
ANNOTATIONS_NAME = "annotations.csv"
TAXONOMY_NAME = "dcase-ust-taxonomy.yaml"
AUDIO_DIR = "audio-dev"
SPLITS = ("train", "validate")
SpeechMode = Literal["auto", "formant", "espeak"]

# ----------------------------------------------------------------------------------------------------------------
# Taxonomy (DCASE 2019 Task 5 ``dcase-ust-taxonomy.yaml``; keys are ints except the incomplete "X" tags)

COARSE: dict[int, str] = {
    1: "engine", 2: "machinery-impact", 3: "non-machinery-impact", 4: "powered-saw",
    5: "alert-signal", 6: "music", 7: "human-voice", 8: "dog",
}
FINE: dict[int, dict[int | str, str]] = {
    1: {1: "small-sounding-engine", 2: "medium-sounding-engine", 3: "large-sounding-engine",
        "X": "engine-of-uncertain-size"},
    2: {1: "rock-drill", 2: "jackhammer", 3: "hoe-ram", 4: "pile-driver", "X": "other-unknown-impact-machinery"},
    3: {1: "non-machinery-impact"},
    4: {1: "chainsaw", 2: "small-medium-rotating-saw", 3: "large-rotating-saw", "X": "other-unknown-powered-saw"},
    5: {1: "car-horn", 2: "car-alarm", 3: "siren", 4: "reverse-beeper", "X": "other-unknown-alert-signal"},
    6: {1: "stationary-music", 2: "mobile-music", 3: "ice-cream-truck", "X": "music-from-uncertain-source"},
    7: {1: "person-or-small-group-talking", 2: "person-or-small-group-shouting", 3: "large-crowd",
        4: "amplified-speech", "X": "other-unknown-human-voice"},
    8: {1: "dog-barking-whining"},
}


def fine_tag(coarse: int, key: int | str) -> str:
    """``fine_tag(1, "X") == "1-X_engine-of-uncertain-size"`` (the column stem used by the CSV and the metric)."""
    return f"{coarse}-{key}_{FINE[coarse][key]}"


def coarse_tag(coarse: int) -> str:
    """``coarse_tag(5) == "5_alert-signal"``."""
    return f"{coarse}_{COARSE[coarse]}"


FINE_TAGS: tuple[str, ...] = tuple(fine_tag(c, k) for c, keys in FINE.items() for k in keys)
COARSE_TAGS: tuple[str, ...] = tuple(coarse_tag(c) for c in COARSE)
_FINE_COARSE: tuple[int, ...] = tuple(c for c, keys in FINE.items() for _ in keys)


def annotation_columns() -> list[str]:
    """The v1 ``annotations.csv`` header: ids, 29 fine presences, 29 fine proximities, 8 coarse presences."""
    return [
        "split", "sensor_id", "audio_filename", "annotator_id",
        *(f"{t}_presence" for t in FINE_TAGS), *(f"{t}_proximity" for t in FINE_TAGS),
        *(f"{t}_presence" for t in COARSE_TAGS),
    ]


def taxonomy_yaml() -> str:
    """The taxonomy file's text: ``coarse: {1: engine, ...}`` then ``fine: {1: {1: ..., X: ...}, ...}``."""
    return yaml.safe_dump({"coarse": COARSE, "fine": FINE}, sort_keys=False, default_flow_style=False)


# ----------------------------------------------------------------------------------------------------------------
# Difficulty knobs


@dataclass(frozen=True)
class Difficulty:
    """How hard the corpus is. The defaults aim at a task where a small CNN clearly trails a larger one.

    Attributes:
        snr_db: (low, high) event level over the background RMS in dB, uniform per event, measured over the
            event's active frames. Independent of class, so "loudest = class X" is no cue.
        far_prob: probability that an event is far: low-passed (800-3000 Hz) and ``far_drop_db`` quieter.
        far_drop_db: extra attenuation of far events in dB.
        max_events: the most labelled events in one clip.
        background_noise_db: (low, high) level of the broadband noise floor relative to the traffic rumble, dB;
            higher masks the high-frequency cues of alerts, saws and voices.
        distractor_rate: mean number (Poisson) of unlabelled confusers per clip: HVAC hum, birds, wind, footsteps.
        distractor_snr_db: (low, high) confuser level over the background, dB.
        miss_rate: probability that a volunteer misses a present near event at the middle of ``snr_db``.
        miss_slope_db: dB per unit of miss log-odds; quieter (and far) events are missed more, louder ones less.
        false_rate: mean probability that a volunteer adds a spurious tag for a coarse class absent from the
            clip; common classes get proportionally more (see :func:`false_probability`).
        fine_accuracy: probability that a volunteer who hears an event picks its true fine tag (else X or a
            sibling).
        uncertain_rate: probability that the verified truth knows only the X tag of a near event (doubled if far).
        team_prob: probability that a validate clip also has one SONYC-team row (a few coarse groups, -1 elsewhere).
    """

    snr_db: tuple[float, float] = (-6.0, 20.0)
    far_prob: float = 0.35
    far_drop_db: float = 6.0
    max_events: int = 4
    background_noise_db: tuple[float, float] = (-20.0, 0.0)
    distractor_rate: float = 1.0
    distractor_snr_db: tuple[float, float] = (-10.0, 8.0)
    miss_rate: float = 0.2
    miss_slope_db: float = 6.0
    false_rate: float = 0.02
    fine_accuracy: float = 0.7
    uncertain_rate: float = 0.12
    team_prob: float = 0.5

    def __post_init__(self) -> None:
        for name in ("far_prob", "miss_rate", "false_rate", "fine_accuracy", "uncertain_rate", "team_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Difficulty.{name}={getattr(self, name)} is not a probability; use a value in [0, 1]")
        for name in ("snr_db", "background_noise_db", "distractor_snr_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"Difficulty.{name}=({low}, {high}) has low > high; pass (low, high)")
        if self.max_events < 0 or self.distractor_rate < 0 or self.miss_slope_db <= 0:
            raise ValueError("Difficulty: max_events and distractor_rate must be >= 0 and miss_slope_db > 0")


# ----------------------------------------------------------------------------------------------------------------
# Scenes: which events a clip holds (the labels), sampled without rendering any audio

COARSE_PREVALENCE = np.array([0.50, 0.20, 0.11, 0.06, 0.22, 0.09, 0.45, 0.06])
"""Target share of clips with each coarse class present (roughly SONYC-UST's), coarse ids 1..8 in order."""

_LATENT_CORRELATION = {(1, 5): 0.35, (1, 2): 0.2, (2, 4): 0.45, (2, 3): 0.15, (6, 7): 0.25, (7, 8): 0.15}
"""Correlations of the Gaussian copula behind co-occurrence: traffic (engine + alerts), construction
(machinery + saws + impacts), street life (voices + music + dogs)."""

SUBTYPE_WEIGHTS: dict[int, tuple[float, ...]] = {
    1: (0.3, 0.45, 0.25), 2: (0.15, 0.45, 0.15, 0.25), 3: (1.0,), 4: (0.3, 0.5, 0.2),
    5: (0.4, 0.15, 0.3, 0.15), 6: (0.5, 0.4, 0.1), 7: (0.6, 0.25, 0.1, 0.05), 8: (1.0,),
}
DURATION_S: dict[int, tuple[float, float]] = {
    1: (2.0, 10.0), 2: (1.5, 10.0), 3: (0.6, 6.0), 4: (2.0, 8.0), 5: (1.0, 8.0), 6: (3.0, 10.0), 7: (1.5, 8.0),
    8: (1.0, 6.0),
}
REPEAT_PROB = 0.15
"""Chance of a second event of an already present engine/alert/voice class (e.g. two cars), room permitting."""
_REPEATABLE = (1, 5, 7)


def _copula() -> tuple[np.ndarray, np.ndarray]:
    corr = np.eye(len(COARSE))
    for (a, b), r in _LATENT_CORRELATION.items():
        corr[a - 1, b - 1] = corr[b - 1, a - 1] = r
    return np.linalg.cholesky(corr), ndtri(COARSE_PREVALENCE)


_CHOLESKY, _THRESHOLDS = _copula()


@dataclass(frozen=True)
class Event:
    """One labelled sound in a clip.

    Attributes:
        coarse: coarse class id 1..8.
        subtype: the fine sub-type actually synthesised (1..k).
        label: the verified-truth fine key: ``subtype``, or ``"X"`` when the truth is uncertain.
        onset, duration: placement in seconds.
        snr_db: level over the background RMS (far attenuation included).
        far: whether the source is distant (low-passed).
    """

    coarse: int
    subtype: int
    label: int | str
    onset: float
    duration: float
    snr_db: float
    far: bool


Scene = tuple[Event, ...]


def sample_presence(rng: np.random.Generator) -> np.ndarray:
    """(8,) bool coarse presence with :data:`COARSE_PREVALENCE` marginals and realistic co-occurrence."""
    return _CHOLESKY @ rng.standard_normal(len(COARSE)) < _THRESHOLDS


def _event_classes(rng: np.random.Generator, d: Difficulty) -> list[int]:
    present = [c for c, on in zip(COARSE, sample_presence(rng), strict=True) if on]
    rng.shuffle(present)
    present = present[: d.max_events]
    repeats = [c for c in present if c in _REPEATABLE and rng.random() < REPEAT_PROB]
    return sorted(present + repeats[: d.max_events - len(present)])


def _pick(rng: np.random.Generator, probs: tuple[float, ...]) -> int:
    """Index drawn with probabilities ``probs`` (summing to 1); ~20x cheaper than ``rng.choice(p=...)``."""
    return min(int(np.searchsorted(np.cumsum(probs), rng.random(), side="right")), len(probs) - 1)


def _sample_event(rng: np.random.Generator, coarse: int, clip_seconds: float, d: Difficulty) -> Event:
    weights = SUBTYPE_WEIGHTS[coarse]
    subtype = _pick(rng, weights) + 1
    duration = min(float(rng.uniform(*DURATION_S[coarse])), clip_seconds)
    onset = float(rng.uniform(0.0, clip_seconds - duration))
    far = bool(rng.random() < d.far_prob)
    snr_db = float(rng.uniform(*d.snr_db)) - (d.far_drop_db if far else 0.0)
    uncertain = "X" in FINE[coarse] and rng.random() < d.uncertain_rate * (2.0 if far else 1.0)
    return Event(coarse, subtype, "X" if uncertain else subtype, onset, duration, snr_db, far)


def sample_scene(rng: np.random.Generator, clip_seconds: float = 10.0, difficulty: Difficulty | None = None) -> Scene:
    """Draw the labelled events of one clip (no audio): classes, sub-types, placement, level, distance."""
    d = difficulty or Difficulty()
    return tuple(_sample_event(rng, c, clip_seconds, d) for c in _event_classes(rng, d))


# Independent random streams per clip: labels, annotations and audio never shift each other's draws.
_LABELS, _ANNOTATIONS, _AUDIO, _SPLIT, _SENSOR = 0, 1, 2, 3, 4


def clip_scene(seed: int, index: int, clip_seconds: float = 10.0, difficulty: Difficulty | None = None) -> Scene:
    """The scene of clip ``index`` in the corpus of ``seed`` (what :func:`synth_ust` renders and labels)."""
    return sample_scene(np.random.default_rng([seed, index, _LABELS]), clip_seconds, difficulty)


def coarse_presence(scene: Scene) -> np.ndarray:
    """(8,) int true coarse presence of a scene."""
    out = np.zeros(len(COARSE), dtype=int)
    for ev in scene:
        out[ev.coarse - 1] = 1
    return out


# ----------------------------------------------------------------------------------------------------------------
# Annotations: marks are {fine tag: proximity}; a row turns them into v1 cells

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
            proximity = PROXIMITIES[_pick(rng, _PROXIMITY_P[ev.far])]
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
    annotated = [groups is None or c in groups for c in _FINE_COARSE]
    presence = [int(t in marks) if ok else -1 for t, ok in zip(FINE_TAGS, annotated, strict=True)]
    proximity = [marks.get(t, "-1") if ok else "-1" for t, ok in zip(FINE_TAGS, annotated, strict=True)]
    coarse = [
        -1 if groups is not None and c not in groups else int(any(t.startswith(f"{c}-") for t in marks))
        for c in COARSE
    ]
    return [*head, annotator, *presence, *proximity, *coarse]


# ----------------------------------------------------------------------------------------------------------------
# Corpus plan: split, sensor and file name of every clip


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


def _assign(clips: int, seed: int, validate_fraction: float) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng([seed, 0, _SPLIT])
    n_val = min(clips - 1, max(1, round(clips * validate_fraction)))
    is_val = np.zeros(clips, dtype=bool)
    is_val[rng.permutation(clips)[:n_val]] = True
    n_train_sensors, n_val_sensors = _sensor_count(clips - n_val, 35), _sensor_count(n_val, 8)
    ids = rng.choice(100, size=n_train_sensors + n_val_sensors, replace=False)
    pools = {"train": ids[:n_train_sensors], "validate": ids[n_train_sensors:]}
    splits = ["validate" if v else "train" for v in is_val]
    return splits, [int(rng.choice(pools[s])) for s in splits]


def plan_corpus(clips: int, seed: int, validate_fraction: float, clip_seconds: float, d: Difficulty) -> list[ClipPlan]:
    """Every clip's split (sensor-disjoint, as in the real data), sensor, file name and scene."""
    splits, sensors = _assign(clips, seed, validate_fraction)
    return [
        ClipPlan(i, split, sensor, f"{sensor:02d}_{i:06d}.wav", clip_scene(seed, i, clip_seconds, d))
        for i, (split, sensor) in enumerate(zip(splits, sensors, strict=True))
    ]


def clip_rows(plan: ClipPlan, seed: int, d: Difficulty) -> list[list]:
    """All CSV rows of one clip: 3 volunteers; on validate also an optional team row and the truth (id 0)."""
    rng = np.random.default_rng([seed, plan.index, _ANNOTATIONS])
    head = (plan.split, plan.sensor, plan.filename)
    ids = rng.choice(np.arange(1, VOLUNTEER_POOL + 1), size=VOLUNTEERS_PER_CLIP, replace=False)
    rows = [annotation_row(head, int(a), annotate_volunteer(rng, plan.scene, d)) for a in ids]
    if plan.split == "validate":
        if rng.random() < d.team_prob:
            marks, groups = annotate_team(rng, plan.scene)
            rows.append(annotation_row(head, -int(rng.integers(1, TEAM_POOL + 1)), marks, groups))
        rows.append(annotation_row(head, 0, truth_marks(plan.scene)))
    return rows


# ----------------------------------------------------------------------------------------------------------------
# DSP helpers. Signals are float64 arrays of shape (n,) at sample rate ``sr``.

Synth = tuple[np.ndarray, dict]
"""A synthesiser's output: the (n,) signal (any scale) and the parameters it drew, for tests and debugging."""


def _db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) + 1e-12


def _unit(x: np.ndarray) -> np.ndarray:
    return x / _rms(x)


def active_rms(x: np.ndarray, sr: int, floor_db: float = -20.0) -> float:
    """RMS over the 20 ms frames within ``floor_db`` of the loudest: the level while the sound is on."""
    hop = max(1, sr // 50)
    m = len(x) // hop * hop
    if m == 0:
        return _rms(x)
    power = (x[:m].reshape(-1, hop) ** 2).mean(axis=1)
    return float(np.sqrt(power[power >= power.max() * 10 ** (floor_db / 10)].mean())) + 1e-12


def _filter(x: np.ndarray, kind: str, freq: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth ``kind`` in {lowpass, highpass, bandpass}; edges clamped inside (20 Hz, 0.45 sr)."""
    edges = np.clip(np.asarray(freq, dtype=float), 20.0, 0.45 * sr)
    return signal.sosfilt(signal.butter(order, edges.tolist(), btype=kind, fs=sr, output="sos"), x)


def _resonate(x: np.ndarray, fc: float, bandwidth: float, sr: int) -> np.ndarray:
    """Two-pole resonator with unit gain at ``fc`` (formants, body and ring modes)."""
    fc = min(fc, 0.45 * sr)
    r = math.exp(-math.pi * bandwidth / sr)
    theta = 2 * math.pi * fc / sr
    gain = (1 - r) * math.sqrt(1 - 2 * r * math.cos(2 * theta) + r * r)
    return signal.lfilter([gain], [1.0, -2 * r * math.cos(theta), r * r], x)


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, exponent: float, cutoff: float | None = None
                  ) -> np.ndarray:
    """Noise with power ~ f^-exponent (1 pink, 2 brown), optionally rolled off above ``cutoff`` (4th order)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    gain = np.maximum(f, 10.0) ** (-exponent / 2)
    if cutoff is not None:
        gain /= np.sqrt(1.0 + (f / cutoff) ** 8)
    return _unit(np.fft.irfft(spec * gain, n))


def _curve(rng: np.random.Generator, n: int, sr: int, rate_hz: float, low: float, high: float) -> np.ndarray:
    """A smooth random curve in [low, high] with a new target every 1/rate_hz seconds (RPM, level drifts)."""
    k = max(2, int(n / sr * rate_hz) + 2)
    knots = rng.uniform(low, high, k)
    x = np.linspace(0.0, k - 1.0, n)
    i = np.minimum(x.astype(int), k - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - i))
    return knots[i] * (1 - w) + knots[i + 1] * w


def _fade(n: int, sr: int, seconds: float) -> np.ndarray:
    """(n,) ones with raised-cosine ramps of ``seconds`` at both ends (no clicks at event edges)."""
    m = max(1, min(int(seconds * sr), n // 2))
    env = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    env[:m] *= ramp
    env[n - m:] *= ramp[::-1]
    return env


def _gate(n: int, sr: int, segments: list[tuple[float, float]], edge_s: float = 0.008) -> np.ndarray:
    """(n,) envelope that is 1 inside the (start, duration) segments in seconds, with soft edges."""
    env = np.zeros(n)
    for start, dur in segments:
        a, m = int(round(start * sr)), int(dur * sr)
        lo, hi = max(a, 0), min(a + m, n)
        if m > 0 and hi > lo:
            env[lo:hi] = np.maximum(env[lo:hi], _fade(m, sr, edge_s)[lo - a:hi - a])
    return env


def _passby(n: int, sr: int, rng: np.random.Generator, floor: float) -> np.ndarray:
    """A source driving past: a bell-shaped envelope peaking somewhere in the event, never below ``floor``."""
    t = np.arange(n) / sr
    centre, width = rng.uniform(0.2, 0.8) * t[-1], rng.uniform(0.2, 0.5) * t[-1] + 0.1
    return floor + (1 - floor) / (1 + ((t - centre) / width) ** 2)


def _additive(rng: np.random.Generator, f0: np.ndarray, sr: int, amps: np.ndarray) -> np.ndarray:
    """Harmonics k*f0(t) with amplitudes ``amps`` (K,) and random phases; partials above 0.45 sr are muted.

    exp(i k phase) comes from repeated complex multiplication, several times faster than a float64 sine per
    partial (drift after 40 products is ~1e-14).
    """
    unit = np.exp(1j * (2 * np.pi * np.cumsum(f0) / sr))
    power, out = np.ones_like(unit), np.zeros(len(f0))
    nyquist, low, top = 0.45 * sr, float(np.min(f0)), float(np.max(f0))
    for k, a in enumerate(amps, start=1):
        if k * low >= nyquist:
            break
        power *= unit
        theta = rng.uniform(0, 2 * np.pi)
        partial = a * (power.imag * math.cos(theta) + power.real * math.sin(theta))
        out += partial if k * top < nyquist else partial * (k * f0 < nyquist)
    return out


def _pulse_train(f0: np.ndarray, sr: int, amps: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Unit impulses once per period of f0(t), split between two samples at the exact crossing time."""
    cycles = np.cumsum(f0) / sr
    at = np.nonzero(np.diff(np.floor(cycles)))[0]
    frac = (np.ceil(cycles[at]) - cycles[at]) / np.maximum(cycles[at + 1] - cycles[at], 1e-12)
    a = np.ones(len(at)) if amps is None else amps(len(at))
    out = np.zeros(len(f0))
    np.add.at(out, at, (1 - frac) * a)
    np.add.at(out, at + 1, frac * a)
    return out


def _sin(phase: np.ndarray) -> np.ndarray:
    """sin in float32 after reducing the phase in float64: ~15x faster than float64 sin, error ~1e-7."""
    return np.sin(np.mod(phase, 2 * np.pi).astype(np.float32)).astype(np.float64)


def _place(dst: np.ndarray, src: np.ndarray, start: int) -> None:
    """Add ``src`` into ``dst`` at ``start``, cropping whatever falls outside."""
    if start >= len(dst) or start + len(src) <= 0:
        return
    a, b = max(start, 0), min(start + len(src), len(dst))
    dst[a:b] += src[a - start:b - start]


def _decay(rng: np.random.Generator, sr: int, tau: float, ring_hz: float, ring_gain: float) -> np.ndarray:
    """An impact's impulse response: an exponentially decaying noise burst plus a damped ring mode."""
    t = np.arange(int(6 * tau * sr) + 2) / sr
    burst = rng.standard_normal(len(t)) * np.exp(-t / tau)
    ring = np.sin(2 * np.pi * min(ring_hz, 0.45 * sr) * t) * np.exp(-t / (tau * rng.uniform(1.0, 3.0)))
    return burst + ring_gain * ring * math.sqrt(2.0)


# ----------------------------------------------------------------------------------------------------------------
# 1 engine: combustion pulses at the firing rate through an exhaust low-pass; RPM and load vary

ENGINE_F0_HZ = {1: (40.0, 120.0), 2: (25.0, 70.0), 3: (15.0, 45.0)}
"""Firing rate ranges per size (overlapping, so size is a soft cue): small, medium, large."""
ENGINE_CUTOFF_HZ = {1: 450.0, 2: 280.0, 3: 180.0}


def _rpm(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, bool]:
    driving = bool(rng.random() < 0.6)
    low, high = (0.85, 1.7) if driving else (0.95, 1.06)
    return _curve(rng, n, sr, rng.uniform(0.3, 1.0), low, high), driving


def synth_engine(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Idling or driving engine: harmonics of the firing rate below a few hundred Hz, pulsed combustion noise."""
    base = _loguniform(rng, *ENGINE_F0_HZ[subtype])
    rpm, driving = _rpm(rng, n, sr)
    cylinders = 1 + 0.25 * rng.standard_normal(int(rng.choice([2, 4, 6, 8])))
    pulses = _pulse_train(base * rpm, sr, lambda m: np.resize(cylinders, m) * (1 + 0.1 * rng.standard_normal(m)))
    cutoff = ENGINE_CUTOFF_HZ[subtype] * rng.uniform(0.7, 1.4)
    tonal = _unit(_filter(pulses, "lowpass", cutoff, sr, order=4))
    tonal += rng.uniform(0.2, 0.6) * _unit(_resonate(tonal, rng.uniform(2.0, 5.0) * base, 40.0, sr))
    firing = 0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(base * rpm) / sr)
    noise = _unit(_filter(rng.standard_normal(n), "lowpass", 2.5 * cutoff, sr) * firing**2)
    x = (_unit(tonal) + rng.uniform(0.1, 0.5) * noise) * rpm**1.2 * _fade(n, sr, 0.3)
    if driving:
        x *= _passby(n, sr, rng, floor=0.3)
    return x, {"f0_hz": base, "cutoff_hz": cutoff, "driving": driving}


# ----------------------------------------------------------------------------------------------------------------
# 2 machinery-impact: periodic broadband impulses at a tool-specific rate, in work bursts

IMPACT_RATE_HZ = {1: (18.0, 30.0), 2: (10.0, 20.0), 3: (4.0, 9.0), 4: (0.6, 1.5)}
IMPACT_TAU_S = {1: (0.003, 0.008), 2: (0.006, 0.015), 3: (0.015, 0.04), 4: (0.06, 0.2)}
IMPACT_RING_HZ = {1: (1500.0, 4000.0), 2: (700.0, 2500.0), 3: (300.0, 1200.0), 4: (40.0, 120.0)}


def _work_segments(rng: np.random.Generator, seconds: float, bursty: bool) -> list[tuple[float, float]]:
    """(start, duration) periods the tool runs: bursts of 1-4 s with short pauses, or continuous."""
    if not bursty:
        return [(0.0, seconds)]
    segments, t = [], float(rng.uniform(0.0, min(0.3, 0.5 * seconds)))
    while t < seconds:
        on = float(rng.uniform(1.0, 4.0))
        segments.append((t, on))
        t += on + float(rng.uniform(0.2, 1.5))
    return segments


def _impact_times(rng: np.random.Generator, segments: list[tuple[float, float]], rate: float) -> np.ndarray:
    times = [start + np.arange(0.0, dur, 1.0 / rate) for start, dur in segments]
    t = np.concatenate(times)
    return t + rng.normal(0.0, 0.03 / rate, len(t))


def synth_machinery(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Rock drill / jackhammer / hoe-ram / pile driver: impulse trains convolved with a tool-specific response."""
    rate = float(rng.uniform(*IMPACT_RATE_HZ[subtype]))
    segments = _work_segments(rng, n / sr, bursty=subtype != 4)
    times = _impact_times(rng, segments, rate)
    train = np.zeros(n)
    idx = np.clip((times * sr).astype(int), 0, n - 1)
    np.add.at(train, idx, _db(2.0) ** rng.standard_normal(len(idx)))
    tau, ring = rng.uniform(*IMPACT_TAU_S[subtype]), rng.uniform(*IMPACT_RING_HZ[subtype])
    ir = _decay(rng, sr, tau, ring, rng.uniform(0.3, 1.0) if subtype != 4 else rng.uniform(2.0, 4.0))
    if subtype == 4:
        _place(ir, _decay(rng, sr, tau / 8, rng.uniform(400, 1500), 0.3), 0)
    x = signal.oaconvolve(train, ir)[:n] * _fade(n, sr, 0.02)
    return x, {"rate_hz": rate, "times": times, "ring_hz": ring}


# ----------------------------------------------------------------------------------------------------------------
# 3 non-machinery-impact: 1-3 single decaying transients (slams, bangs)


def synth_impact(rng: np.random.Generator, n: int, sr: int, subtype: int = 1) -> Synth:
    """One to three bangs: broadband bursts with a body resonance and sometimes a low thump."""
    count = int(rng.integers(1, 4))
    times = np.sort(rng.uniform(0.0, max(n / sr - 0.25, 1e-3), count))
    x = np.zeros(n)
    for t in times:
        tau = _loguniform(rng, 0.015, 0.15)
        hit = _decay(rng, sr, tau, _loguniform(rng, 100.0, 2500.0), rng.uniform(0.2, 1.5))
        if rng.random() < 0.5:
            hit += _decay(rng, sr, tau, rng.uniform(50.0, 150.0), 3.0)[: len(hit)] * 0.5
        _place(x, hit * _db(rng.uniform(-4.0, 4.0)), int(t * sr))
    return x, {"times": times}


# ----------------------------------------------------------------------------------------------------------------
# 4 powered-saw: bright motor whine whose pitch sags under cutting load, with cutting noise

SAW_F0_HZ = {1: (90.0, 170.0), 2: (180.0, 420.0), 3: (90.0, 200.0)}
"""Chainsaw (two-stroke firing rate at full throttle), small/medium rotating saw, large rotating saw."""


def _load(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """(n,) cutting load in [0, 1]: 1-3 cuts of 0.5-3 s with soft 0.2-0.4 s transitions."""
    t = np.arange(n) / sr
    load = np.zeros(n)
    for _ in range(1 + int(rng.poisson(n / sr / 4.0))):
        start, dur, ramp = rng.uniform(0.0, t[-1] + 1e-3), rng.uniform(0.5, 3.0), rng.uniform(0.2, 0.4)
        load = np.maximum(load, np.clip(np.minimum(t - start, start + dur - t) / ramp, 0.0, 1.0))
    return load


def synth_saw(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Chainsaw (buzzy, throttle revs) or rotating saw (whine with blade resonance); pitch drops while cutting."""
    base, drop = _loguniform(rng, *SAW_F0_HZ[subtype]), rng.uniform(0.12, 0.35)
    load = _load(rng, n, sr)
    f0 = base * (1 - drop * load) * (1 + 0.004 * _sin(2 * np.pi * rng.uniform(4, 9) * np.arange(n) / sr))
    if subtype == 1:
        f0 *= _curve(rng, n, sr, 1.5, 0.55, 1.0) ** (1 - load)
    k = np.arange(1, 41)
    amps = k ** -rng.uniform(0.4, 0.7) if subtype == 1 else k ** -rng.uniform(0.8, 1.1)
    whine = _unit(_additive(rng, f0, sr, amps * _db(1.0) ** rng.normal(0, 3, k.size)))
    if subtype != 1:
        whine += rng.uniform(0.5, 1.5) * _unit(_resonate(whine, rng.uniform(1500, 4500), 300.0, sr))
    cut = _unit(_filter(rng.standard_normal(n), "bandpass", (rng.uniform(1000, 2500), 6500), sr)) * load
    x = (_unit(whine) + rng.uniform(0.3, 1.0) * cut) * (0.6 + 0.4 * load) * _fade(n, sr, 0.15)
    return x, {"f0_hz": base, "drop": drop, "f0_track": f0}


# ----------------------------------------------------------------------------------------------------------------
# 5 alert-signal: horn chords, car alarm patterns, sirens, reverse beepers (tones randomised per event)


def _horn(rng: np.random.Generator, n: int, sr: int) -> Synth:
    f1 = rng.uniform(330.0, 520.0)
    f2 = f1 * rng.uniform(1.18, 1.35)
    segments, t = [], float(rng.uniform(0.0, min(0.3, 0.5 * n / sr)))
    for _ in range(int(rng.integers(1, 5))):
        dur = float(rng.uniform(0.15, 1.2))
        segments.append((t, dur))
        t += dur + float(rng.uniform(0.1, 0.6))
    amps = np.arange(1, 13, dtype=float) ** -1.0
    tones = sum(_additive(rng, np.full(n, f), sr, amps) for f in (f1, f2))
    return tones * _gate(n, sr, segments, 0.01), {"tones_hz": (f1, f2), "segments": segments}


def _alarm_pattern(rng: np.random.Generator, m: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequency, gate) over ``m`` samples for one alarm pattern: warble, chirps, whoop or two-tone."""
    t = np.arange(m) / sr
    lo, hi = rng.uniform(900.0, 1400.0), rng.uniform(1800.0, 2800.0)
    kind, rate = int(rng.integers(4)), rng.uniform(3.0, 9.0)
    cyc = (t * rate) % 1.0
    if kind == 0:
        return lo + (hi - lo) * np.abs(2 * cyc - 1), np.ones(m)
    if kind == 1:
        return np.full(m, hi), (cyc < 0.5).astype(float)
    if kind == 2:
        whoop = (t / rng.uniform(0.3, 0.7)) % 1.0
        return lo + (hi - lo) * whoop, np.ones(m)
    return np.where(cyc < 0.5, lo, hi), np.ones(m)


def _car_alarm(rng: np.random.Generator, n: int, sr: int) -> Synth:
    freq, gate, at = np.empty(n), np.empty(n), 0
    while at < n:
        m = min(n - at, int(rng.uniform(1.5, 3.0) * sr))
        freq[at:at + m], gate[at:at + m] = _alarm_pattern(rng, m, sr)
        at += m
    gate = signal.lfilter([0.05], [1.0, -0.95], gate)
    x = _additive(rng, freq, sr, np.array([1.0, 0.0, 0.33, 0.0, 0.2])) * gate
    return x, {"freq_track": freq}


def _siren(rng: np.random.Generator, n: int, sr: int) -> Synth:
    t = np.arange(n) / sr
    lo = rng.uniform(500.0, 800.0)
    mode = ("wail", "yelp", "hilo")[int(rng.integers(3))]
    if mode == "hilo":
        freq = np.where((t / rng.uniform(0.4, 0.7)) % 2.0 < 1.0, lo, lo * rng.uniform(1.2, 1.5))
    else:
        period = rng.uniform(2.5, 6.0) if mode == "wail" else rng.uniform(0.15, 0.4)
        hi = lo * rng.uniform(1.6, 2.2)
        freq = lo + (hi - lo) * (0.5 - 0.5 * np.cos(2 * np.pi * (t / period + rng.uniform())))
    doppler = 1.0 + 0.02 * np.tanh((rng.uniform(0.2, 0.8) * t[-1] - t) / 0.7)
    amps = np.arange(1, 7, dtype=float) ** -1.2
    x = _additive(rng, freq * doppler, sr, amps) * _passby(n, sr, rng, floor=0.25) * _fade(n, sr, 0.05)
    return x, {"mode": mode, "freq_track": freq * doppler}


def _beeper(rng: np.random.Generator, n: int, sr: int) -> Synth:
    tone, period, duty = rng.uniform(900.0, 1400.0), rng.uniform(0.8, 1.2), rng.uniform(0.4, 0.6)
    start = rng.uniform(0.0, min((1 - duty) * period, 0.5 * n / sr))  # the first beep starts in the first half
    segments = [(s, duty * period) for s in np.arange(start, n / sr, period)]
    x = _additive(rng, np.full(n, tone), sr, np.array([1.0, 0.0, 0.1, 0.0, 0.05])) * _gate(n, sr, segments, 0.005)
    return x, {"tone_hz": tone, "period_s": period, "duty": duty}


def synth_alert(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Car horn (steady 2-tone chord), car alarm (cycling patterns), siren (wail/yelp/hi-lo), reverse beeper."""
    return (_horn, _car_alarm, _siren, _beeper)[subtype - 1](rng, n, sr)


# ----------------------------------------------------------------------------------------------------------------
# 6 music: notes in a key with chords, bass, melody and a beat; car stereo; ice-cream truck jingle

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _note(f: float, m: int, sr: int, amps: np.ndarray, decay_s: float) -> np.ndarray:
    """A tone of ``m`` samples at ``f`` Hz: harmonics ``amps`` (K,), 10 ms attack, exponential decay."""
    t = np.arange(m) / sr
    k = np.arange(1, len(amps) + 1)
    amps = np.where(k * f < 0.45 * sr, amps, 0.0)
    tone = amps @ _sin(2 * np.pi * f * np.outer(k, t))
    return tone * np.minimum(t / 0.01, 1.0) * np.exp(-t / decay_s) * _fade(m, sr, 0.01)


def _drum_kit(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(int(0.3 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / sr) * np.exp(-t / rng.uniform(0.08, 0.2))
    snare = _filter(rng.standard_normal(len(t)), "bandpass", (1000, 5000), sr) * np.exp(-t / 0.06)
    snare += 0.5 * np.sin(2 * np.pi * rng.uniform(170, 230) * t) * np.exp(-t / 0.05)
    hat = _filter(rng.standard_normal(len(t) // 4), "highpass", 6000, sr) * np.exp(-t[: len(t) // 4] / 0.015)
    return kick, 0.8 * snare, 0.3 * hat


def _drums(rng: np.random.Generator, n: int, sr: int, beat: float) -> np.ndarray:
    kick, snare, hat = _drum_kit(rng, sr)
    x = np.zeros(n)
    for i, t in enumerate(np.arange(0.0, n / sr, beat / 2)):
        hit = hat if i % 2 else (kick if i % 4 == 0 else snare)
        _place(x, hit * _db(rng.normal(0, 1.5)), int(t * sr))
    return x


def _chords(rng: np.random.Generator, x: np.ndarray, sr: int, key: tuple, beat: float, timbre: np.ndarray) -> list:
    """Add one triad per bar (mostly a I-vi-IV-V loop) and a bass note per beat; return the chord notes in Hz."""
    root, scale = key
    notes, bar = [], 4 * beat
    for b, t in enumerate(np.arange(0.0, len(x) / sr, bar)):
        degree = (0, 5, 3, 4)[b % 4] if rng.random() < 0.7 else int(rng.integers(7))
        chord = [root + 12 + scale[(degree + j) % 7] + 12 * ((degree + j) // 7) for j in (0, 2, 4)]
        for midi in chord:
            _place(x, 0.3 * _note(_hz(midi), int(bar * sr), sr, timbre, bar), int(t * sr))
        bass = 0.6 * _note(_hz(chord[0] - 24), int(beat * sr), sr, timbre[:3], beat / 2)
        for q in range(4):
            _place(x, bass, int((t + q * beat) * sr))
        notes += [_hz(m) for m in chord]
    return notes


def _melody(rng: np.random.Generator, x: np.ndarray, sr: int, key: tuple, beat: float, timbre: np.ndarray) -> list:
    """Add a melody of scale notes in eighths to halves, two octaves up; return its notes."""
    root, scale = key
    notes, t = [], 0.0
    while t < len(x) / sr:
        dur = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        midi = root + 24 + scale[int(rng.integers(7))]
        _place(x, 0.5 * _note(_hz(midi), int(dur * sr), sr, timbre, dur), int(t * sr))
        notes.append(_hz(midi))
        t += dur
    return notes


def _band(rng: np.random.Generator, n: int, sr: int) -> Synth:
    """Chords, bass and melody in a random key at 80-150 BPM, with drums most of the time."""
    beat = 60.0 / rng.uniform(80.0, 150.0)
    key = (int(rng.integers(45, 57)), MAJOR if rng.random() < 0.6 else MINOR)
    timbre = np.arange(1, 7, dtype=float) ** -rng.uniform(0.8, 2.0)
    x = np.zeros(n)
    notes = _chords(rng, x, sr, key, beat, timbre) + _melody(rng, x, sr, key, beat, timbre)
    drums = bool(rng.random() < 0.75)
    if drums:
        x = _unit(x) + rng.uniform(0.3, 0.8) * _unit(_drums(rng, n, sr, beat))
    return x, {"notes_hz": notes, "beat_s": beat, "drums": drums}


def _ice_cream(rng: np.random.Generator, n: int, sr: int) -> Synth:
    """A looping high-register jingle with a music-box timbre through a small horn speaker."""
    beat, root = 60.0 / rng.uniform(120.0, 180.0), int(rng.integers(72, 80))
    phrase = [(root + MAJOR[int(rng.integers(7))], beat * float(rng.choice([0.5, 1.0, 2.0]))) for _ in range(8)]
    amps = np.array([1.0, 0.3, 0.15, 0.05])
    x, t, i = np.zeros(n), 0.0, 0
    while t < n / sr:
        midi, dur = phrase[i % len(phrase)]
        _place(x, _note(_hz(midi), int(dur * sr), sr, amps, 0.35 * dur + 0.05), int(t * sr))
        t, i = t + dur, i + 1
    x = _filter(x, "bandpass", (500.0, 4000.0), sr)
    return x, {"notes_hz": [_hz(m) for m, _ in phrase], "beat_s": beat, "drums": False}


def synth_music(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Stationary music, mobile music (car stereo: muffled, bass-heavy, passing by) or an ice-cream truck."""
    if subtype == 3:
        x, info = _ice_cream(rng, n, sr)
        return x * _fade(n, sr, 0.2), info
    x, info = _band(rng, n, sr)
    if subtype == 2:
        x = _filter(x, "lowpass", rng.uniform(300.0, 900.0), sr) + 0.5 * _filter(x, "lowpass", 150.0, sr)
        x *= _passby(n, sr, rng, floor=0.3)
    return x * _fade(n, sr, 0.2), info


# ----------------------------------------------------------------------------------------------------------------
# 7 human-voice: glottal pulses with a pitch contour through vowel formants, in syllables (or espeak-ng)

VOWEL_FORMANTS_HZ = (
    (730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240),
    (660, 1720, 2410), (490, 1350, 1690),
)
"""F1-F3 of /a e i o u ae er/ for an adult male (Peterson & Barney averages)."""
_SPEAKERS = ((85.0, 150.0, 1.0), (165.0, 255.0, 1.15), (240.0, 330.0, 1.3))
"""(f0 low, f0 high, formant scale) for men, women and children."""


def _syllables(rng: np.random.Generator, seconds: float, shout: bool) -> list[tuple[float, float]]:
    """(start, duration) of syllables grouped in phrases of 0.6-3 s separated by 0.15-0.8 s pauses."""
    out, t = [], float(rng.uniform(0.0, 0.3))
    syl = (0.2, 0.45) if shout else (0.1, 0.28)
    while t < seconds:
        end = t + rng.uniform(0.4, 1.2) if shout else t + rng.uniform(0.6, 3.0)
        while t < min(end, seconds):
            dur = float(rng.uniform(*syl))
            out.append((t, dur))
            t += dur + float(rng.uniform(0.0, 0.05))
        t += float(rng.uniform(0.15, 0.8)) * (2.0 if shout else 1.0)
    return out


def _vowel(rng: np.random.Generator, seg: np.ndarray, sr: int, scale: float, shout: bool) -> np.ndarray:
    f1, f2, f3 = (f * scale for f in VOWEL_FORMANTS_HZ[int(rng.integers(len(VOWEL_FORMANTS_HZ)))])
    if shout:
        f1 *= 1.2
    return (_resonate(seg, f1, 80.0, sr) + rng.uniform(0.4, 0.8) * _resonate(seg, f2, 100.0, sr)
            + rng.uniform(0.2, 0.45) * _resonate(seg, f3, 140.0, sr))


def _talker(rng: np.random.Generator, n: int, sr: int, shout: bool = False) -> np.ndarray:
    """One speaker: pitch contour with declination and accents, glottal source, formants per syllable."""
    f_lo, f_hi, scale = _SPEAKERS[_pick(rng, (0.45, 0.45, 0.1))]
    f0 = rng.uniform(f_lo, f_hi) * (rng.uniform(1.4, 1.8) if shout else 1.0)
    contour = f0 * _curve(rng, n, sr, 4.0, 0.88, 1.12) * (1.0 + 0.003 * rng.standard_normal(n))
    glottal_hz = rng.uniform(300.0, 600.0) if shout else rng.uniform(120.0, 250.0)
    source = np.diff(_filter(_pulse_train(contour, sr), "lowpass", glottal_hz, sr), prepend=0.0)
    x = np.zeros(n)
    for start, dur in _syllables(rng, n / sr, shout):
        a, b = int(start * sr), min(n, int((start + dur) * sr))
        if b - a < 16:
            continue
        voiced = _vowel(rng, source[a:b], sr, scale, shout) * _fade(b - a, sr, 0.03)
        x[a:b] += _unit(voiced) * _db(rng.uniform(-4.0, 2.0))
        if rng.random() < 0.5:
            m = min(int(rng.uniform(0.03, 0.08) * sr), b - a)
            hiss = _filter(rng.standard_normal(m), "highpass", rng.uniform(2500.0, 5000.0), sr) * _fade(m, sr, 0.01)
            x[a:a + m] += rng.uniform(0.1, 0.4) * hiss
    return x


def _amplify(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
    """A megaphone or PA: band-limited, overdriven, with a short echo."""
    y = _filter(_unit(x), "bandpass", (rng.uniform(250, 450), rng.uniform(2800, 3800)), sr)
    y = np.tanh(rng.uniform(1.5, 5.0) * y / (np.max(np.abs(y)) + 1e-12) * 2.0)
    delay = int(rng.uniform(0.06, 0.25) * sr)
    echo = np.zeros_like(y)
    _place(echo, y * rng.uniform(0.2, 0.45), delay)
    return y + echo


ESPEAK_WORDS = (
    "hey come over here where are you going today yes no okay look at that bus it is late again we should go now "
    "wait for me please stop right there what time tomorrow morning thanks see you later listen watch out this way "
    "did you hear call him back I told her about the game last night"
).split()
_ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4")


def _espeak(rng: np.random.Generator, sr: int, shout: bool) -> np.ndarray:
    """One spoken phrase from espeak-ng (random words, voice, pitch and speed), resampled to ``sr``."""
    text = " ".join(rng.choice(ESPEAK_WORDS, size=int(rng.integers(2, 8))))
    voice = f"en-us+{_ESPEAK_VARIANTS[int(rng.integers(len(_ESPEAK_VARIANTS)))]}"
    pitch = int(rng.integers(70, 99)) if shout else int(rng.integers(25, 70))
    speed = int(rng.integers(170, 210)) if shout else int(rng.integers(130, 190))
    cmd = ["espeak-ng", "--stdout", "-v", voice, "-p", str(pitch), "-s", str(speed), text]
    wav, rate = sf.read(io.BytesIO(subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout))
    g = math.gcd(int(rate), sr)
    return signal.resample_poly(wav, sr // g, int(rate) // g)


def _espeak_talker(rng: np.random.Generator, n: int, sr: int, shout: bool = False) -> np.ndarray:
    x, at = np.zeros(n), int(rng.uniform(0.0, 0.3) * sr)
    while at < n:
        phrase = _espeak(rng, sr, shout)
        _place(x, phrase, at)
        at += len(phrase) + int(rng.uniform(0.2, 0.9) * sr)
    return x


def synth_voice(rng: np.random.Generator, n: int, sr: int, subtype: int, speech: str = "formant") -> Synth:
    """Talking, shouting, a crowd (many overlapping talkers) or amplified speech; ``speech`` picks the source."""
    talker = _espeak_talker if speech == "espeak" else _talker
    if subtype == 3:
        voices = int(rng.integers(6, 15)) if speech != "espeak" else int(rng.integers(4, 7))
        x = sum(_unit(talker(rng, n, sr)) * _db(rng.uniform(-10.0, 0.0)) for _ in range(voices))
        x = _filter(x, "lowpass", rng.uniform(2000.0, 4000.0), sr)
    else:
        x = talker(rng, n, sr, shout=subtype == 2)
        x = _amplify(rng, x, sr) if subtype == 4 else x
    return x * _fade(n, sr, 0.02), {"source": speech}


# ----------------------------------------------------------------------------------------------------------------
# 8 dog: groups of short harmonic-and-noisy barks with a fast pitch drop; sometimes a whine


def _bark(rng: np.random.Generator, m: int, sr: int, f_start: float, formant: float) -> np.ndarray:
    t = np.arange(m) / sr
    f0 = f_start * (rng.uniform(0.5, 0.75) + rng.uniform(0.25, 0.5) * np.exp(-t / rng.uniform(0.02, 0.06)))
    src = _unit(_additive(rng, f0, sr, np.arange(1, 11, dtype=float) ** -0.8))
    src += rng.uniform(0.2, 0.8) * rng.standard_normal(m)
    y = 0.5 * src + _resonate(src, formant, 300.0, sr)
    env = (1 - np.exp(-t / 0.005)) * np.exp(-t / (t[-1] / 2.5 + 1e-3))
    return y * env * _fade(m, sr, 0.004)


def _bark_times(rng: np.random.Generator, seconds: float) -> list[tuple[float, float]]:
    """(start, duration) of barks: groups of 1-5 barks 0.1-0.4 s apart, groups 0.6-2.5 s apart."""
    barks, t = [], float(rng.uniform(0.0, 0.3))
    while t < seconds - 0.08:
        for _ in range(int(rng.integers(1, 6))):
            dur = float(min(rng.uniform(0.08, 0.25), seconds - t))
            if dur < 0.04:
                break
            barks.append((t, dur))
            t += dur + float(rng.uniform(0.1, 0.4))
        t += float(rng.uniform(0.6, 2.5))
    return barks


def synth_dog(rng: np.random.Generator, n: int, sr: int, subtype: int = 1, whine: bool | None = None) -> Synth:
    """Barking in groups (``whine`` None: a whine is added 15% of the time); small dogs bark higher."""
    size = rng.uniform()
    f_start, formant = 900.0 - 550.0 * size, 1800.0 - 1000.0 * size
    barks = _bark_times(rng, n / sr)
    x = np.zeros(n)
    for start, dur in barks:
        _place(x, _bark(rng, int(dur * sr), sr, f_start, formant) * _db(rng.uniform(-3, 3)), int(start * sr))
    whine = bool(rng.random() < 0.15) if whine is None else whine
    if whine:
        m = min(n, int(rng.uniform(0.4, 1.2) * sr))
        f = rng.uniform(600, 1400) * _curve(rng, m, sr, 3.0, 0.85, 1.15)
        _place(x, 0.3 * _unit(_additive(rng, f, sr, np.array([1.0, 0.3, 0.1]))) * _fade(m, sr, 0.1),
               int(rng.uniform(0, n - m + 1)))
    return x, {"barks": barks, "whine": whine}


SYNTHESISERS: dict[int, Callable[[np.random.Generator, int, int, int], Synth]] = {
    1: synth_engine, 2: synth_machinery, 3: synth_impact, 4: synth_saw, 5: synth_alert, 6: synth_music,
    7: synth_voice, 8: synth_dog,
}
"""Coarse id -> ``synth(rng, n, sr, subtype) -> (signal (n,), params)``."""


# ----------------------------------------------------------------------------------------------------------------
# Background: per-sensor traffic rumble + broadband floor; unlabelled confusers


@dataclass(frozen=True)
class SensorProfile:
    """The acoustic signature of one sensor's site (so a sensor-disjoint split is a real domain shift)."""

    rumble_hz: float
    tilt: float
    noise_offset_db: float
    hum_hz: float


def sensor_profile(seed: int, sensor: int) -> SensorProfile:
    """The fixed site profile of ``sensor`` in the corpus of ``seed``."""
    rng = np.random.default_rng([seed, sensor, _SENSOR])
    hum = float(rng.uniform(50.0, 300.0)) if rng.random() < 0.3 else 0.0
    return SensorProfile(float(_loguniform(rng, 80.0, 300.0)), float(rng.uniform(0.3, 1.2)),
                         float(rng.uniform(-6.0, 6.0)), hum)


def background(rng: np.random.Generator, n: int, sr: int, profile: SensorProfile, d: Difficulty) -> np.ndarray:
    """Traffic rumble (brown-to-pink noise below ~100-400 Hz, slow swells) plus a broadband noise floor."""
    rumble = _shaped_noise(rng, n, sr, rng.uniform(1.5, 2.2), profile.rumble_hz * rng.uniform(0.7, 1.4))
    swell = _curve(rng, n, sr, rng.uniform(0.1, 0.4), 0.4, 1.0)
    for _ in range(int(rng.poisson(1.0))):
        swell *= 1.0 + rng.uniform(0.5, 2.0) * (_passby(n, sr, rng, 0.0) ** 2)
    floor = _shaped_noise(rng, n, sr, profile.tilt + rng.uniform(-0.2, 0.2))
    level = rng.uniform(*d.background_noise_db) + profile.noise_offset_db
    x = _unit(rumble * swell) + _db(level) * floor
    if profile.hum_hz:
        x += _db(rng.uniform(-30, -18)) * _additive(rng, np.full(n, profile.hum_hz), sr, np.array([1, 0.5, 0.3]))
    return x


def _chirps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    x = np.zeros(n)
    for start in np.sort(rng.uniform(0, n / sr, int(rng.integers(2, 10)))):
        m = int(rng.uniform(0.04, 0.15) * sr)
        f = np.linspace(*rng.uniform(2000.0, 7000.0, 2), m)
        _place(x, _additive(rng, f, sr, np.array([1.0])) * np.hanning(m), int(start * sr))
    return x


def _footsteps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    x, rate = np.zeros(n), rng.uniform(1.5, 2.2)
    for start in np.arange(rng.uniform(0, 1), n / sr, 1 / rate):
        step = _filter(_decay(rng, sr, rng.uniform(0.005, 0.015), rng.uniform(200, 2000), 0.3), "highpass", 150, sr)
        _place(x, step * _db(rng.uniform(-4, 0)), int(start * sr))
    return x


def distractor(rng: np.random.Generator, n: int, sr: int, kind: str) -> np.ndarray:
    """An unlabelled confuser: ``hum`` (steady low tones), ``birds``, ``wind`` (gusty low noise), ``steps``."""
    if kind == "hum":
        return _additive(rng, np.full(n, rng.uniform(50.0, 400.0)), sr, rng.uniform(0.1, 1.0, 4))
    if kind == "birds":
        return _chirps(rng, n, sr)
    if kind == "wind":
        return _filter(rng.standard_normal(n), "lowpass", rng.uniform(200, 800), sr) * _curve(rng, n, sr, 0.8, 0, 1)
    return _footsteps(rng, n, sr)


DISTRACTORS = ("hum", "birds", "wind", "steps")


# ----------------------------------------------------------------------------------------------------------------
# Clip rendering


def _at_level(x: np.ndarray, sr: int, bg_rms: float, snr_db: float) -> np.ndarray:
    return x * (bg_rms * _db(snr_db) / active_rms(x, sr))


def _render_event(rng: np.random.Generator, ev: Event, n: int, sr: int, speech: str) -> tuple[int, np.ndarray]:
    m = max(1, min(n, int(round(ev.duration * sr))))
    if ev.coarse == 7:
        x, _ = synth_voice(rng, m, sr, ev.subtype, speech)
    else:
        x, _ = SYNTHESISERS[ev.coarse](rng, m, sr, ev.subtype)
    if ev.far:
        x = _filter(x, "lowpass", rng.uniform(800.0, 3000.0), sr)
    return int(round(ev.onset * sr)), x


def _add_distractors(rng: np.random.Generator, mix: np.ndarray, sr: int, bg_rms: float, d: Difficulty) -> None:
    n = len(mix)
    for _ in range(int(rng.poisson(d.distractor_rate))):
        kind = DISTRACTORS[int(rng.integers(len(DISTRACTORS)))]
        m = n if kind == "hum" else min(n, int(rng.uniform(1.0, 6.0) * sr))
        x = distractor(rng, m, sr, kind) * _fade(m, sr, 0.1)
        _place(mix, _at_level(x, sr, bg_rms, rng.uniform(*d.distractor_snr_db)), int(rng.integers(0, n - m + 1)))


def render_clip(scene: Scene, rng: np.random.Generator, n: int, sr: int, profile: SensorProfile, d: Difficulty,
                speech: str = "formant") -> np.ndarray:
    """(n,) float mix in [-1, 1]: background at a random absolute level, events at their SNRs, distractors."""
    mix = background(rng, n, sr, profile, d)
    bg_rms = _rms(mix)
    for ev in scene:
        start, x = _render_event(rng, ev, n, sr, speech)
        _place(mix, _at_level(x, sr, bg_rms, ev.snr_db), start)
    _add_distractors(rng, mix, sr, bg_rms, d)
    mix *= _db(rng.uniform(-40.0, -26.0)) / bg_rms
    peak = float(np.max(np.abs(mix)))
    return mix * (0.98 / peak) if peak > 0.98 else mix


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] to int16 by rounding (deterministic: no dither)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


# ----------------------------------------------------------------------------------------------------------------
# Files: atomic writes, the marker, the worker job


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary sibling then rename, so a crash never leaves a half-written file in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def _write_csv(path: Path, rows: list[list]) -> None:
    def write(p: Path) -> None:
        with p.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(annotation_columns())
            w.writerows(rows)

    _atomic(path, write)


def _write_wav(path: Path, pcm: np.ndarray, sr: int) -> None:
    _atomic(path, lambda p: sf.write(p, pcm, sr, subtype="PCM_16", format="WAV"))


@dataclass(frozen=True)
class _Job:
    path: str
    plan: ClipPlan
    seed: int
    n: int
    sr: int
    difficulty: Difficulty
    speech: str


def _render_job(job: _Job) -> None:
    """Render and write one clip (runs in a worker process; all randomness keyed by seed and clip index)."""
    rng = np.random.default_rng([job.seed, job.plan.index, _AUDIO])
    profile = sensor_profile(job.seed, job.plan.sensor)
    audio = render_clip(job.plan.scene, rng, job.n, job.sr, profile, job.difficulty, job.speech)
    _write_wav(Path(job.path), to_pcm16(audio), job.sr)


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar over ``total`` clips; yields the function that advances it by one."""
    columns = (TextColumn("synth corpus"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not enabled, transient=False) as bar:
        task = bar.add_task("clips", total=total)
        yield lambda: bar.advance(task)


def _render_all(jobs: list[_Job], workers: int, show: bool) -> None:
    if workers == 1:
        with _progress(show, len(jobs)) as advance:
            for job in jobs:
                _render_job(job)
                advance()
        return
    # Fork is cheap (no re-import of torch via kdzoo/__init__); the pool forks before the progress thread starts.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        done = pool.map(_render_job, jobs, chunksize=max(1, min(8, len(jobs) // (4 * workers))))
        with _progress(show, len(jobs)) as advance:
            for _ in done:
                advance()


_WAV_NAME = re.compile(r"^(\d{2}_\d{6}\.wav|\..*\.tmp)$")


def _remove_stale(root: Path, plans: list[ClipPlan]) -> None:
    """Delete generated-looking audio (and temp files) that this corpus does not list (from an earlier run)."""
    keep = {(p.split, p.filename) for p in plans}
    for split in SPLITS:
        folder = root / AUDIO_DIR / split
        for path in folder.glob("*") if folder.is_dir() else ():
            if _WAV_NAME.match(path.name) and (split, path.name) not in keep:
                path.unlink()


def resolve_speech(speech: str) -> str:
    """``"formant"`` or ``"espeak"``: ``auto`` picks espeak-ng only when it is on PATH."""
    if speech not in ("auto", "formant", "espeak"):
        raise ValueError(f"speech={speech!r} is not one of 'auto', 'formant', 'espeak'")
    available = shutil.which("espeak-ng") is not None
    if speech == "espeak" and not available:
        raise FileNotFoundError("speech='espeak' needs the espeak-ng program on PATH; install it "
                                "(Debian: apt-get install espeak-ng) or pass speech='formant'")
    return "espeak" if speech == "espeak" or (speech == "auto" and available) else "formant"


def _claim(root: Path, params: dict) -> None:
    """Mark ``root`` as being (re)written: the completeness marker goes first, so a crash never looks complete.

    Refuses a folder whose annotations.csv no generator run wrote (no marker, no partial marker): that may be a
    real SONYC-UST download, which must never be overwritten.
    """
    if (root / ANNOTATIONS_NAME).exists() and not (root / MARKER_NAME).exists() and not (root / PARTIAL_NAME).exists():
        raise FileExistsError(f"{root / ANNOTATIONS_NAME} was not written by synth_ust (no {MARKER_NAME}); refusing "
                              "to overwrite what may be a real corpus. Pick an empty folder or delete that one first.")
    _write_text(root / PARTIAL_NAME, json.dumps(params, indent=2))
    (root / MARKER_NAME).unlink(missing_ok=True)


def _params(clips: int, seed: int, validate_fraction: float, sample_rate: int, clip_seconds: float, speech: str,
            d: Difficulty) -> dict:
    """What fixes the corpus's bytes (worker count and progress do not), JSON-normalised for comparison."""
    p = {"clips": clips, "seed": seed, "validate_fraction": validate_fraction, "sample_rate": sample_rate,
         "clip_seconds": clip_seconds, "speech": speech, "speech_source": resolve_speech(speech), **asdict(d)}
    return json.loads(json.dumps(p))


def read_marker(root: str | Path) -> dict | None:
    """The ``.synth.json`` marker of a complete generated corpus, or None if there is none (absent = incomplete)."""
    path = Path(root) / MARKER_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# ----------------------------------------------------------------------------------------------------------------
# Public entry points


def _check(clips: int, seed: int, validate_fraction: float, sample_rate: int, clip_seconds: float,
           workers: int) -> None:
    if clips < 2:
        raise ValueError(f"clips={clips}: need at least 2 (one train and one validate clip)")
    if seed < 0:
        raise ValueError(f"seed={seed} must be >= 0 (it keys numpy SeedSequence)")
    if not 0.0 < validate_fraction < 1.0:
        raise ValueError(f"validate_fraction={validate_fraction} must be in (0, 1), e.g. 0.2")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate={sample_rate} Hz is too low for the alert and voice content; use >= 8000")
    if clip_seconds < 0.5:
        raise ValueError(f"clip_seconds={clip_seconds} is too short; use >= 0.5 (SONYC clips are 10 s)")
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")


def _summary(root: Path, plans: list[ClipPlan], seconds: float, speech: str) -> dict:
    prevalence = np.mean([coarse_presence(p.scene) for p in plans], axis=0)
    return {
        "root": str(root),
        "clips": {s: sum(p.split == s for p in plans) for s in SPLITS},
        "sensors": {s: sorted({p.sensor for p in plans if p.split == s}) for s in SPLITS},
        "prevalence": {t: round(float(v), 4) for t, v in zip(COARSE_TAGS, prevalence, strict=True)},
        "speech_source": speech,
        "seconds": round(seconds, 2),
    }


_D = Difficulty  # the keyword defaults below are Difficulty's: one source of truth for the knobs


def synth_ust(
    root: str | Path,
    clips: int = 600,
    seed: int = 0,
    validate_fraction: float = 0.2,
    sample_rate: int = 16000,
    clip_seconds: float = 10.0,
    workers: int = 2,
    speech: SpeechMode = "auto",
    *,
    snr_db: tuple[float, float] = _D.snr_db,
    far_prob: float = _D.far_prob,
    far_drop_db: float = _D.far_drop_db,
    max_events: int = _D.max_events,
    background_noise_db: tuple[float, float] = _D.background_noise_db,
    distractor_rate: float = _D.distractor_rate,
    distractor_snr_db: tuple[float, float] = _D.distractor_snr_db,
    miss_rate: float = _D.miss_rate,
    miss_slope_db: float = _D.miss_slope_db,
    false_rate: float = _D.false_rate,
    fine_accuracy: float = _D.fine_accuracy,
    uncertain_rate: float = _D.uncertain_rate,
    team_prob: float = _D.team_prob,
    progress: bool = True,
) -> dict:
    """Write a SONYC-UST v1 look-alike corpus under ``root`` and return a summary.

    The difficulty keywords are documented on :class:`Difficulty`. ``speech``: ``formant`` (built-in voice
    model), ``espeak`` (espeak-ng phrases; needs the program) or ``auto`` (espeak when on PATH); the source used
    is recorded in the marker. Any existing marker is removed first and the new one written last; a folder
    holding an annotations.csv that no generator run wrote is refused (FileExistsError).

    Returns:
        ``{"root", "clips": {"train", "validate"}, "sensors", "prevalence": {"1_engine": share, ...},
        "speech_source", "seconds"}``; prevalence is the share of clips whose true labels hold the class.
    """
    start = time.perf_counter()
    _check(clips, seed, validate_fraction, sample_rate, clip_seconds, workers)
    local = locals()  # the difficulty keywords, gathered by their Difficulty field names
    d = Difficulty(**{f.name: local[f.name] for f in fields(Difficulty)})
    source, root = resolve_speech(speech), Path(root)
    params = _params(clips, seed, validate_fraction, sample_rate, clip_seconds, speech, d)
    _claim(root, params)
    plans = plan_corpus(clips, seed, validate_fraction, clip_seconds, d)
    _write_text(root / TAXONOMY_NAME, taxonomy_yaml())
    n = int(round(clip_seconds * sample_rate))
    jobs = [_Job(str(root / AUDIO_DIR / p.split / p.filename), p, seed, n, sample_rate, d, source) for p in plans]
    _render_all(jobs, workers, progress)
    _remove_stale(root, plans)
    _write_csv(root / ANNOTATIONS_NAME, [row for p in plans for row in clip_rows(p, seed, d)])
    summary = _summary(root, plans, time.perf_counter() - start, source)
    marker = {"generator": __name__, "version": SYNTH_VERSION, "params": params, "summary": summary}
    _write_text(root / MARKER_NAME, json.dumps(marker, indent=2))
    (root / PARTIAL_NAME).unlink()
    logger.info("wrote %d clips (%s) to %s in %.1f s", clips, summary["clips"], root, summary["seconds"])
    return summary


def corpus_matches(root: str | Path, **kwargs) -> bool:
    """True when ``root`` holds a complete corpus equal to what ``synth_ust(root, **kwargs)`` would write.

    Compares the generator version, the seed, every parameter that changes the output (not ``workers``) and the
    speech source ``auto`` would resolve to now. A corpus without a marker is incomplete and never matches.
    """
    marker = read_marker(root)
    if marker is None or marker.get("version") != SYNTH_VERSION:
        return False
    bound = inspect.signature(synth_ust).bind(root, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    d = Difficulty(**{f.name: a[f.name] for f in fields(Difficulty)})
    expected = _params(a["clips"], a["seed"], a["validate_fraction"], a["sample_rate"], a["clip_seconds"],
                       a["speech"], d)
    return marker.get("params") == expected


def _prevalence_table(df: pd.DataFrame, title: str, speech: str) -> Table:
    cols = [f"{t}_presence" for t in COARSE_TAGS]
    train = df[df.split == "train"].groupby("audio_filename")[cols].max()
    truth = df[(df.split == "validate") & (df.annotator_id == 0)].set_index("audio_filename")[cols]
    table = Table(title=title)
    for name in ("class", "train clips (any volunteer)", "validate clips (truth)"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for tag, col in zip(COARSE_TAGS, cols, strict=True):
        table.add_row(tag, f"{(train[col] > 0).mean():.1%}", f"{(truth[col] > 0).mean():.1%}")
    sensors = df.groupby("split").sensor_id.nunique().to_dict()
    table.caption = (f"{len(train)} train clips / {sensors.get('train', 0)} sensors, {len(truth)} validate clips / "
                     f"{sensors.get('validate', 0)} sensors; speech: {speech}")
    return table


def describe(root: str | Path) -> str:
    """A printable summary of a corpus: clips and sensors per split, and per-class prevalence (volunteer
    minority vote on train, verified truth on validate)."""
    path = Path(root) / ANNOTATIONS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; generate a corpus first with kdzoo.data.synth.synth_ust")
    marker = read_marker(root) or {}
    title = f"{root} ({'generator ' + marker['version'] if marker else 'no .synth.json marker'})"
    speech = marker.get("params", {}).get("speech_source", "?")
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(_prevalence_table(pd.read_csv(path), title, speech))
    return console.file.getvalue()
