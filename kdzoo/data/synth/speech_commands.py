"""An offline keyword corpus in Speech Commands' layout, spoken by espeak-ng, with generated background noise.

What it is: every word of Speech Commands v2 (or a chosen list) said once by each of ``speakers`` synthetic
speakers, a speaker being an espeak-ng English accent x voice variant x pitch x speed; 1 s, 16 kHz, the word
placed at a random offset and level; ``validation_list.txt`` / ``testing_list.txt`` that hold out whole accents
and variants (no voice of the val/test speakers is heard in training); ``_background_noise_/`` with white,
pink and brown noise and a mains-hum-plus-noise recording, 20 s each.

What it is not: real speech. espeak-ng is a formant synthesiser (the least natural of the offline voices:
an ASR recognised 85/160 of its words, ``shared/reference/offline.md``), every speaker says every word the same
way, there is no room, microphone or recording noise, and the noise is synthetic. Numbers measured on it show
that code trains and compares, not what a model scores on Speech Commands.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from kdzoo.data.speechcommands import NOISE_DIR, SAMPLE_RATE, WORDS_V2
from kdzoo.dsp import resample

ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
NOISE_SECONDS = 20.0
MARKER = ".synth-kws.json"


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: accent, voice variant, pitch (0-99) and speed (words per minute)."""

    accent: str
    variant: str
    pitch: int
    speed: int

    @property
    def name(self) -> str:
        """8 hex digits, like the real corpus's speaker hashes."""
        return hashlib.sha1(f"{self.accent}+{self.variant}/{self.pitch}/{self.speed}".encode()).hexdigest()[:8]


def espeak_variants() -> list[str]:
    """The voice variants espeak-ng offers (``espeak-ng --voices=variant``), e.g. ``m3``, ``f2``, ``Alicia``."""
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[4].removeprefix("!v/") for line in out.splitlines()[1:] if line.split())


def plan_speakers(count: int, seed: int, holdout: float = 0.2) -> dict[str, list[Speaker]]:
    """``count`` speakers split into train / val / test by *voice*: val and test use accents and variants of
    their own (``holdout`` of the speakers each... at least one), so held-out voices are never heard in training."""
    rng = np.random.default_rng(seed)
    variants = list(rng.permutation(espeak_variants()))
    accents = list(rng.permutation(ACCENTS))
    held = max(1, round(holdout / 2 * count))
    counts = {"val": held, "test": held, "train": max(1, count - 2 * held)}
    pools = {"val": (accents[:1], variants[:10]), "test": (accents[1:2], variants[10:20]),
             "train": (accents[2:], variants[20:])}
    return {split: [Speaker(str(rng.choice(pools[split][0])), str(rng.choice(pools[split][1])),
                            int(rng.integers(20, 80)), int(rng.integers(120, 200))) for _ in range(n)]
            for split, n in counts.items()}


def speak(word: str, speaker: Speaker) -> np.ndarray:
    """espeak-ng saying ``word`` as ``speaker``, at 16 kHz, float32, leading/trailing silence trimmed."""
    cmd = ["espeak-ng", "--stdout", "-v", f"{speaker.accent}+{speaker.variant}", "-p", str(speaker.pitch),
           "-s", str(speaker.speed), word]
    audio, rate = sf.read(io.BytesIO(subprocess.run(cmd, capture_output=True, check=True).stdout), dtype="float32")
    audio = resample(torch.from_numpy(audio), rate, SAMPLE_RATE).numpy()
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max()) if audio.size and audio.any() else []
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def one_second(word_audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The word at a random offset and peak level (0.2-0.9) in 1 s of silence (cut to 1 s if longer)."""
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    audio = word_audio[:SAMPLE_RATE]
    offset = int(rng.integers(0, SAMPLE_RATE - audio.size + 1))
    peak = float(np.abs(audio).max()) or 1.0
    clip[offset : offset + audio.size] = audio / peak * rng.uniform(0.2, 0.9)
    return clip


def noise_recordings(rng: np.random.Generator, seconds: float = NOISE_SECONDS) -> dict[str, np.ndarray]:
    """White, pink (1/f power), brown (1/f^2) noise and a 50 Hz hum with harmonics over pink noise."""
    n = int(seconds * SAMPLE_RATE)
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    brown = np.fft.irfft(spectrum / freqs, n)
    t = np.arange(n) / SAMPLE_RATE
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 8))
    recordings = {"white_noise": white, "pink_noise": pink, "brown_noise": brown,
                  "mains_hum": hum / np.abs(hum).max() + 0.5 * pink / np.abs(pink).max()}
    return {name: (0.5 * x / np.abs(x).max()).astype(np.float32) for name, x in recordings.items()}


def synth_kws(root: str | Path, speakers: int = 40, words: tuple[str, ...] = WORDS_V2, seed: int = 0,
              progress: bool = True) -> Path:
    """Write the corpus into ``root`` (see the module docstring); returns ``root``.

    A folder already holding a complete corpus with the same settings is left as it is; one that holds something
    else (another corpus, a real download) is refused.
    """
    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError("kdzoo data synth-kws needs the espeak-ng program (Debian: apt-get install espeak-ng)")
    root = Path(root)
    settings = {"speakers": speakers, "words": list(words), "seed": seed, "version": 1}
    marker = root / MARKER
    if marker.exists() and json.loads(marker.read_text()) == settings:
        return root
    if (root / "testing_list.txt").exists() and not marker.exists():
        raise FileExistsError(f"{root} holds a Speech Commands corpus that synth_kws did not write; refusing to "
                              f"overwrite it (pick an empty folder)")
    marker.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    plan = plan_speakers(speakers, seed)
    lists: dict[str, list[str]] = {"val": [], "test": []}
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("espeak-ng words", total=sum(len(s) for s in plan.values()) * len(words))
        for split, people in plan.items():
            for speaker in people:
                for word in words:
                    relative = f"{word}/{speaker.name}_nohash_0.wav"
                    (root / word).mkdir(parents=True, exist_ok=True)
                    sf.write(root / relative, one_second(speak(word, speaker), rng), SAMPLE_RATE, subtype="PCM_16")
                    if split in lists:
                        lists[split].append(relative)
                    bar.advance(task)
    (root / NOISE_DIR).mkdir(exist_ok=True)
    for name, audio in noise_recordings(rng).items():
        sf.write(root / NOISE_DIR / f"{name}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
    (root / "validation_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists["val"])))
    (root / "testing_list.txt").write_text("".join(f"{p}\n" for p in sorted(lists["test"])))
    marker.write_text(json.dumps(settings))
    return root
