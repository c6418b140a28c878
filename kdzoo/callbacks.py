"""Lightning callbacks kdzoo adds to every CLI run (and a Python user adds in one line)."""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter, Callback

from kdzoo.files import atomic_write_text, sha256_of
from kdzoo.plots import plot_run

log = logging.getLogger(__name__)


PACKAGES = ("kdzoo", "torch", "torchaudio", "lightning", "torchmetrics", "jsonargparse", "numpy", "soundfile",
            "onnxruntime")
"""Packages whose versions every run records (a missing one is recorded as None)."""


def run_environment() -> dict:
    """What a run needs to be repeated: seed, kdzoo's git commit, package versions, Python, machine.

    ``seed`` is the one ``seed_everything`` set (``PL_GLOBAL_SEED``; None when nothing was seeded).
    ``git_commit`` is the commit of the checkout kdzoo was imported from (None for an installed wheel), and
    ``git_dirty`` says whether that checkout had uncommitted changes, in which case the commit alone does not
    give back the code.
    """
    seed = os.environ.get("PL_GLOBAL_SEED")
    commit, dirty = _git_state(Path(__file__).resolve().parent)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"seed": None if seed is None else int(seed), "git_commit": commit, "git_dirty": dirty,
            "packages": versions, "python": sys.version.split()[0], "platform": platform.platform(),
            "argv": sys.argv[1:]}


def _git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, has uncommitted changes) of the git checkout holding ``folder``; (None, None) outside one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


