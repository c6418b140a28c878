"""5 alert-signal: horn chords, car alarm patterns, sirens, reverse beepers (tones randomised per event)."""

from __future__ import annotations

import numpy as np
from scipy import signal

from kdzoo.data.synth.dsp import Synth, additive, fade, gate, passby


def _horn(rng: np.random.Generator, n: int, sr: int) -> Synth:
    f1 = rng.uniform(330.0, 520.0)
    f2 = f1 * rng.uniform(1.18, 1.35)
    segments, t = [], float(rng.uniform(0.0, min(0.3, 0.5 * n / sr)))
    for _ in range(int(rng.integers(1, 5))):
        dur = float(rng.uniform(0.15, 1.2))
        segments.append((t, dur))
        t += dur + float(rng.uniform(0.1, 0.6))
    amps = np.arange(1, 13, dtype=float) ** -1.0
    tones = sum(additive(rng, np.full(n, f), sr, amps) for f in (f1, f2))
    return tones * gate(n, sr, segments, 0.01), {"tones_hz": (f1, f2), "segments": segments}


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
    freq, keyed, at = np.empty(n), np.empty(n), 0
    while at < n:
        m = min(n - at, int(rng.uniform(1.5, 3.0) * sr))
        freq[at:at + m], keyed[at:at + m] = _alarm_pattern(rng, m, sr)
        at += m
    keyed = signal.lfilter([0.05], [1.0, -0.95], keyed)
    x = additive(rng, freq, sr, np.array([1.0, 0.0, 0.33, 0.0, 0.2])) * keyed
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
    x = additive(rng, freq * doppler, sr, amps) * passby(n, sr, rng, floor=0.25) * fade(n, sr, 0.05)
    return x, {"mode": mode, "freq_track": freq * doppler}


def _beeper(rng: np.random.Generator, n: int, sr: int) -> Synth:
    tone, period, duty = rng.uniform(900.0, 1400.0), rng.uniform(0.8, 1.2), rng.uniform(0.4, 0.6)
    start = rng.uniform(0.0, min((1 - duty) * period, 0.5 * n / sr))  # the first beep starts in the first half
    segments = [(s, duty * period) for s in np.arange(start, n / sr, period)]
    x = additive(rng, np.full(n, tone), sr, np.array([1.0, 0.0, 0.1, 0.0, 0.05])) * gate(n, sr, segments, 0.005)
    return x, {"tone_hz": tone, "period_s": period, "duty": duty}


def synth_alert(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Car horn (steady 2-tone chord), car alarm (cycling patterns), siren (wail/yelp/hi-lo), reverse beeper."""
    return (_horn, _car_alarm, _siren, _beeper)[subtype - 1](rng, n, sr)
