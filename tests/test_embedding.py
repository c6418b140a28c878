"""``kdzoo.get_embedding`` and ``kdzoo embed``: mono, stereo, other rates, clips shorter than a window."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

import kdzoo
from kdzoo.cli.main import main
from kdzoo.models.l3 import SEAStudent

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def student() -> SEAStudent:
    torch.manual_seed(0)
    return SEAStudent(size=3).eval()


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).normal(size=t.size)).astype(np.float32)


def test_mono_ten_seconds_gives_96_embeddings_and_their_times(student) -> None:
    emb, ts = kdzoo.get_embedding(_tone(10.0, 8000), 8000, model=student, hop_size=0.1)
    assert emb.shape == (96, 64) and emb.dtype == np.float32 and (emb >= 0).all()
    assert np.allclose(ts, np.arange(96) * 0.1)
    # The same windows as the model's own framing at hop 0.1.
    frames = student.embed_windows(torch.from_numpy(_tone(10.0, 8000))[None], 0.1)[0].detach().numpy()
    assert np.allclose(emb, frames, atol=1e-5)


def test_stereo_is_averaged_either_layout(student) -> None:
    left, right = _tone(2.0, 8000), 0.5 * _tone(2.0, 8000)[::-1].copy()
    mono, _ = kdzoo.get_embedding((left + right) / 2, 8000, model=student)
    channels_last, _ = kdzoo.get_embedding(np.stack([left, right], axis=1), 8000, model=student)  # (T, 2)
    channels_first, _ = kdzoo.get_embedding(np.stack([left, right]), 8000, model=student)  # (2, T)
    assert np.allclose(channels_last, mono, atol=1e-5) and np.allclose(channels_first, mono, atol=1e-5)


def test_44k1_input_is_resampled_to_the_model_rate(student) -> None:
    native, ts_native = kdzoo.get_embedding(_tone(3.0, 8000), 8000, model=student, hop_size=0.5)
    resampled, ts = kdzoo.get_embedding(_tone(3.0, 44100), 44100, model=student, hop_size=0.5)
    assert resampled.shape == native.shape == (6, 64) and np.array_equal(ts, ts_native)
    cosine = (native * resampled).sum(1) / np.linalg.norm(native, axis=1) / np.linalg.norm(resampled, axis=1)
    assert cosine.min() > 0.99  # the same tone: the same embedding up to resampling and noise


def test_clip_shorter_than_a_window_is_padded_to_one_embedding(student) -> None:
    short = _tone(0.3, 8000)
    emb, ts = kdzoo.get_embedding(short, 8000, model=student)
    assert emb.shape == (1, 64) and ts.tolist() == [0.0]
    padded = np.zeros(8000, dtype=np.float32)
    padded[4000:4000 + short.size] = short  # centre=True: the clip starts half a window in
    with torch.no_grad():
        spectrogram = student.frontend.spectrogram(torch.from_numpy(padded)[None])  # one window, no more padding
        expected = student.embed_features(spectrogram[None])[0, 0].numpy()
    assert np.allclose(emb[0], expected, atol=1e-5)


def test_bad_inputs_are_named(student) -> None:
    with pytest.raises(ValueError, match="audio is empty"):
        kdzoo.get_embedding(np.zeros(0), 8000, model=student)
    with pytest.raises(ValueError, match="sr must be a positive integer"):
        kdzoo.get_embedding(np.zeros(100), 0, model=student)
    with pytest.raises(ValueError, match="Unknown student 'nope'"):
        kdzoo.get_embedding(np.zeros(100), 8000, model="nope")


def test_registered_name_and_non_window_models() -> None:
    emb, ts = kdzoo.get_embedding(_tone(1.5, 16000), 16000, model="sea_student_3", hop_size=0.5)
    assert emb.shape == (3, 64)
    emb, _ = kdzoo.get_embedding(_tone(1.5, 16000), 16000, model="cnn_xs", hop_size=0.5)  # clip embedding per window
    assert emb.shape == (3, 32)


def test_kdzoo_embed_writes_one_npz_per_file(tmp_path, capsys) -> None:
    sf.write(tmp_path / "mono.wav", _tone(1.0, 8000), 8000)
    sf.write(tmp_path / "stereo.flac", np.stack([_tone(2.0, 44100)] * 2, axis=1), 44100)
    out = tmp_path / "emb"
    code = main(["embed", str(tmp_path / "mono.wav"), str(tmp_path / "stereo.flac"), "--out", str(out),
                 "--model", "sea_student_3", "--hop-size", "0.5"])
    assert code == 0 and "2 files embedded" in capsys.readouterr().out
    mono, stereo = np.load(out / "mono.npz"), np.load(out / "stereo.npz")
    assert mono["embedding"].shape == (2, 64) and stereo["embedding"].shape == (4, 64)
    assert np.allclose(stereo["timestamps"], [0.0, 0.5, 1.0, 1.5])
    assert main(["embed", str(tmp_path / "missing.wav"), "--out", str(out)]) == 2
    assert "missing.wav" in capsys.readouterr().err
