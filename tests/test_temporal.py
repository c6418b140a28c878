"""Temporal KD maths: attention rollout, the teacher's temporal target, and the KL, on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kdzoo import functional as KF

NAN = float("nan")


def _heads(*matrices: list[list[float]]) -> torch.Tensor:
    """One clip's attention of one layer, (1, H, N, N), from H hand-written N x N matrices."""
    return torch.tensor(matrices, dtype=torch.float32)[None]


# -- rollout --------------------------------------------------------------------------------------------------
def test_rollout_two_layers_by_hand():
    # layer 1: heads I and swap -> mean all 0.5 -> (A + I) / 2 = [[.75, .25], [.25, .75]]
    layer1 = _heads([[1, 0], [0, 1]], [[0, 1], [1, 0]])
    # layer 2: both heads look at token 1 -> mean [[0, 1], [0, 1]] -> (A + I) / 2 = [[.5, .5], [0, 1]]
    layer2 = _heads([[0, 1], [0, 1]], [[0, 1], [0, 1]])
    # R = A2 @ A1 = [[.5 * .75 + .5 * .25, .5 * .25 + .5 * .75], [.25, .75]]; A1 @ A2 would give [[.375, .625], ...]
    expected = torch.tensor([[[0.5, 0.5], [0.25, 0.75]]])
    torch.testing.assert_close(KF.attention_rollout([layer1, layer2]), expected)


def test_rollout_renormalises_rows_after_adding_the_residual():
    # a single head whose rows sum to 2 (not an attention, but the renormalisation must still give rows of 1)
    doubled = _heads([[2, 0], [1, 1]])
    # (A + I) / 2 = [[1.5, 0], [.5, 1]] -> rows / (1.5, 1.5) = [[1, 0], [1/3, 2/3]]
    torch.testing.assert_close(KF.attention_rollout([doubled]), torch.tensor([[[1.0, 0.0], [1 / 3, 2 / 3]]]))


def test_rollout_identity_in_identity_out():
    eye = torch.eye(5).expand(3, 2, 5, 5)
    assert torch.equal(KF.attention_rollout([eye, eye, eye]), torch.eye(5).expand(3, 5, 5))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(2, 7), st.integers(1, 4), st.integers(0, 999))
def test_rollout_rows_sum_to_one(batch, heads, tokens, layers, seed):
    g = torch.Generator().manual_seed(seed)
    attentions = [torch.softmax(3 * torch.randn(batch, heads, tokens, tokens, generator=g), -1) for _ in range(layers)]
    rollout = KF.attention_rollout(attentions)
    assert rollout.shape == (batch, tokens, tokens) and (rollout >= 0).all()
    torch.testing.assert_close(rollout.sum(-1), torch.ones(batch, tokens))


def test_rollout_in_half_precision_is_computed_in_float32():
    g = torch.Generator().manual_seed(0)
    attentions = [torch.softmax(torch.randn(2, 3, 6, 6, generator=g), -1) for _ in range(12)]
    half = KF.attention_rollout([a.half() for a in attentions])
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, KF.attention_rollout(attentions), atol=2e-3, rtol=0)


def test_rollout_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one layer"):
        KF.attention_rollout([])
    with pytest.raises(ValueError, match=r"\(B, H, N, N\)"):
        KF.attention_rollout([torch.rand(2, 3, 4)])
    with pytest.raises(ValueError, match="layer 1"):
        KF.attention_rollout([torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 4)])


# -- the teacher's temporal target ---------------------------------------------------------------------------
# AST-like tokens: [CLS], then 2 frequency rows x 2 time columns (frequency-major): times nan, .1, .3, .1, .3
AST_TIMES = torch.tensor([NAN, 0.1, 0.3, 0.1, 0.3])


def test_target_sums_patches_of_one_time_and_drops_the_class_token():
    cls_row = [0.2, 0.1, 0.3, 0.1, 0.3]
    attention = torch.eye(5)
    attention[0] = torch.tensor(cls_row)
    # one layer: rollout row 0 = (cls_row + e_0) / 2 = [.6, .05, .15, .05, .15]; time .1 -> .1, time .3 -> .3
    profile = KF.attention_over_time([attention[None, None]], AST_TIMES)
    torch.testing.assert_close(profile, torch.tensor([[0.25, 0.75]]))
    torch.testing.assert_close(KF.temporal_attention_target([attention[None, None]], AST_TIMES, 2), profile)


