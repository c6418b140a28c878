"""4 powered-saw: bright motor whine whose pitch sags under cutting load, with cutting noise."""

from __future__ import annotations

import numpy as np

from kdzoo.data.synth.dsp import Synth, additive, butter, curve, db, fade, fast_sin, loguniform, resonate, unit

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
    base, drop = loguniform(rng, *SAW_F0_HZ[subtype]), rng.uniform(0.12, 0.35)
    load = _load(rng, n, sr)
    f0 = base * (1 - drop * load) * (1 + 0.004 * fast_sin(2 * np.pi * rng.uniform(4, 9) * np.arange(n) / sr))
    if subtype == 1:
        f0 *= curve(rng, n, sr, 1.5, 0.55, 1.0) ** (1 - load)
    k = np.arange(1, 41)
    amps = k ** -rng.uniform(0.4, 0.7) if subtype == 1 else k ** -rng.uniform(0.8, 1.1)
    whine = unit(additive(rng, f0, sr, amps * db(1.0) ** rng.normal(0, 3, k.size)))
    if subtype != 1:
        whine += rng.uniform(0.5, 1.5) * unit(resonate(whine, rng.uniform(1500, 4500), 300.0, sr))
    cut = unit(butter(rng.standard_normal(n), "bandpass", (rng.uniform(1000, 2500), 6500), sr)) * load
    x = (unit(whine) + rng.uniform(0.3, 1.0) * cut) * (0.6 + 0.4 * load) * fade(n, sr, 0.15)
    return x, {"f0_hz": base, "drop": drop, "f0_track": f0}
