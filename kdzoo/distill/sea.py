"""SEA: Specialized Embedding Approximation (Srivastava, Roy, Cartwright, Bello, Arora; ICASSP 2021).

A small student learns to reproduce, window by window, a large teacher's audio embedding *of the target
domain's audio*, after a learned reduction phi to the student's width (Eq. 1):

    min  sum_j || f_S(x_j) - phi(f_T(x_j)) ||^2     over 1 s windows x_j of the target-domain clips

The loss is the mean squared error over windows and dimensions (the paper's Keras ``mean_squared_error``:
Eq. 1 up to a constant). There is no label loss on the embedding: the task labels are used only downstream
(:mod:`kdzoo.downstream`). A recipe that links ``num_classes`` gives the student a linear probe on its
*detached* embedding (:class:`~kdzoo.models.window.WindowEmbedder`) so the Distiller's AUPRC can be watched
while training; its BCE never reaches the embedding network.

Both models are window embedders (:mod:`kdzoo.models.window`) with the same window and hop, so their
``frames`` (B, W, .) pair up window by window. phi (:mod:`kdzoo.distill.sea_reduce`) is fitted once in
:meth:`SEA.setup`, on a sample of the teacher's window embeddings of the *train split only* (drawn per clip by
one of the paper's strategies); with ``teacher.cache`` the embeddings come from, and fill, the teacher-output
store (:mod:`kdzoo.distill.store`, field ``frames``). phi is kept in the method's state, so a Lightning
checkpoint restores it, and written to ``reducer_path`` or, by default, to ``<run dir>/reducer.joblib`` beside
the run's ``checkpoints/`` (:meth:`Reducer.load` reads it back); an existing ``reducer_path`` is loaded instead of
refitting.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from kdzoo.distill.method import KDMethod
from kdzoo.distill.sea_reduce import STRATEGIES, Reducer, Strategy, fit_reducer, sample_indices, window_loudness
from kdzoo.distill.store import TeacherStore, data_config
from kdzoo.dsp import resample
from kdzoo.types import Batch, ModelOutput, Task

log = logging.getLogger(__name__)


class SEA(KDMethod):
    """``weight * MSE(student frames, phi(teacher frames))`` per 1 s window.

    Args:
        weight: multiplies the term (``kd_sea``).
        reducer: ``"pca"`` or ``"umap"`` (identity when the student is as wide as the teacher).
        sampling: how the embeddings phi is fitted on are chosen: ``random``, ``relevance``, ``diversity`` or
            ``diversity_relevance`` (:func:`~kdzoo.distill.sea_reduce.sample_indices`).
        sample_size: embeddings phi is fitted on (the paper: 500K from 15 sensors); all if the split has fewer.
        streams: ``"clip"`` (each recording is a stream, draws spread evenly over clips) or ``"corpus"`` (one).
        relevance_window: windows in the relevance ranking's sliding window.
        dpp_mode: ``"exact"`` or ``"mcmc"`` k-DPP sampling.
        umap_neighbors, umap_min_dist: UMAP settings.
        seed: seed of the sample and of PCA / UMAP.
        reducer_path: where phi is saved after fitting (and loaded from, if it exists); default
            ``<run dir>/reducer.joblib`` when the Trainer has a log dir.
    """

    needs = frozenset({"frames"})

    def __init__(
        self,
        weight: float = 1.0,
        reducer: Literal["pca", "umap"] = "pca",
        sampling: Strategy = "random",
        sample_size: int = 500_000,
        streams: Literal["clip", "corpus"] = "clip",
        relevance_window: int = 5,
        dpp_mode: Literal["exact", "mcmc"] = "exact",
        umap_neighbors: int = 50,
        umap_min_dist: float = 0.1,
        seed: int = 0,
        reducer_path: str | None = None,
    ) -> None:
        super().__init__(weight)
        if sampling not in STRATEGIES:
            raise ValueError(f"SEA: sampling must be one of {STRATEGIES}, got {sampling!r}")
        if streams not in ("clip", "corpus"):
            raise ValueError(f"SEA: streams must be 'clip' or 'corpus', got {streams!r}")
        if sample_size < 1:
            raise ValueError(f"SEA: sample_size must be >= 1, got {sample_size}")
        self.reducer_method, self.sampling, self.sample_size, self.streams = reducer, sampling, sample_size, streams
        self.relevance_window, self.dpp_mode, self.seed = relevance_window, dpp_mode, seed
        self.umap_neighbors, self.umap_min_dist = umap_neighbors, umap_min_dist
        self.reducer_path = reducer_path
        self.reducer: Reducer | None = None

    # -- life cycle --------------------------------------------------------------------------------------
    def check(self, student: nn.Module, teacher: nn.Module | None) -> None:
        super().check(student, teacher)
        framing = [(getattr(m.frontend, "window_s", None), getattr(m.frontend, "hop_s", None))
                   for m in (student, teacher)]
        if None in framing[0] or framing[0] != framing[1]:
            raise ValueError(f"SEA compares window embeddings one to one: student and teacher need the same "
                             f"(window_s, hop_s), got {framing[0]} and {framing[1]} (use window embedders: "
                             f"sea_student_*, l3_audio, yamnet_window)")

    def setup(self, student: nn.Module, teacher: nn.Module | None, datamodule: Any | None, task: Task) -> None:
        super().setup(student, teacher, datamodule, task)
        if self.reducer is not None:
            return
        if self.reducer_path is not None and Path(self.reducer_path).is_file():
            self.reducer = Reducer.load(self.reducer_path)
            log.info("SEA: loaded the reducer from %s", self.reducer_path)
        else:
            if datamodule is None:
                raise ValueError("SEA fits its reducer on the train split: give the Trainer a datamodule")
            self.reducer = self.fit(teacher, datamodule, student.embed_dim)
            path = self.reducer_path or _run_reducer_path(datamodule)
            if path is not None:
                self.reducer.save(path)
                log.info("SEA: reducer saved to %s", path)
        if self.reducer.out_dim != student.embed_dim:
            raise ValueError(f"SEA: the reducer maps to {self.reducer.out_dim} dims, the student embeds "
                             f"{student.embed_dim}")

    def fit(self, teacher: nn.Module, datamodule: Any, dim: int) -> Reducer:
        """phi fitted on a sample of the teacher's train-split window embeddings."""
        frames, loudness, streams = train_split_embeddings(teacher, datamodule, "relevance" in self.sampling)
        flat = frames.reshape(-1, frames.shape[-1])
        stream_ids = np.repeat(streams, frames.shape[1]) if self.streams == "clip" else np.zeros(len(flat))
        rows = sample_indices(flat, stream_ids, self.sample_size, self.sampling,
                              loudness=None if loudness is None else loudness.reshape(-1), seed=self.seed,
                              relevance_window=self.relevance_window, dpp_mode=self.dpp_mode)
        log.info("SEA: fitting %s %d -> %d on %d of %d train windows (%s sampling)", self.reducer_method,
                 flat.shape[1], dim, len(rows), len(flat), self.sampling)
        return fit_reducer(flat[rows], dim, self.reducer_method, self.seed, self.umap_neighbors, self.umap_min_dist)

    # -- loss --------------------------------------------------------------------------------------------
    def terms(self, student: ModelOutput, teacher: ModelOutput | None, batch: Batch) -> dict[str, Tensor]:
        if self.reducer is None:
            raise RuntimeError("SEA's reducer is not fitted: the Distiller calls setup() when a Trainer run starts")
        target = self.reducer.transform_torch(teacher.frames.float())
        if target.shape != student.frames.shape:
            raise ValueError(f"SEA: student windows {tuple(student.frames.shape)} and reduced teacher windows "
                             f"{tuple(target.shape)} differ")
        return {"kd_sea": F.mse_loss(student.frames, target)}

    # -- phi in checkpoints ------------------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        """phi as joblib bytes in a uint8 tensor (loadable with ``torch.load(weights_only=True)``)."""
        if self.reducer is None:
            return {}
        import joblib

        buffer = io.BytesIO()
        joblib.dump({"method": self.reducer.method, "in_dim": self.reducer.in_dim, "out_dim": self.reducer.out_dim,
                     "scaler": self.reducer.scaler, "model": self.reducer.model}, buffer)
        return {"reducer": torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)}

    def set_extra_state(self, state: dict) -> None:
        if "reducer" not in state:
            return
        import joblib

        saved = joblib.load(io.BytesIO(state["reducer"].numpy().tobytes()))
        self.reducer = Reducer(saved["method"], saved["in_dim"], saved["out_dim"], saved["scaler"], saved["model"])


