"""Does Temporal KD's attention land on the keyword? Measured on the noisy keyword task, where we know where it is.

In the noisy Speech Commands variant each 1 s word sits at a known offset inside a longer stretch of noise
(:meth:`kdzoo.data.speechcommands.SpeechCommandsClips.keyword_span`). The share of an attention over time that
falls inside that second (:func:`kdzoo.functional.mass_in_window`) says how well the teacher's target points
at the word, and whether a distilled student's head learnt to: chance is ``1 / clip_seconds``. A teacher whose
classifier is weak can still point well; this is how to tell.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor

from kdzoo import functional as KF
from kdzoo.types import Batch


def attention_over_batch(model, batch: Batch) -> tuple[Tensor, Tensor]:
    """The teacher's temporal target and the student's attention for a batch, both on the student's frames.

    Args:
        model: a :class:`~kdzoo.distill.Distiller` whose method is :class:`~kdzoo.distill.temporal.TemporalKD`
            (its head built: after a run, or a checkpoint loaded).
        batch: clips ``waveform (B, T)``.

    Returns:
        ``(teacher, student)``, each (B, T') >= 0 with rows summing to 1.
    """
    model.eval()
    with torch.no_grad():
        student = model(batch.waveform, batch.sample_rate)
        teacher = model.method.prepare_teacher(model._live_teacher_outputs(batch))
        log_student = model.method.student_log_attention(student)
    target = KF.interpolate_distribution(teacher.extras["temporal_attention"], log_student.shape[1],
                                         model.method.resample)
    return target, log_student.exp()


def keyword_attention(model, clips, batch_size: int = 32) -> pd.DataFrame:
    """Per keyword clip of a split: the share of the teacher's target and of the student's attention on the word.

    Args:
        model: as in :func:`attention_over_batch`.
        clips: a split of :class:`~kdzoo.data.speechcommands.SpeechCommandsDataModule` (it has ``keyword_span``);
            silence clips (no word) are left out.

    Returns:
        One row per clip: ``clip_id, target, start_s, end_s, teacher, student, chance`` (chance = the share a
        uniform attention puts on the word).
    """
    spans = [(index, clips.keyword_span(index)) for index in range(len(clips))]
    spans = [(index, span) for index, span in spans if span is not None]
    if not spans:
        raise ValueError("keyword_attention: the split has no keyword clips (only silence)")
    rows = []
    for first in range(0, len(spans), batch_size):
        chunk = spans[first : first + batch_size]
        batch = Batch.collate([clips[index] for index, _ in chunk])
        seconds = batch.waveform.shape[1] / batch.sample_rate
        start = torch.tensor([span[0] for _, span in chunk]) / seconds
        end = torch.tensor([span[1] for _, span in chunk]) / seconds
        teacher, student = attention_over_batch(model, batch)
        on_teacher, on_student = KF.mass_in_window(teacher, start, end), KF.mass_in_window(student, start, end)
        for i, (_, span) in enumerate(chunk):
            rows.append({"clip_id": batch.clip_id[i], "target": int(batch.target[i]), "start_s": span[0],
                         "end_s": span[1], "teacher": float(on_teacher[i]), "student": float(on_student[i]),
                         "chance": (span[1] - span[0]) / seconds})
    return pd.DataFrame(rows)


ABOVE_CHANCE_MARGIN = 1e-3
"""A share counts as above chance only this much above it: a flat attention computed in float32 lands within
1e-7 of chance, on either side."""


def summary(table: pd.DataFrame) -> dict[str, float]:
    """Mean share on the keyword (teacher, student, chance) and how often each beats chance, over the clips."""
    above = lambda share: (share > table.chance + ABOVE_CHANCE_MARGIN).mean()  # noqa: E731
    return {"clips": len(table), "teacher": table.teacher.mean(), "student": table.student.mean(),
            "chance": table.chance.mean(), "teacher_above_chance": above(table.teacher),
            "student_above_chance": above(table.student)}


__all__ = ["attention_over_batch", "keyword_attention", "summary"]
