"""``student.pt``: a trained student's weights plus what it takes to rebuild and use it without a recipe.

The file is ``torch.save({"state_dict": ..., "meta": ...})``. ``meta`` holds (see :func:`describe_student`):

* ``format``: the layout version of this file (:data:`FORMAT`);
* ``variant``: the registry name and the keyword arguments it was built with, e.g.
  ``{"name": "cnn_xs", "kwargs": {"num_classes": 8}}`` (None for a model built from its class directly);
* ``class``: the model class, ``module.QualName``;
* ``sample_rate``, ``num_classes``, ``frontend`` (the front end's class and settings, e.g. LogMel's
  ``n_fft``/``hop_length``/``n_mels``), so the features can be reproduced outside kdzoo;
* ``class_names`` (from the data module, when it has them), ``task`` (``multilabel`` or ``multiclass``);
* ``kdzoo_version``, plus whatever the caller adds (the CLI adds ``scores`` and ``best_checkpoint``).

The state dict holds the student alone: never the teacher, never a KD method's own parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from kdzoo.files import atomic_write

FORMAT = 1
LOGMEL_SETTINGS = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max")


def describe_student(model: nn.Module, class_names: list[str] | None = None, task: str | None = None) -> dict:
    """The ``meta`` record of ``model`` (see the module docstring); plain Python values only."""
    import kdzoo

    variant = getattr(model, "variant", None)
    names = list(class_names) if class_names is not None else None
    if names is not None and len(names) != model.num_classes:
        raise ValueError(f"{len(names)} class names given for a student with {model.num_classes} classes")
    return {
        "format": FORMAT,
        "variant": None if variant is None else {"name": variant["name"], "kwargs": dict(variant["kwargs"])},
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "sample_rate": int(model.sample_rate),
        "num_classes": int(model.num_classes),
        "frontend": frontend_config(getattr(model, "frontend", None)),
        "class_names": names,
        "task": task,
        "kdzoo_version": kdzoo.__version__,
    }


def frontend_config(frontend: nn.Module | None) -> dict | None:
    """A front end's class and, for :class:`~kdzoo.models.frontend.LogMel`, its spectrogram settings."""
    if frontend is None:
        return None
    config: dict[str, Any] = {"class": type(frontend).__name__}
    mel = getattr(frontend, "mel", None)  # LogMel wraps torchaudio's MelSpectrogram
    for name in LOGMEL_SETTINGS:
        value = getattr(frontend, name, getattr(mel, name, None))
        if value is not None:
            config[name] = value
    return config


def save_student(model: nn.Module, path: str | Path, class_names: list[str] | None = None,
                 task: str | None = None, **meta: Any) -> Path:
    """Write ``model``'s weights and :func:`describe_student` record to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    record = {**describe_student(model, class_names, task), **meta}
    return atomic_write(path, lambda handle: torch.save({"state_dict": state, "meta": record}, handle))


def read_student(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """``(state_dict, meta)`` of a ``student.pt``; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no student file at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a torch.save archive
        raise ValueError(f"{path} is not a kdzoo student file (torch.load failed: {error})") from error
    if not (isinstance(blob, dict) and "state_dict" in blob and isinstance(blob.get("meta"), dict)):
        raise ValueError(f"{path} is not a kdzoo student file: expected {{'state_dict': ..., 'meta': ...}}")
    return blob["state_dict"], blob["meta"]


def load_student(path: str | Path) -> nn.Module:
    """Rebuild the student saved in ``path`` (a ``student.pt``) and load its weights; returned in eval mode.

    The architecture comes from the file's ``variant`` record (registry name + arguments), so no recipe is
    needed. ``model.meta`` keeps the file's record (class names, task, scores, ...).

    Raises:
        ValueError: the file is not a student file, predates self-describing files, names an unknown
            variant, its weights do not fit, or the rebuilt front end differs from the recorded one.
    """
    from kdzoo.models import create_student

    state, meta = read_student(path)
    variant = meta.get("variant")
    if not variant:
        raise ValueError(
            f"{path} does not record which registered variant it holds (meta has {sorted(meta)}); it was "
            f"written by an older kdzoo or from a model built without the registry. Build the model yourself "
            f"and load the weights with kdzoo.create_teacher(NAME, checkpoint='{path}')"
        )
    model = create_student(variant["name"], **variant["kwargs"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not fit {variant['name']}: {str(error)[:500]}") from error
    rebuilt = frontend_config(getattr(model, "frontend", None))
    if meta.get("frontend") is not None and rebuilt != meta["frontend"]:
        raise ValueError(f"{path}: the front end was saved as {meta['frontend']} but {variant['name']} now "
                         f"builds {rebuilt} (kdzoo {meta.get('kdzoo_version')} wrote the file)")
    model.meta = meta
    return model.eval()


def probabilities(logits: Tensor, task: str | None) -> Tensor:
    """Logits (B, K) -> per-class probabilities: softmax for ``multiclass``, sigmoid otherwise."""
    return torch.softmax(logits, dim=-1) if task == "multiclass" else torch.sigmoid(logits)
