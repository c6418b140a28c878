"""Test-only callbacks for tests/test_ddp.py and tests/test_resume.py, given on the ``kdzoo fit`` command line.

:class:`RankProbe` (test_ddp): each rank writes what it did to ``$KDZOO_PROBE_DIR/rank<R>.json`` when training
ends: its rank, the world size, its command line, the clips it trained on, those of its last validation and
the metrics it logged (so a test can check they were synchronised). With ``$KDZOO_PROBE_FAIL_RANK=R`` set,
rank ``R`` raises at its second training batch instead (after one synchronised step), standing in for a rank
that dies mid-run; the time of the failure goes to ``$KDZOO_PROBE_DIR/failed.json``.

:class:`HangProbe` (test_resume): with ``$KDZOO_PROBE_HANG_AT=E:B`` the run writes ``$KDZOO_PROBE_DIR/hang.json``
at the start of batch ``B`` of epoch ``E`` and then waits, so the test can SIGKILL it mid-epoch; without the
variable it does nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import lightning.pytorch as pl

from kdzoo.types import Batch


class RankProbe(pl.Callback):
    """Records one rank's share of the training run, or fails on the rank named by ``$KDZOO_PROBE_FAIL_RANK``."""

    def __init__(self) -> None:
        self.clips: list[str] = []
        self.val_clips: list[str] = []
        self.out = Path(os.environ["KDZOO_PROBE_DIR"])

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.val_clips = []  # keep the last validation's clips only

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Batch,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        self.val_clips += batch.clip_id

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Batch,
                             batch_idx: int) -> None:
        if os.environ.get("KDZOO_PROBE_FAIL_RANK") == str(trainer.global_rank) and batch_idx == 1:
            (self.out / "failed.json").write_text(json.dumps({"rank": trainer.global_rank, "time": time.time()}))
            raise RuntimeError(f"probe: injected failure on rank {trainer.global_rank}")
        self.clips += batch.clip_id

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size, "argv": sys.argv[1:],
                  "local_rank_env": os.environ.get("LOCAL_RANK"), "clips": self.clips,
                  "val_clips": self.val_clips,
                  "metrics": {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}}
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class HangProbe(pl.Callback):
    """Stops a run mid-epoch (at ``$KDZOO_PROBE_HANG_AT``, ``epoch:batch``) and waits there to be killed."""

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Batch,
                             batch_idx: int) -> None:
        if os.environ.get("KDZOO_PROBE_HANG_AT") == f"{trainer.current_epoch}:{batch_idx}":
            record = {"epoch": trainer.current_epoch, "batch": batch_idx, "step": trainer.global_step}
            (Path(os.environ["KDZOO_PROBE_DIR"]) / "hang.json").write_text(json.dumps(record))
            time.sleep(3600)
