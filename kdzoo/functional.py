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


ENSEMBLE_AVERAGES = ("logits", "softmax", "sigmoid")


def ensemble_logits(logits: Tensor, average: str = "logits", eps: float = 1e-6) -> Tensor:
    """One set of logits from M teachers' logits, averaged in logit or probability space.

    * ``logits``: the mean logit, ``mean_m z_m``.
    * ``softmax`` (single-label): ``log(mean_m softmax(z_m))``, the log of the mean class distribution. Its
      softmax is that mean distribution exactly; at temperature T (Hinton KD) the target becomes
      ``p^(1/T) / sum p^(1/T)`` of the mean distribution ``p``.
    * ``sigmoid`` (multi-label): ``logit(mean_m sigmoid(z_m))``, the log-odds of the mean per-class probability,
      with the mean clamped to ``[eps, 1 - eps]`` so the result stays finite (float32 rounds 1 - 1e-7 to 1).

    Args:
        logits: (M, B, K) the members' logits.
        average: ``logits``, ``softmax`` or ``sigmoid``.

    Returns:
        (B, K) logits.
    """
    if logits.dim() != 3:
        raise ValueError(f"ensemble_logits: logits must be (M, B, K), got {tuple(logits.shape)}")
    if average == "logits":
        return logits.mean(dim=0)
    if average == "softmax":
        members = torch.tensor(float(logits.shape[0]), dtype=logits.dtype, device=logits.device)
        return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - members.log()
    if average == "sigmoid":
        return torch.logit(torch.sigmoid(logits).mean(dim=0), eps=eps)
    raise ValueError(f"ensemble_logits: average must be one of {ENSEMBLE_AVERAGES}, got {average!r}")


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


def attention_rollout(attentions: list[Tensor] | tuple[Tensor, ...]) -> Tensor:
    r"""Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020).

    How much each input token reaches each output token through all layers, counting the residual path:

    .. math::
        \bar A_l = \frac{1}{H}\sum_h A_{l,h},\quad
        \hat A_l = \mathrm{rownorm}\Big(\frac{\bar A_l + I}{2}\Big),\quad
        R = \hat A_L \cdots \hat A_2 \hat A_1

    (head fusion by the mean, no discarding of small weights: jacobgil/vit-explain's defaults, the reading of
    Temporal KD's Fig. 1 in ``shared/reference/methods.md`` 2.2). Computed in float32 at least, whatever the
    input dtype, so long products of near-identity matrices do not lose mass in fp16/bf16.

    Args:
        attentions: L >= 1 tensors (B, H, N, N), rows summing to 1 (layer 1 first).

    Returns:
        (B, N, N) with rows summing to 1; identity attentions give the identity.

    Example:
        >>> eye = torch.eye(3).expand(2, 4, 3, 3)
        >>> torch.equal(attention_rollout([eye, eye]), torch.eye(3).expand(2, 3, 3))
        True
    """
    if len(attentions) == 0:
        raise ValueError("attention_rollout needs at least one layer's attentions, got none")
    first = attentions[0]
    if first.dim() != 4 or first.shape[-1] != first.shape[-2]:
        raise ValueError(f"attention_rollout expects (B, H, N, N) per layer, got {tuple(first.shape)}")
    dtype = torch.promote_types(first.dtype, torch.float32)
    eye = torch.eye(first.shape[-1], dtype=dtype, device=first.device)
    rollout = eye.expand(first.shape[0], -1, -1)
    for layer, weights in enumerate(attentions):
        if weights.shape != first.shape:
            raise ValueError(f"attention_rollout: layer {layer} has shape {tuple(weights.shape)}, layer 0 "
                             f"{tuple(first.shape)}")
        mixed = (weights.to(dtype).mean(dim=1) + eye) / 2
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    return rollout


