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


def _halved_denormal() -> float:
    """Half of a float32 denormal: 0 while denormals are flushed, about 5e-40 otherwise."""
    return float(torch.tensor([1e-39], dtype=torch.float32) * 0.5)


def test_flush_denormals_is_on_during_the_run_and_off_after(tone_data, tmp_path):
    """Denormals (x86's slow path: 8x slower steps for a saturated GRU) read as zero inside fit only."""
    from kdzoo.callbacks import FlushDenormals
    from kdzoo.cli.runner import build_cli

    if not torch.set_flush_denormal(True):
        raise AssertionError("this x86 CPU should support flushing denormals")  # no silent skip here
    torch.set_flush_denormal(False)
    seen = []

    class Probe(pl.Callback):
        def on_train_batch_start(self, *args) -> None:
            seen.append(_halved_denormal())

    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), task="multilabel", num_classes=3)
    trainer = pl.Trainer(max_steps=2, callbacks=[FlushDenormals(), Probe()], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=tone_data)
    assert seen == [0.0, 0.0]
    assert _halved_denormal() > 0  # restored after the run
    callbacks = build_cli(["--model.student", "kdzoo.models.cnn.CNN", "--data", "kdzoo.data.demo.SynthUSTDataModule",
                           "--data.root", str(tmp_path / "c")]).trainer.callbacks
    assert any(isinstance(c, FlushDenormals) for c in callbacks)  # every kdzoo fit has it
