"""predictions.csv: scoring the written file with the official metric gives exactly the scores kdzoo logged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from kdzoo.callbacks import PredictionCSVWriter
from kdzoo.metrics import UST_KEYS, build_metrics, sonyc_ust_scores

CLASSES = ["1_engine", "2_machinery-impact", "3_non-machinery-impact"]
# float32 probabilities chosen to sit where 6-decimal text used to merge them: 0.99999994 (the largest float32
# below 1) and 0.9999996 both print as 1.000000 and join the 1.0 threshold; float32(0.01) = 0.0099999998 is below
# the metric's 0.01 floor but prints as 0.010000; 0.3333333 and 0.33333334 become one threshold.
PROBS = torch.tensor(
    [
        [0.99999994, 1.0, 0.33333334],
        [1.0, 0.9999996, 0.3333333],
        [0.99999994, 0.99999994, 0.01],
        [0.9999996, 0.5, 0.0099999],
        [0.2, 1.0, 0.33333334],
        [0.01, 0.9999996, 0.3333333],
        [0.7, 0.01, 0.25],
        [0.3333333, 0.6, 0.33333334],
    ],
    dtype=torch.float32,
)
TARGET = torch.tensor(
    [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float32
)


def write_predictions(tmp_path: Path) -> Path:
    """Run the writer as Lightning does after ``predict``: one dict per batch, here two batches of 4 clips."""
    clip_ids = [f"{i:02d}_00000{i}.wav" for i in range(len(PROBS))]
    batches = [{"clip_id": clip_ids[s:s + 4], "probabilities": PROBS[s:s + 4]} for s in (4, 0)]  # out of order
    trainer = SimpleNamespace(log_dir=str(tmp_path), default_root_dir=str(tmp_path),
                              datamodule=SimpleNamespace(class_names=CLASSES))
    PredictionCSVWriter().write_on_epoch_end(trainer, None, batches, [])
    return tmp_path / "predictions.csv"


def logged_scores() -> dict[str, float]:
    """What the Distiller logs for the same clips: the metric collection it builds, updated with the tensors."""
    metrics = build_metrics("multilabel", len(CLASSES))
    metrics.update(PROBS[:5], TARGET[:5])
    metrics.update(PROBS[5:], TARGET[5:])
    return {key: value.item() for key, value in metrics.compute().items() if key in UST_KEYS}


def test_scoring_the_written_csv_reproduces_the_logged_metric(tmp_path):
    table = pd.read_csv(write_predictions(tmp_path))  # float64, as the official evaluation reads it
    assert list(table.columns) == ["audio_filename", *CLASSES]
    assert list(table.audio_filename) == sorted(table.audio_filename) and len(table) == len(PROBS)
    from_file = sonyc_ust_scores(TARGET.numpy(), table[CLASSES].to_numpy())
    assert {key: np.float32(from_file[key]).item() for key in UST_KEYS} == logged_scores()
    assert from_file == sonyc_ust_scores(TARGET.numpy(), PROBS.double().numpy())  # float64 and per class too
    assert np.array_equal(table[CLASSES].to_numpy(), PROBS.double().numpy())  # every value read back exactly


def test_the_crafted_scores_are_ones_that_six_decimals_get_wrong():
    """Guards the test above: with 6-decimal text the same predictions score differently."""
    rounded = np.array([[float(f"{p:.6f}") for p in row] for row in PROBS.tolist()])
    exact = sonyc_ust_scores(TARGET.numpy(), PROBS.double().numpy())
    wrong = sonyc_ust_scores(TARGET.numpy(), rounded)
    for key in ("micro_auprc", "macro_auprc"):
        assert wrong[key] != pytest.approx(exact[key], abs=1e-4)
