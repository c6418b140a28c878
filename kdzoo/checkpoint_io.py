"""Checkpoints written so that a kill at any moment leaves the previous ``last.ckpt`` intact.

Lightning's own ``TorchCheckpointIO`` writes through an fsspec transaction: for a local path that is a
temporary file from ``tempfile.mkstemp`` (in ``/tmp``) moved onto the target with ``shutil.move``. When ``/tmp``
is another file system than the run folder (the usual case on clusters: a RAM ``/tmp``, runs on a network
disk), that move is a *copy into the target name*, so a job killed by the scheduler during the copy leaves a
truncated ``last.ckpt``, and nothing is fsync'ed. :class:`AtomicCheckpointIO` writes the temporary file in the
checkpoint's own folder, fsyncs it and renames it (:func:`kdzoo.files.atomic_write`), which is atomic on one
file system. The CLI installs it on every run; in Python: ``pl.Trainer(plugins=[AtomicCheckpointIO()])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from kdzoo.files import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic on local paths (remote URLs keep Lightning's own path)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint takes no storage_options, got {storage_options!r}")
        atomic_write(Path(path), lambda handle: torch.save(checkpoint, handle))
        return None
