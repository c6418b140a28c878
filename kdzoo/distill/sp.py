"""SP: similarity-preserving KD between the clips of a mini-batch (Tung & Mori, ICCV 2019).

The baseline IUSP is judged against: the student keeps the teacher's clip-to-clip similarities within each
mini-batch (:func:`kdzoo.functional.similarity_preserving`).
"""

from __future__ import annotations

from torch import Tensor

from kdzoo import functional as KF
from kdzoo.distill.similarity import SimilarityKD
from kdzoo.types import ModelOutput


class SimilarityPreserving(SimilarityKD):
    """``weight * SP(student[layer], teacher[layer])`` (+ optional Hinton term, see :class:`SimilarityKD`).

    ``layer="feature_map"`` (the pre-pooling map, the paper's choice: end of the last conv stage) or
    ``"frames"`` or ``"embedding"``; each clip's activation is flattened, so the two models' shapes may
    differ. The paper's gamma was 3000 on CIFAR (with its 1/B^2 normalisation); audio batches need their own.
    """

    term_name = "kd_sp"

    def similarity(self, student: ModelOutput, teacher: ModelOutput) -> Tensor:
        return KF.similarity_preserving(getattr(student, self.layer), getattr(teacher, self.layer))