class RunArtifacts(Callback):
    """At the end of ``fit``: test the best checkpoint, write ``student.pt``, ``summary.json``, ``curves.png``.

    At the start of ``fit`` it writes ``environment.json`` (:func:`run_environment`: seed, git commit, package
    versions), so even a run that never ends says what ran; ``summary.json`` repeats it. The resolved config is
    LightningCLI's ``config.yaml`` in the same folder.

    ``pl.Trainer(callbacks=[RunArtifacts()])`` gives a Python user what ``kdzoo fit`` leaves in a run
    folder; the CLI adds it to every run. Files go to the run folder (``trainer.log_dir``, else
    ``default_root_dir``); after ``fit`` the callback holds ``scores`` (test metrics) and ``summary`` (the
    ``summary.json`` record), and the Distiller holds the best checkpoint's weights.

    Why a second Trainer: Lightning forbids ``trainer.test`` inside a hook of the running ``fit``, so at
    ``on_fit_end`` the test split runs on a fresh, quiet Trainer (same device, no logger, no callbacks, no
    progress bar) that loads the best checkpoint (the last weights when no checkpoint was kept). Every rank
    runs that test (scores gathered from all ranks, each clip counted once); only rank 0 writes files.
    ``curves.png`` is drawn from a :class:`~lightning.pytorch.loggers.CSVLogger`'s ``metrics.csv``
    (Lightning's default logger when TensorBoard is not installed; the CLI always uses it).

    Args:
        test: score the test split (skipped when the data module has no ``test_dataloader``).
        plot: draw ``curves.png`` from the CSV logger's ``metrics.csv`` (skipped without it).
    """

    def __init__(self, test: bool = True, plot: bool = True) -> None:
        self.test, self.plot = test, plot
        self.scores: dict[str, float] = {}
        self.summary: dict | None = None
        self.curves: Path | None = None
        self.environment: dict | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        run_dir = Path(trainer.log_dir or trainer.default_root_dir)  # collective under DDP: every rank asks
        if trainer.is_global_zero:
            self.environment = run_environment()
            atomic_write_text(run_dir / "environment.json", json.dumps(self.environment, indent=2))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Flush the loggers: every row of the finished epochs reaches ``metrics.csv`` before a kill can lose it,
        so a run resumed from the last epoch's checkpoint continues the file where that checkpoint stands."""
        for logger in trainer.loggers:
            logger.save()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        # the last epoch's validation scores, unselected: when test = validate (SONYC-UST v1) the best checkpoint's
        # test score is the maximum over epochs of the same clips, so this is the number to read beside it
        last_val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self.scores = self._test(trainer, pl_module, best) if self.test else {}
        run_dir = Path(trainer.log_dir or trainer.default_root_dir)  # collective under DDP: every rank asks
        if not trainer.is_global_zero:
            return
        student_path = pl_module.save_student(run_dir / "student.pt", scores=self.scores, best_checkpoint=best)
        self.summary = run_summary(pl_module, self.scores, best, student_path)
        self.summary["test_split"] = getattr(trainer.datamodule, "test_split", None)
        self.summary["last_epoch_val_scores"] = last_val
        self.summary["skipped_clips"] = getattr(trainer.datamodule, "skipped", {})  # skip_bad_clips: file -> why
        self.summary["environment"] = self.environment or run_environment()
        atomic_write_text(run_dir / "summary.json", json.dumps(self.summary, indent=2))
        for logger in trainer.loggers:
            logger.save()  # flush the last epoch's rows into metrics.csv before drawing them
        if self.plot and (run_dir / "metrics.csv").is_file():
            self.curves = plot_run(run_dir)
        elif self.plot:
            log.info("RunArtifacts: no %s (not a CSVLogger run), so no curves.png", run_dir / "metrics.csv")

    def _test(self, trainer: pl.Trainer, pl_module: pl.LightningModule, best: str) -> dict[str, float]:
        datamodule = trainer.datamodule
        if datamodule is None or not _has_test_split(datamodule):
            log.warning("RunArtifacts: no data module with a test_dataloader; student.pt is written untested")
            return {}
        device = pl_module.device
        tester = pl.Trainer(
            accelerator="gpu" if device.type == "cuda" else device.type,
            devices=[device.index or 0] if device.type == "cuda" else 1,
            precision=trainer.precision,
            logger=False,
            callbacks=[],
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,  # a second rich progress bar inside the first one's live display breaks both
            limit_test_batches=trainer.limit_test_batches,
            default_root_dir=trainer.default_root_dir,
        )
        try:
            results = tester.test(pl_module, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        finally:
            pl_module.trainer = trainer  # hand the module back to the Trainer that is finishing fit
        return {key: float(value) for key, value in (results[0] if results else {}).items()}


def _has_test_split(datamodule: pl.LightningDataModule) -> bool:
    from lightning.pytorch.utilities.model_helpers import is_overridden

    return is_overridden("test_dataloader", datamodule, pl.LightningDataModule)


def run_summary(model: pl.LightningModule, scores: dict, best: str, student_path: Path) -> dict:
    """The ``summary.json`` record: student size, method, teacher, test scores and the files written."""
    params = sum(p.numel() for p in model.student.parameters())
    variant = getattr(model.student, "variant", None)
    return {
        "student": type(model.student).__name__,
        "student_variant": variant["name"] if variant else None,
        "student_params": params,
        "student_size_kb_fp32": round(params * 4 / 1024, 1),
        "method": type(model.method).__name__,
        "teacher": None if model.teacher is None else type(model.teacher.model).__name__,
        "scores": scores,
        "best_checkpoint": best,
        "student_weights": str(student_path),
        "student_sha256": sha256_of(student_path),
    }


class FlushDenormals(Callback):
    """Treat float32 denormals (below 1.2e-38) as zero while a Trainer runs on the CPU; restore the default after.

    Why: x86 CPUs compute with denormal numbers tens of times slower than with normal ones. A recurrent student
    whose gates saturate fills its activations with them: vanilla ``crnn_kws`` on 8 s keyword clips took 6.8 s a
    step instead of 0.84 s (32 clips, one thread, a checkpoint from epoch 1), so 5 min an epoch instead of 1.
    Flushing changes only values below 1.2e-38, far under anything a loss or a metric can see.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        import torch

        torch.set_flush_denormal(True)  # returns False (and does nothing) where the CPU cannot

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        import torch

        torch.set_flush_denormal(False)  # torch's default


class PredictionCSVWriter(BasePredictionWriter):
    """Write ``predictions.csv`` (one row per clip: ``audio_filename`` then one probability column per class).

    With SONYC-UST class names (``1_engine`` ...) this is the submission format the official DCASE 2019
    Task 5 evaluation script reads. The file goes to the run folder (``trainer.log_dir``).

    Probabilities are written at full precision (``repr`` of the value as a Python float: the shortest text
    that reads back to exactly the same number), so scoring the file gives exactly the scores kdzoo logged. The
    official metric uses every distinct score as a threshold and 1.0 as the last one; rounding (e.g. to 6
    decimals) merges close scores and turns a float32 0.99999994 into 1.0, which moves the curve.
    """

    def __init__(self, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        self.filename = filename

    def write_on_epoch_end(self, trainer: pl.Trainer, pl_module, predictions, batch_indices) -> None:
        rows = [(clip, probs) for batch in predictions for clip, probs in zip(batch["clip_id"], batch["probabilities"],
                                                                              strict=True)]
        if not rows:
            return
        names = getattr(trainer.datamodule, "class_names", None) or [f"class_{k}" for k in range(len(rows[0][1]))]
        out = Path(trainer.log_dir or trainer.default_root_dir) / self.filename
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["audio_filename", *names])
            for clip, probs in sorted(rows, key=lambda row: row[0]):
                writer.writerow([clip, *(repr(float(p)) for p in probs)])
