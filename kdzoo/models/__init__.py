"""Student and teacher architectures behind one registry.

Every module in this package is imported on first use, so a new architecture file registers its variants
without touching any other file (timm needs an extra import line; we do not).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Literal

from torch import nn

from kdzoo.models._registry import STUDENTS, TEACHERS, Entry, register_student, register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.frontend import LogMel
from kdzoo.models.student_file import load_student, save_student
from kdzoo.models.teacher import FrozenTeacher

_imported = False


def _import_all() -> None:
    """Import every model module once, so their ``@register_*`` decorators run."""
    global _imported
    if _imported:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _imported = True


def create_student(name: str, num_classes: int | None = None, sample_rate: int | None = None, **kwargs) -> AudioModel:
    """Build a registered model for the student slot, e.g. ``create_student("cnn_s", num_classes=8)``.

    Teachers are trained in the student slot too, so a teacher name (``cnn_teacher_s``) works as well.

    Args:
        name: a name from :func:`list_students` (or :func:`list_teachers`).
        num_classes: K (linked from ``data.num_classes`` in recipes); None keeps the variant's default.
        sample_rate: the rate the model's front end expects; None keeps the variant's default.
        **kwargs: other arguments of the variant (Python only; a recipe names a variant with these baked in).
    """
    _import_all()
    registry = STUDENTS if name in STUDENTS.names() or name not in TEACHERS.names() else TEACHERS
    return registry.create(name, num_classes=num_classes, sample_rate=sample_rate, **kwargs)


def create_teacher(
    name: str,
    checkpoint: str | None = None,
    cache: bool = False,
    cache_dir: str | None = None,
    cache_dtype: Literal["float16", "float32"] = "float16",
    **kwargs,
) -> FrozenTeacher:
    """Build a registered teacher architecture, load ``checkpoint`` if given, and freeze it.

    Args:
        name: a name from :func:`list_teachers` (or :func:`list_students`: any student can teach).
        checkpoint: weights to load (a kdzoo ``student.pt`` export or a Distiller ``.ckpt``).
        cache, cache_dir, cache_dtype: read outputs from the teacher-output store, where, in which dtype (see
            :class:`~kdzoo.models.teacher.FrozenTeacher`).
        **kwargs: architecture arguments, e.g. ``num_classes``. Those a kdzoo ``student.pt`` checkpoint of the
            same variant records (e.g. the 12 classes of a keyword teacher) are used where not given here.
    """
    _import_all()
    registry = TEACHERS if name in TEACHERS.names() or name not in STUDENTS.names() else STUDENTS
    kwargs = {**_recorded_arguments(name, checkpoint), **kwargs}
    return FrozenTeacher(registry.create(name, **kwargs), checkpoint=checkpoint, cache=cache,
                         cache_dir=cache_dir, cache_dtype=cache_dtype)


def _recorded_arguments(name: str, checkpoint: str | None) -> dict:
    """The architecture arguments a self-describing ``student.pt`` records for variant ``name``; {} for any other
    file (a Lightning ``.ckpt``, an older export, another variant, a missing file: loading reports those)."""
    if checkpoint is None:
        return {}
    from kdzoo.models.student_file import read_student
    from kdzoo.models.teacher import resolve_checkpoint

    try:
        _, meta = read_student(resolve_checkpoint(checkpoint))
    except (FileNotFoundError, ValueError):
        return {}
    variant = meta.get("variant") or {}
    return dict(variant.get("kwargs", {})) if variant.get("name") == name else {}


def create_ensemble(
    members: list[nn.Module],
    average: Literal["logits", "softmax", "sigmoid"] = "logits",
    cache: bool = False,
    cache_dir: str | None = None,
    cache_dtype: Literal["float16", "float32"] = "float16",
) -> FrozenTeacher:
    """A frozen :class:`~kdzoo.models.ensemble.TeacherEnsemble` of ``members``: one teacher whose logits are the
    members' averaged in logit or probability space, cacheable as one (the teacher-output store key covers every
    member's weights and config).

    Args:
        members: teachers, e.g. ``create_teacher`` blocks in a recipe (``cache`` stays off on each member).
        average: ``logits`` (mean logit), ``softmax`` (log of the mean class distribution, single-label) or
            ``sigmoid`` (log-odds of the mean per-class probability, multi-label); see
            :func:`kdzoo.functional.ensemble_logits`.
        cache, cache_dir, cache_dtype: as for :func:`create_teacher`, for the ensemble's averaged outputs.
    """
    from kdzoo.models.ensemble import TeacherEnsemble

    return FrozenTeacher(TeacherEnsemble(list(members), average), cache=cache, cache_dir=cache_dir,
                         cache_dtype=cache_dtype)


def list_students(pattern: str = "*") -> list[str]:
    """Registered student names matching a glob ``pattern``."""
    _import_all()
    return STUDENTS.names(pattern)


def list_teachers(pattern: str = "*") -> list[str]:
    """Registered teacher names matching a glob ``pattern``."""
    _import_all()
    return TEACHERS.names(pattern)


def model_info(name: str) -> Entry:
    """Registry metadata (family, description, parameter count) of a student or teacher variant."""
    _import_all()
    return STUDENTS.entry(name) if name in STUDENTS.names() else TEACHERS.entry(name)


__all__ = [
    "AudioModel",
    "FrozenTeacher",
    "LogMel",
    "create_ensemble",
    "create_student",
    "create_teacher",
    "list_students",
    "list_teachers",
    "load_student",
    "model_info",
    "register_student",
    "register_teacher",
    "save_student",
]
