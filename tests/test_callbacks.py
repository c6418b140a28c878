"""RunArtifacts: what `kdzoo fit` leaves in a run folder, for a Python user's Trainer too."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger

import kdzoo
from kdzoo.callbacks import RunArtifacts
from kdzoo.distill import Distiller
from kdzoo.models.teacher import load_state_dict


def test_run_artifacts_tests_the_best_checkpoint_and_writes_the_run_files(tone_data, tmp_path):
    torch.manual_seed(0)
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), num_classes=3,
                      optimizer=lambda p: torch.optim.Adam(p, lr=3e-3))
    artifacts = RunArtifacts()
    checkpoints = pl.callbacks.ModelCheckpoint(monitor="val/score", mode="max")
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=2, accelerator="cpu", callbacks=[checkpoints, artifacts],
                         logger=CSVLogger(tmp_path, name="run"), enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(model, datamodule=tone_data)
    assert model.trainer is trainer  # the callback's test Trainer hands the module back
    run_dir = tmp_path / "run" / "version_0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_checkpoint"] == checkpoints.best_model_path != ""
    assert summary["scores"] == artifacts.scores and 0 <= artifacts.scores["test/micro_auprc"] <= 1
    assert summary["last_epoch_val_scores"]["val/score"] == float(trainer.callback_metrics["val/score"])
    assert summary["student_variant"] == "cnn_xs"
    assert summary["student_params"] == 15_490 - 5 * 33  # cnn_xs has 15,490 with 8 classes; 3 here
    assert (run_dir / "curves.png").stat().st_size > 10_000 and artifacts.curves == run_dir / "curves.png"

    # the test scores are those of the best checkpoint, and student.pt holds its student weights
    best = torch.load(checkpoints.best_model_path, weights_only=False)
    rescored = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False).test(
        model, datamodule=tone_data, ckpt_path=checkpoints.best_model_path, verbose=False)[0]
    assert rescored["test/micro_auprc"] == artifacts.scores["test/micro_auprc"]
    exported = load_state_dict(run_dir / "student.pt")
    for key, value in exported.items():
        torch.testing.assert_close(value, best["state_dict"][f"student.{key}"], rtol=0, atol=0)
    loaded = kdzoo.load_student(run_dir / "student.pt")
    assert loaded.meta["scores"] == artifacts.scores and loaded.meta["task"] == "multilabel"
