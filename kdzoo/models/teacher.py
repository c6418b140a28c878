"""A frozen teacher: eval-locked, gradient-free, optionally loaded from a checkpoint and cached per clip."""

from __future__ import annotations

import logging
from pathlib import Path

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

    With ``cache=True`` the outputs are kept per clip id (on CPU), so each clip's teacher forward runs once
    per process; only valid while the student sees un-augmented audio, which is the kdzoo default.

    Args:
        model: the teacher architecture (an :class:`~kdzoo.models.base.AudioModel`).
        checkpoint: optional path to weights (see :func:`load_state_dict`).
        cache: keep outputs per ``clip_id``.
    """

    def __init__(self, model: nn.Module, checkpoint: str | None = None, cache: bool = False) -> None:
        super().__init__()
        if isinstance(model, FrozenTeacher):
            model = model.model
        self.model = model
        self.checkpoint = checkpoint
        if checkpoint is not None:
            _load_into(self.model, checkpoint)
        self.model.requires_grad_(False)
        self.model.eval()
        self.cache = cache
        self._cache: dict[str, ModelOutput] = {}

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
    def forward(self, waveform: Tensor, sample_rate: int | None = None, clip_id: list[str] | None = None):
        if not (self.cache and clip_id is not None):
            return self.model(waveform, sample_rate).detach()
        todo = [i for i, cid in enumerate(clip_id) if cid not in self._cache]
        if todo:
            fresh = self.model(waveform[todo], sample_rate).detach()
            for j, i in enumerate(todo):
                self._cache[clip_id[i]] = fresh.select([j]).to_device("cpu")
        return ModelOutput.cat([self._cache[cid] for cid in clip_id]).to_device(waveform.device)
