"""KD loss formulas on hand-computed cases, and their invariances."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kdzoo import functional as KF


def test_hinton_kd_zero_when_student_equals_teacher():
    z = torch.randn(4, 5)
    assert KF.hinton_kd(z, z.clone(), temperature=3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_hinton_kd_hand_computed():
    # Two classes, T = 2: teacher logits (0, 2) -> softmax(0, 1) = (1/(1+e), e/(1+e)); student (0, 0) -> (1/2, 1/2).
    student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    p = [1 / (1 + math.e), math.e / (1 + math.e)]
    kl = sum(pi * math.log(pi / 0.5) for pi in p)
    assert KF.hinton_kd(student, teacher, temperature=2.0).item() == pytest.approx(4 * kl, rel=1e-6)


def test_hinton_kd_is_a_batch_mean():
    s, t = torch.randn(6, 4), torch.randn(6, 4)
    per_item = torch.stack([KF.hinton_kd(s[i : i + 1], t[i : i + 1], 2.0) for i in range(6)])
    assert KF.hinton_kd(s, t, 2.0).item() == pytest.approx(per_item.mean().item(), rel=1e-6)


def test_hinton_kd_t_squared_scaling():
    # Scaling both logit sets by T and using temperature T gives exactly T^2 times the T=1 loss.
    s, t = torch.randn(3, 4), torch.randn(3, 4)
    base = KF.hinton_kd(s, t, temperature=1.0)
    assert KF.hinton_kd(3 * s, 3 * t, temperature=3.0).item() == pytest.approx(9 * base.item(), rel=1e-5)


def test_hinton_kd_gradient_scale_is_temperature_independent_for_small_logits():
    # The T^2 factor compensates the 1/T^2 shrinkage of soft-target gradients (Hinton et al. 2015, sec. 2.1).
    s, t = (torch.randn(2, 10) * 0.01).requires_grad_(), torch.randn(2, 10) * 0.01
    grads = []
    for temperature in (5.0, 20.0):
        (g,) = torch.autograd.grad(KF.hinton_kd(s, t, temperature), s)
        grads.append(g.norm().item())
    assert grads[0] == pytest.approx(grads[1], rel=0.05)


def test_multilabel_kd_hand_computed():
    # One class, T = 1: teacher p = sigmoid(0) = 0.5, student q = sigmoid(ln 3) = 0.75.
    # Bernoulli KL(p || q) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25).
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    value = KF.hinton_kd_multilabel(torch.tensor([[math.log(3.0)]]), torch.tensor([[0.0]]), 1.0)
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_multilabel_kd_zero_at_equality_and_positive_otherwise():
    z = torch.randn(5, 8)
    assert KF.hinton_kd_multilabel(z, z.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert KF.hinton_kd_multilabel(z + 1.0, z, 2.0).item() > 1e-3


def test_multilabel_kd_has_the_soft_bce_gradient():
    s, t = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
    (g_kd,) = torch.autograd.grad(KF.hinton_kd_multilabel(s, t, 1.0), s)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(s, torch.sigmoid(t))
    (g_bce,) = torch.autograd.grad(bce, s)
    torch.testing.assert_close(g_kd, g_bce)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 8.0), st.integers(1, 4), st.integers(2, 6))
def test_kd_losses_are_nonnegative(temperature, batch, classes):
    s, t = torch.randn(batch, classes) * 3, torch.randn(batch, classes) * 3
    assert KF.hinton_kd(s, t, temperature).item() >= -1e-6
    assert KF.hinton_kd_multilabel(s, t, temperature).item() >= -1e-6


def test_kd_rejects_mismatched_classes_and_bad_temperature():
    with pytest.raises(ValueError, match="same classes"):
        KF.hinton_kd(torch.randn(2, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        KF.hinton_kd_multilabel(torch.randn(2, 3), torch.randn(2, 3), temperature=0.0)


def test_align_frames_identity_and_constant_and_linear():
    x = torch.randn(2, 7, 3)
    assert KF.align_frames(x, 7) is x
    const = torch.ones(1, 5, 2) * 4.0
    torch.testing.assert_close(KF.align_frames(const, 11), torch.ones(1, 11, 2) * 4.0)
    # Downsampling [0, 1, 2, 3] by 2 with centre alignment averages neighbours: [0.5, 2.5].
    ramp = torch.arange(4.0).view(1, 4, 1)
    torch.testing.assert_close(KF.align_frames(ramp, 2).flatten(), torch.tensor([0.5, 2.5]))
    assert KF.align_frames(x, 1).shape == (2, 1, 3)


def test_align_frames_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        KF.align_frames(torch.randn(3, 4), 2)
    with pytest.raises(ValueError, match="num_frames"):
        KF.align_frames(torch.randn(1, 3, 4), 0)


def test_functional_imports_only_torch():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(KF))
    nodes = list(ast.walk(tree))
    roots = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom) and node.module}
    assert roots <= {"torch", "__future__"}
