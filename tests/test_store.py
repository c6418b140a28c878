"""The teacher-output store: exact round trip, refusals, resume after a kill, atomicity, and fit equivalence."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from conftest import ToneTagging

import kdzoo
from kdzoo.cli import main
from kdzoo.distill import Distiller, HintonKD
from kdzoo.distill.store import (
    StoreIncompleteError,
    StoreMismatchError,
    StoreMissingClipError,
    TeacherStore,
    data_config,
)
from kdzoo.models import FrozenTeacher
from kdzoo.types import Batch


def make_teacher(seed: int = 0, **cache) -> FrozenTeacher:
    torch.manual_seed(seed)
    return FrozenTeacher(kdzoo.create_student("cnn_xs", num_classes=3), **cache)


def live(teacher: FrozenTeacher):
    return lambda batch: teacher(batch.waveform, batch.sample_rate)


def store_of(teacher: FrozenTeacher, path, fields=("logits", "frames"), dtype="float32") -> TeacherStore:
    return TeacherStore.for_teacher(teacher.identity(), set(fields), dtype, path)


def loaders(data) -> dict:
    return {"train": data.train_dataloader(), "val": data.val_dataloader()}


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-6), ("float16", 1e-3)])
def test_round_trip_equals_the_live_forward(tone_data, tmp_path, dtype, tolerance):
    """fp32: bit-exact for batches composed as in the fill (val), float rounding otherwise (shuffled train)."""
    teacher = make_teacher()
    store = store_of(teacher, tmp_path / "s", dtype=dtype)
    store.fill(live(teacher), loaders(tone_data), progress=False)
    for split, loader in loaders(tone_data).items():
        for batch in loader:
            stored, fresh = store.read(split, batch), live(teacher)(batch)
            for name in ("logits", "frames"):
                got, want = getattr(stored, name), getattr(fresh, name)
                atol = 0.0 if (dtype, split) == ("float32", "val") else tolerance * float(want.abs().max())
                torch.testing.assert_close(got, want, rtol=0, atol=atol, msg=f"{split} {name}")
            assert stored.frame_hop_s == fresh.frame_hop_s and stored.embedding is None  # only the asked fields
    stored_bytes = np.load(tmp_path / "s" / "train" / "logits.npy", mmap_mode="r")
    assert stored_bytes.dtype == np.dtype(dtype) and stored_bytes.shape == (72, 3)


def test_store_from_other_weights_is_refused_naming_both_hashes(tone_data, tmp_path):
    teacher, other = make_teacher(seed=0), make_teacher(seed=1)
    store_of(teacher, tmp_path / "s").fill(live(teacher), loaders(tone_data), progress=False)
    with pytest.raises(StoreMismatchError, match="weights_sha256") as error:
        store_of(other, tmp_path / "s").read("train", next(iter(tone_data.train_dataloader())))
    mine, theirs = teacher.identity()["weights_sha256"], other.identity()["weights_sha256"]
    assert mine in str(error.value) and theirs in str(error.value) and "frontend" not in str(error.value)


def test_store_from_another_front_end_is_refused_naming_the_setting(tone_data, tmp_path):
    teacher, other = make_teacher(), make_teacher()
    other.model.frontend.mel.spectrogram.hop_length = 160  # same weights, another hop
    assert teacher.identity()["weights_sha256"] == other.identity()["weights_sha256"]
    store_of(teacher, tmp_path / "s").fill(live(teacher), loaders(tone_data), progress=False)
    with pytest.raises(StoreMismatchError, match=r"frontend\.mel\.spectrogram\.hop_length: stored 320 vs this run 160"):
        store_of(other, tmp_path / "s").manifest()


def test_default_folders_never_mix_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    teachers = [make_teacher(seed) for seed in (0, 1)]
    corpora = [data_config(ToneTagging()), data_config(ToneTagging(seconds=2.0, sample_rate=8000))]
    paths = {TeacherStore.for_teacher(t.identity(), {field}, "float16", None, data).path
             for t in teachers for field in ("logits", "frames") for data in corpora}
    assert len(paths) == 8 and all(str(p).startswith("checkpoints/cache/teacher-store/") for p in paths)
    assert corpora[1]["sample_rate"] == 8000 and "batch_size" not in corpora[1]  # batching is not part of the key


def test_missing_clip_and_changed_audio_are_errors_naming_the_clip(tone_data, tmp_path):
    teacher = make_teacher()
    store = store_of(teacher, tmp_path / "s")
    store.fill(live(teacher), loaders(tone_data), progress=False)
    batch = next(iter(tone_data.val_dataloader()))
    stranger = Batch(batch.waveform, batch.target, ["nope.wav", *batch.clip_id[1:]], batch.sample_rate)
    with pytest.raises(StoreMissingClipError, match="clip 'nope.wav'"):
        store.read("val", stranger)
    augmented = Batch(batch.waveform * 0.9, batch.target, batch.clip_id, batch.sample_rate)
    with pytest.raises(StoreMissingClipError, match=f"clip '{batch.clip_id[0]}': its audio differs.*augmentation"):
        store.read("val", augmented)


class Killed(Exception):
    pass


def dies_after(batches: int, forward):
    calls = []

    def wrapped(batch):
        if len(calls) == batches:
            raise Killed
        calls.append(len(batch))
        return forward(batch)

    return wrapped, calls


def test_fill_resumes_after_a_kill_and_ends_equal_to_a_one_go_fill(tone_data, tmp_path):
    teacher = make_teacher()
    store = store_of(teacher, tmp_path / "resumed")
    killed, _ = dies_after(2, live(teacher))
    with pytest.raises(Killed):
        store.fill(killed, loaders(tone_data), progress=False)
    clips = json.loads((tmp_path / "resumed" / "train" / "clips.json").read_text())
    assert sum(c is not None for c in clips) == 32  # two batches of 16 were recorded before the kill
    counting, calls = dies_after(10**9, live(teacher))
    store.fill(counting, loaders(tone_data), progress=False)
    assert sum(calls) == 96 - 32  # only what was missing was computed
    one_go = store_of(teacher, tmp_path / "one_go")
    one_go.fill(live(teacher), loaders(tone_data), progress=False)
    for split in ("train", "val"):
        assert (json.loads((tmp_path / "resumed" / split / "clips.json").read_text())
                == json.loads((tmp_path / "one_go" / split / "clips.json").read_text()))
        for name in ("logits", "frames", "fingerprint"):
            np.testing.assert_allclose(np.load(tmp_path / "resumed" / split / f"{name}.npy"),
                                       np.load(tmp_path / "one_go" / split / f"{name}.npy"), rtol=1e-6, atol=1e-7)


def test_an_interrupted_store_is_never_read(tone_data, tmp_path):
    teacher = make_teacher()
    store = store_of(teacher, tmp_path / "s")
    killed, _ = dies_after(1, live(teacher))
    with pytest.raises(Killed):
        store.fill(killed, loaders(tone_data), progress=False)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["complete"] is False
    batch = next(iter(tone_data.train_dataloader()))
    with pytest.raises(StoreIncompleteError, match="'train' is incomplete"):
        TeacherStore(tmp_path / "s", store.key).read("train", batch)
    with pytest.raises(StoreIncompleteError, match="'val' is absent"):
        TeacherStore(tmp_path / "s", store.key).read("val", batch)


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def fit_losses(tone_data, teacher: FrozenTeacher, tmp_path) -> tuple[list[float], Distiller]:
    pl.seed_everything(0)
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    model = Distiller(student, teacher, HintonKD(temperature=1.0), num_classes=3)
    recorder = LossRecorder()
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[recorder], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=tone_data)
    return recorder.losses, model


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-5), ("float16", 1e-3)])
def test_fit_with_the_store_gives_the_live_teacher_loss_curve(tone_data, tmp_path, dtype, tolerance):
    teacher = make_teacher()
    expected, _ = fit_losses(tone_data, teacher, tmp_path)
    cached = FrozenTeacher(teacher.model, cache=True, cache_dir=str(tmp_path / "store"), cache_dtype=dtype)
    calls = []
    cached.model.register_forward_hook(lambda m, i, o: calls.append(1))
    losses, model = fit_losses(tone_data, cached, tmp_path)
    assert len(losses) == len(expected) == 6
    np.testing.assert_allclose(losses, expected, rtol=tolerance)
    assert model.teacher_store().is_complete(["train", "val"])  # fit filled it on first use...
    assert len(calls) == 5 + 2  # ...one pass over 72 + 24 clips in batches of 16, then no live forward at all
    if dtype == "float32":
        again, _ = fit_losses(tone_data, cached, tmp_path)
        assert again == losses and len(calls) == 7


def test_cache_teacher_command_fills_the_recipe_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("""
model:
  student: {class_path: kdzoo.models.cnn.CNN, init_args: {channels: [4, 4, 4, 4]}}
  teacher:
    class_path: kdzoo.models.FrozenTeacher
    init_args:
      model: {class_path: kdzoo.models.cnn.CNN, init_args: {channels: [4, 4, 4, 4], num_classes: 3}}
      cache: true
  method: {class_path: kdzoo.distill.HintonKD}
data:
  class_path: conftest.ToneTagging
  init_args: {clips: 20}
""")
    assert main(["cache-teacher", "--recipe", str(recipe)]) == 0
    path = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert path.startswith("checkpoints/cache/teacher-store/")
    manifest = json.loads((tmp_path / path / "manifest.json").read_text())
    assert manifest["key"]["fields"] == ["logits"] and manifest["key"]["dtype"] == "float16"
    assert {s: (v["clips"], v["complete"]) for s, v in manifest["splits"].items()} == {"train": (15, True),
                                                                                     "val": (5, True)}
