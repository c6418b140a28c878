"""7 human-voice: glottal pulses with a pitch contour through vowel formants, in syllables (or espeak-ng)."""

from __future__ import annotations

import io
import math
import subprocess

import numpy as np
import soundfile as sf
from scipy import signal

from kdzoo.data.synth.dsp import Synth, butter, curve, db, fade, pick, place, pulse_train, resonate, unit

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
    return (resonate(seg, f1, 80.0, sr) + rng.uniform(0.4, 0.8) * resonate(seg, f2, 100.0, sr)
            + rng.uniform(0.2, 0.45) * resonate(seg, f3, 140.0, sr))


def _talker(rng: np.random.Generator, n: int, sr: int, shout: bool = False) -> np.ndarray:
    """One speaker: pitch contour with declination and accents, glottal source, formants per syllable."""
    f_lo, f_hi, scale = _SPEAKERS[pick(rng, (0.45, 0.45, 0.1))]
    f0 = rng.uniform(f_lo, f_hi) * (rng.uniform(1.4, 1.8) if shout else 1.0)
    contour = f0 * curve(rng, n, sr, 4.0, 0.88, 1.12) * (1.0 + 0.003 * rng.standard_normal(n))
    glottal_hz = rng.uniform(300.0, 600.0) if shout else rng.uniform(120.0, 250.0)
    source = np.diff(butter(pulse_train(contour, sr), "lowpass", glottal_hz, sr), prepend=0.0)
    x = np.zeros(n)
    for start, dur in _syllables(rng, n / sr, shout):
        a, b = int(start * sr), min(n, int((start + dur) * sr))
        if b - a < 16:
            continue
        voiced = _vowel(rng, source[a:b], sr, scale, shout) * fade(b - a, sr, 0.03)
        x[a:b] += unit(voiced) * db(rng.uniform(-4.0, 2.0))
        if rng.random() < 0.5:
            m = min(int(rng.uniform(0.03, 0.08) * sr), b - a)
            hiss = butter(rng.standard_normal(m), "highpass", rng.uniform(2500.0, 5000.0), sr) * fade(m, sr, 0.01)
            x[a:a + m] += rng.uniform(0.1, 0.4) * hiss
    return x


def _amplify(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
    """A megaphone or PA: band-limited, overdriven, with a short echo."""
    y = butter(unit(x), "bandpass", (rng.uniform(250, 450), rng.uniform(2800, 3800)), sr)
    y = np.tanh(rng.uniform(1.5, 5.0) * y / (np.max(np.abs(y)) + 1e-12) * 2.0)
    delay = int(rng.uniform(0.06, 0.25) * sr)
    echo = np.zeros_like(y)
    place(echo, y * rng.uniform(0.2, 0.45), delay)
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
        place(x, phrase, at)
        at += len(phrase) + int(rng.uniform(0.2, 0.9) * sr)
    return x


def synth_voice(rng: np.random.Generator, n: int, sr: int, subtype: int, speech: str = "formant") -> Synth:
    """Talking, shouting, a crowd (many overlapping talkers) or amplified speech; ``speech`` picks the source."""
    talker = _espeak_talker if speech == "espeak" else _talker
    if subtype == 3:
        voices = int(rng.integers(6, 15)) if speech != "espeak" else int(rng.integers(4, 7))
        x = sum(unit(talker(rng, n, sr)) * db(rng.uniform(-10.0, 0.0)) for _ in range(voices))
        x = butter(x, "lowpass", rng.uniform(2000.0, 4000.0), sr)
    else:
        x = talker(rng, n, sr, shout=subtype == 2)
        x = _amplify(rng, x, sr) if subtype == 4 else x
    return x * fade(n, sr, 0.02), {"source": speech}
