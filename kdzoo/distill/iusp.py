"""IUSP: intra-utterance similarity-preserving KD (Chang, Kao, Sun, Wang; Interspeech 2020).

The student keeps, within each clip, the teacher's frame-to-frame similarities
(:func:`kdzoo.functional.intra_utterance_similarity`), motivated by "the repetitive nature of acoustic events".
"""

from __future__ import annotations

from torch import Tensor

from kdzoo import functional as KF
from kdzoo.distill.similarity import SimilarityKD, frame_rows
from kdzoo.types import ModelOutput


class IUSP(SimilarityKD):
    """``weight * IUSP(student frames, teacher frames)`` (+ optional Hinton term, see :class:`SimilarityKD`).

    ``layer="frames"`` (default: each model's per-frame sequence, e.g. the CNN-LSTM's LSTM outputs) or
    ``"feature_map"`` (one row per time step of the pre-pooling map, every frequency bin kept).

    When the teacher has another frame count than the student (e.g. YAMNet's 0.48 s patches vs a 20 ms-hop
    student), the teacher's frames are linearly resampled to the student's T (:func:`align_frames`). That
    direction keeps the student's own frames, the ones it is deployed with, in the loss untouched, and only
    moves the target, which carries no gradient.
    """

    layers = ("frames", "feature_map")
    term_name = "kd_iusp"

    def similarity(self, student: ModelOutput, teacher: ModelOutput) -> Tensor:
        student_rows = frame_rows(student, self.layer)
        teacher_rows = KF.align_frames(frame_rows(teacher, self.layer), student_rows.shape[1])
        return KF.intra_utterance_similarity(student_rows, teacher_rows)