def test_target_orders_time_steps_by_time_not_by_token_index():
    attention = torch.eye(3)
    attention[0] = torch.tensor([0.0, 0.9, 0.1])  # token 1 is the *later* one
    profile = KF.attention_over_time([attention[None, None]], torch.tensor([NAN, 0.5, 0.1]))
    torch.testing.assert_close(profile, torch.tensor([[0.1, 0.9]]))


def test_identity_attentions_give_a_uniform_target():
    # the class token only attends to itself: no temporal information, so the target is uniform (documented)
    eye = torch.eye(5).expand(2, 3, 5, 5)
    torch.testing.assert_close(KF.temporal_attention_target([eye, eye], AST_TIMES, 4), torch.full((2, 4), 0.25))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 60), st.integers(1, 3), st.integers(0, 999))
def test_target_is_a_distribution_for_any_student_length(batch, time_steps, num_frames, freq_rows, seed):
    g = torch.Generator().manual_seed(seed)
    times = torch.cat([torch.tensor([NAN]), (torch.arange(time_steps) * 0.16 + 0.08).repeat(freq_rows)])
    tokens = times.numel()
    attentions = [torch.softmax(2 * torch.randn(batch, 2, tokens, tokens, generator=g), -1) for _ in range(2)]
    target = KF.temporal_attention_target(attentions, times, num_frames)
    assert target.shape == (batch, num_frames) and (target >= 0).all()
    torch.testing.assert_close(target.sum(-1), torch.ones(batch))


def test_interpolation_edge_cases():
    peak = torch.tensor([[0.0, 1.0, 0.0]])
    torch.testing.assert_close(KF.interpolate_distribution(peak, 1), torch.tensor([[1.0]]))  # T' = 1
    torch.testing.assert_close(KF.interpolate_distribution(peak, 3), peak)  # T' = T: unchanged
    torch.testing.assert_close(KF.interpolate_distribution(torch.tensor([[2.0, 6.0]]), 2), torch.tensor([[0.25, 0.75]]))
    # T' > T (upsampling), centres aligned: [0, 1, 0] onto 6 frames is symmetric and peaks in the middle
    up = KF.interpolate_distribution(peak, 6)
    torch.testing.assert_close(up, torch.tensor([[0.0, 0.125, 0.375, 0.375, 0.125, 0.0]]))
    # a one-step teacher gives a uniform target of any length; a uniform one stays uniform
    torch.testing.assert_close(KF.interpolate_distribution(torch.tensor([[1.0]]), 4), torch.full((1, 4), 0.25))
    torch.testing.assert_close(KF.interpolate_distribution(torch.full((1, 7), 1 / 7), 3), torch.full((1, 3), 1 / 3))
    # T' < T (downsampling): the default averages over each student frame, so a late peak stays there, whole;
    # plain linear interpolation point-samples steps 4.5, 14.5, ... and loses it (why "auto" is the default)
    late = torch.zeros(1, 50)
    late[0, 40] = 1.0
    area = KF.interpolate_distribution(late, 5)
    torch.testing.assert_close(area, torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]]))
    torch.testing.assert_close(KF.interpolate_distribution(late, 5, mode="area"), area)
    torch.testing.assert_close(KF.interpolate_distribution(late, 5, mode="linear"), torch.full((1, 5), 0.2))
    # a non-integer ratio: 3 steps onto 2 frames, each frame averages the steps it overlaps
    torch.testing.assert_close(KF.interpolate_distribution(torch.tensor([[0.6, 0.3, 0.1]]), 2),
                               torch.tensor([[0.45, 0.2]]) / 0.65)
    with pytest.raises(ValueError, match="mode"):
        KF.interpolate_distribution(peak, 2, mode="cubic")
    with pytest.raises(ValueError, match="num_frames"):
        KF.interpolate_distribution(peak, 0)


