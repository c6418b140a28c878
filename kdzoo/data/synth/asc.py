"""A generated stand-in for TAU Urban Acoustic Scenes 2022 Mobile (DCASE Task 1), in the real corpus's layout.

What it is: 1 s clips of 10 "scenes" mixed from the generator's sound families (engines, voices, music, alerts,
impacts, the background and its confusers), each scene a different recipe of families and levels over the
shared traffic/noise background, recorded by 9 simulated "devices" (a fixed band-pass, spectral tilt, gain and
noise floor per device). What it is not: real recordings; the scene acoustics are caricatures (a "metro" is a
large engine with impacts), so its accuracies say which student/KD set-up learns better here, not how it would
score on TAU. Written so :class:`kdzoo.data.tau.TAUUrbanAcousticScenesDataModule` reads it unchanged::

    root/audio/<scene>-<city>-<location>-<segment>-0-<device>.wav    1 s, 44.1 kHz (default), 16-bit PCM
    root/meta.csv, root/evaluation_setup/fold1_{train,evaluate}.csv, root/split{5,10,25,50,100}.csv

Like the real set, every segment is recorded by device ``a`` and by one other device; recordings (``identifier``)
fall wholly into train or test, and devices ``s4``-``s6`` occur only in test (unseen devices). Every draw comes
from a generator keyed by (seed, scene, recording, segment[, device]): the corpus is the same on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from kdzoo.data.synth.alerts import synth_alert
from kdzoo.data.synth.background import background as traffic_background
from kdzoo.data.synth.background import distractor, sensor_profile
from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.dogs import synth_dog
from kdzoo.data.synth.dsp import active_rms, butter, db, unit
from kdzoo.data.synth.engines import synth_engine
from kdzoo.data.synth.impacts import synth_impact
from kdzoo.data.synth.mixer import to_pcm16
from kdzoo.data.synth.music import synth_music
from kdzoo.data.synth.voices import synth_voice

SCENES = ("airport", "bus", "metro", "metro_station", "park", "public_square", "shopping_mall", "street_pedestrian",
          "street_traffic", "tram")
DEVICES = ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
UNSEEN = ("s4", "s5", "s6")
CITIES = ("barcelona", "helsinki", "lisbon", "lyon", "paris")

Source = Callable[[np.random.Generator, int, int], np.ndarray]


def _family(fn: Callable, subtype: int) -> Source:
    return lambda rng, n, sr: fn(rng, n, sr, subtype)[0]


def _confuser(kind: str) -> Source:
    return lambda rng, n, sr: distractor(rng, n, sr, kind)


SCENE_RECIPES: dict[str, tuple[float, list[tuple[Source, float, float]]]] = {
    # scene: (background level in dB, [(source, probability present, level over the background in dB)])
    "airport": (-6, [(_family(synth_voice, 3), 0.9, -2), (_family(synth_alert, 4), 0.4, -6),
                     (_confuser("hum"), 0.8, -8)]),
    "bus": (0, [(_family(synth_engine, 2), 1.0, 4), (_family(synth_voice, 1), 0.5, -4)]),
    "metro": (0, [(_family(synth_engine, 3), 1.0, 6), (_family(synth_impact, 1), 0.7, -2)]),
    "metro_station": (-4, [(_family(synth_voice, 3), 0.7, -4), (_family(synth_engine, 3), 0.6, 0),
                           (_family(synth_voice, 4), 0.4, -2)]),
    "park": (-14, [(_confuser("birds"), 0.9, 4), (_confuser("wind"), 0.6, 0), (_family(synth_dog, 1), 0.3, -2)]),
    "public_square": (-6, [(_family(synth_voice, 3), 0.8, -2), (_confuser("steps"), 0.7, -2),
                           (_family(synth_music, 1), 0.3, -8)]),
    "shopping_mall": (-8, [(_family(synth_music, 1), 0.9, -2), (_family(synth_voice, 3), 0.8, -4),
                           (_confuser("hum"), 0.5, -10)]),
    "street_pedestrian": (-4, [(_confuser("steps"), 0.9, 2), (_family(synth_voice, 1), 0.7, -2),
                               (_family(synth_engine, 1), 0.4, -8)]),
    "street_traffic": (4, [(_family(synth_engine, 1), 0.9, 2), (_family(synth_engine, 2), 0.6, 0),
                           (_family(synth_alert, 1), 0.3, -2)]),
    "tram": (-2, [(_family(synth_engine, 1), 0.8, 0), (_family(synth_impact, 1), 0.9, 0),
                  (_family(synth_alert, 4), 0.2, -8)]),
}


def device_response(x: np.ndarray, sr: int, device: str, seed: int) -> np.ndarray:
    """``x`` as recorded by ``device``: a fixed band-pass, a first-order tilt, a gain and a noise floor.

    Device ``a`` (the reference, like the real set's Soundman OKM II) is left flat apart from a 20 Hz high-pass.
    """
    if device == "a":
        return butter(x, "highpass", 20.0, sr)
    rng = np.random.default_rng([seed, DEVICES.index(device), 7919])
    low, high = float(rng.uniform(80, 400)), float(rng.uniform(3000, min(12000, 0.45 * sr)))
    y = butter(x, "bandpass", (low, high), sr, order=int(rng.integers(1, 3)))
    tilt = float(rng.uniform(-0.6, 0.6))  # + brightens (adds the first difference), - darkens (adds a low-pass)
    y = y + tilt * (np.diff(y, prepend=0.0) * 4 if tilt > 0 else -butter(y, "lowpass", 1000.0, sr))
    noise = np.random.default_rng([seed, DEVICES.index(device), len(x)]).standard_normal(len(x))
    return y * db(float(rng.uniform(-6, 6))) + db(float(rng.uniform(-55, -40))) * noise


def render_segment(seed: int, scene: int, recording: int, segment: int, sr: int) -> np.ndarray:
    """One second of ``SCENES[scene]`` (before any device), float, RMS about 0.05."""
    rng = np.random.default_rng([seed, scene, recording, segment])
    n = sr
    level_db, sources = SCENE_RECIPES[SCENES[scene]]
    profile = sensor_profile(seed, scene * 100 + recording)
    mix = unit(traffic_background(rng, n, sr, profile, Difficulty())) * db(level_db + rng.uniform(-3, 3))
    floor = max(active_rms(mix, sr), 1e-4)
    for source, probability, over_db in sources:
        if rng.random() < probability:
            x = source(rng, n, sr)
            x = x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))
            rms = active_rms(x, sr)
            if rms > 0:
                mix = mix + x * (floor * db(over_db + rng.uniform(-4, 4)) / rms)
    return mix * (0.05 / max(float(np.sqrt(np.mean(mix**2))), 1e-9))


def synth_asc(root: str | Path, recordings: int = 4, segments: int = 6, test_fraction: float = 0.34,
              sample_rate: int = 44100, seed: int = 0, progress: bool = True) -> Path:
    """Write the demo corpus (see the module docstring) into ``root`` and return it.

    Args:
        root: output folder.
        recordings: recordings (``identifier``s) per scene; each lies wholly in train or test.
        segments: 1 s segments per recording; each is written twice (device ``a`` and one other device).
        test_fraction: share of each scene's recordings in the test split (at least one).
        sample_rate: the rate of the wav files (the real set: 44100).
        seed: every draw derives from it.
        progress: show a progress bar.

    Clips: 10 scenes x ``recordings`` x ``segments`` x 2 (480 at the defaults).
    """
    if recordings < 2 or segments < 1:
        raise ValueError(f"synth_asc needs recordings >= 2 (train and test) and segments >= 1, got {recordings}, "
                         f"{segments}")
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "evaluation_setup").mkdir(exist_ok=True)
    n_test = max(1, round(test_fraction * recordings))
    seen_other = [d for d in DEVICES[1:] if d not in UNSEEN]
    meta, train, test = [], [], []
    jobs = [(s, r, g) for s in range(len(SCENES)) for r in range(recordings) for g in range(segments)]
    for s, r, g in tqdm(jobs, desc="synth-asc", disable=not progress):
        is_test = r >= recordings - n_test
        others = list(DEVICES[1:]) if is_test else seen_other
        devices = ("a", others[(s + r * segments + g) % len(others)])
        city = CITIES[(s + r) % len(CITIES)]
        identifier = f"{city}-{s * 100 + r}"
        clean = render_segment(seed, s, r, g, sample_rate)
        for device in devices:
            name = f"audio/{SCENES[s]}-{identifier}-{g * 10}-0-{device}.wav"
            audio = device_response(clean, sample_rate, device, seed)
            sf.write(root / name, to_pcm16(np.clip(audio, -1, 1)), sample_rate, subtype="PCM_16")
            meta.append((name, SCENES[s], identifier, device))
            (test if is_test else train).append((name, SCENES[s]))
    _write(root / "meta.csv", ("filename", "scene_label", "identifier", "source_label"), meta)
    _write(root / "evaluation_setup/fold1_train.csv", ("filename", "scene_label"), train)
    _write(root / "evaluation_setup/fold1_evaluate.csv", ("filename", "scene_label"), test)
    order = np.random.default_rng([seed, 4242]).permutation(len(train))
    for percent in (5, 10, 25, 50, 100):
        keep = sorted(order[: max(1, round(percent / 100 * len(train)))].tolist())
        _write(root / f"split{percent}.csv", ("filename", "scene_label"), [train[i] for i in keep])
    return root


def _write(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(row) + "\n" for row in rows))
