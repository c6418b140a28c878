"""Shared fixtures and builders: a tiny tone-tagging data module that needs no files, and tiny corpora in the
real layouts of Speech Commands and FSD50K (used by their data tests and by every recipe's few-step run)."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from kdzoo.data.speechcommands import NOISE_DIR
from kdzoo.types import Batch

TONES_HZ = (300.0, 1200.0, 3000.0)


class ToneTagging(pl.LightningDataModule):
    """Multi-label clips: class k is present iff a sine at TONES_HZ[k] is in the mix (plus noise).

    Easy enough that a tiny CNN learns it in a few dozen steps, so training tests can assert that a
    metric moves.
    """

    num_classes = len(TONES_HZ)
    task = "multilabel"

    def __init__(self, clips: int = 96, seconds: float = 1.0, sample_rate: int = 16000, batch_size: int = 16,
                 seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        t = torch.arange(int(seconds * sample_rate)) / sample_rate
        targets = (torch.rand(clips, self.num_classes, generator=generator) < 0.4).float()
        tones = torch.stack([torch.sin(2 * torch.pi * f * t) for f in TONES_HZ])  # (K, T)
        noise = 0.3 * torch.randn(clips, t.numel(), generator=generator)
        self.waveforms = 0.2 * targets @ tones + noise
        self.targets, self.sample_rate, self.batch_size = targets, sample_rate, batch_size

    def _items(self, indices):
        return [{"waveform": self.waveforms[i], "target": self.targets[i], "clip_id": f"clip{i:03d}",
                 "sample_rate": self.sample_rate} for i in indices]

    def train_dataloader(self):
        split = int(0.75 * len(self.targets))
        return DataLoader(self._items(range(split)), batch_size=self.batch_size, shuffle=True,
                          collate_fn=Batch.collate, generator=torch.Generator().manual_seed(0))

    def val_dataloader(self):
        split = int(0.75 * len(self.targets))
        return DataLoader(self._items(range(split, len(self.targets))), batch_size=self.batch_size,
                          collate_fn=Batch.collate)

    test_dataloader = val_dataloader
    predict_dataloader = val_dataloader


@pytest.fixture
def one_thread():
    """Small models run several times faster on one thread when the 2 cores are shared (the SEA tests use it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tone_data() -> ToneTagging:
    return ToneTagging()


# -- tiny corpora in the real layouts ---------------------------------------------------------------------
RATE = 16000
# word -> speakers; val holds speaker "bbbb0002", test "cccc0003" (whole speakers, as in the real lists)
WORDS = {"yes": 4, "no": 4, "cat": 3, "dog": 3}
SPEAKERS = ["aaaa0001", "bbbb0002", "cccc0003", "dddd0004"]


def tone(freq: float, seconds: float = 1.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.cos(2 * np.pi * freq * t)).astype(np.float32)  # cos: the first sample is not 0


def write_speech_commands(root: Path) -> Path:
    """A tiny corpus in the official layout: each word a tone of its own, 1 s; two noise recordings."""
    val, test = [], []
    for w, (word, speakers) in enumerate(WORDS.items()):
        (root / word).mkdir(parents=True)
        for speaker in SPEAKERS[:speakers]:
            relative = f"{word}/{speaker}_nohash_0.wav"
            sf.write(root / relative, tone(300 + 200 * w), RATE, subtype="PCM_16")
            (val if speaker == "bbbb0002" else test if speaker == "cccc0003" else []).append(relative)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / NOISE_DIR).mkdir()
    rng = np.random.default_rng(0)
    for name in ("white_noise", "pink_noise"):
        sf.write(root / NOISE_DIR / f"{name}.wav", (0.1 * rng.standard_normal(3 * RATE)).astype(np.float32), RATE)
    (root / NOISE_DIR / "README.md").write_text("not audio")
    return root



VOCAB = ["Bark", "Dog", "Speech"]


def write_fsd50k(root: Path, header: bool = False) -> Path:
    """A tiny FSD50K release: 3 classes, 44.1 kHz clips of 0.5-3 s, 2 train + 1 val (dev) and 1 eval clip."""
    gt = root / "FSD50K.ground_truth"
    gt.mkdir(parents=True)
    rows = "".join(f"{i},{name},/m/{i:04d}\n" for i, name in enumerate(VOCAB))
    (gt / "vocabulary.csv").write_text(("index,label,mid\n" if header else "") + rows)
    (gt / "dev.csv").write_text('fname,labels,mids,split\n101,"Bark,Dog",/m/0000,train\n102,Speech,/m/0002,train\n'
                                "103,Dog,/m/0001,val\n")
    (gt / "eval.csv").write_text('fname,labels,mids\n201,"Speech,Dog",/m/0002\n')
    rng = np.random.default_rng(0)
    for folder, fname, seconds in (("dev", 101, 0.5), ("dev", 102, 3.0), ("dev", 103, 1.0), ("eval", 201, 2.0)):
        (root / f"FSD50K.{folder}_audio").mkdir(exist_ok=True)
        audio = np.linspace(-0.5, 0.5, int(seconds * 44100)).astype(np.float32) + 0.01 * rng.standard_normal(1)[0]
        sf.write(root / f"FSD50K.{folder}_audio" / f"{fname}.wav", audio, 44100, subtype="FLOAT")
    return root
