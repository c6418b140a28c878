"""1 engine: combustion pulses at the firing rate through an exhaust low-pass; RPM and load vary."""

from __future__ import annotations

import numpy as np

from kdzoo.data.synth.dsp import Synth, butter, curve, fade, loguniform, passby, pulse_train, resonate, unit

ENGINE_F0_HZ = {1: (40.0, 120.0), 2: (25.0, 70.0), 3: (15.0, 45.0)}
"""Firing rate ranges per size (overlapping, so size is a soft cue): small, medium, large."""
ENGINE_CUTOFF_HZ = {1: 450.0, 2: 280.0, 3: 180.0}


def _rpm(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, bool]:
    driving = bool(rng.random() < 0.6)
    low, high = (0.85, 1.7) if driving else (0.95, 1.06)
    return curve(rng, n, sr, rng.uniform(0.3, 1.0), low, high), driving


def synth_engine(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Idling or driving engine: harmonics of the firing rate below a few hundred Hz, pulsed combustion noise."""
    base = loguniform(rng, *ENGINE_F0_HZ[subtype])
    rpm, driving = _rpm(rng, n, sr)
    cylinders = 1 + 0.25 * rng.standard_normal(int(rng.choice([2, 4, 6, 8])))
    pulses = pulse_train(base * rpm, sr, lambda m: np.resize(cylinders, m) * (1 + 0.1 * rng.standard_normal(m)))
    cutoff = ENGINE_CUTOFF_HZ[subtype] * rng.uniform(0.7, 1.4)
    tonal = unit(butter(pulses, "lowpass", cutoff, sr, order=4))
    tonal += rng.uniform(0.2, 0.6) * unit(resonate(tonal, rng.uniform(2.0, 5.0) * base, 40.0, sr))
    firing = 0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(base * rpm) / sr)
    noise = unit(butter(rng.standard_normal(n), "lowpass", 2.5 * cutoff, sr) * firing**2)
    x = (unit(tonal) + rng.uniform(0.1, 0.5) * noise) * rpm**1.2 * fade(n, sr, 0.3)
    if driving:
        x *= passby(n, sr, rng, floor=0.3)
    return x, {"f0_hz": base, "cutoff_hz": cutoff, "driving": driving}
