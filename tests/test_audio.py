"""kdzoo.data.audio: decoding, downmix, resampling, length fitting, and real bad files written on disk."""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from kdzoo.data.audio import fit_length, load_audio, probe_audio, resample


def write_pcm16(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write int16 samples (T,) or (T, C) with the stdlib ``wave`` writer: a plain 44-byte header."""
    samples = samples.reshape(len(samples), -1 if samples.size else 1)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(samples.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return path


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- good files ---------------------------------------------------------------------------------------------


def test_stereo_is_averaged_to_mono(tmp_path):
    # Left 16384/32768 = 0.5, right -8192/32768 = -0.25 -> mono (0.5 - 0.25) / 2 = 0.125, exactly.
    frames = np.tile(np.array([[16384, -8192]]), (800, 1))
    waveform, rate = load_audio(write_pcm16(tmp_path / "stereo.wav", frames, 8000))
    assert rate == 8000
    assert waveform.shape == (800,)
    assert waveform.dtype == torch.float32
    assert torch.all(waveform == 0.125)


def test_float_wav_round_trips_exactly(tmp_path):
    samples = np.array([0.0, 0.25, -1.0, 0.75, 1e-3], dtype=np.float32)
    sf.write(tmp_path / "f.wav", samples, 16000, subtype="FLOAT")
    waveform, rate = load_audio(tmp_path / "f.wav")
    assert rate == 16000
    assert waveform.tolist() == samples.tolist()


def test_silence_is_valid_audio(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(16000, np.float32), 16000)
    waveform, rate = load_audio(tmp_path / "silence.wav", sample_rate=8000, min_seconds=1.0)
    assert rate == 8000
    assert waveform.shape == (8000,)
    assert torch.count_nonzero(waveform) == 0


def test_resampling_keeps_the_sine_frequency(tmp_path):
    sf.write(tmp_path / "tone.wav", sine(1000.0, 1.0, 44100), 44100, subtype="FLOAT")
    waveform, rate = load_audio(tmp_path / "tone.wav", sample_rate=16000)
    assert rate == 16000
    assert waveform.shape == (16000,)  # 44100 samples * 16000 / 44100
    spectrum = torch.fft.rfft(waveform).abs()
    peak_hz = spectrum.argmax().item() * rate / waveform.shape[0]  # 1 s of audio: 1 Hz per bin
    assert peak_hz == 1000.0
    # The amplitude survives too: a 0.5 sine has RMS 0.5 / sqrt(2).
    assert waveform[1000:-1000].pow(2).mean().sqrt().item() == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_num_samples_pads_with_zeros_or_crops_from_the_start(tmp_path):
    samples = np.arange(1, 801, dtype=np.float32) / 1000  # 0.001 ... 0.8, 0.1 s at 8 kHz
    sf.write(tmp_path / "ramp.wav", samples, 8000, subtype="FLOAT")
    padded, _ = load_audio(tmp_path / "ramp.wav", num_samples=1000)
    assert padded.shape == (1000,)
    assert torch.equal(padded[:800], torch.from_numpy(samples))
    assert torch.count_nonzero(padded[800:]) == 0
    cropped, _ = load_audio(tmp_path / "ramp.wav", num_samples=300)
    assert torch.equal(cropped, torch.from_numpy(samples[:300]))


def test_resample_and_fit_length_work_on_batches():
    batch = torch.stack([torch.from_numpy(sine(440.0, 0.5, 16000)), torch.zeros(8000)])
    half = resample(batch, 16000, 8000)
    assert half.shape == (2, 4000)
    assert torch.count_nonzero(half[1]) == 0
    assert resample(batch, 16000, 16000) is batch
    assert fit_length(batch, 9000).shape == (2, 9000)
    assert torch.equal(fit_length(batch, 100), batch[:, :100])


@pytest.mark.parametrize("rates", [(0, 16000), (16000, -1), (16000, 8000.5)])
def test_resample_rejects_bad_rates(rates):
    with pytest.raises(ValueError, match="positive integer"):
        resample(torch.zeros(10), *rates)


def test_fit_length_rejects_non_positive_lengths():
    with pytest.raises(ValueError, match="num_samples must be positive, got 0"):
        fit_length(torch.zeros(10), 0)


# --- bad files ----------------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        load_audio(path)


def test_random_bytes_are_rejected_as_corrupt(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"noise\.wav: not a readable audio file .*corrupt"):
        load_audio(path)


def test_wav_cut_inside_the_header_is_rejected(tmp_path):
    full = write_pcm16(tmp_path / "full.wav", np.zeros(1600, np.int16), 16000).read_bytes()
    path = tmp_path / "header_only.wav"
    path.write_bytes(full[:30])  # cut before the 'data' chunk
    with pytest.raises(ValueError, match="header_only.wav: not a readable audio file"):
        load_audio(path)


def test_wav_cut_inside_the_data_is_reported_as_truncated(tmp_path):
    # 16000 int16 samples = 32000 data bytes after a 44-byte header; keep 10000 bytes -> 9956 data bytes.
    full = write_pcm16(tmp_path / "full.wav", np.ones(16000, np.int16), 16000).read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(full[:10000])
    assert sf.info(path).frames == 4978  # libsndfile alone would silently load 0.31 s of a 1 s clip
    with pytest.raises(ValueError, match="cut.wav: truncated WAV: .* declares 32000 bytes .* only 9956 are present"):
        load_audio(path)


def test_wav_whose_header_claims_more_data_is_truncated(tmp_path):
    path = write_pcm16(tmp_path / "liar.wav", np.ones(100, np.int16), 16000)
    raw = bytearray(path.read_bytes())
    assert raw[36:40] == b"data"
    raw[40:44] = struct.pack("<I", 400)  # 200 samples claimed, 100 present
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="declares 400 bytes of audio but only 200"):
        probe_audio(path)


def test_zero_length_wav_is_rejected(tmp_path):
    path = write_pcm16(tmp_path / "empty.wav", np.zeros(0, np.int16), 16000)
    assert os.path.getsize(path) == 44
    with pytest.raises(ValueError, match=r"empty.wav: the file holds no audio samples \(0 frames\)"):
        load_audio(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_samples_are_rejected(tmp_path, bad_value):
    samples = np.zeros(100, np.float32)
    samples[[3, 50, 99]] = bad_value
    sf.write(tmp_path / "bad.wav", samples, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="bad.wav: 3 of 100 samples are NaN or inf"):
        load_audio(tmp_path / "bad.wav")


def test_too_short_file_reports_duration_and_minimum(tmp_path):
    sf.write(tmp_path / "short.wav", np.zeros(4000, np.float32), 8000)  # 0.5 s
    with pytest.raises(ValueError, match=r"short.wav: audio is 0.500 s long .* shorter than the minimum 1 s"):
        load_audio(tmp_path / "short.wav", min_seconds=1.0)
    waveform, _ = load_audio(tmp_path / "short.wav", min_seconds=0.5)  # exactly the minimum is fine
    assert waveform.shape == (4000,)


def test_probe_checks_the_header_without_decoding(tmp_path):
    sf.write(tmp_path / "ok.wav", np.zeros(12000, np.float32), 8000)
    assert probe_audio(tmp_path / "ok.wav") == (12000, 8000)
    with pytest.raises(ValueError, match="shorter than the minimum 2 s"):
        probe_audio(tmp_path / "ok.wav", min_seconds=2.0)
