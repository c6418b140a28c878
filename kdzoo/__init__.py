"""kdzoo: knowledge distillation for small on-device audio models, as pluggable Lightning modules.

Public surface (timm-style); the shipped demo teacher is found from any working directory
(:mod:`kdzoo.shipped`):

>>> import kdzoo, torch
>>> student = kdzoo.create_student("cnn_s", num_classes=8)
>>> teacher = kdzoo.create_teacher("cnn_teacher_s", checkpoint="checkpoints/teachers/teacher_demo.pt")
>>> model = kdzoo.Distiller(student, teacher, method=kdzoo.distill.HintonKD(temperature=2.0))
>>> teacher(torch.zeros(2, 16000), 16000).logits.shape
torch.Size([2, 8])
"""

from __future__ import annotations

from kdzoo.models import create_student, create_teacher, list_students, list_teachers, load_student, model_info
from kdzoo.types import Batch, ModelOutput

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lightning is heavy to import; load the Distiller and method listing only when asked for.
    if name == "get_embedding":
        from kdzoo.embedding import get_embedding

        return get_embedding
    if name in {"Distiller", "KDMethod", "list_methods", "distill"}:
        from kdzoo import distill

        return distill if name == "distill" else getattr(distill, name)
    raise AttributeError(f"module 'kdzoo' has no attribute {name!r}")


__all__ = [
    "Batch",
    "Distiller",
    "KDMethod",
    "ModelOutput",
    "create_student",
    "create_teacher",
    "get_embedding",
    "list_methods",
    "list_students",
    "list_teachers",
    "load_student",
    "model_info",
]