def attention_over_time(attentions: list[Tensor] | tuple[Tensor, ...], token_time: Tensor, query: int = 0) -> Tensor:
    """The rollout row of token ``query`` (the classifier token), as a distribution over the teacher's time steps.

    Tokens without a time (``token_time`` nan: class or distillation tokens) are dropped, and tokens that share
    a time (an AST's patches of one time column at different frequencies) are summed: the target says *when*
    the teacher looked, not at which frequency. The result is renormalised to sum to 1 over time; if the query
    row puts no weight at all on time-carrying tokens (e.g. identity attentions) it carries no temporal
    information and the uniform distribution is returned.

    Args:
        attentions: L tensors (B, H, N, N), as for :func:`attention_rollout`.
        token_time: (N,) time of each token in seconds (nan for tokens with no time).
        query: the token whose row is read (0: the classifier token c_1 of Temporal KD's Fig. 1).

    Returns:
        (B, T_teacher) float32 >= 0 summing to 1, T_teacher = distinct finite times, in increasing time.
    """
    rollout = attention_rollout(attentions)
    if token_time.dim() != 1 or token_time.shape[0] != rollout.shape[-1]:
        raise ValueError(f"token_time must be (N,) = ({rollout.shape[-1]},), got {tuple(token_time.shape)}")
    timed = torch.isfinite(token_time)
    if not bool(timed.any()):
        raise ValueError("token_time has no finite entry: no token carries a time, so there is no temporal target")
    times, column = torch.unique(token_time[timed].to(rollout.device), sorted=True, return_inverse=True)
    row = rollout[:, query, timed.to(rollout.device)]  # (B, N_timed)
    profile = torch.zeros(row.shape[0], times.numel(), dtype=row.dtype, device=row.device)
    profile.index_add_(1, column, row)
    return _normalise_or_uniform(profile).float()


