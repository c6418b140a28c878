"""What SP and IUSP share: which activations feed the similarity term, and an optional Hinton logit term.

The two methods differ only in the Gram matrix they preserve (between the clips of a batch, or between the
frames of one clip; see :mod:`kdzoo.functional`). Choosing the layer, aligning frame counts and adding the
optional logit term live here once.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor, nn

from kdzoo import functional as KF
from kdzoo.distill.method import KDMethod
from kdzoo.types import Batch, ModelOutput

Layer = Literal["frames", "feature_map", "embedding"]


class SimilarityKD(KDMethod):
    """Base of similarity-preserving methods: ``weight * similarity term (+ hinton_weight * logit KD)``.

    Args:
        weight: gamma, the weight of the similarity term (0 reproduces training without it exactly).
        layer: which :class:`~kdzoo.types.ModelOutput` field of student and teacher is compared.
        hinton_weight: weight of an added Hinton logit term (0 = the similarity term alone, the papers'
            set-up; > 0 = the combined set-up). It needs teacher logits for the student's classes.
        temperature: Hinton temperature (multi-label tagging keeps 1).
    """

    layers: ClassVar[tuple[str, ...]] = ("frames", "feature_map", "embedding")
    term_name: ClassVar[str] = "kd_similarity"

    def __init__(self, weight: float = 1.0, layer: Layer = "frames", hinton_weight: float = 0.0,
                 temperature: float = 1.0) -> None:
        super().__init__(weight)
        if layer not in self.layers:
            raise ValueError(f"{type(self).__name__}: layer must be one of {self.layers}, got {layer!r}")
        if hinton_weight < 0 or temperature <= 0:
            raise ValueError(f"{type(self).__name__}: hinton_weight must be >= 0 and temperature > 0, got "
                             f"{hinton_weight} and {temperature}")
        self.layer, self.hinton_weight, self.temperature = layer, hinton_weight, temperature
        self.needs = frozenset({layer, "logits"} if hinton_weight > 0 else {layer})

    def check(self, student: nn.Module, teacher: nn.Module | None) -> None:
        super().check(student, teacher)
        if self.hinton_weight > 0 and student.num_classes != teacher.num_classes:
            raise ValueError(f"{type(self).__name__}(hinton_weight > 0) matches logits class by class, but the "
                             f"student predicts {student.num_classes} classes and the teacher {teacher.num_classes}")

    def forward(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        """Each term times its own weight: ``weight`` for the similarity term, ``hinton_weight`` for logits."""
        weights = {self.term_name: self.weight, "kd_logit": self.hinton_weight}
        return {name: weights[name] * value for name, value in self.terms(student, teacher, batch).items()}

    def terms(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        terms = {self.term_name: self.similarity(student, teacher)}
        if self.hinton_weight > 0:
            loss_fn = KF.hinton_kd_multilabel if self.task == "multilabel" else KF.hinton_kd
            terms["kd_logit"] = loss_fn(student.logits, teacher.logits, self.temperature)
        return terms

    def similarity(self, student: ModelOutput, teacher: ModelOutput) -> Tensor:
        """The similarity term of one batch; subclasses implement it."""
        raise NotImplementedError


def frame_rows(output: ModelOutput, layer: str) -> Tensor:
    """The chosen activation as one row per frame, (B, T, C).

    ``frames`` is the model's own per-frame sequence (B, T, C) (a CNN's map averaged over frequency, an RNN's
    output sequence); ``feature_map`` (B, C, F, T) keeps every frequency bin: row t is the flattened
    (C x F) slice at time t, as IUSP's reconstruction reads the paper.
    """
    value = getattr(output, layer)
    if layer == "feature_map":
        return value.flatten(1, 2).transpose(1, 2)  # (B, C*F, T) -> (B, T, C*F)
    if value.dim() != 3:
        raise ValueError(f"{layer} must be (B, T, C) to compare frames, got shape {tuple(value.shape)}")
    return value
