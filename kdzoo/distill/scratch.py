"""The no-KD baseline: a student trained on the task loss alone (also how teachers are trained)."""

from __future__ import annotations

from torch import Tensor

from kdzoo.distill.method import KDMethod
from kdzoo.types import Batch, ModelOutput


class Scratch(KDMethod):
    """No distillation: contributes no KD term, needs no teacher."""

    requires_teacher = False

    def __init__(self) -> None:
        super().__init__(weight=0.0)

    def terms(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        return {}
