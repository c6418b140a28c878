"""2 machinery-impact (periodic broadband impulses at a tool-specific rate, in work bursts) and
3 non-machinery-impact (1-3 single decaying transients: slams, bangs)."""

from __future__ import annotations

import numpy as np
from scipy import signal

from kdzoo.data.synth.dsp import Synth, db, decay, fade, loguniform, place

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
    np.add.at(train, idx, db(2.0) ** rng.standard_normal(len(idx)))
    tau, ring = rng.uniform(*IMPACT_TAU_S[subtype]), rng.uniform(*IMPACT_RING_HZ[subtype])
    ir = decay(rng, sr, tau, ring, rng.uniform(0.3, 1.0) if subtype != 4 else rng.uniform(2.0, 4.0))
    if subtype == 4:
        place(ir, decay(rng, sr, tau / 8, rng.uniform(400, 1500), 0.3), 0)
    x = signal.oaconvolve(train, ir)[:n] * fade(n, sr, 0.02)
    return x, {"rate_hz": rate, "times": times, "ring_hz": ring}



def synth_impact(rng: np.random.Generator, n: int, sr: int, subtype: int = 1) -> Synth:
    """One to three bangs: broadband bursts with a body resonance and sometimes a low thump."""
    count = int(rng.integers(1, 4))
    times = np.sort(rng.uniform(0.0, max(n / sr - 0.25, 1e-3), count))
    x = np.zeros(n)
    for t in times:
        tau = loguniform(rng, 0.015, 0.15)
        hit = decay(rng, sr, tau, loguniform(rng, 100.0, 2500.0), rng.uniform(0.2, 1.5))
        if rng.random() < 0.5:
            hit += decay(rng, sr, tau, rng.uniform(50.0, 150.0), 3.0)[: len(hit)] * 0.5
        place(x, hit * db(rng.uniform(-4.0, 4.0)), int(t * sr))
    return x, {"times": times}
