"""The one LightningModule of kdzoo: a student, an optional frozen teacher, and a KD method.

Every method, baseline and teacher run goes through this class. Methods differ only by the KD terms they
return (see :class:`~kdzoo.distill.method.KDMethod`); the loop, the task loss, the logging and the metrics
live here once.
"""

from __future__ import annotations

import logging
import random
import warnings
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from kdzoo.distill.method import KDMethod
from kdzoo.distill.scratch import Scratch
from kdzoo.distill.store import FEATURES, STORABLE_FIELDS, TeacherStore, data_config
from kdzoo.dsp import resample
from kdzoo.metrics import ClipMetrics
from kdzoo.models.student_file import save_student
from kdzoo.models.teacher import FrozenTeacher, frontend_config
from kdzoo.types import Batch, ModelOutput, Task

log = logging.getLogger(__name__)

# Lightning warns about modules left in eval mode at the start of fit; the frozen teacher is meant to be.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")


class Distiller(pl.LightningModule):
    """Train ``student`` on the task loss plus ``method``'s KD terms from a frozen ``teacher``.

    ``loss = task_weight * task_loss + sum(method(student_out, teacher_out, batch).values())``

    The task loss is BCE-with-logits for ``multilabel`` (targets (B, K) multi-hot) and cross-entropy for
    ``multiclass`` (targets (B,) ids). Each model receives the batch at its own sample rate (the batch is
    resampled when the model's rate differs from the data's). Logged: ``train/loss``, ``train/task_loss``,
    ``train/<kd term>``, the same under ``val/``, and validation/test metrics from
    :func:`kdzoo.metrics.build_metrics` (official SONYC-UST micro/macro AUPRC and micro-F1, plus torchmetrics
    mAP, for multi-label; accuracy for single-label), computed over the distinct clips of all processes
    (:class:`~kdzoo.metrics.ClipMetrics`); losses and KD terms are logged with ``sync_dist``. When the data
    module groups its clips (a ``clip_groups`` attribute, :class:`~kdzoo.metrics.ClipGroups`, e.g. TAU's
    recording devices), validation and test also log accuracy per group and the means it names.

    A NaN or inf loss raises :class:`NonFiniteLossError` before the optimiser step, naming the step, the term
    and the batch's clip ids. Checkpoints also hold the random-number generators' states (restored on resume,
    so a resumed run repeats an uninterrupted one exactly on CPU) and are refused, naming the file, when their
    weights do not fit this architecture.

    Args:
        student: the model being trained (an :class:`~kdzoo.models.base.AudioModel`).
        teacher: optional teacher; wrapped in :class:`~kdzoo.models.teacher.FrozenTeacher` if it is not one.
        method: the KD method (default :class:`~kdzoo.distill.scratch.Scratch`, i.e. no KD).
        task: ``multilabel`` or ``multiclass``.
        num_classes: K; checked against the student's head (linked from the data module in recipes).
        task_weight: weight of the supervised loss.
        optimizer: a factory ``params -> Optimizer`` (LightningCLI's ``OptimizerCallable``).
        scheduler: optional factory ``optimizer -> LRScheduler``.
        monitor: metric a ReduceLROnPlateau scheduler watches.
        cache_student_features: train and validate the student from its stored front-end output
            (``student.forward_spectrogram(features)``) instead of running ``student.frontend`` on every batch.
            The features live in a store like the teacher's (:mod:`kdzoo.distill.store`), keyed by the front
            end's config, the data settings and the dtype, filled on first use (``on_fit_start``: train and val).
            Only for un-augmented audio (checked clip by clip) and a fixed front end (no trainable parameter);
            test and predict still run from audio, and the exported student keeps its front end.
        student_features_dtype: dtype of the stored features. float32 (default) trains exactly as from audio;
            float16 halves the disk and page cache but measurably shifts training (see :mod:`kdzoo.distill.store`).
        student_features_dir: the store's folder (default ``checkpoints/cache/student-features/<key>``).
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module | None = None,
        method: KDMethod | None = None,
        task: Task = "multilabel",
        num_classes: int | None = None,
        task_weight: float = 1.0,
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable | None = None,
        monitor: str = "val/loss",
        cache_student_features: bool = False,
        student_features_dtype: Literal["float16", "float32"] = "float32",
        student_features_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher if teacher is None or isinstance(teacher, FrozenTeacher) else FrozenTeacher(teacher)
        self.method = method if method is not None else Scratch()
        self.method.check(self.student, self.teacher)
        self._method_ready = False
        self.task = task
        self.num_classes = num_classes if num_classes is not None else student.num_classes
        if self.num_classes != student.num_classes:
            raise ValueError(f"the data has {self.num_classes} classes but the student predicts {student.num_classes}")
        self.task_weight = task_weight
        self.optimizer_factory, self.scheduler_factory, self.monitor = optimizer, scheduler, monitor
        self.val_metrics = ClipMetrics(task, self.num_classes)
        self.test_metrics = ClipMetrics(task, self.num_classes)
        self.cache_student_features, self.student_features_dtype = cache_student_features, student_features_dtype
        self.student_features_dir = student_features_dir
        if cache_student_features:
            check_cacheable_frontend(student)
        if student_features_dtype not in ("float16", "float32"):
            raise ValueError(f"Distiller: student_features_dtype must be 'float16' or 'float32', "
                             f"got {student_features_dtype!r}")

    def setup(self, stage: str) -> None:
        """Set the method up once (first fit/validate/test/predict), before optimisers and checkpoint loading;
        score per group of clips when this stage's data module has ``clip_groups``."""
        datamodule = getattr(self.trainer, "datamodule", None)
        groups = getattr(datamodule, "clip_groups", None)
        self.val_metrics.set_groups(groups)
        self.test_metrics.set_groups(groups)
        if self._method_ready:
            return
        self.method.setup(self.student, self.teacher, datamodule, self.task)
        self._method_ready = True

    # -- inference ---------------------------------------------------------------------------------------
    def forward(self, waveform: Tensor, sample_rate: int) -> ModelOutput:
        """Run the student on a waveform batch (B, T) at ``sample_rate`` (resampled if needed)."""
        return self.student(self._at_rate(waveform, sample_rate, self.student.sample_rate), self.student.sample_rate)

    def probabilities(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits) if self.task == "multilabel" else torch.softmax(logits, dim=-1)

    # -- training ----------------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss, _ = self._step(batch, "train", batch_idx)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        _, student_out = self._step(batch, "val", batch_idx)
        self.val_metrics.update(batch.clip_id, self.probabilities(student_out.logits), batch.target)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        student_out = self(batch.waveform, batch.sample_rate)
        self.log("test/task_loss", self.task_loss(student_out.logits, batch.target), batch_size=len(batch),
                 sync_dist=True)
        self.test_metrics.update(batch.clip_id, self.probabilities(student_out.logits), batch.target)

    def predict_step(self, batch: Batch, batch_idx: int) -> dict:
        logits = self(batch.waveform, batch.sample_rate).logits
        return {"clip_id": batch.clip_id, "probabilities": self.probabilities(logits)}

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics, "test")

    # -- checkpoints: exact resume, and a refusal of another architecture's weights -------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the random-number generators' states and the architecture's names to every checkpoint.

        Lightning restores weights, optimiser, schedulers and loop counters but not the global RNGs; without
        them a resumed run draws other random numbers (SpecAugment masks, dropout) than an uninterrupted one.
        """
        checkpoint["kdzoo"] = {"rng": rng_states(), "architecture": self._architecture()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Refuse a checkpoint of another architecture (naming the file), then restore the RNG states."""
        source = getattr(self._trainer, "ckpt_path", None) if self._trainer is not None else None
        check_architecture(checkpoint.get("state_dict", {}), self.state_dict(), source or "the checkpoint",
                           checkpoint.get("kdzoo", {}).get("architecture"), self._architecture())
        if "rng" in checkpoint.get("kdzoo", {}):
            set_rng_states(checkpoint["kdzoo"]["rng"])

    def _architecture(self) -> dict:
        variant = getattr(self.student, "variant", None)
        return {"student": variant["name"] if variant else type(self.student).__name__,
                "method": type(self.method).__name__,
                "teacher": None if self.teacher is None else type(self.teacher.model).__name__}

    def configure_optimizers(self):
        params = [p for p in [*self.student.parameters(), *self.method.parameters()] if p.requires_grad]
        optimizer = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor}}

    # -- pieces ------------------------------------------------------------------------------------------
    def task_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.task == "multilabel":
            return F.binary_cross_entropy_with_logits(logits, target.float())
        return F.cross_entropy(logits, target.long())

    def _step(self, batch: Batch, stage: str, batch_idx: int = 0) -> tuple[Tensor, ModelOutput]:
        student_out = self._student_outputs(batch, stage)
        teacher_out = self._teacher_outputs(batch, stage)
        task_loss = self.task_loss(student_out.logits, batch.target)
        kd_terms = self.method(student_out, teacher_out, batch)
        loss = self.task_weight * task_loss + sum(kd_terms.values(), torch.zeros((), device=task_loss.device))
        logged = {"loss": loss, "task_loss": task_loss, **kd_terms}
        if not torch.isfinite(loss):  # one device sync per step: the price of stopping at the step that diverged
            raise NonFiniteLossError(self._non_finite_message(logged, batch, stage, batch_idx))
        for key, value in logged.items():  # sync_dist: under DDP every rank logs the mean over all ranks
            self.log(f"{stage}/{key}", value, batch_size=len(batch), on_step=stage == "train", on_epoch=True,
                     prog_bar=stage == "val" and key == "loss", sync_dist=True)
        return loss, student_out

    def _non_finite_message(self, logged: dict[str, Tensor], batch: Batch, stage: str, batch_idx: int) -> str:
        bad = [f"{key} = {value.item()}" for key, value in logged.items()
               if key != "loss" and not torch.isfinite(value)]
        where = (f"training step {self.global_step} (epoch {self.current_epoch}, batch {batch_idx})" if stage == "train"
                 else f"{stage} batch {batch_idx} (after training step {self.global_step})")
        return (f"non-finite loss at {where}: {', '.join(bad) or 'loss = ' + str(logged['loss'].item())}; "
                f"the batch's clips: {', '.join(map(str, batch.clip_id))}. Lower the learning rate or a term's "
                f"weight, or check these clips' audio and the teacher's outputs for them")

    def _student_outputs(self, batch: Batch, stage: str) -> ModelOutput:
        """The student's outputs: from its stored front-end features when ``cache_student_features``, else audio."""
        if not self.cache_student_features:
            return self(batch.waveform, batch.sample_rate)
        if self._features_store is None:
            raise RuntimeError("the student-feature store is not open: Trainer.fit/validate open it (on_fit_start), "
                               "or call fill_student_features(datamodule) first")
        return self.student.forward_spectrogram(self._features_store.read_fields(stage, batch, self.device)[FEATURES])

    def _teacher_outputs(self, batch: Batch, stage: str = "train") -> ModelOutput | None:
        """Teacher outputs for ``batch``: from the teacher-output store when ``teacher.cache``, else live."""
        if self.teacher is None or not self.method.requires_teacher:
            return None
        if self.teacher.cache:
            if self._teacher_store is None:
                raise RuntimeError("the teacher-output store is not open: Trainer.fit/validate open it (on_fit_start), "
                                   "or call fill_teacher_store(datamodule) first")
            return self._teacher_store.read(stage, batch, self.device)
        return self._live_teacher_outputs(batch)

    def _live_teacher_outputs(self, batch: Batch) -> ModelOutput:
        rate = self.teacher.sample_rate
        return self.method.prepare_teacher(self.teacher(self._at_rate(batch.waveform, batch.sample_rate, rate), rate))

    # -- teacher-output store ----------------------------------------------------------------------------
    _teacher_store: TeacherStore | None = None

    def teacher_store(self, datamodule: pl.LightningDataModule | None = None) -> TeacherStore | None:
        """The store of this teacher's outputs on ``datamodule`` (:mod:`kdzoo.distill.store`); None if not caching.

        Keyed when first asked (the weights are hashed then), holding the fields ``method.teacher_fields()``.
        """
        if self.teacher is None or not self.teacher.cache or not self.method.requires_teacher:
            return None
        if self._teacher_store is None:
            fields = self.method.teacher_fields() & set(STORABLE_FIELDS)
            self._teacher_store = TeacherStore.for_teacher(self.teacher.identity(), fields, self.teacher.cache_dtype,
                                                           self.teacher.cache_dir, data_config(datamodule))
        return self._teacher_store

    def fill_teacher_store(self, datamodule: pl.LightningDataModule, splits: tuple[str, ...] = ("train", "val"),
                           progress: bool = True) -> TeacherStore | None:
        """Store the teacher's outputs for every clip of ``splits`` not stored yet (resumable; no-op if complete).

        Runs the teacher on this module's device. The global RNG is restored afterwards, so a run that fills
        the store trains exactly like one that finds it filled.
        """
        store = self.teacher_store(datamodule)
        if store is None:
            return None
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            loaders = {split: getattr(datamodule, f"{split}_dataloader")() for split in splits}
            store.fill(self._live_teacher_outputs, loaders, progress=progress)
        return store

    # -- student-feature store --------------------------------------------------------------------------
    _features_store: TeacherStore | None = None

    def student_features_store(self, datamodule: pl.LightningDataModule | None = None) -> TeacherStore | None:
        """The store of the student front end's output on ``datamodule``; None unless ``cache_student_features``."""
        if not self.cache_student_features:
            return None
        if self._features_store is None:
            self._features_store = TeacherStore.for_student_features(
                frontend_config(self.student.frontend), self.student.sample_rate, self.student_features_dtype,
                self.student_features_dir, data_config(datamodule))
        return self._features_store

    def fill_student_features(self, datamodule: pl.LightningDataModule, splits: tuple[str, ...] = ("train", "val"),
                              progress: bool = True) -> TeacherStore | None:
        """Store ``student.frontend``'s output for every clip of ``splits`` not stored yet (resumable, RNG kept)."""
        store = self.student_features_store(datamodule)
        if store is None:
            return None
        check_cacheable_frontend(self.student)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            loaders = {split: getattr(datamodule, f"{split}_dataloader")() for split in splits}
            store.fill(self._live_student_features, loaders, progress=progress)
        return store

    def _live_student_features(self, batch: Batch) -> dict[str, Tensor]:
        rate = self.student.sample_rate
        return {FEATURES: self.student.frontend(self._at_rate(batch.waveform, batch.sample_rate, rate))}

    def on_fit_start(self) -> None:
        self._prepare_stores(("train", "val"))

    def on_validation_start(self) -> None:
        if self.trainer.state.fn == "validate":
            self._prepare_stores(("val",))

    def _prepare_stores(self, splits: tuple[str, ...]) -> None:
        """Rank 0 fills what is missing while the other ranks wait at a barrier; then all read it read-only."""
        datamodule = self.trainer.datamodule
        stores = [(self.teacher_store(datamodule), self.fill_teacher_store, "the teacher's cache"),
                  (self.student_features_store(datamodule), self.fill_student_features, "cache_student_features")]
        for store, fill, option in stores:
            if store is None:
                continue
            if self.trainer.is_global_zero and not store.is_complete(list(splits)):
                if datamodule is None:
                    raise ValueError(f"the {store.label} ({option}) is filled from the data module; pass datamodule= "
                                     f"to the Trainer call, or turn {option} off")
                fill(datamodule, splits)
            self.trainer.strategy.barrier(store.label.replace(" ", "-"))

    @staticmethod
    def _at_rate(waveform: Tensor, sample_rate: int, target_rate: int) -> Tensor:
        return waveform if sample_rate == target_rate else resample(waveform, sample_rate, target_rate)

    def _log_metrics(self, metrics: ClipMetrics, stage: str) -> None:
        values = metrics.compute()
        # One name for "the number to select checkpoints by", whatever the task.
        values["score"] = values["micro_auprc"] if self.task == "multilabel" else values["accuracy"]
        for key, value in values.items():
            self.log(f"{stage}/{key}", value, prog_bar=stage == "val" and key == "score")
        metrics.reset()

    # -- export ------------------------------------------------------------------------------------------
    def save_student(self, path: str | Path, class_names: list[str] | None = None, **meta) -> Path:
        """Write the student alone (no teacher, no method parts) to ``path``, with the record that lets
        :func:`kdzoo.load_student` rebuild it (see :mod:`kdzoo.models.student_file`).

        Args:
            path: where to write, usually ``<run>/student.pt``.
            class_names: K names; default: the attached data module's ``class_names``, when it has them.
            **meta: more entries for the record (the CLI adds ``scores`` and ``best_checkpoint``).
        """
        if class_names is None:
            datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
            class_names = getattr(datamodule, "class_names", None)
        return save_student(self.student, path, class_names=class_names, task=self.task, **meta)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or inf; the message names the step, the term(s) and the batch's clip ids."""


