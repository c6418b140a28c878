"""Classic logit distillation (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015)."""

from __future__ import annotations

from torch import Tensor, nn

from kdzoo import functional as KF
from kdzoo.distill.method import KDMethod
from kdzoo.types import Batch, ModelOutput


class HintonKD(KDMethod):
    """Soft targets at temperature T: softmax KL for single-label tasks, per-class sigmoid for multi-label.

    Args:
        temperature: T (> 0). Multi-label tagging usually keeps T = 1 (sigmoids are already soft);
            single-label KD commonly uses 2-4.
        weight: KD term weight (the paper's soft-target weight, with the T^2 scaling inside).
    """

    needs = frozenset({"logits"})

    def __init__(self, temperature: float = 2.0, weight: float = 1.0) -> None:
        super().__init__(weight)
        if temperature <= 0:
            raise ValueError(f"HintonKD: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def check(self, student: nn.Module, teacher: nn.Module | None) -> None:
        super().check(student, teacher)
        if student.num_classes != teacher.num_classes:
            raise ValueError(
                f"HintonKD matches logits class by class, but the student predicts {student.num_classes} "
                f"classes and the teacher {teacher.num_classes}"
            )

    def terms(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        loss_fn = KF.hinton_kd_multilabel if self.task == "multilabel" else KF.hinton_kd
        return {"kd_logit": loss_fn(student.logits, teacher.logits, self.temperature)}
