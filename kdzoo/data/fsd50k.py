"""FSD50K (Fonseca et al. 2022): 200 AudioSet-ontology classes, multi-label, clips of 0.3-30 s.

Layout (the Zenodo release, unpacked; ``shared/reference/methods.md`` 4.5)::

    root/FSD50K.dev_audio/<fname>.wav
    root/FSD50K.eval_audio/<fname>.wav
    root/FSD50K.ground_truth/vocabulary.csv   index,label,mid (no header in the release; a header row is accepted)
    root/FSD50K.ground_truth/dev.csv          fname,labels,mids,split   (split: train | val)
    root/FSD50K.ground_truth/eval.csv         fname,labels,mids

Splits: ``train`` and ``val`` from ``dev.csv``'s split column, ``test`` = eval. Targets: (200,) multi-hot from the
comma-separated ``labels`` (already propagated to ancestors in the release). Metric: macro mAP over classes
(Temporal KD's FSD50K number), logged as ``mAP`` by the Distiller's multi-label metrics.

Variable length, our documented choice (the paper's is not public): every clip becomes ``clip_seconds`` long; a
shorter one is zero-padded at the end, a longer one is cropped around its centre (``crop="centre"``) or from its
start (``crop="start"``). Both are deterministic, so the teacher-output store can hold one target per clip.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import Dataset

from kdzoo.data.audio import load_audio
from kdzoo.data.loaders import SplitLoaders

GROUND_TRUTH = "FSD50K.ground_truth"
AUDIO = {"dev": "FSD50K.dev_audio", "eval": "FSD50K.eval_audio"}


def read_vocabulary(root: str | Path) -> list[str]:
    """Class names in index order from ``vocabulary.csv``."""
    path = Path(root) / GROUND_TRUTH / "vocabulary.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {root} is not an FSD50K folder (see kdzoo.data.fsd50k)")
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and not rows[0][0].strip().isdigit():
        rows = rows[1:]  # a header row
    names = [row[1] for row in sorted(rows, key=lambda row: int(row[0]))]
    if [int(row[0]) for row in sorted(rows, key=lambda row: int(row[0]))] != list(range(len(names))):
        raise ValueError(f"{path}: indices must be 0..{len(names) - 1}")
    return names


def read_split(root: str | Path, split: str, names: list[str]) -> list[tuple[Path, Tensor, str]]:
    """(audio path, multi-hot target (K,), clip id) of ``split`` (train | val | test)."""
    root = Path(root)
    table, folder = ("eval.csv", AUDIO["eval"]) if split == "test" else ("dev.csv", AUDIO["dev"])
    path = root / GROUND_TRUTH / table
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (FSD50K ground truth)")
    index = {name: i for i, name in enumerate(names)}
    items = []
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if split != "test" and row.get("split") != split:
                continue
            target = torch.zeros(len(names))
            for label in row["labels"].split(","):
                if label not in index:
                    raise ValueError(f"{path} line {line}: label {label!r} is not in vocabulary.csv")
                target[index[label]] = 1.0
            items.append((root / folder / f"{row['fname']}.wav", target, f"{folder}/{row['fname']}"))
    if not items:
        raise ValueError(f"{path}: no clips for split {split!r}")
    missing = [str(p) for p, _, _ in items if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} FSD50K audio file(s) listed in {path} are missing, e.g. {missing[0]}")
    return items


def crop_or_pad(waveform: Tensor, num_samples: int, crop: str) -> Tensor:
    """(T,) -> (num_samples,): zero-pad at the end, or crop around the centre / from the start."""
    length = waveform.shape[-1]
    if length <= num_samples:
        return torch.nn.functional.pad(waveform, (0, num_samples - length))
    start = (length - num_samples) // 2 if crop == "centre" else 0
    return waveform[start : start + num_samples]


class FSD50KClips(Dataset):
    """One split as Batch items: waveform (clip_seconds * rate,), target (K,), clip_id, sample_rate."""

    def __init__(self, items: list[tuple[Path, Tensor, str]], sample_rate: int, clip_seconds: float,
                 crop: str) -> None:
        self.items, self.sample_rate, self.crop = items, sample_rate, crop
        self.num_samples = round(clip_seconds * sample_rate)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, target, clip_id = self.items[index]
        waveform, _ = load_audio(path, self.sample_rate)
        return {"waveform": crop_or_pad(waveform, self.num_samples, self.crop), "target": target,
                "clip_id": clip_id, "sample_rate": self.sample_rate}


class FSD50KDataModule(SplitLoaders, pl.LightningDataModule):
    """FSD50K, multi-label over the 200 classes (see the module docstring for layout, splits and cropping).

    Batches: ``Batch(waveform (B, clip_seconds * sample_rate), target (B, 200) multi-hot, clip_id, sample_rate)``.

    Args:
        root: the unpacked release.
        sample_rate: the 44.1 kHz clips are resampled to this at load.
        clip_seconds: fixed clip length after padding / cropping.
        crop: ``centre`` or ``start`` for clips longer than ``clip_seconds``.
        batch_size, num_workers, seed: loader settings (``seed`` shuffles the training split).
    """

    task = "multilabel"

    def __init__(self, root: str = "data/fsd50k", sample_rate: int = 16000, clip_seconds: float = 10.0,
                 crop: Literal["centre", "start"] = "centre", batch_size: int = 32, num_workers: int = 0,
                 seed: int = 0) -> None:
        super().__init__()
        if crop not in ("centre", "start"):
            raise ValueError(f"FSD50KDataModule: crop must be 'centre' or 'start', got {crop!r}")
        self.root, self.sample_rate, self.clip_seconds, self.crop = Path(root), sample_rate, clip_seconds, crop
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.class_names = read_vocabulary(self.root)
        self.num_classes = len(self.class_names)
        self._datasets: dict[str, FSD50KClips] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val", "test"):
            if split not in self._datasets:
                items = read_split(self.root, split, self.class_names)
                self._datasets[split] = FSD50KClips(items, self.sample_rate, self.clip_seconds, self.crop)

