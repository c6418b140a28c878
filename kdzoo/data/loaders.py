"""The data loaders of a data module whose splits are ``train`` / ``val`` / ``test`` datasets of clips.

Shared by the keyword (:mod:`kdzoo.data.speechcommands`) and FSD50K (:mod:`kdzoo.data.fsd50k`) data modules:
one ``DataLoader`` recipe (batches collated into :class:`kdzoo.types.Batch`, training shuffled by a generator
seeded from the module's ``seed`` so a run repeats its order), written once.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from kdzoo.types import Batch


class SplitLoaders:
    """Mixin for a ``LightningDataModule`` that fills ``self._datasets[split]`` in ``setup()`` and has
    ``batch_size``, ``num_workers`` and ``seed`` attributes."""

    _datasets: dict[str, Dataset]
    batch_size: int
    num_workers: int
    seed: int

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()  # type: ignore[attr-defined]
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(self._datasets[split], batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, collate_fn=Batch.collate, generator=generator)

    def dataset(self, split: str) -> Dataset:
        """The ``train``, ``val`` or ``test`` split as a Dataset of items (set up on first use)."""
        self.setup()  # type: ignore[attr-defined]
        if split not in self._datasets:
            raise KeyError(f"no split {split!r}; this data module has {sorted(self._datasets)}")
        return self._datasets[split]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
