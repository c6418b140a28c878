"""The scene mixer: one clip's background, labelled events at their SNRs and confusers, as one waveform."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kdzoo.data.synth.alerts import synth_alert
from kdzoo.data.synth.background import DISTRACTORS, SensorProfile, background, distractor
from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.dogs import synth_dog
from kdzoo.data.synth.dsp import Synth, active_rms, butter, db, fade, place, rms
from kdzoo.data.synth.engines import synth_engine
from kdzoo.data.synth.impacts import synth_impact, synth_machinery
from kdzoo.data.synth.music import synth_music
from kdzoo.data.synth.saws import synth_saw
from kdzoo.data.synth.scenes import Event, Scene
from kdzoo.data.synth.voices import synth_voice

SYNTHESISERS: dict[int, Callable[[np.random.Generator, int, int, int], Synth]] = {
    1: synth_engine, 2: synth_machinery, 3: synth_impact, 4: synth_saw, 5: synth_alert, 6: synth_music,
    7: synth_voice, 8: synth_dog,
}
"""Coarse id -> ``synth(rng, n, sr, subtype) -> (signal (n,), params)``."""




def _at_level(x: np.ndarray, sr: int, bg_rms: float, snr_db: float) -> np.ndarray:
    return x * (bg_rms * db(snr_db) / active_rms(x, sr))


def _render_event(rng: np.random.Generator, ev: Event, n: int, sr: int, speech: str) -> tuple[int, np.ndarray]:
    m = max(1, min(n, int(round(ev.duration * sr))))
    if ev.coarse == 7:
        x, _ = synth_voice(rng, m, sr, ev.subtype, speech)
    else:
        x, _ = SYNTHESISERS[ev.coarse](rng, m, sr, ev.subtype)
    if ev.far:
        x = butter(x, "lowpass", rng.uniform(800.0, 3000.0), sr)
    return int(round(ev.onset * sr)), x


def _add_distractors(rng: np.random.Generator, mix: np.ndarray, sr: int, bg_rms: float, d: Difficulty) -> None:
    n = len(mix)
    for _ in range(int(rng.poisson(d.distractor_rate))):
        kind = DISTRACTORS[int(rng.integers(len(DISTRACTORS)))]
        m = n if kind == "hum" else min(n, int(rng.uniform(1.0, 6.0) * sr))
        x = distractor(rng, m, sr, kind) * fade(m, sr, 0.1)
        place(mix, _at_level(x, sr, bg_rms, rng.uniform(*d.distractor_snr_db)), int(rng.integers(0, n - m + 1)))


def render_clip(scene: Scene, rng: np.random.Generator, n: int, sr: int, profile: SensorProfile, d: Difficulty,
                speech: str = "formant") -> np.ndarray:
    """(n,) float mix in [-1, 1]: background at a random absolute level, events at their SNRs, distractors."""
    mix = background(rng, n, sr, profile, d)
    bg_rms = rms(mix)
    for ev in scene:
        start, x = _render_event(rng, ev, n, sr, speech)
        place(mix, _at_level(x, sr, bg_rms, ev.snr_db), start)
    _add_distractors(rng, mix, sr, bg_rms, d)
    mix *= db(rng.uniform(-40.0, -26.0)) / bg_rms
    peak = float(np.max(np.abs(mix)))
    return mix * (0.98 / peak) if peak > 0.98 else mix


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] to int16 by rounding (deterministic: no dither)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
