"""The contract every KD method implements: student and teacher outputs in, named KD loss terms out."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from kdzoo.types import Batch, ModelOutput, Task


class KDMethod(nn.Module):
    """Base class of KD methods. A method returns only its KD terms; the Distiller adds the task loss.

    Subclasses implement :meth:`terms` and declare:

    * ``needs``: the :class:`~kdzoo.types.ModelOutput` fields they read from student and teacher, checked
      against the models' ``provides`` when the Distiller is built (before any data is loaded);
    * ``requires_teacher``: False only for the no-KD baseline.

    Life cycle: ``check`` when the Distiller is built (no data yet), then ``setup`` once, when the first
    Trainer run starts (data module ready, before the optimiser is built and before a checkpoint is
    restored), then ``forward`` every step.

    Methods are ``nn.Module`` s so they can own trainable parts (e.g. a student-side attention head or a
    projection): those are optimised and checkpointed with the student, but never exported with it. Parts
    whose size depends on the models or the data are built in :meth:`setup`; since Lightning calls it before
    restoring a checkpoint, they exist when a resumed run loads their weights.

    Args:
        weight: multiplies every KD term (``loss = task_weight * task_loss + weight * sum(terms)``).
    """

    needs: ClassVar[frozenset[str]] = frozenset()
    requires_teacher: ClassVar[bool] = True
    task: Task = "multilabel"
    """The Distiller's task, given to :meth:`setup` (the default holds until then)."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"{type(self).__name__}: weight must be >= 0, got {weight}")
        self.weight = weight

    def check(self, student: nn.Module, teacher: nn.Module | None) -> None:
        """Fail early if the models cannot provide what this method reads. Override to add checks."""
        if self.requires_teacher and teacher is None:
            raise ValueError(f"{type(self).__name__} distils from a teacher, but teacher=None was given")
        for role, model in (("student", student), ("teacher", teacher)):
            if model is None:
                continue
            missing = self.needs - set(getattr(model, "provides", ()))
            if missing:
                raise ValueError(
                    f"{type(self).__name__} needs {sorted(missing)} from the {role}, but "
                    f"{_model_name(model)} provides only {sorted(getattr(model, 'provides', ()))}"
                )

    def setup(self, student: nn.Module, teacher: nn.Module | None, datamodule: Any | None, task: Task) -> None:
        """Prepare for training, once, with the models and the data in hand. Override and call ``super()``.

        What belongs here: sizing a projection or head from the student's ``frames`` width (run the student
        on a short dummy clip), fitting a reducer on teacher embeddings of ``datamodule.train_dataloader()``,
        reading ``task``. Parameters created here are optimised and checkpointed like those made in
        ``__init__``.

        Args:
            student: the student (an :class:`~kdzoo.models.base.AudioModel`).
            teacher: the frozen teacher, or None.
            datamodule: the Trainer's data module (None when the Trainer was given bare dataloaders).
            task: ``multilabel`` or ``multiclass`` (the Distiller's).
        """
        self.task = task

    def teacher_fields(self) -> frozenset[str]:
        """The teacher-output fields this method reads, i.e. what the teacher-output store keeps for it.

        ``needs`` by default; a method that reads a per-clip target derived from the teacher (see
        :meth:`prepare_teacher`) names that target instead of the raw fields it is computed from.
        """
        return self.needs

    def prepare_teacher(self, teacher: ModelOutput) -> ModelOutput:
        """The teacher's outputs -> what :meth:`terms` reads from them, once per clip. Identity by default.

        The Distiller applies it to every live teacher forward, including the one that fills the teacher-output
        store, so a target that is costly or large to keep raw (Temporal KD's rollout of every layer's
        attention) is computed once per clip and stored in place of its inputs (put it in ``extras``).
        """
        return teacher

    def forward(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        """Weighted KD terms, e.g. ``{"kd_logit": tensor(0.31)}``."""
        return {name: self.weight * value for name, value in self.terms(student, teacher, batch).items()}

    def terms(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        """Unweighted KD terms; the only method a subclass must write."""
        raise NotImplementedError


def _model_name(model: nn.Module) -> str:
    """The registry name a model was built under (``cnn_teacher_s``), else its class name."""
    variant = getattr(model, "variant", None)  # a FrozenTeacher forwards this to the model it wraps
    return variant["name"] if isinstance(variant, dict) and "name" in variant else type(model).__name__
