"""Hugging Face teachers (tiny random configs written by the test): attentions, token times, Temporal KD on them."""

from __future__ import annotations

import math

import pytest
import torch
import transformers  # the optional extra `hf`, part of the `test` extra

import kdzoo
from kdzoo import functional as KF
from kdzoo.distill import Distiller
from kdzoo.distill.temporal import TemporalKD
from kdzoo.models import FrozenTeacher
from kdzoo.models.hf import HFAudioTeacher


def tiny_wav2vec2(folder) -> str:
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, conv_dim=(16, 16), conv_kernel=(10, 3),
                                         conv_stride=(5, 2), num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=2, num_labels=3, classifier_proj_size=16)
    transformers.Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return str(folder)


def tiny_ast(folder) -> str:
    torch.manual_seed(0)
    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    patch_size=16, frequency_stride=16, time_stride=16, max_length=112,
                                    num_mel_bins=32, num_labels=3)
    transformers.ASTForAudioClassification(config).save_pretrained(folder)
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=112).save_pretrained(folder)
    return str(folder)


def test_wav2vec2_teacher_gives_attentions_on_a_20ms_grid(tmp_path):
    teacher = HFAudioTeacher(tiny_wav2vec2(tmp_path / "w2v")).eval()
    out = teacher(torch.randn(2, 16000) * 0.1, 16000)
    # conv (10, stride 5) then (3, stride 2): 16000 -> 3199 -> 1599 frames; stride 10 samples, field 10 + 2 * 5 = 20
    frames = (16000 - 10) // 5 + 1
    frames = (frames - 3) // 2 + 1
    assert out.logits.shape == (2, 3) and out.frames.shape == (2, frames, 32)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 2, frames, frames)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(2, 2, frames))
    torch.testing.assert_close(out.token_time_s[:2].double(), torch.tensor([10 / 16000, 20 / 16000],
                                                                            dtype=torch.float64))
    assert out.frame_hop_s == pytest.approx(10 / 16000)


def test_ast_teacher_token_times(tmp_path):
    teacher = HFAudioTeacher(tiny_ast(tmp_path / "ast")).eval()
    out = teacher(torch.randn(1, 16000) * 0.1, 16000)
    # 32 mels / 16 = 2 frequency rows; 112 frames: (112 - 16) // 16 + 1 = 7 time columns; + [CLS], [DIST]
    assert out.attentions[0].shape[-1] == 2 + 2 * 7
    times = out.token_time_s
    assert math.isnan(times[0]) and math.isnan(times[1])
    assert times[2:9].tolist() == pytest.approx([(16 * t + 7.5) * 0.01 + 0.0125 for t in range(7)])
    assert torch.equal(times[2:9], times[9:16])  # the second frequency row repeats the times
    assert out.frames.shape == (1, 7, 32)


def test_temporal_kd_reads_a_hf_teacher(tmp_path):
    teacher = FrozenTeacher(HFAudioTeacher(tiny_wav2vec2(tmp_path / "w2v")))
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    method = TemporalKD(0.5)
    model = Distiller(student, teacher=teacher, method=method, task="multiclass", num_classes=3)  # not refused
    method.setup(student, teacher, None, "multiclass")
    wave = torch.randn(2, 16000) * 0.1
    t_out = teacher(wave, 16000)
    prepared = method.prepare_teacher(t_out)
    assert prepared.attentions is None and prepared.extras["temporal_attention"].shape == (2, t_out.frames.shape[1])
    target = KF.temporal_attention_target(t_out.attentions, t_out.token_time_s, 7)
    torch.testing.assert_close(KF.interpolate_distribution(prepared.extras["temporal_attention"], 7), target)
    assert float(method(model.student(wave), prepared, None)["kd_temporal"]) >= 0


def test_missing_model_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        HFAudioTeacher(str(tmp_path / "nope"))
