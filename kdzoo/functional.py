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


def similarity_preserving(student: Tensor, teacher: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Batch similarity preservation, SP (Tung & Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019).

    .. math::
        Q = \mathrm{reshape}(A, (B, -1)),\quad G = Q Q^\top \in \mathbb{R}^{B \times B},\quad
        \hat G_{i,:} = G_{i,:} / \lVert G_{i,:} \rVert_2,\quad
        \mathcal{L} = \frac{1}{B^2} \lVert \hat G^s - \hat G^t \rVert_F^2

    Each clip is compared with the other clips of the mini-batch, so the loss depends on which clips share a
    batch. Channel (and spatial) sizes of the two maps may differ: only the B x B Gram matrices meet.
    Invariant to positive scaling of either map and to any orthogonal transform of its flattened features.

    Args:
        student: (B, ...) activations of the student (any trailing shape).
        teacher: (B, ...) activations of the teacher, same B.
        eps: floor of the row norm (an all-zero row stays zero instead of NaN).

    Returns:
        A scalar >= 0, zero iff the row-normalised Gram matrices are equal.

    Example:
        >>> a = torch.randn(4, 3, 5)
        >>> round(float(similarity_preserving(a, 2.0 * a)), 6)
        0.0
    """
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"similarity_preserving: batch sizes differ, student {student.shape[0]} "
                         f"vs teacher {teacher.shape[0]}")
    batch = student.shape[0]
    gram_s, gram_t = (_row_normalised_gram(q.reshape(batch, -1).float(), eps) for q in (student, teacher))
    return (gram_s - gram_t).pow(2).sum() / batch**2


def intra_utterance_similarity(student: Tensor, teacher: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Intra-utterance similarity preservation, IUSP (Chang, Kao, Sun, Wang; Interspeech 2020).

    SP's construction applied to the frames of one clip instead of the clips of one batch. For every clip n,
    with one row per frame :math:`Q_n \in \mathbb{R}^{T \times C}`:

    .. math::
        G_n = Q_n Q_n^\top \in \mathbb{R}^{T \times T},\quad \hat G_{n,i,:} = G_{n,i,:} / \lVert G_{n,i,:}\rVert_2,
        \quad \mathcal{L} = \frac{1}{B} \sum_n \frac{1}{T^2} \lVert \hat G^s_n - \hat G^t_n \rVert_F^2

    The normalisation by :math:`T^2` per clip, then the mean over clips, is our choice (the paper's exact
    constant is not public; see ``shared/reference/methods.md`` 3.3): it makes the loss of a batch the mean of
    its clips' losses, so it does not depend on the batch composition and B = 1 works. Invariant to positive
    scaling of either input and to orthogonal transforms or permutations of the channel axis; unchanged when
    the same permutation of frames is applied to both; not invariant to per-frame rescaling.

    Args:
        student: (B, T, C_s) student frames.
        teacher: (B, T, C_t) teacher frames, same B and T (align them first, see :func:`align_frames`).
        eps: floor of the row norm, so silent (all-zero) frames give zero rows, not NaN.

    Returns:
        A scalar >= 0, zero iff every clip's row-normalised frame-similarity matrices are equal.

    Example:
        >>> frames = torch.randn(2, 6, 4)
        >>> round(float(intra_utterance_similarity(frames, 3.0 * frames)), 6)
        0.0
    """
    if student.dim() != 3 or teacher.dim() != 3 or student.shape[:2] != teacher.shape[:2]:
        raise ValueError(
            f"intra_utterance_similarity expects (B, T, C_s) and (B, T, C_t) with equal B and T, got "
            f"{tuple(student.shape)} and {tuple(teacher.shape)}; align the frame counts with align_frames"
        )
    frames = student.shape[1]
    gram_s, gram_t = (_row_normalised_gram(q.float(), eps) for q in (student, teacher))
    return ((gram_s - gram_t).pow(2).sum(dim=(1, 2)) / frames**2).mean()


def _row_normalised_gram(rows: Tensor, eps: float) -> Tensor:
    """(..., N, C) -> (..., N, N): Gram matrix of the rows, each of its rows scaled to unit L2 norm."""
    return F.normalize(rows @ rows.transpose(-1, -2), p=2.0, dim=-1, eps=eps)


def _check_logits(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} "
            "differ: the teacher must predict the same classes as the student"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
