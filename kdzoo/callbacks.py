"""Lightning callbacks kdzoo adds to every CLI run."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter


class PredictionCSVWriter(BasePredictionWriter):
    """Write ``predictions.csv`` (one row per clip: ``audio_filename`` then one probability column per class).

    With SONYC-UST class names (``1_engine`` ...) this is the submission format the official DCASE 2019
    Task 5 evaluation script reads. The file goes to the run folder (``trainer.log_dir``).

    Probabilities are written at full precision (``repr`` of the value as a Python float: the shortest text
    that reads back to exactly the same number), so scoring the file gives exactly the scores kdzoo logged. The
    official metric uses every distinct score as a threshold and 1.0 as the last one; rounding (e.g. to 6
    decimals) merges close scores and turns a float32 0.99999994 into 1.0, which moves the curve.
    """

    def __init__(self, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        self.filename = filename

    def write_on_epoch_end(self, trainer: pl.Trainer, pl_module, predictions, batch_indices) -> None:
        rows = [(clip, probs) for batch in predictions for clip, probs in zip(batch["clip_id"], batch["probabilities"],
                                                                              strict=True)]
        if not rows:
            return
        names = getattr(trainer.datamodule, "class_names", None) or [f"class_{k}" for k in range(len(rows[0][1]))]
        out = Path(trainer.log_dir or trainer.default_root_dir) / self.filename
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["audio_filename", *names])
            for clip, probs in sorted(rows, key=lambda row: row[0]):
                writer.writerow([clip, *(repr(float(p)) for p in probs)])