def _run_reducer_path(datamodule: Any) -> Path | None:
    """``<run dir>/reducer.joblib`` (beside ``checkpoints/``) when the data module is attached to a Trainer."""
    trainer = getattr(datamodule, "trainer", None)
    log_dir = getattr(trainer, "log_dir", None) if trainer is not None else None
    return Path(log_dir) / "reducer.joblib" if log_dir else None


def train_split_embeddings(teacher: nn.Module, datamodule: Any, with_loudness: bool
                           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The teacher's window embeddings of every train clip: frames (N, W, n), loudness (N, W) dB or None, and
    the clip index of each (N,). From the teacher-output store when ``teacher.cache`` (filled here if needed)."""
    dataset = datamodule.train_dataloader().dataset
    template = datamodule.train_dataloader()
    loader = DataLoader(dataset, batch_size=template.batch_size or 16, shuffle=False, collate_fn=template.collate_fn)
    store = None
    if getattr(teacher, "cache", False):
        store = TeacherStore.for_teacher(teacher.identity(), {"frames"}, teacher.cache_dtype, teacher.cache_dir,
                                         data_config(datamodule))
        store.fill(lambda batch: _live(teacher, batch), {"train": loader})
    frames, loudness = [], []
    with torch.random.fork_rng():
        for batch in loader:
            out = store.read("train", batch) if store is not None else _live(teacher, batch)
            frames.append(out.frames.float().cpu().numpy())
            if with_loudness:
                wave = resample(batch.waveform, batch.sample_rate, teacher.sample_rate)
                loudness.append(window_loudness(wave, teacher.sample_rate, teacher.frontend.window_s,
                                                teacher.frontend.hop_s).numpy())
    frames_all = np.concatenate(frames)
    return frames_all, np.concatenate(loudness) if with_loudness else None, np.arange(len(frames_all))


def _live(teacher: nn.Module, batch: Batch) -> ModelOutput:
    rate = teacher.sample_rate
    device = next(iter(teacher.parameters()), torch.zeros(())).device
    with torch.no_grad():
        return teacher(resample(batch.waveform.to(device), batch.sample_rate, rate), rate)
