"""Shared fixtures: a tiny tone-tagging data module that needs no files."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

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
