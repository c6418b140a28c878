"""Scenes: which labelled events a clip holds, sampled without rendering any audio.

Class presence comes from a Gaussian copula (realistic prevalence and co-occurrence); each event gets a
sub-type, placement, level and distance. Every clip has independent random streams (:data:`STREAM_LABELS` ...), so
labels, annotations and audio never shift each other's draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.dsp import pick
from kdzoo.data.synth.taxonomy import COARSE, FINE

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


def _sample_event(rng: np.random.Generator, coarse: int, clip_seconds: float, d: Difficulty) -> Event:
    weights = SUBTYPE_WEIGHTS[coarse]
    subtype = pick(rng, weights) + 1
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
STREAM_LABELS, STREAM_ANNOTATIONS, STREAM_AUDIO, STREAM_SPLIT, STREAM_SENSOR = 0, 1, 2, 3, 4


def clip_scene(seed: int, index: int, clip_seconds: float = 10.0, difficulty: Difficulty | None = None) -> Scene:
    """The scene of clip ``index`` in the corpus of ``seed`` (what :func:`synth_ust` renders and labels)."""
    return sample_scene(np.random.default_rng([seed, index, STREAM_LABELS]), clip_seconds, difficulty)


def coarse_presence(scene: Scene) -> np.ndarray:
    """(8,) int true coarse presence of a scene."""
    out = np.zeros(len(COARSE), dtype=int)
    for ev in scene:
        out[ev.coarse - 1] = 1
    return out