def rng_states() -> dict:
    """The states of Python's, NumPy's, torch's CPU and (when present) CUDA random-number generators.

    Made of tensors, ints and strings only, so a checkpoint holding them still loads with ``weights_only=True``.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"python": random.getstate(), "torch": torch.get_rng_state(),
              "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore :func:`rng_states` (CUDA states only where there are as many devices as were saved)."""
    random.setstate(states["python"])
    numpy = states["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["gauss"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def _is_tensor(*values: object) -> bool:
    return all(isinstance(value, Tensor) for value in values)


def check_architecture(saved: dict[str, Tensor], own: dict[str, Tensor], source: str, saved_arch: dict | None,
                       own_arch: dict) -> None:
    """Raise a ValueError naming ``source`` when ``saved`` (a checkpoint's state dict) does not fit ``own``.

    Lightning's strict load would also fail, but with a list of tensor names and no file name; this names the
    checkpoint, the architectures on both sides (when the checkpoint recorded its own) and a few differences.
    """
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    reshaped = [f"{k} {tuple(saved[k].shape)} vs {tuple(own[k].shape)}" for k in own  # extra states (e.g. SEA's
                if k in saved and _is_tensor(saved[k], own[k]) and saved[k].shape != own[k].shape]  # reducer) are not
    if not (missing or unexpected or reshaped):
        return
    was = f"a checkpoint of {saved_arch}" if saved_arch else "a checkpoint of another architecture"
    details = "; ".join(part for part in (
        f"missing {missing[:4]}" if missing else "", f"unexpected {unexpected[:4]}" if unexpected else "",
        f"other shapes {reshaped[:4]}" if reshaped else "") if part)
    raise ValueError(f"{source} is {was}, this run builds {own_arch}: its weights do not fit ({details}). "
                     f"Resume with the recipe that wrote it, or start a new run without --ckpt_path/--resume")


def check_cacheable_frontend(student: nn.Module) -> None:
    """Refuse ``cache_student_features`` for a student whose front-end output cannot be stored once.

    It needs ``frontend`` (an ``nn.Module``) and ``forward_spectrogram``, and a front end without trainable
    parameters (a learnt filterbank's output changes every step). A front end must also be deterministic (no
    augmentation inside it): the store holds one output per clip.
    """
    frontend = getattr(student, "frontend", None)
    if not isinstance(frontend, nn.Module) or not callable(getattr(student, "forward_spectrogram", None)):
        raise ValueError(f"cache_student_features: the student {type(student).__name__} has no `frontend` module "
                         f"and `forward_spectrogram` method, so its features cannot be stored; set it to false")
    trainable = [name for name, p in frontend.named_parameters() if p.requires_grad]
    if trainable:
        raise ValueError(f"cache_student_features: the student's front end is trainable ({', '.join(trainable[:4])} "
                         f"requires grad), so its output changes as it trains; set cache_student_features to false "
                         f"or freeze the front end")
