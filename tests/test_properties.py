"""Property-based tests (hypothesis): the audio loader, the front ends and every loss in ``kdzoo.functional``
over random lengths, rates, channel counts, amplitudes and shapes. Each either returns finite numbers of the
documented shape or raises the error its docstring documents; nothing else.

Example counts are kept small (the suite runs on 2 cores); ``HYPOTHESIS_PROFILE=thorough`` runs 10 x more.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdzoo import functional
from kdzoo.data.audio import load_audio
from kdzoo.models.frontend import LogMel
from kdzoo.models.yamnet.frontend import YAMNetFrontend

settings.register_profile("quick", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=250, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
RATES = st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000])
AMPLITUDES = st.sampled_from([0.0, 1e-9, 1e-4, 0.5, 1.0, 30.0, 1e4, 1e6])


def finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


# -- audio loader ----------------------------------------------------------------------------------------------
@settings.get_profile(PROFILE)
@given(frames=st.integers(0, 3000), channels=st.integers(1, 8), rate=RATES, amplitude=st.floats(0.0, 1.0),
       subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT"]), target_rate=st.none() | RATES,
       num_samples=st.none() | st.integers(1, 5000), seed=st.integers(0, 2**16))
def test_load_audio_returns_finite_mono_of_the_asked_rate_and_length(frames, channels, rate, amplitude, subtype,
                                                                     target_rate, num_samples, seed):
    samples = amplitude * np.random.default_rng(seed).uniform(-1, 1, (frames, channels)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.wav"
        sf.write(path, samples, rate, subtype=subtype)
        if frames == 0:  # documented: a file without samples is a ValueError naming it
            with pytest.raises(ValueError, match=f"{path}: the file holds no audio samples"):
                load_audio(path, target_rate, num_samples)
            return
        waveform, got_rate = load_audio(path, target_rate, num_samples)
    assert got_rate == (target_rate or rate) and waveform.dtype == torch.float32 and waveform.dim() == 1
    expected = num_samples if num_samples is not None else -(-frames * got_rate // rate)  # ceil
    assert waveform.shape == (expected,) and finite(waveform)


@settings.get_profile(PROFILE)
@given(frames=st.integers(1, 2000), bad=st.sampled_from([np.nan, np.inf, -np.inf]), channels=st.integers(1, 3))
def test_load_audio_refuses_any_non_finite_sample_naming_the_file(frames, bad, channels):
    samples = np.zeros((frames, channels), np.float32)
    samples[frames // 2, channels - 1] = bad
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bad.wav"
        sf.write(path, samples, 16000, subtype="FLOAT")
        with pytest.raises(ValueError, match=f"{path}: 1 of {frames * channels} samples are NaN or inf"):
            load_audio(path)


# -- front ends ------------------------------------------------------------------------------------------------
LOGMEL = LogMel()
YAMNET = YAMNetFrontend()


@settings.get_profile(PROFILE)
@given(batch=st.integers(1, 3), length=st.integers(1, 20000), amplitude=AMPLITUDES, seed=st.integers(0, 2**16))
def test_log_mel_is_finite_for_any_length_and_amplitude(batch, length, amplitude, seed):
    waveform = amplitude * torch.randn(batch, length, generator=torch.Generator().manual_seed(seed))
    spec = LOGMEL(waveform)
    assert spec.shape == (batch, 1, LOGMEL.n_mels, LOGMEL.num_frames(length)) and finite(spec)


@settings.get_profile(PROFILE)
@given(batch=st.integers(1, 2), length=st.integers(1, 40000), amplitude=AMPLITUDES, seed=st.integers(0, 2**16))
def test_yamnet_front_end_is_finite_for_any_length_and_amplitude(batch, length, amplitude, seed):
    waveform = amplitude * torch.randn(batch, length, generator=torch.Generator().manual_seed(seed))
    patches = YAMNET(waveform)
    assert patches.shape[0] % batch == 0 and patches.shape[-2:] == (96, 64) and finite(patches)


@pytest.mark.parametrize("frontend", [LOGMEL, YAMNET], ids=["LogMel", "YAMNet"])
def test_front_ends_refuse_a_channel_axis(frontend):
    with pytest.raises(ValueError, match=r"expects a waveform batch \(B, T\), got shape \(1, 2, 16000\)"):
        frontend(torch.zeros(1, 2, 16000))


# -- losses ----------------------------------------------------------------------------------------------------
def logits(draw, shape, scale) -> torch.Tensor:
    seed = draw(st.integers(0, 2**16))
    return (scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))).requires_grad_()


@st.composite
def logit_pairs(draw):
    batch, classes = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    scale = draw(st.sampled_from([0.0, 1e-3, 1.0, 10.0, 1e3, 1e4]))
    return logits(draw, (batch, classes), scale), logits(draw, (batch, classes), scale)


@settings.get_profile(PROFILE)
@given(pair=logit_pairs(), temperature=st.floats(0.05, 50.0),
       loss=st.sampled_from([functional.hinton_kd, functional.hinton_kd_multilabel]))
def test_logit_kd_losses_are_finite_non_negative_with_finite_gradients(pair, temperature, loss):
    student, teacher = pair
    value = loss(student, teacher, temperature)
    value.backward()
    assert value.dim() == 0 and finite(value) and finite(student.grad)
    assert value >= -1e-4 * max(1.0, float(student.abs().max()) ** 2 / temperature**2)  # >= 0 up to float error


@settings.get_profile(PROFILE)
@given(temperature=st.sampled_from([0.0, -1.0]), classes=st.integers(1, 4))
def test_logit_kd_losses_document_their_errors(temperature, classes):
    z = torch.zeros(2, classes)
    for loss in (functional.hinton_kd, functional.hinton_kd_multilabel):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            loss(z, z, temperature)
        with pytest.raises(ValueError):
            loss(z, torch.zeros(2, classes + 1), 1.0)


@st.composite
def feature_pairs(draw, frames_equal: bool):
    batch, frames = draw(st.integers(1, 5)), draw(st.integers(1, 12))
    scale = draw(st.sampled_from([0.0, 1e-6, 1.0, 1e3, 1e6]))
    other_frames = frames if frames_equal else draw(st.integers(1, 12))
    return (logits(draw, (batch, frames, draw(st.integers(1, 16))), scale),
            logits(draw, (batch, other_frames, draw(st.integers(1, 16))), scale))


@settings.get_profile(PROFILE)
@given(pair=feature_pairs(frames_equal=False))
def test_similarity_preserving_is_finite_in_zero_four_with_finite_gradients(pair):
    student, teacher = pair
    value = functional.similarity_preserving(student, teacher)
    value.backward()
    # rows of the normalised Gram matrices have unit norm (or are zero): each row differs by at most 2
    assert finite(value) and -1e-6 <= float(value) <= 4.0 / student.shape[0] + 1e-5 and finite(student.grad)


@settings.get_profile(PROFILE)
@given(pair=feature_pairs(frames_equal=True))
def test_intra_utterance_similarity_is_finite_and_bounded_with_finite_gradients(pair):
    student, teacher = pair
    value = functional.intra_utterance_similarity(student, teacher)
    value.backward()
    assert finite(value) and -1e-6 <= float(value) <= 4.0 / student.shape[1] + 1e-5 and finite(student.grad)


@settings.get_profile(PROFILE)
@given(pair=feature_pairs(frames_equal=False), target=st.integers(1, 20))
def test_align_frames_keeps_values_finite_and_within_the_input_range(pair, target):
    frames, _ = pair
    aligned = functional.align_frames(frames.detach(), target)
    assert aligned.shape == (frames.shape[0], target, frames.shape[2]) and finite(aligned)
    assert aligned.max() <= frames.max() + 1e-3 * (1 + frames.abs().max())
    assert aligned.min() >= frames.min() - 1e-3 * (1 + frames.abs().max())


def test_frame_losses_document_their_errors():
    with pytest.raises(ValueError, match="batch sizes differ"):
        functional.similarity_preserving(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="align the frame counts with align_frames"):
        functional.intra_utterance_similarity(torch.zeros(2, 3, 4), torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"align_frames expects \(B, T, C\)"):
        functional.align_frames(torch.zeros(2, 3), 4)
