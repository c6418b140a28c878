"""``kdzoo fit --resume RUN_DIR``: continue a run from its last checkpoint, in its own folder.

A run folder (``checkpoints/runs/<name>/version_<n>/``) holds the resolved ``config.yaml`` LightningCLI saved
and ``checkpoints/last.ckpt`` (written atomically at the end of every epoch, see :mod:`kdzoo.checkpoint_io`).
Resuming is running that config again with ``--ckpt_path`` set to ``last.ckpt`` and the logger pointed at the
same folder, so ``metrics.csv``, the checkpoints, ``student.pt`` and ``summary.json`` stay together. Lightning
restores weights, optimiser, schedulers and loop counters; the Distiller restores the random-number
generators and the data module its shuffling generator, so on CPU the resumed run ends bit for bit where an
uninterrupted one would (``tests/test_resume.py`` kills a real run to check it). The epoch the kill
interrupted is run again from its start: checkpoints are written at epoch ends only, because the data
loaders cannot restart mid-epoch.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch

from kdzoo.files import atomic_write_text

CONFIG = "config.yaml"
LAST = Path("checkpoints") / "last.ckpt"
METRICS = "metrics.csv"


def resume_args(args: list[str]) -> list[str]:
    """Replace ``--resume RUN_DIR`` (or ``--resume=RUN_DIR``) in ``kdzoo fit`` arguments by what resumes it.

    Other arguments are kept after the run's config, so they override it (e.g. ``--trainer.max_epochs 60`` to
    train longer). Raises SystemExit naming the missing file when ``RUN_DIR`` is not a resumable run.
    """
    rest, run_dir = _pop_resume(args)
    if run_dir is None:
        return args
    owned = ("--config", "--recipe", "--ckpt_path")
    if any(arg.split("=", 1)[0] in owned for arg in rest):
        raise SystemExit("kdzoo fit: --resume takes the run's own config.yaml and last.ckpt; drop --recipe/--config "
                         "and --ckpt_path (other overrides are fine)")
    run = Path(run_dir)
    for needed in (run / CONFIG, run / LAST):
        if not needed.is_file():
            raise SystemExit(f"kdzoo fit --resume: {needed} does not exist; RUN_DIR must be a run folder written by "
                             f"`kdzoo fit` (e.g. checkpoints/runs/kd_demo/version_0) that finished at least one epoch")
    trim_metrics(run / METRICS, _checkpoint_epoch(run / LAST))
    return ["--config", str(run / CONFIG), "--ckpt_path", str(run / LAST),
            "--trainer.logger.init_args.save_dir", str(run.parent.parent),
            "--trainer.logger.init_args.name", run.parent.name,
            "--trainer.logger.init_args.version", run.name, *rest]


def _pop_resume(args: list[str]) -> tuple[list[str], str | None]:
    rest, run_dir, i = [], None, 0
    while i < len(args):
        if args[i] == "--resume":
            if i + 1 >= len(args):
                raise SystemExit("kdzoo fit: --resume needs a run folder, e.g. checkpoints/runs/kd_demo/version_0")
            run_dir, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--resume="):
            run_dir = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    return rest, run_dir


def _checkpoint_epoch(path: Path) -> int:
    """The epoch a Lightning checkpoint was written in (memory-mapped: the weights are not read)."""
    return int(torch.load(path, map_location="cpu", mmap=True, weights_only=False)["epoch"])


def trim_metrics(path: Path, epoch: int) -> None:
    """Drop the rows of ``metrics.csv`` logged after ``epoch``: the resumed run logs those epochs again.

    The loggers are flushed at every epoch start (:class:`~kdzoo.callbacks.RunArtifacts`), so the file holds
    every row up to the checkpoint; rows past it exist only when a mid-epoch flush happened before the kill.
    """
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
        header = rows[0].keys() if rows else []
    kept = [row for row in rows if not row.get("epoch") or float(row["epoch"]) <= epoch]
    if len(kept) < len(rows):
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(header), lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, text.getvalue())
