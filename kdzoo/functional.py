"""Pure loss functions for knowledge distillation, in the style of ``torch.nn.functional``.

Each function is tensor maths only (this module imports nothing but torch), states its formula and cites
its paper. The method classes in :mod:`kdzoo.distill` only choose inputs and weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def hinton_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    r"""Soft-target distillation for single-label tasks (Hinton, Vinyals & Dean 2015).

    .. math::
        \mathcal{L} = T^2 \cdot \frac{1}{B} \sum_b \mathrm{KL}\big(\mathrm{softmax}(z^t_b / T)
        \,\|\, \mathrm{softmax}(z^s_b / T)\big)

    The :math:`T^2` factor keeps the gradient scale independent of :math:`T` (the soft-target gradients
    shrink as :math:`1/T^2`), so the KD weight need not be retuned when :math:`T` changes.

    Args:
        student_logits: (B, K).
        teacher_logits: (B, K), no gradient needed.
        temperature: T > 0.

    Returns:
        A scalar, zero iff the two softmax distributions at temperature T are equal.

    Example:
        >>> z = torch.tensor([[1.0, 2.0, 3.0]])
        >>> float(hinton_kd(z, z, temperature=2.0))
        0.0
    """
    _check_logits(student_logits, teacher_logits, temperature)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
    return temperature**2 * kl


def hinton_kd_multilabel(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Soft-target distillation for multi-label tagging: one Bernoulli per class instead of one softmax.

    .. math::
        \mathcal{L} = T^2 \cdot \frac{1}{BK} \sum_{b,k} \mathrm{KL}\big(\mathrm{Bern}(\sigma(z^t_{bk}/T))
        \,\|\, \mathrm{Bern}(\sigma(z^s_{bk}/T))\big)

    This is the per-class sigmoid BCE against the teacher's soft targets (as multi-label audio KD does,
    e.g. EfficientAT) minus the teacher's own entropy: the gradient is identical to BCE's, but the value is
    zero when the student matches the teacher, so logged KD terms are comparable across runs.

    Args:
        student_logits: (B, K).
        teacher_logits: (B, K).
        temperature: T > 0.
    """
    _check_logits(student_logits, teacher_logits, temperature)
    zs, zt = student_logits / temperature, teacher_logits / temperature
    p_teacher = torch.sigmoid(zt)
    cross_entropy = F.binary_cross_entropy_with_logits(zs, p_teacher, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(zt, p_teacher, reduction="none")
    return temperature**2 * (cross_entropy - entropy).mean()


def align_frames(frames: Tensor, num_frames: int) -> Tensor:
    """Resample a frame sequence (B, T, C) to (B, num_frames, C) by linear interpolation over time.

    Used when teacher and student frame rates differ (e.g. a 20 ms-hop CNN map vs 0.48 s YAMNet patches),
    so frame-wise losses compare the same moments of the clip. Frame centres are aligned
    (``align_corners=False``), and ``T == num_frames`` returns the input unchanged.
    """
    if frames.dim() != 3:
        raise ValueError(f"align_frames expects (B, T, C), got shape {tuple(frames.shape)}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if frames.shape[1] == num_frames:
        return frames
    return F.interpolate(frames.transpose(1, 2), size=num_frames, mode="linear", align_corners=False).transpose(1, 2)


def _check_logits(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} "
            "differ: the teacher must predict the same classes as the student"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