def test_target_peaks_on_the_keyword_when_the_teachers_attention_does():
    # a 8 s clip in 50 teacher time steps (0.16 s each) x 2 frequency rows; the keyword spans 5.6-6.6 s
    # (steps 35-41). Every token of every layer attends mostly to the keyword's tokens, as in the paper's Fig. 2.
    steps, rows, hop = 50, 2, 0.16
    times = torch.cat([torch.tensor([NAN]), (torch.arange(steps) * hop + hop / 2).repeat(rows)])
    keyword = ((times >= 5.6) & (times <= 6.6)).float()
    g = torch.Generator().manual_seed(0)
    attentions = []
    for _ in range(4):
        logits = torch.randn(1, 3, times.numel(), times.numel(), generator=g) + 4 * keyword
        attentions.append(torch.softmax(logits, -1))
    student_frames = 400  # 20 ms student frames over the same 8 s
    target = KF.temporal_attention_target(attentions, times, student_frames)[0]
    peak_s = (int(target.argmax()) + 0.5) * 8.0 / student_frames
    assert 5.6 <= peak_s <= 6.6
    frame_s = (torch.arange(student_frames) + 0.5) * 8.0 / student_frames
    assert float(target[(frame_s >= 5.6) & (frame_s <= 6.6)].sum()) > 0.5  # most mass in 1 s of 8 s


def test_target_refuses_untimed_tokens_and_wrong_lengths():
    attention = torch.softmax(torch.randn(1, 1, 3, 3), -1)
    with pytest.raises(ValueError, match="no finite entry"):
        KF.attention_over_time([attention], torch.full((3,), NAN))
    with pytest.raises(ValueError, match=r"token_time must be \(N,\)"):
        KF.attention_over_time([attention], torch.zeros(4))


# -- KL ------------------------------------------------------------------------------------------------------
def test_kl_by_hand_and_direction():
    teacher, student = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.25, 0.75]])
    by_hand = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(KF.temporal_attention_kl(student, teacher)) == pytest.approx(by_hand, rel=1e-6)
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert float(KF.temporal_attention_kl(teacher, student)) == pytest.approx(reverse, rel=1e-6)
    # teacher zeros count 0 (0 log 0 = 0): KL([1, 0] || [.5, .5]) = log 2
    assert float(KF.temporal_attention_kl(torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0]]))) == pytest.approx(
        math.log(2))


def test_kl_is_the_batch_mean():
    s, t = torch.tensor([[0.25, 0.75], [0.5, 0.5]]), torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    per_clip = [float(KF.temporal_attention_kl(s[i : i + 1], t[i : i + 1])) for i in range(2)]
    assert float(KF.temporal_attention_kl(s, t)) == pytest.approx(sum(per_clip) / 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(0, 999))
def test_kl_zero_iff_equal(batch, frames, seed):
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(batch, frames, generator=g), -1)
    assert float(KF.temporal_attention_kl(p, p)) == pytest.approx(0.0, abs=1e-6)
    q = torch.softmax(torch.randn(batch, frames, generator=g), -1)
    kl = float(KF.temporal_attention_kl(q, p))
    assert kl >= 0
    if frames > 1 and float((p - q).abs().max()) > 1e-3:
        assert kl > 0


def test_kl_in_log_space_is_stable_in_half_precision():
    # student scores spread over 40 units: softmax in fp16 underflows to 0 (log 0 = -inf), log_softmax does not
    scores = torch.tensor([[0.0, -20.0, -40.0]])
    teacher = torch.tensor([[0.2, 0.3, 0.5]])
    exact = float(KF.temporal_attention_kl(torch.log_softmax(scores.double(), -1), teacher.double(), log_input=True))
    for dtype in (torch.float16, torch.bfloat16):
        log_s = torch.log_softmax(scores.to(dtype), -1)
        got = float(KF.temporal_attention_kl(log_s, teacher.to(dtype), log_input=True))
        assert math.isfinite(got) and got == pytest.approx(exact, rel=1e-2)
    assert torch.softmax(scores.half(), -1)[0, 2] == 0  # why log space: the probability itself underflows


def test_kl_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="interpolate_distribution"):
        KF.temporal_attention_kl(torch.rand(2, 5), torch.rand(2, 6))
