"""The background: per-sensor traffic rumble and broadband floor, and unlabelled confusers (hum, birds, wind,
footsteps)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.dsp import (
    additive,
    butter,
    curve,
    db,
    decay,
    loguniform,
    passby,
    place,
    shaped_noise,
    unit,
)
from kdzoo.data.synth.scenes import STREAM_SENSOR


@dataclass(frozen=True)
class SensorProfile:
    """The acoustic signature of one sensor's site (so a sensor-disjoint split is a real domain shift)."""

    rumble_hz: float
    tilt: float
    noise_offset_db: float
    hum_hz: float


def sensor_profile(seed: int, sensor: int) -> SensorProfile:
    """The fixed site profile of ``sensor`` in the corpus of ``seed``."""
    rng = np.random.default_rng([seed, sensor, STREAM_SENSOR])
    hum = float(rng.uniform(50.0, 300.0)) if rng.random() < 0.3 else 0.0
    return SensorProfile(float(loguniform(rng, 80.0, 300.0)), float(rng.uniform(0.3, 1.2)),
                         float(rng.uniform(-6.0, 6.0)), hum)


def background(rng: np.random.Generator, n: int, sr: int, profile: SensorProfile, d: Difficulty) -> np.ndarray:
    """Traffic rumble (brown-to-pink noise below ~100-400 Hz, slow swells) plus a broadband noise floor."""
    rumble = shaped_noise(rng, n, sr, rng.uniform(1.5, 2.2), profile.rumble_hz * rng.uniform(0.7, 1.4))
    swell = curve(rng, n, sr, rng.uniform(0.1, 0.4), 0.4, 1.0)
    for _ in range(int(rng.poisson(1.0))):
        swell *= 1.0 + rng.uniform(0.5, 2.0) * (passby(n, sr, rng, 0.0) ** 2)
    floor = shaped_noise(rng, n, sr, profile.tilt + rng.uniform(-0.2, 0.2))
    level = rng.uniform(*d.background_noise_db) + profile.noise_offset_db
    x = unit(rumble * swell) + db(level) * floor
    if profile.hum_hz:
        x += db(rng.uniform(-30, -18)) * additive(rng, np.full(n, profile.hum_hz), sr, np.array([1, 0.5, 0.3]))
    return x


def _chirps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    x = np.zeros(n)
    for start in np.sort(rng.uniform(0, n / sr, int(rng.integers(2, 10)))):
        m = int(rng.uniform(0.04, 0.15) * sr)
        f = np.linspace(*rng.uniform(2000.0, 7000.0, 2), m)
        place(x, additive(rng, f, sr, np.array([1.0])) * np.hanning(m), int(start * sr))
    return x


def _footsteps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    x, rate = np.zeros(n), rng.uniform(1.5, 2.2)
    for start in np.arange(rng.uniform(0, 1), n / sr, 1 / rate):
        step = butter(decay(rng, sr, rng.uniform(0.005, 0.015), rng.uniform(200, 2000), 0.3), "highpass", 150, sr)
        place(x, step * db(rng.uniform(-4, 0)), int(start * sr))
    return x


def distractor(rng: np.random.Generator, n: int, sr: int, kind: str) -> np.ndarray:
    """An unlabelled confuser: ``hum`` (steady low tones), ``birds``, ``wind`` (gusty low noise), ``steps``."""
    if kind == "hum":
        return additive(rng, np.full(n, rng.uniform(50.0, 400.0)), sr, rng.uniform(0.1, 1.0, 4))
    if kind == "birds":
        return _chirps(rng, n, sr)
    if kind == "wind":
        return butter(rng.standard_normal(n), "lowpass", rng.uniform(200, 800), sr) * curve(rng, n, sr, 0.8, 0, 1)
    return _footsteps(rng, n, sr)


DISTRACTORS = ("hum", "birds", "wind", "steps")
