"""Name -> factory registries for students and teachers, in the manner of timm's ``register_model``.

A variant is a tiny function that builds one configured model::

    @register_student(family="cnn", description="VGG-style CNN, 4 blocks")
    def cnn_s(**kwargs) -> CNN:
        return CNN(channels=(16, 32, 64, 64), **kwargs)

``create_student("cnn_s", num_classes=8)`` calls it, dropping ``None`` keyword arguments so a variant keeps
its own default. Parameter counts are measured once, lazily, by building the variant with its defaults.

Every model a registered variant builds (through ``create_*`` or by calling the variant function itself)
remembers how: ``model.variant == {"name": "cnn_s", "kwargs": {"num_classes": 8}}``. That is what makes an
exported ``student.pt`` rebuildable without a recipe (:func:`kdzoo.models.load_student`).
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class Entry:
    """One registered variant: its factory and what ``list_*`` reports about it."""

    name: str
    factory: Callable[..., nn.Module]
    family: str
    description: str
    count_with: dict[str, Any] = field(default_factory=dict)
    _num_params: int | None = None

    @property
    def num_params(self) -> int:
        """Trainable parameters of the variant built with its defaults (8 classes) and ``count_with``, counted
        once (``count_with`` lets a pretrained variant be counted without reading its weights)."""
        if self._num_params is None:
            model = self.factory(**self.count_with)
            self._num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return self._num_params


class Registry:
    """A named collection of model factories (one for students, one for teachers)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, family: str, description: str = "", count_with: dict[str, Any] | None = None) -> Callable:
        def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
            name = factory.__name__
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            build = _recording_variant(name, factory)
            doc = description or (factory.__doc__ or "").strip()
            self._entries[name] = Entry(name, build, family, doc, dict(count_with or {}))
            return build

        return decorator

    def create(self, name: str, **kwargs: Any) -> nn.Module:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries))
            raise ValueError(f"Unknown {self.kind} {name!r}; available: {known}")
        return self._entries[name].factory(**{k: v for k, v in kwargs.items() if v is not None})

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            self.create(name)  # raises the "Unknown ...; available: ..." error
        return self._entries[name]


def _recording_variant(name: str, factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """``factory`` that also stores ``{"name": name, "kwargs": kwargs}`` as ``model.variant`` on what it builds."""

    @functools.wraps(factory)
    def build(**kwargs: Any) -> nn.Module:
        model = factory(**kwargs)
        model.variant = {"name": name, "kwargs": dict(kwargs)}
        return model

    return build


STUDENTS = Registry("student")
TEACHERS = Registry("teacher")
register_student = STUDENTS.register
register_teacher = TEACHERS.register