def interpolate_distribution(distribution: Tensor, num_frames: int, mode: str = "auto") -> Tensor:
    """Resample (B, T) onto (B, num_frames) over the same time span and renormalise to sum to 1.

    ``linear``: linear interpolation with the frame centres of both grids aligned (``align_corners=False``), the
    paper's "simple linear interpolation"; both grids are assumed to cover the clip. Downsampled that way, a
    target is *point-sampled*: a peak between two student frames vanishes (50 steps onto 5 frames reads steps
    4.5, 14.5, ...). ``area``: each student frame takes the mean over the teacher steps it covers
    (``adaptive_avg_pool1d``), which keeps every peak's mass. ``auto`` (default): linear when upsampling
    (T' >= T), area when downsampling; the paper does not say which it did when T' < T.

    Renormalising is our choice too (the paper does not say); it keeps the target a distribution, which the KL
    needs. Edge cases: ``num_frames == T`` is only renormalised; ``num_frames == 1`` gives ``[[1.0]]``.
    """
    if distribution.dim() != 2:
        raise ValueError(f"interpolate_distribution expects (B, T), got shape {tuple(distribution.shape)}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if mode not in ("auto", "linear", "area"):
        raise ValueError(f"interpolate_distribution: mode must be 'auto', 'linear' or 'area', got {mode!r}")
    steps = distribution.shape[1]
    if steps != num_frames:
        if mode == "auto":
            mode = "linear" if num_frames > steps else "area"
        corners = {"align_corners": False} if mode == "linear" else {}
        distribution = F.interpolate(distribution[:, None].float(), size=num_frames, mode=mode, **corners)[:, 0]
    return _normalise_or_uniform(distribution.float())


def temporal_attention_target(attentions: list[Tensor] | tuple[Tensor, ...], token_time: Tensor, num_frames: int,
                              mode: str = "auto") -> Tensor:
    """Temporal KD's teacher target a_T (Choi, Kersner, Morton, Chang; ICASSP 2022, Fig. 1).

    The classifier token's row of the attention rollout, over time (:func:`attention_over_time`: patch tokens
    sharing a time index are summed), linearly interpolated onto the student's ``num_frames`` (averaged over
    each student frame instead when the student has fewer frames, see :func:`interpolate_distribution`) and
    renormalised.

    Args:
        attentions: L tensors (B, H, N, N).
        token_time: (N,) seconds per token, nan for tokens with no time.
        num_frames: T', the student's frame count.
        mode: how the time axis is resampled (see :func:`interpolate_distribution`).

    Returns:
        (B, num_frames) >= 0, each row summing to 1.
    """
    return interpolate_distribution(attention_over_time(attentions, token_time), num_frames, mode)


def temporal_attention_kl(student_attention: Tensor, teacher_attention: Tensor, log_input: bool = False) -> Tensor:
    r"""KL(teacher || student) between two distributions over time, averaged over the batch.

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_b \sum_t a^T_{bt} \big(\log a^T_{bt} - \log a^S_{bt}\big)

    Computed in log space and float32 whatever the input dtype: the student side is taken as log-probabilities
    (pass ``log_input=True`` with a ``log_softmax`` output, which never underflows to log 0 in fp16/bf16), teacher
    zeros contribute 0 (``0 log 0 = 0``). The direction (teacher first) makes the student cover every moment
    the teacher attends to; the paper does not state it (``shared/reference/methods.md`` 2.3).

    Args:
        student_attention: (B, T) probabilities, or log-probabilities when ``log_input``.
        teacher_attention: (B, T) probabilities (no gradient needed).
        log_input: whether ``student_attention`` holds log-probabilities.

    Returns:
        A scalar >= 0, zero iff the two distributions are equal.

    Example:
        >>> a = torch.tensor([[0.25, 0.75]])
        >>> float(temporal_attention_kl(a, a))
        0.0
    """
    if student_attention.dim() != 2 or student_attention.shape != teacher_attention.shape:
        raise ValueError(f"temporal_attention_kl expects two (B, T) tensors of one shape, got "
                         f"{tuple(student_attention.shape)} and {tuple(teacher_attention.shape)}; interpolate the "
                         f"teacher's with interpolate_distribution")
    log_student = student_attention.float() if log_input else _log(student_attention.float())
    teacher = teacher_attention.float()
    # written out rather than F.kl_div: its xlogy(t, t) and our log of the student can differ in the last bit on
    # some CPUs, giving KL(a || a) = -3e-8 instead of 0; the same _log on both sides keeps that case exact
    terms = torch.where(teacher > 0, teacher * (_log(teacher) - log_student), torch.zeros_like(teacher))
    return terms.sum() / teacher.shape[0]


def mass_in_window(distribution: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """How much of a distribution over time falls inside a window, e.g. Temporal KD attention on the keyword.

    The T frames are taken to tile the clip evenly (frame t covers [t/T, (t+1)/T) of it); each frame adds its
    probability times the fraction of it that the window covers. So the uniform distribution puts exactly the
    window's length on it, whatever T: that is the chance level to compare with.

    Args:
        distribution: (B, T) >= 0, rows summing to 1.
        start, end: (B,) the window in fractions of the clip, 0 <= start <= end <= 1.

    Returns:
        (B,) in [0, 1].

    Example:
        >>> float(mass_in_window(torch.full((1, 8), 1 / 8), torch.tensor([0.25]), torch.tensor([0.375]))[0])
        0.125
    """
    if distribution.dim() != 2:
        raise ValueError(f"mass_in_window expects (B, T), got shape {tuple(distribution.shape)}")
    start, end = start.to(distribution).reshape(-1, 1), end.to(distribution).reshape(-1, 1)
    if start.shape[0] != distribution.shape[0] or end.shape[0] != distribution.shape[0]:
        raise ValueError(f"mass_in_window: {start.shape[0]} starts and {end.shape[0]} ends for "
                         f"{distribution.shape[0]} rows")
    if bool(((start < 0) | (end > 1) | (start > end)).any()):
        raise ValueError("mass_in_window: windows must satisfy 0 <= start <= end <= 1 (fractions of the clip)")
    frames = distribution.shape[1]
    edges = torch.arange(frames + 1, dtype=distribution.dtype, device=distribution.device) / frames
    covered = (torch.minimum(end, edges[1:]) - torch.maximum(start, edges[:-1])).clamp(min=0) * frames
    return (distribution * covered).sum(dim=1)


def _log(probabilities: Tensor) -> Tensor:
    """log of probabilities, 0 floored at 1e-30 (log = -69) so that 0 * log 0 stays finite."""
    return probabilities.clamp_min(1e-30).log()


def _normalise_or_uniform(weights: Tensor) -> Tensor:
    """Rows of (B, T) >= 0 scaled to sum to 1; a row summing to 0 becomes uniform."""
    weights = weights.clamp_min(0)
    total = weights.sum(dim=-1, keepdim=True)
    uniform = torch.full_like(weights, 1.0 / weights.shape[-1])
    return torch.where(total > 0, weights / total.clamp_min(torch.finfo(weights.dtype).tiny), uniform)


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
