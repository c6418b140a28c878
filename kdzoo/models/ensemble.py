"""A teacher ensemble: several frozen teachers whose logits are averaged into one teacher's.

Why a model and not a Distiller option: an ensemble then *is* a teacher. The Distiller, every KD method and the
teacher-output store see one model with one ``identity`` (:meth:`TeacherEnsemble.identity_config` puts every
member's weights sha256, class, front end and sample rate and the averaging into the store key), so the averaged
logits are computed once per clip and stored once, and an ensemble costs a student epoch nothing more than a
single teacher. Recipes build it with :func:`kdzoo.models.create_ensemble` (members are ``create_teacher``
blocks).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from kdzoo import functional as KF
from kdzoo.dsp import resample
from kdzoo.types import ModelOutput

Average = Literal["logits", "softmax", "sigmoid"]


class TeacherEnsemble(nn.Module):
    """M teachers, each run at its own sample rate on the same clips; logits averaged by :func:`ensemble_logits`.

    Input audio arrives at ``sample_rate`` (the highest member rate, so no member loses bandwidth) and is
    resampled for each member whose rate differs.

    Outputs: ``logits`` (B, K) averaged as ``average`` says (``logits``: mean logit; ``softmax``: log of the mean
    class distribution; ``sigmoid``: log-odds of the mean per-class probability, see
    :func:`kdzoo.functional.ensemble_logits`); ``embedding`` (B, sum of the members' widths) the members'
    embeddings side by side. Only ``logits`` is advertised in ``provides``: the members' feature spaces differ.

    Args:
        members: the teachers (usually :class:`~kdzoo.models.teacher.FrozenTeacher` s from ``create_teacher``),
            all predicting the same K classes in the same order.
        average: where the averaging happens (see above).
    """

    provides = frozenset({"logits"})

    def __init__(self, members: list[nn.Module], average: Average = "logits") -> None:
        super().__init__()
        if len(members) < 1:
            raise ValueError("TeacherEnsemble: members is empty; give at least one teacher")
        if average not in KF.ENSEMBLE_AVERAGES:
            raise ValueError(f"TeacherEnsemble: average must be one of {KF.ENSEMBLE_AVERAGES}, got {average!r}")
        classes = [getattr(m, "num_classes", None) for m in members]
        if len(set(classes)) != 1:
            raise ValueError(f"TeacherEnsemble: every member must predict the same classes; members predict {classes}")
        for i, member in enumerate(members):
            if getattr(member, "cache", False):
                raise ValueError(f"TeacherEnsemble: member {i} has cache=true; cache the ensemble instead (its "
                                 f"averaged logits are what the teacher-output store keeps)")
        self.members = nn.ModuleList(members)
        self.average = average
        self.num_classes = classes[0]
        self.sample_rate = max(int(m.sample_rate) for m in members)

    @torch.no_grad()
    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> ModelOutput:
        """waveform (B, T) at ``sample_rate`` (default: the ensemble's) -> the averaged :class:`ModelOutput`."""
        rate = int(sample_rate or self.sample_rate)
        outputs = []
        for member in self.members:
            audio = waveform if rate == member.sample_rate else resample(waveform, rate, int(member.sample_rate))
            outputs.append(member(audio, member.sample_rate))
        logits = KF.ensemble_logits(torch.stack([o.logits for o in outputs]), self.average)
        return ModelOutput(logits=logits, embedding=torch.cat([o.embedding for o in outputs], dim=-1))

    def identity_config(self) -> dict:
        """What the averaged outputs depend on besides the weights (hashed by the wrapper): the averaging and,
        per member, its class, weights sha256, front end and sample rate; part of the teacher-output store key."""
        from kdzoo.models.teacher import FrozenTeacher

        members = []
        for member in self.members:
            frozen = member if isinstance(member, FrozenTeacher) else FrozenTeacher(member)
            members.append({**frozen.identity(), "sample_rate": int(member.sample_rate)})
        return {"average": self.average, "members": members}
