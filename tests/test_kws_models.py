"""KWS students: kws_streaming's published sizes (counted by hand from its layer settings) and what KD reads."""

from __future__ import annotations

import pytest
import torch

import kdzoo
from kdzoo.distill import Distiller
from kdzoo.distill.temporal import TemporalKD
from kdzoo.models import FrozenTeacher
from kdzoo.models.ast import AST


def gru(inputs: int, units: int) -> int:
    """Keras GRU (reset_after=True) = PyTorch GRU: 3 gates x (input weights + recurrent weights + 2 biases)."""
    return 3 * (inputs * units + units * units + 2 * units)


def dense(inputs: int, units: int) -> int:
    return inputs * units + units


CLASSES = 12
MFCC, MFCC_TC = 20, 40
# Independent counts from kws_experiments_paper_12_labels.md's flags, layer by layer (Keras conventions):
BY_HAND = {
    # LSTM(500, peepholes, num_proj 200): kernel (20 + 200) x 4*500, bias 4*500, 3 peepholes x 500, projection
    # 500 x 200 (no bias); then Dense(12) on the 200-d last step
    "lstm_p": (MFCC + 200) * 2000 + 2000 + 3 * 500 + 500 * 200 + dense(200, CLASSES),
    # conv (3,1) 40 -> 50 + BN(gamma, beta); 4 identity blocks of two (9,1) 50 -> 50 convs + 2 BN; a strided block
    # 50 -> 72 with a 1x1 shortcut conv + BN; a 72 -> 72 block; 1x1 conv 72 -> 12
    "tc_resnet": (3 * MFCC_TC * 50 + 50 + 100) + 4 * (2 * (9 * 50 * 50 + 50) + 200)
    + (50 * 72 + 72 + 144) + (9 * 50 * 72 + 72 + 144) + (9 * 72 * 72 + 72 + 144)
    + 2 * (9 * 72 * 72 + 72 + 144) + dense(72, CLASSES),
    # conv 16 (3,3) + conv 16 (5,3), valid: the 20 MFCCs become 16 x 16 = 256 features; GRU 256; 128; 256; 12
    "crnn_kws": (9 * 16 + 16) + (15 * 16 * 16 + 16) + gru(256, 256) + dense(256, 128) + dense(128, 256)
    + dense(256, CLASSES),
    # conv 10 (5,1) + BN, conv 1 (5,1) + BN; BiGRU 128 on 20 features, BiGRU 128 on 256; query Dense(256);
    # Dense 64, Dense 32, Dense 12
    "att_rnn": (5 * 10 + 10 + 20) + (5 * 10 + 1 + 2) + 2 * gru(20, 128) + 2 * gru(256, 128) + dense(256, 256)
    + dense(256, 64) + dense(64, 32) + dense(32, CLASSES),
    "mhatt_rnn": (5 * 10 + 10 + 20) + (5 * 10 + 1 + 2) + 2 * gru(20, 128) + 2 * gru(256, 128) + 4 * dense(256, 256)
    + dense(4 * 256, 64) + dense(64, 32) + dense(32, CLASSES),
}


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_published_sizes(name):
    model = kdzoo.create_student(name)
    assert model.num_classes == CLASSES
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == BY_HAND[name]


def test_sizes_are_the_documented_ones():
    assert BY_HAND == {"lstm_p": 545_912, "tc_resnet": 365_274, "crnn_kws": 467_772, "att_rnn": 496_497,
                       "mhatt_rnn": 743_025}  # mhatt_rnn: kws_streaming's README says about 750 K


@pytest.mark.parametrize(("name", "frames", "width"), [("lstm_p", 51, 200), ("tc_resnet", 26, 72),
                                                       ("crnn_kws", 45, 256), ("att_rnn", 51, 256),
                                                       ("mhatt_rnn", 51, 256)])
def test_frames_before_pooling(name, frames, width):
    """1 s = 51 MFCC frames of 20 ms; TC-ResNet strides once (26), the CRNN's valid (3,3), (5,3) convs drop 6."""
    model = kdzoo.create_student(name).eval()
    out = model(torch.randn(2, 16000))
    assert out.frames.shape == (2, frames, width)
    assert out.frame_hop_s * frames == pytest.approx(1.0, rel=0.15)


def test_attention_models_expose_their_attention_over_time():
    torch.manual_seed(0)
    model = kdzoo.create_student("mhatt_rnn").eval()
    wave = torch.randn(2, 16000)
    out = model(wave)
    scores = out.extras["time_attention"]
    assert scores.shape == (2, 4, 51)
    # the attended vector is the softmax-weighted sum of the frames, per head: recompute head 2 by hand
    weights = torch.softmax(scores[:, 2], -1)
    middle = out.frames[:, 25]
    torch.testing.assert_close(scores[:, 2], torch.einsum("bc,btc->bt", model.queries[2](middle), out.frames))
    assert torch.allclose(weights.sum(-1), torch.ones(2))


def test_peephole_lstm_by_hand_one_step():
    """One step from zero state: c = sigma(z_i) tanh(z_g) (the peepholes see c_prev = 0 for i and f), then the
    output gate sees the new c through its peephole."""
    from kdzoo.models.kws import PeepholeLSTM

    torch.manual_seed(0)
    lstm = PeepholeLSTM(3, 4, 2)
    with torch.no_grad():
        lstm.peephole.normal_()
    x = torch.randn(1, 1, 3)
    z_i, z_f, z_g, z_o = lstm.gates(torch.cat([x[:, 0], torch.zeros(1, 2)], -1)).chunk(4, -1)
    c = torch.sigmoid(z_i) * torch.tanh(z_g)
    expected = lstm.projection(torch.sigmoid(z_o + lstm.peephole[2] * c) * torch.tanh(c))
    torch.testing.assert_close(lstm(x)[:, 0], expected)
    assert lstm.gates.bias[4:8].tolist() == [1.0] * 4  # forget bias 1, as TF's LSTMCell


@pytest.mark.parametrize(("name", "attention"), [("tc_resnet", "head"), ("mhatt_rnn", "native"),
                                                 ("att_rnn", "head")])
def test_temporal_kd_runs_on_kws_students(name, attention):
    torch.manual_seed(0)
    teacher = FrozenTeacher(AST(dim=32, depth=2, heads=2, n_mels=32, num_classes=12, max_seconds=2.0))
    student = kdzoo.create_student(name)
    method = TemporalKD(0.5, attention=attention)
    model = Distiller(student, teacher=teacher, method=method, task="multiclass", num_classes=12)
    method.setup(student, teacher, None, "multiclass")
    if attention == "head":  # the query starts at zero (a_S uniform); one trained step later it is not
        with torch.no_grad():
            method.query.normal_()
    wave = torch.randn(2, 32000)  # 2 s: T' frames differ from the teacher's 6 time patches
    terms = method(student(wave), model._live_teacher_outputs(type("B", (), {"waveform": wave,
                                                                           "sample_rate": 16000})()), None)
    assert terms["kd_temporal"] > 0
    terms["kd_temporal"].backward()
    grads = [p.grad for p in student.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
