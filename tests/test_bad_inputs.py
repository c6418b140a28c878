"""Every bad input stops with a message naming the file or argument, or (opt-in) is skipped and counted.

Covered elsewhere, each with the file named: corrupt, truncated, empty and NaN/inf audio (test_audio.py);
annotations with missing columns and rows for missing files (test_sonyc.py); a teacher-output store from other
weights or another front end (test_store.py); a teacher checkpoint of another architecture (test_models.py);
a training checkpoint of another architecture (test_reliability.py).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml
from test_sonyc import RATE_ON_DISK, datamodule, make_corpus

import kdzoo
from kdzoo.cli import main
from kdzoo.data.audio import load_audio


def damage(root) -> None:
    """a.wav: one NaN sample (found only by decoding); e.wav: not audio at all (found from the header)."""
    nan = np.zeros(16000, np.float32)
    nan[5] = np.nan
    sf.write(root / "train" / "a.wav", nan, RATE_ON_DISK, subtype="FLOAT")
    (root / "train" / "e.wav").write_bytes(b"RIFF not really a wav")


@pytest.mark.parametrize("preload", ["cache", "memory"])
def test_skip_bad_clips_leaves_them_out_counts_and_names_them(tmp_path, preload, caplog):
    root = make_corpus(tmp_path / "ust")
    damage(root)
    with pytest.raises(ValueError, match="2 bad 'train' audio file"):
        datamodule(root, preload=preload).setup("fit")  # off by default
    dm = datamodule(root, preload=preload, skip_bad_clips=True)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert "train: skipping 2 unreadable clip(s) of 3 (skip_bad_clips=True): a.wav, e.wav" in caplog.text
    assert sorted(dm.skipped["train"]) == ["a.wav", "e.wav"] and "NaN" in dm.skipped["train"]["a.wav"]
    (batch,) = list(dm.train_dataloader())
    assert batch.clip_id == ["d.wav"]
    expected, _ = load_audio(root / "train" / "d.wav", sample_rate=8000, num_samples=8000)
    torch.testing.assert_close(batch.waveform[0], expected, atol=1 / 32768, rtol=0)  # the right row, not a's


def test_a_cache_built_with_skipped_clips_still_refuses_them_when_skipping_is_off(tmp_path):
    root = make_corpus(tmp_path / "ust")
    damage(root)
    datamodule(root, skip_bad_clips=True).setup("fit")
    again = datamodule(root, skip_bad_clips=True)
    again.setup("fit")  # read back from the cache: same clips left out
    assert sorted(again.skipped["train"]) == ["a.wav", "e.wav"] and len(again.datasets["train"]) == 1
    with pytest.raises(ValueError, match=r"2 bad 'train' audio file\(s\): .*a.wav: 1 of 16000 samples are NaN"):
        datamodule(root).setup("fit")


def test_skipping_with_headers_only_leaves_out_what_the_headers_show(tmp_path):
    root = make_corpus(tmp_path / "ust")
    damage(root)
    dm = datamodule(root, preload=False, skip_bad_clips=True)
    dm.setup("fit")
    assert list(dm.skipped["train"]) == ["e.wav"]  # a.wav's NaN shows only when it is decoded
    with pytest.raises(ValueError, match="a.wav: 1 of 16000 samples are NaN or inf"):
        list(dm.train_dataloader())


def test_label_columns_outside_the_taxonomy_are_named(tmp_path):
    root = make_corpus(tmp_path / "ust")
    frame = pd.read_csv(root / "annotations.csv")
    frame["9_aliens_presence"] = 0
    frame.to_csv(root / "annotations.csv", index=False)
    with pytest.raises(ValueError, match=rf"{root / 'annotations.csv'}: 1 label column\(s\) not in the taxonomy: "
                                         r"\['9_aliens_presence'\]"):
        datamodule(root).setup("fit")


def test_clips_recorded_below_the_sample_rate_are_upsampled_with_a_warning_naming_them(tmp_path, caplog):
    root = make_corpus(tmp_path / "ust")
    with caplog.at_level(logging.WARNING):
        datamodule(root, sample_rate=22050, preload="memory").setup("validate")
    assert "validate: 2 clip(s) recorded below sample_rate=22050 Hz" in caplog.text
    assert "b.wav (16000 Hz), c.wav (16000 Hz)" in caplog.text


def test_a_waveform_with_a_channel_axis_or_at_another_rate_is_refused_naming_it():
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    with pytest.raises(ValueError, match=r"expects a waveform batch \(B, T\), got shape \(2, 2, 16000\)"):
        student(torch.zeros(2, 2, 16000), 16000)
    with pytest.raises(ValueError, match="expects audio at 16000 Hz but got 44100 Hz; resample first"):
        student(torch.zeros(2, 44100), 44100)


def test_multichannel_files_are_averaged_to_mono(tmp_path):
    channels = np.stack([np.full(800, k / 10, np.float32) for k in range(6)], axis=1)  # 6 channels: 0, .1 ... .5
    sf.write(tmp_path / "six.wav", channels, 8000, subtype="FLOAT")
    waveform, rate = load_audio(tmp_path / "six.wav")
    assert rate == 8000 and waveform.shape == (800,)
    torch.testing.assert_close(waveform, torch.full((800,), 0.25))


RECIPE = {
    "seed_everything": 0,
    "model": {"student": {"class_path": "kdzoo.models.create_student", "init_args": {"name": "cnn_xs"}}},
    "data": {"class_path": "kdzoo.data.demo.SynthUSTDataModule", "init_args": {"root": "never-made", "clips": 10}},
}
TINY_TEACHER = {"class_path": "kdzoo.models.cnn.CNN", "init_args": {"num_classes": 5, "channels": [4, 4, 4, 4]}}


@pytest.mark.parametrize(("part", "value", "named"), [
    ("student", {"class_path": "kdzoo.models.create_student", "init_args": {"name": "cnn_nope"}},
     "Unknown student 'cnn_nope'; available: "),
    ("teacher", {"class_path": "kdzoo.models.create_teacher", "init_args": {"name": "teacher_nope"}},
     "Unknown teacher 'teacher_nope'; available: "),
    ("method", {"class_path": "kdzoo.distill.NopeKD"}, "has no attribute 'NopeKD'"),
    ("teacher", {"class_path": "kdzoo.models.FrozenTeacher", "init_args": {"model": TINY_TEACHER}},
     "HintonKD matches logits class by class, but the student predicts 8 classes and the teacher 5"),
])
def test_a_recipe_with_unknown_or_unpairable_parts_fails_before_any_data_is_made(
        part, value, named, tmp_path, monkeypatch, capsys):
    recipe = {**RECIPE, "model": {**RECIPE["model"], part: value}}
    if part == "teacher":
        recipe["model"]["method"] = {"class_path": "kdzoo.distill.HintonKD"}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)
    with pytest.raises((SystemExit, ValueError)) as error:
        main(["fit", "--config", "recipe.yaml", "--trainer.logger", "false"])
    assert named in str(error.value) + capsys.readouterr().err
    assert not (tmp_path / "never-made").exists()  # refused before the data module made its corpus


def test_a_method_reading_attentions_refuses_a_teacher_without_them_at_construction():
    from kdzoo.distill import Distiller, KDMethod

    class NeedsAttentions(KDMethod):  # what Temporal KD reads from its teacher
        needs = frozenset({"attentions"})

    with pytest.raises(ValueError, match=r"NeedsAttentions needs \['attentions'\] from the teacher, but cnn_teacher_s "
                                         r"provides "
                                         r"only \['embedding', 'feature_map', 'frames', 'logits'\]"):
        Distiller(kdzoo.create_student("ast_tiny"), kdzoo.create_teacher("cnn_teacher_s"), method=NeedsAttentions())
