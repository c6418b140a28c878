"""Temporal KD: the student learns *when* a transformer teacher looks (Choi, Kersner, Morton, Chang; ICASSP 2022).

The teacher's attention of every layer is rolled out and its classifier token's row, read over time, becomes a
distribution a_T over the clip (:func:`kdzoo.functional.attention_over_time`). A small head used only in
training turns the student's pre-pooling frames c' (B, T', C) into its own distribution over time,
a_S = softmax_t(c' q) with one learned query q, and the KD term is KL(a_T || a_S)
(:func:`kdzoo.functional.temporal_attention_kl`). What the paper leaves open is a documented option here
(``shared/reference/methods.md`` 2.3, 2.5): the KL direction (teacher first), the total
(task + weight * KL, so weight 0 is vanilla training), renormalising a_T after interpolation, how the time axis
is resampled when the student has fewer frames than the teacher, and, for students with their own attention
over time (``att_rnn``, ``mhatt_rnn``), whether KD reads that attention or a separate head.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from kdzoo import functional as KF
from kdzoo.distill.method import KDMethod
from kdzoo.types import Batch, ModelOutput, Task

TARGET = "temporal_attention"
"""The teacher's stored target: (B, T_teacher) rollout of the classifier token over the teacher's time steps."""
NATIVE = "time_attention"
"""A student's own attention scores over time, ``extras["time_attention"]`` (B, heads, T') before the softmax."""
PROBE_SECONDS = 1.0
"""Length of the silent clip :meth:`TemporalKD.setup` runs the student on to read its frame width C."""


class TemporalKD(KDMethod):
    """``weight * KL(a_T || a_S)``: a transformer teacher's attention over time, matched by the student.

    The target is computed once per clip from the teacher's attentions (:meth:`prepare_teacher`), so the
    teacher-output store keeps it, (T_teacher,) per clip, not the raw attentions; each step resamples it onto
    the student's T' (any T': 1, fewer or more frames than the teacher).

    The head (``query``, C values) belongs to this method, not to the student: it is optimised and checkpointed
    with the run, and never exported (``student.pt`` and ONNX hold the vanilla architecture). It is sized in
    :meth:`setup` from the student's frame width and starts at zero (a_S uniform). Zero, not random, so that
    building it draws nothing from the global random stream: with ``weight=0`` a run trains bit for bit as
    vanilla training with the same seed.

    Args:
        weight: lambda, the KD weight (the paper's grid: 0.1, 0.25, 0.5; 0 reproduces vanilla training).
        attention: ``head`` (default): a_S from the separate query head over ``frames``, for every student;
            ``native``: a_S is the student's own attention over time (``extras["time_attention"]``, heads
            averaged in probability), for ``att_rnn`` / ``mhatt_rnn``; the paper does not say which it did.
        resample: how a_T is resampled onto T' (:func:`kdzoo.functional.interpolate_distribution`): ``auto``
            (linear when upsampling, as the paper; frame averages when downsampling), ``linear`` or ``area``.
    """

    needs = frozenset({"frames"})

    def __init__(self, weight: float = 0.25, attention: Literal["head", "native"] = "head",
                 resample: Literal["auto", "linear", "area"] = "auto") -> None:
        super().__init__(weight)
        if attention not in ("head", "native"):
            raise ValueError(f"TemporalKD: attention must be 'head' or 'native', got {attention!r}")
        if resample not in ("auto", "linear", "area"):
            raise ValueError(f"TemporalKD: resample must be 'auto', 'linear' or 'area', got {resample!r}")
        self.attention, self.resample = attention, resample
        self.needs = frozenset({"frames"} if attention == "head" else set())
        self.register_parameter("query", None)  # (C,), built in setup()

    # -- set-up ----------------------------------------------------------------------------------------------
    def check(self, student: nn.Module, teacher: nn.Module | None) -> None:
        """Refuse a teacher without attentions and a student without the frames (or attention) KD reads."""
        if teacher is None:
            raise ValueError("TemporalKD distils a teacher's attention, but teacher=None was given")
        if "attentions" not in set(getattr(teacher, "provides", ())):
            raise ValueError(
                f"TemporalKD needs a transformer teacher that returns its attention weights (provides 'attentions'), "
                f"but {type(getattr(teacher, 'model', teacher)).__name__} provides only "
                f"{sorted(getattr(teacher, 'provides', ()))}; use an ast_* teacher or kdzoo.models.hf.hf_audio_teacher"
            )
        if self.attention == "native" and not getattr(student, "native_time_attention", False):
            raise ValueError(f"TemporalKD(attention='native') reads the student's own attention over time "
                             f"(extras['time_attention']), which {type(student).__name__} has not; it is for att_rnn "
                             f"and mhatt_rnn. Use attention='head'")
        missing = self.needs - set(getattr(student, "provides", ()))
        if missing:
            raise ValueError(f"TemporalKD reads {sorted(missing)} from the student, but {type(student).__name__} "
                             f"provides only {sorted(getattr(student, 'provides', ()))}")

    def setup(self, student: nn.Module, teacher: nn.Module | None, datamodule: Any | None, task: Task) -> None:
        """Size the query head from the student's frame width C (one silent 1 s clip through it, in eval mode)."""
        super().setup(student, teacher, datamodule, task)
        if self.attention == "native" or self.query is not None:
            return
        self.query = nn.Parameter(torch.zeros(frame_width(student)))

    # -- the target ------------------------------------------------------------------------------------------
    def teacher_fields(self) -> frozenset[str]:
        return frozenset({TARGET})

    def prepare_teacher(self, teacher: ModelOutput) -> ModelOutput:
        """Replace the raw attentions by the per-clip target over the teacher's time steps (B, T_teacher)."""
        if TARGET in teacher.extras:
            return teacher
        if teacher.attentions is None or teacher.token_time_s is None:
            raise ValueError("TemporalKD: the teacher returned no attentions or no token_time_s; it needs both to "
                             "place its attention on the clip's time axis")
        target = KF.attention_over_time(teacher.attentions, teacher.token_time_s)
        return replace(teacher, attentions=None, extras={**teacher.extras, TARGET: target})

    # -- the loss --------------------------------------------------------------------------------------------
    def student_log_attention(self, student: ModelOutput) -> Tensor:
        """log a_S, (B, T'): log-softmax of the head's scores c' q, or of the student's own scores (heads averaged)."""
        if self.attention == "native":
            scores = student.extras[NATIVE]  # (B, heads, T')
            return torch.logsumexp(torch.log_softmax(scores.float(), dim=-1), dim=1) - math.log(scores.shape[1])
        if self.query is None:
            raise RuntimeError("TemporalKD: the attention head is not built; the Distiller calls setup() when a "
                               "Trainer run starts (or call method.setup(student, teacher, None, task) yourself)")
        return torch.log_softmax(student.frames.float() @ self.query.float(), dim=-1)

    def terms(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        log_student = self.student_log_attention(student)
        target = KF.interpolate_distribution(self.prepare_teacher(teacher).extras[TARGET], log_student.shape[1],
                                             self.resample)
        return {"kd_temporal": KF.temporal_attention_kl(log_student, target, log_input=True)}


def frame_width(student: nn.Module) -> int:
    """C of the student's ``frames`` (B, T', C), from a silent clip run in eval mode without touching the RNG,
    gradients or BatchNorm statistics (so sizing the head leaves training exactly as it would have been)."""
    parameter = next(student.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    silent = torch.zeros(1, int(PROBE_SECONDS * student.sample_rate), device=device)
    was_training = student.training
    devices = [device] if device.type == "cuda" else []
    try:
        student.eval()
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            frames = student(silent, student.sample_rate).frames
    finally:
        student.train(was_training)
    if frames is None or frames.dim() != 3:
        raise ValueError(f"TemporalKD: {type(student).__name__} returned no (B, T', C) frames to attend over")
    return int(frames.shape[-1])
