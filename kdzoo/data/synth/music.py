"""6 music: notes in a key with chords, bass, melody and a beat; car stereo; ice-cream truck jingle."""

from __future__ import annotations

import numpy as np

from kdzoo.data.synth.dsp import Synth, butter, db, fade, fast_sin, passby, place, unit

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _note(f: float, m: int, sr: int, amps: np.ndarray, decay_s: float) -> np.ndarray:
    """A tone of ``m`` samples at ``f`` Hz: harmonics ``amps`` (K,), 10 ms attack, exponential decay."""
    t = np.arange(m) / sr
    k = np.arange(1, len(amps) + 1)
    amps = np.where(k * f < 0.45 * sr, amps, 0.0)
    tone = amps @ fast_sin(2 * np.pi * f * np.outer(k, t))
    return tone * np.minimum(t / 0.01, 1.0) * np.exp(-t / decay_s) * fade(m, sr, 0.01)


def _drum_kit(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(int(0.3 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / sr) * np.exp(-t / rng.uniform(0.08, 0.2))
    snare = butter(rng.standard_normal(len(t)), "bandpass", (1000, 5000), sr) * np.exp(-t / 0.06)
    snare += 0.5 * np.sin(2 * np.pi * rng.uniform(170, 230) * t) * np.exp(-t / 0.05)
    hat = butter(rng.standard_normal(len(t) // 4), "highpass", 6000, sr) * np.exp(-t[: len(t) // 4] / 0.015)
    return kick, 0.8 * snare, 0.3 * hat


def _drums(rng: np.random.Generator, n: int, sr: int, beat: float) -> np.ndarray:
    kick, snare, hat = _drum_kit(rng, sr)
    x = np.zeros(n)
    for i, t in enumerate(np.arange(0.0, n / sr, beat / 2)):
        hit = hat if i % 2 else (kick if i % 4 == 0 else snare)
        place(x, hit * db(rng.normal(0, 1.5)), int(t * sr))
    return x


def _chords(rng: np.random.Generator, x: np.ndarray, sr: int, key: tuple, beat: float, timbre: np.ndarray) -> list:
    """Add one triad per bar (mostly a I-vi-IV-V loop) and a bass note per beat; return the chord notes in Hz."""
    root, scale = key
    notes, bar = [], 4 * beat
    for b, t in enumerate(np.arange(0.0, len(x) / sr, bar)):
        degree = (0, 5, 3, 4)[b % 4] if rng.random() < 0.7 else int(rng.integers(7))
        chord = [root + 12 + scale[(degree + j) % 7] + 12 * ((degree + j) // 7) for j in (0, 2, 4)]
        for midi in chord:
            place(x, 0.3 * _note(_hz(midi), int(bar * sr), sr, timbre, bar), int(t * sr))
        bass = 0.6 * _note(_hz(chord[0] - 24), int(beat * sr), sr, timbre[:3], beat / 2)
        for q in range(4):
            place(x, bass, int((t + q * beat) * sr))
        notes += [_hz(m) for m in chord]
    return notes


def _melody(rng: np.random.Generator, x: np.ndarray, sr: int, key: tuple, beat: float, timbre: np.ndarray) -> list:
    """Add a melody of scale notes in eighths to halves, two octaves up; return its notes."""
    root, scale = key
    notes, t = [], 0.0
    while t < len(x) / sr:
        dur = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        midi = root + 24 + scale[int(rng.integers(7))]
        place(x, 0.5 * _note(_hz(midi), int(dur * sr), sr, timbre, dur), int(t * sr))
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
        x = unit(x) + rng.uniform(0.3, 0.8) * unit(_drums(rng, n, sr, beat))
    return x, {"notes_hz": notes, "beat_s": beat, "drums": drums}


def _ice_cream(rng: np.random.Generator, n: int, sr: int) -> Synth:
    """A looping high-register jingle with a music-box timbre through a small horn speaker."""
    beat, root = 60.0 / rng.uniform(120.0, 180.0), int(rng.integers(72, 80))
    phrase = [(root + MAJOR[int(rng.integers(7))], beat * float(rng.choice([0.5, 1.0, 2.0]))) for _ in range(8)]
    amps = np.array([1.0, 0.3, 0.15, 0.05])
    x, t, i = np.zeros(n), 0.0, 0
    while t < n / sr:
        midi, dur = phrase[i % len(phrase)]
        place(x, _note(_hz(midi), int(dur * sr), sr, amps, 0.35 * dur + 0.05), int(t * sr))
        t, i = t + dur, i + 1
    x = butter(x, "bandpass", (500.0, 4000.0), sr)
    return x, {"notes_hz": [_hz(m) for m, _ in phrase], "beat_s": beat, "drums": False}


def synth_music(rng: np.random.Generator, n: int, sr: int, subtype: int) -> Synth:
    """Stationary music, mobile music (car stereo: muffled, bass-heavy, passing by) or an ice-cream truck."""
    if subtype == 3:
        x, info = _ice_cream(rng, n, sr)
        return x * fade(n, sr, 0.2), info
    x, info = _band(rng, n, sr)
    if subtype == 2:
        x = butter(x, "lowpass", rng.uniform(300.0, 900.0), sr) + 0.5 * butter(x, "lowpass", 150.0, sr)
        x *= passby(n, sr, rng, floor=0.3)
    return x * fade(n, sr, 0.2), info
