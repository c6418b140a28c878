"""student.pt describes itself: kdzoo.load_student rebuilds any registered student, and `kdzoo predict --student`."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import torch

import kdzoo
from kdzoo.cli import main
from kdzoo.data.audio import load_audio
from kdzoo.models import save_student

NAMES = ["engine", "saw", "dog"]


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random BatchNorm statistics too, so a rebuilt model matches only if every buffer was restored."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if buffer.is_floating_point() and "running_var" in name:
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
            elif buffer.is_floating_point() and "running_mean" in name:
                buffer.copy_(torch.randn(buffer.shape, generator=generator))
    return model.eval()


@pytest.mark.parametrize("name", kdzoo.list_students())
def test_load_student_round_trips_every_registered_student(name, tmp_path):
    torch.manual_seed(0)
    model = _perturbed(kdzoo.create_student(name, num_classes=3), seed=1)
    path = save_student(model, tmp_path / "student.pt", class_names=NAMES, task="multilabel", scores={"x": 0.5})
    torch.manual_seed(1)  # the rebuilt model starts from other random weights
    loaded = kdzoo.load_student(path)
    assert not loaded.training
    waveform = torch.randn(2, model.sample_rate)  # 1 s
    torch.testing.assert_close(loaded(waveform).logits, model(waveform).logits, rtol=0, atol=0)
    meta = loaded.meta
    assert meta["variant"] == {"name": name, "kwargs": {"num_classes": 3}}
    assert (meta["num_classes"], meta["sample_rate"], meta["class_names"], meta["task"]) == (
        3, model.sample_rate, NAMES, "multilabel")  # 16 kHz, or 8 kHz for the SEA students
    assert meta["kdzoo_version"] == kdzoo.__version__ and meta["scores"] == {"x": 0.5}
    assert meta["frontend"]["class"] == type(model.frontend).__name__  # LogMel, or WindowedFrontend (SEA)
    assert meta["frontend"].get("hop_length") == getattr(model.frontend, "hop_length", None)


def test_student_file_records_non_default_arguments(tmp_path):
    model = kdzoo.create_student("cnn_xs", num_classes=4, sample_rate=8000, dropout=0.3)
    loaded = kdzoo.load_student(save_student(model, tmp_path / "s.pt"))
    assert (loaded.sample_rate, loaded.num_classes, loaded.dropout.p) == (8000, 4, 0.3)
    assert loaded.meta["frontend"]["n_fft"] == 512 and loaded.meta["frontend"]["hop_length"] == 160


def test_load_student_explains_files_it_cannot_rebuild(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({"state_dict": {}, "meta": {"class": "CNN"}}, old)  # what kdzoo wrote before this format
    with pytest.raises(ValueError, match=r"old\.pt does not record which registered variant"):
        kdzoo.load_student(old)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt is not a kdzoo student file"):
        kdzoo.load_student(junk)
    with pytest.raises(FileNotFoundError, match="no student file at"):
        kdzoo.load_student(tmp_path / "missing.pt")


@pytest.fixture
def student_and_wavs(tmp_path):
    torch.manual_seed(0)
    model = _perturbed(kdzoo.create_student("cnn_xs", num_classes=3), seed=2)
    student = save_student(model, tmp_path / "student.pt", class_names=NAMES, task="multilabel")
    rng = np.random.default_rng(0)
    wavs = []
    for i, rate in enumerate((16000, 22050)):  # the second is resampled to the student's 16 kHz
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(1.5 * rate))).astype("float32"), rate)
        wavs.append(path)
    return model, student, wavs


def test_predict_student_tags_audio_files(student_and_wavs, tmp_path, capsys):
    model, student, wavs = student_and_wavs
    out = tmp_path / "tags.csv"
    assert main(["predict", "--student", str(student), *map(str, wavs), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["file", *NAMES] and [row[0] for row in rows[1:]] == [str(w) for w in wavs]
    for row, wav in zip(rows[1:], wavs, strict=True):
        waveform, _ = load_audio(wav, sample_rate=16000)
        expected = torch.sigmoid(model(waveform.unsqueeze(0)).logits)[0]
        torch.testing.assert_close(torch.tensor([float(v) for v in row[1:]]), expected, atol=1e-6, rtol=0)
    assert main(["predict", "--student", str(student), str(wavs[0])]) == 0  # no --out: the CSV on stdout
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "file," + ",".join(NAMES) and lines[-1].startswith(f"{wavs[0]},")


def test_predict_student_names_a_bad_file(student_and_wavs, tmp_path, capsys):
    _, student, wavs = student_and_wavs
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not audio")
    assert main(["predict", "--student", str(student), str(wavs[0]), str(broken)]) == 2
    assert "broken.wav" in capsys.readouterr().err
    assert main(["predict", "--student", str(student), str(tmp_path / "nope.wav")]) == 2
    assert "nope.wav" in capsys.readouterr().err


def test_a_teacher_takes_its_class_count_from_the_student_file_it_loads(tmp_path):
    """A 12-keyword teacher loads into ``create_teacher(name, checkpoint=...)`` without repeating num_classes
    (the keyword recipes name only the variant); explicit arguments still win and a mismatch names the file."""
    torch.manual_seed(0)
    trained = kdzoo.create_student("cnn_xs", num_classes=12).eval()
    path = save_student(trained, tmp_path / "student.pt")
    teacher = kdzoo.create_teacher("cnn_xs", checkpoint=str(path))
    audio = torch.randn(2, 16000)
    with torch.no_grad():
        assert torch.equal(teacher(audio, 16000).logits, trained(audio, 16000).logits)  # (2, 12), same weights
    with pytest.raises(ValueError, match="does not fit CNN"):
        kdzoo.create_teacher("cnn_xs", checkpoint=str(path), num_classes=8)
    other = kdzoo.create_teacher("cnn_s", num_classes=5)  # no checkpoint: the registry's arguments as given
    assert other(audio, 16000).logits.shape == (2, 5)
