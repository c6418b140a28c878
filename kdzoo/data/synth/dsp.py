"""DSP helpers shared by the sound families. Signals are float64 arrays of shape (n,) at sample rate ``sr``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import signal

Synth = tuple[np.ndarray, dict]
"""A synthesiser's output: the (n,) signal (any scale) and the parameters it drew, for tests and debugging."""


def db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) + 1e-12


def unit(x: np.ndarray) -> np.ndarray:
    return x / rms(x)


def pick(rng: np.random.Generator, probs: tuple[float, ...]) -> int:
    """Index drawn with probabilities ``probs`` (summing to 1); ~20x cheaper than ``rng.choice(p=...)``."""
    return min(int(np.searchsorted(np.cumsum(probs), rng.random(), side="right")), len(probs) - 1)


def active_rms(x: np.ndarray, sr: int, floor_db: float = -20.0) -> float:
    """RMS over the 20 ms frames within ``floor_db`` of the loudest: the level while the sound is on."""
    hop = max(1, sr // 50)
    m = len(x) // hop * hop
    if m == 0:
        return rms(x)
    power = (x[:m].reshape(-1, hop) ** 2).mean(axis=1)
    return float(np.sqrt(power[power >= power.max() * 10 ** (floor_db / 10)].mean())) + 1e-12


def butter(x: np.ndarray, kind: str, freq: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth ``kind`` in {lowpass, highpass, bandpass}; edges clamped inside (20 Hz, 0.45 sr)."""
    edges = np.clip(np.asarray(freq, dtype=float), 20.0, 0.45 * sr)
    return signal.sosfilt(signal.butter(order, edges.tolist(), btype=kind, fs=sr, output="sos"), x)


def resonate(x: np.ndarray, fc: float, bandwidth: float, sr: int) -> np.ndarray:
    """Two-pole resonator with unit gain at ``fc`` (formants, body and ring modes)."""
    fc = min(fc, 0.45 * sr)
    r = math.exp(-math.pi * bandwidth / sr)
    theta = 2 * math.pi * fc / sr
    gain = (1 - r) * math.sqrt(1 - 2 * r * math.cos(2 * theta) + r * r)
    return signal.lfilter([gain], [1.0, -2 * r * math.cos(theta), r * r], x)


def shaped_noise(rng: np.random.Generator, n: int, sr: int, exponent: float, cutoff: float | None = None
                  ) -> np.ndarray:
    """Noise with power ~ f^-exponent (1 pink, 2 brown), optionally rolled off above ``cutoff`` (4th order)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    gain = np.maximum(f, 10.0) ** (-exponent / 2)
    if cutoff is not None:
        gain /= np.sqrt(1.0 + (f / cutoff) ** 8)
    return unit(np.fft.irfft(spec * gain, n))


def curve(rng: np.random.Generator, n: int, sr: int, rate_hz: float, low: float, high: float) -> np.ndarray:
    """A smooth random curve in [low, high] with a new target every 1/rate_hz seconds (RPM, level drifts)."""
    k = max(2, int(n / sr * rate_hz) + 2)
    knots = rng.uniform(low, high, k)
    x = np.linspace(0.0, k - 1.0, n)
    i = np.minimum(x.astype(int), k - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - i))
    return knots[i] * (1 - w) + knots[i + 1] * w


def fade(n: int, sr: int, seconds: float) -> np.ndarray:
    """(n,) ones with raised-cosine ramps of ``seconds`` at both ends (no clicks at event edges)."""
    m = max(1, min(int(seconds * sr), n // 2))
    env = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(m) / m)
    env[:m] *= ramp
    env[n - m:] *= ramp[::-1]
    return env


def gate(n: int, sr: int, segments: list[tuple[float, float]], edge_s: float = 0.008) -> np.ndarray:
    """(n,) envelope that is 1 inside the (start, duration) segments in seconds, with soft edges."""
    env = np.zeros(n)
    for start, dur in segments:
        a, m = int(round(start * sr)), int(dur * sr)
        lo, hi = max(a, 0), min(a + m, n)
        if m > 0 and hi > lo:
            env[lo:hi] = np.maximum(env[lo:hi], fade(m, sr, edge_s)[lo - a:hi - a])
    return env


def passby(n: int, sr: int, rng: np.random.Generator, floor: float) -> np.ndarray:
    """A source driving past: a bell-shaped envelope peaking somewhere in the event, never below ``floor``."""
    t = np.arange(n) / sr
    centre, width = rng.uniform(0.2, 0.8) * t[-1], rng.uniform(0.2, 0.5) * t[-1] + 0.1
    return floor + (1 - floor) / (1 + ((t - centre) / width) ** 2)


def additive(rng: np.random.Generator, f0: np.ndarray, sr: int, amps: np.ndarray) -> np.ndarray:
    """Harmonics k*f0(t) with amplitudes ``amps`` (K,) and random phases; partials above 0.45 sr are muted.

    exp(i k phase) comes from repeated complex multiplication, several times faster than a float64 sine per
    partial (drift after 40 products is ~1e-14).
    """
    rotation = np.exp(1j * (2 * np.pi * np.cumsum(f0) / sr))
    power, out = np.ones_like(rotation), np.zeros(len(f0))
    nyquist, low, top = 0.45 * sr, float(np.min(f0)), float(np.max(f0))
    for k, a in enumerate(amps, start=1):
        if k * low >= nyquist:
            break
        power *= rotation
        theta = rng.uniform(0, 2 * np.pi)
        partial = a * (power.imag * math.cos(theta) + power.real * math.sin(theta))
        out += partial if k * top < nyquist else partial * (k * f0 < nyquist)
    return out


def pulse_train(f0: np.ndarray, sr: int, amps: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Unit impulses once per period of f0(t), split between two samples at the exact crossing time."""
    cycles = np.cumsum(f0) / sr
    at = np.nonzero(np.diff(np.floor(cycles)))[0]
    frac = (np.ceil(cycles[at]) - cycles[at]) / np.maximum(cycles[at + 1] - cycles[at], 1e-12)
    a = np.ones(len(at)) if amps is None else amps(len(at))
    out = np.zeros(len(f0))
    np.add.at(out, at, (1 - frac) * a)
    np.add.at(out, at + 1, frac * a)
    return out


def fast_sin(phase: np.ndarray) -> np.ndarray:
    """sin in float32 after reducing the phase in float64: ~15x faster than float64 sin, error ~1e-7."""
    return np.sin(np.mod(phase, 2 * np.pi).astype(np.float32)).astype(np.float64)


def place(dst: np.ndarray, src: np.ndarray, start: int) -> None:
    """Add ``src`` into ``dst`` at ``start``, cropping whatever falls outside."""
    if start >= len(dst) or start + len(src) <= 0:
        return
    a, b = max(start, 0), min(start + len(src), len(dst))
    dst[a:b] += src[a - start:b - start]


def decay(rng: np.random.Generator, sr: int, tau: float, ring_hz: float, ring_gain: float) -> np.ndarray:
    """An impact's impulse response: an exponentially decaying noise burst plus a damped ring mode."""
    t = np.arange(int(6 * tau * sr) + 2) / sr
    burst = rng.standard_normal(len(t)) * np.exp(-t / tau)
    ring = np.sin(2 * np.pi * min(ring_hz, 0.45 * sr) * t) * np.exp(-t / (tau * rng.uniform(1.0, 3.0)))
    return burst + ring_gain * ring * math.sqrt(2.0)
