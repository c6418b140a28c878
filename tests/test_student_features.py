"""Distiller(cache_student_features=True): training from stored front-end output matches training from audio."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from conftest import ToneTagging
from torch import nn

import kdzoo
from kdzoo.distill import Distiller, HintonKD
from kdzoo.distill.store import StoreMismatchError
from kdzoo.models import FrozenTeacher


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def count_frontend_calls(student: nn.Module) -> list[int]:
    calls: list[int] = []
    student.frontend.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    return calls


def fit(data: ToneTagging, tmp_path, teacher: bool = False, **options) -> tuple[list[float], list[int], Distiller]:
    """Two short epochs of cnn_xs (scratch, or Hinton KD from a fixed cnn_xs teacher); per-step losses, and
    the batch sizes the student's front end saw."""
    torch.manual_seed(1)
    kd = {}
    if teacher:
        kd = {"teacher": FrozenTeacher(kdzoo.create_student("cnn_xs", num_classes=3)), "method": HintonKD()}
    pl.seed_everything(0)
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    calls = count_frontend_calls(student)
    model = Distiller(student, num_classes=3, **kd, **options)
    recorder = LossRecorder()
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[recorder], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=data)
    return recorder.losses, calls, model


@pytest.mark.parametrize(("dtype", "teacher", "tolerance"),
                         [("float32", False, 1e-5), ("float32", True, 1e-5), ("float16", False, 1e-3)])
def test_fit_from_stored_features_gives_the_audio_loss_curve(tone_data, tmp_path, dtype, teacher, tolerance):
    expected, live_calls, _ = fit(tone_data, tmp_path, teacher)
    assert len(live_calls) == 6 + 1 + 2  # from audio: one call per train step and val batch (+ sanity check)
    options = {"cache_student_features": True, "student_features_dtype": dtype,
               "student_features_dir": str(tmp_path / "features")}
    losses, calls, model = fit(tone_data, tmp_path, teacher, **options)
    assert len(losses) == len(expected) == 6
    np.testing.assert_allclose(losses, expected, rtol=tolerance)
    assert model.student_features_store().is_complete(["train", "val"])
    assert calls == [16, 16, 16, 16, 8, 16, 8]  # the fill: 72 train + 24 val clips, once; no step ran the front end
    stored = np.load(tmp_path / "features" / "train" / "features.npy", mmap_mode="r")
    assert stored.dtype == np.dtype(dtype) and stored.shape == (72, 1, 64, 51)


def test_second_fit_never_runs_the_front_end_but_test_does(tone_data, tmp_path):
    options = {"cache_student_features": True, "student_features_dtype": "float32",
               "student_features_dir": str(tmp_path / "features")}
    first, _, _ = fit(tone_data, tmp_path, **options)
    again, calls, model = fit(tone_data, tmp_path, **options)
    assert again == first and calls == []
    pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).test(model, datamodule=tone_data)
    assert calls == [16, 8]  # test (like predict and the exported student) runs from audio


def test_default_store_folder_is_shared_by_equal_front_ends_only(tone_data):
    def folder(**kwargs):
        student = kdzoo.create_student("cnn_xs", num_classes=3, **kwargs)
        model = Distiller(student, num_classes=3, cache_student_features=True)
        return model.student_features_store(tone_data).path

    assert folder() == folder() != folder(n_mels=32)
    assert folder().parent == Path("checkpoints/cache/student-features")
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), num_classes=3, cache_student_features=True)
    assert model.student_features_store(tone_data).key["dtype"] == "float32"  # exact unless float16 is asked for


def test_store_from_another_front_end_config_is_refused_naming_the_setting(tone_data, tmp_path):
    options = {"cache_student_features": True, "student_features_dir": str(tmp_path / "features")}
    fit(tone_data, tmp_path, **options)
    student = kdzoo.create_student("cnn_xs", num_classes=3, n_mels=32)
    model = Distiller(student, num_classes=3, **options)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    mismatch = r"student-feature store .*frontend\.\.n_mels: stored 64 vs this run 32"
    with pytest.raises(StoreMismatchError, match=mismatch):
        trainer.fit(model, datamodule=tone_data)


def test_trainable_front_end_and_frontless_student_are_refused_naming_the_argument():
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    student.frontend.gain = nn.Parameter(torch.ones(1))
    with pytest.raises(ValueError, match=r"cache_student_features: .*front end is trainable \(gain requires grad\)"):
        Distiller(student, num_classes=3, cache_student_features=True)
    student.frontend.gain.requires_grad_(False)
    Distiller(student, num_classes=3, cache_student_features=True)  # frozen: fine

    class WaveformOnly(nn.Module):
        num_classes = 3

    with pytest.raises(ValueError, match="cache_student_features: the student WaveformOnly has no `frontend`"):
        Distiller(WaveformOnly(), num_classes=3, cache_student_features=True)
