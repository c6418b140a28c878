"""Every registered student and teacher: shapes, gradients, parameter counts, sample-rate checks, freezing."""

import pytest
import torch

import kdzoo
from kdzoo.models import FrozenTeacher
from kdzoo.models._registry import STUDENTS, TEACHERS

SECONDS = 2.0
ALL_MODELS = [("student", n) for n in kdzoo.list_students()] + [("teacher", n) for n in kdzoo.list_teachers()]


def build(kind: str, name: str, **kwargs):
    """The bare architecture, trainable, built as ``model_info`` counts it (pretrained variants: untrained)."""
    registry = STUDENTS if kind == "student" else TEACHERS
    return registry.create(name, **{**registry.entry(name).count_with, **kwargs})


def test_registries_are_populated():
    assert {"cnn_xs", "cnn_s", "crnn_s", "mobilenetv3_small_050"} <= set(kdzoo.list_students())
    assert {"cnn_teacher_s", "ast_tiny"} <= set(kdzoo.list_teachers())
    assert kdzoo.list_students("cnn_*") == ["cnn_lstm_l", "cnn_lstm_m", "cnn_lstm_s", "cnn_m", "cnn_s", "cnn_xs"]


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"Unknown student 'resnet9000'; available: .*cnn_s"):
        kdzoo.create_student("resnet9000")


@pytest.mark.parametrize(("kind", "name"), ALL_MODELS, ids=[n for _, n in ALL_MODELS])
def test_forward_backward(kind, name):
    torch.manual_seed(0)
    model = build(kind, name)
    model.train()
    waveform = torch.randn(2, int(SECONDS * model.sample_rate)) * 0.1
    out = model(waveform, model.sample_rate)
    assert out.logits.shape == (2, model.num_classes)
    assert out.embedding.shape == (2, model.embed_dim)
    assert out.available() >= set(model.provides)
    if out.frames is not None:
        assert out.frames.shape[0] == 2 and out.frames.dim() == 3
        assert out.frame_hop_s > 0
        # frames cover the clip: T' frames of hop h span about the clip length
        assert out.frames.shape[1] * out.frame_hop_s == pytest.approx(SECONDS, rel=0.35)
    if out.attentions is not None:
        n_tokens = out.attentions[0].shape[-1]
        assert all(a.shape[-2:] == (n_tokens, n_tokens) for a in out.attentions)
        torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones_like(out.attentions[0][..., 0]))
        assert out.token_time_s.shape == (n_tokens,)
    for value in (out.logits, out.embedding, out.frames):
        assert value is None or torch.isfinite(value).all()
    (out.logits.sum() + out.embedding.mean() + (0 if out.frames is None else out.frames.mean())).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable, "a model must have trainable parameters"
    no_grad = [n for n, p in trainable if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, f"parameters without a finite gradient: {no_grad[:5]}"


@pytest.mark.parametrize(("kind", "name"), ALL_MODELS, ids=[n for _, n in ALL_MODELS])
def test_parameter_count_matches_metadata(kind, name):
    model = build(kind, name)
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert kdzoo.model_info(name).num_params == counted > 0


@pytest.mark.parametrize("name", ["cnn_s", "crnn_s", "mobilenetv3_small_050"])
def test_students_at_8khz(name):
    model = kdzoo.create_student(name, sample_rate=8000).eval()
    assert model.frontend.n_fft == 512 and model.frontend.hop_length == 160
    out = model(torch.randn(1, 8000 * 2), 8000)
    assert out.logits.shape == (1, 8)


def test_wrong_sample_rate_names_both_rates():
    model = kdzoo.create_student("cnn_xs", sample_rate=8000)
    with pytest.raises(ValueError, match=r"expects audio at 8000 Hz but got 16000 Hz"):
        model(torch.randn(1, 16000), 16000)


def test_size_ordering_within_families():
    count = lambda n: kdzoo.model_info(n).num_params  # noqa: E731
    assert count("cnn_xs") < count("cnn_s") < count("cnn_m")
    assert count("cnn_s") < count("cnn_teacher_s") < count("cnn_teacher_m")
    assert count("crnn_s") < count("crnn_m") and count("ast_tiny") < count("ast_s")
    assert count("cnn_xs") < 20_000  # a microcontroller-sized student: 60 kB of fp32 weights


def test_teacher_is_frozen_through_a_training_step():
    torch.manual_seed(0)
    teacher = kdzoo.create_teacher("cnn_teacher_s")
    student = kdzoo.create_student("cnn_xs")
    assert isinstance(teacher, FrozenTeacher)
    assert not any(p.requires_grad for p in teacher.parameters())
    stats_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    container = torch.nn.ModuleDict({"student": student, "teacher": teacher})
    container.train()  # what Lightning does each epoch
    assert not teacher.model.training and student.training
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    waveform = torch.randn(2, 16000)
    target = torch.sigmoid(teacher(waveform, 16000).logits)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(student(waveform, 16000).logits, target)
    loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, stats_before[key], msg=f"teacher state {key} changed")


def test_teacher_checkpoint_roundtrip(tmp_path):
    source = kdzoo.create_student("cnn_xs")
    torch.save({"state_dict": {f"student.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "run.ckpt")
    teacher = FrozenTeacher(kdzoo.create_student("cnn_xs"), checkpoint=str(tmp_path / "run.ckpt"))
    source.eval()
    waveform = torch.randn(1, 16000)
    torch.testing.assert_close(teacher(waveform, 16000).logits, source(waveform, 16000).logits)
    with pytest.raises(ValueError, match="does not fit"):
        FrozenTeacher(kdzoo.create_student("cnn_s"), checkpoint=str(tmp_path / "run.ckpt"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FrozenTeacher(kdzoo.create_student("cnn_xs"), checkpoint=str(tmp_path / "nope.pt"))


def test_ast_token_times_are_patch_centres():
    # Centred STFT (LogMel, center=True): frame i is centred at i * hop. A 16-frame patch t spans frames
    # 16t..16t+15, so its centre is (16 t + 7.5) * hop; at hop 20 ms: 0.15, 0.47, 0.79 s (by hand).
    model = kdzoo.create_teacher("ast_tiny").model
    assert model.frontend.mel.spectrogram.center and model.frontend.hop_seconds == pytest.approx(0.02)
    times = model.token_times(freq_patches=2, time_patches=3)
    assert times.shape == (1 + 2 * 3,) and torch.isnan(times[0])
    torch.testing.assert_close(times[1:], torch.tensor([0.15, 0.47, 0.79] * 2))
    out = model.eval()(torch.zeros(1, 16000), 16000)  # 51 frames -> 3 time patches (the last 3 frames unused)
    torch.testing.assert_close(out.token_time_s[1:4], torch.tensor([0.15, 0.47, 0.79]))
