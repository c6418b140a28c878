"""KD methods and the Distiller. Each method lives in its own module and is found by :func:`list_methods`.

Adding a method = one new file here defining a :class:`KDMethod` subclass (plus a recipe); nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from kdzoo.distill.distiller import Distiller
from kdzoo.distill.hinton import HintonKD
from kdzoo.distill.method import KDMethod
from kdzoo.distill.scratch import Scratch


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def list_methods() -> dict[str, type[KDMethod]]:
    """Every KD method defined in :mod:`kdzoo.distill`, by class name."""
    _import_all()
    found, todo = {}, list(KDMethod.__subclasses__())
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return dict(sorted(found.items()))


__all__ = ["Distiller", "HintonKD", "KDMethod", "Scratch", "list_methods"]
