"""FSD50K data module on a tiny corpus in the release's layout, written by the test."""

from __future__ import annotations

import pytest
import torch
from conftest import VOCAB, write_fsd50k

from kdzoo.data.fsd50k import FSD50KDataModule, crop_or_pad, read_vocabulary


@pytest.mark.parametrize("header", [False, True])
def test_vocabulary_with_or_without_header(tmp_path, header):
    assert read_vocabulary(write_fsd50k(tmp_path / "f", header)) == VOCAB


def test_splits_targets_and_fixed_length(tmp_path):
    data = FSD50KDataModule(root=str(write_fsd50k(tmp_path / "f")), clip_seconds=1.0, batch_size=8)
    assert data.num_classes == 3 and data.task == "multilabel"
    train = next(iter(data.train_dataloader()))
    targets = {clip: target.tolist() for clip, target in zip(train.clip_id, train.target, strict=True)}
    assert targets == {"FSD50K.dev_audio/101": [1.0, 1.0, 0.0], "FSD50K.dev_audio/102": [0.0, 0.0, 1.0]}
    assert train.waveform.shape == (2, 16000) and train.sample_rate == 16000
    val, test = next(iter(data.val_dataloader())), next(iter(data.test_dataloader()))
    assert val.clip_id == ["FSD50K.dev_audio/103"] and test.target.tolist() == [[0.0, 1.0, 1.0]]
    short = train.waveform[train.clip_id.index("FSD50K.dev_audio/101")]
    assert short[8100:].abs().max() == 0 and short[:7900].abs().max() > 0.3  # 0.5 s of audio, then zeros


def test_crop_or_pad_by_hand():
    wave = torch.arange(10.0)
    assert crop_or_pad(wave, 4, "centre").tolist() == [3.0, 4.0, 5.0, 6.0]
    assert crop_or_pad(wave, 4, "start").tolist() == [0.0, 1.0, 2.0, 3.0]
    assert crop_or_pad(wave[:2], 4, "centre").tolist() == [0.0, 1.0, 0.0, 0.0]


def test_missing_audio_and_unknown_labels_are_named(tmp_path):
    root = write_fsd50k(tmp_path / "f")
    (root / "FSD50K.dev_audio" / "102.wav").unlink()
    with pytest.raises(FileNotFoundError, match="102.wav"):
        FSD50KDataModule(root=str(root)).setup()
    (root / "FSD50K.ground_truth" / "eval.csv").write_text("fname,labels,mids\n201,Cat,/m/9\n")
    with pytest.raises(ValueError, match="eval.csv line 2: label 'Cat'"):
        from kdzoo.data.fsd50k import read_split

        read_split(root, "test", VOCAB)
    with pytest.raises(FileNotFoundError, match="vocabulary.csv is missing"):
        FSD50KDataModule(root=str(tmp_path / "nothing"))
