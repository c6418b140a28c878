"""8 dog: groups of short harmonic-and-noisy barks with a fast pitch drop; sometimes a whine."""

from __future__ import annotations

import numpy as np

from kdzoo.data.synth.dsp import Synth, additive, curve, db, fade, place, resonate, unit


def _bark(rng: np.random.Generator, m: int, sr: int, f_start: float, formant: float) -> np.ndarray:
    t = np.arange(m) / sr
    f0 = f_start * (rng.uniform(0.5, 0.75) + rng.uniform(0.25, 0.5) * np.exp(-t / rng.uniform(0.02, 0.06)))
    src = unit(additive(rng, f0, sr, np.arange(1, 11, dtype=float) ** -0.8))
    src += rng.uniform(0.2, 0.8) * rng.standard_normal(m)
    y = 0.5 * src + resonate(src, formant, 300.0, sr)
    env = (1 - np.exp(-t / 0.005)) * np.exp(-t / (t[-1] / 2.5 + 1e-3))
    return y * env * fade(m, sr, 0.004)


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
        place(x, _bark(rng, int(dur * sr), sr, f_start, formant) * db(rng.uniform(-3, 3)), int(start * sr))
    whine = bool(rng.random() < 0.15) if whine is None else whine
    if whine:
        m = min(n, int(rng.uniform(0.4, 1.2) * sr))
        f = rng.uniform(600, 1400) * curve(rng, m, sr, 3.0, 0.85, 1.15)
        place(x, 0.3 * unit(additive(rng, f, sr, np.array([1.0, 0.3, 0.1]))) * fade(m, sr, 0.1),
               int(rng.uniform(0, n - m + 1)))
    return x, {"barks": barks, "whine": whine}
