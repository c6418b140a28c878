"""SEA's downstream evaluation: window embeddings of every clip, a MIL classifier on them, official AUPRC.

As the paper (section 4.2.2; ``embedding-approx`` jobs 05/06): each clip is embedded every 0.1 s over 1 s
windows (96 windows for 10 s, :mod:`kdzoo.models.window`), the frames are standardised with mean and standard
deviation of all *train* frames, a :class:`~kdzoo.models.mil.MILClassifier` (0-2 hidden layers, AutoPool) is
trained with BCE on the train split, and the validation split is scored with the official SONYC-UST micro /
macro AUPRC (:func:`kdzoo.metrics.sonyc_ust_scores`). The same code scores the teacher and every student, so a
table compares like with like. The paper trains with Adam lr 1e-5 for 1500 epochs; ``lr`` and ``epochs`` are
arguments (the demo recipes use larger steps).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from kdzoo.distill.sea_reduce import ReduceMethod, Reducer, Strategy, fit_reducer, sample_indices, window_loudness
from kdzoo.dsp import resample
from kdzoo.metrics import sonyc_ust_scores
from kdzoo.models.mil import MILClassifier
from kdzoo.models.window import frame_windows

log = logging.getLogger(__name__)

EMBEDDING_HOP_S = 0.1
WINDOW_S = 1.0


@dataclass
class ClipEmbeddings:
    """Window embeddings of a split: ``frames`` (N, W, D), ``targets`` (N, K), ``clip_id`` (N names) and
    ``loudness`` (N, W): each window's RMS level in dB, which SEA's relevance samplers rank (None if unknown)."""

    frames: Tensor
    targets: Tensor
    clip_id: list[str]
    loudness: Tensor | None = None

    def mapped(self, frames: Tensor) -> ClipEmbeddings:
        """The same clips with other frames (N, W, D'), e.g. standardised or reduced."""
        return ClipEmbeddings(frames, self.targets, self.clip_id, self.loudness)


@torch.no_grad()
def embed_split(model: nn.Module, loader: DataLoader, hop_s: float = EMBEDDING_HOP_S) -> ClipEmbeddings:
    """Run a window embedder (``model.embed_windows``) over every clip of ``loader`` at hop ``hop_s``."""
    model.eval()
    device = next(iter(model.parameters()), torch.zeros(())).device
    frames, targets, ids, loudness = [], [], [], []
    for batch in loader:
        wave = resample(batch.waveform, batch.sample_rate, model.sample_rate).to(device)
        frames.append(window_embeddings(model, wave, hop_s).float().cpu())
        loudness.append(window_loudness(wave.cpu(), model.sample_rate, WINDOW_S, hop_s))
        targets.append(batch.target.float())
        ids += list(batch.clip_id)
    frames_all, loudness_all = torch.cat(frames), torch.cat(loudness)
    framed_alike = loudness_all.shape == frames_all.shape[:2]  # a model with other windows: no loudness
    return ClipEmbeddings(frames_all, torch.cat(targets), ids, loudness_all if framed_alike else None)


def window_embeddings(model: nn.Module, waveform: Tensor, hop_s: float) -> Tensor:
    """Waveform (B, T) -> (B, W, D): a window embedder's ``embed_windows``; any other kdzoo model is run on each
    1 s window (OpenL3 framing) and its clip ``embedding`` is taken, so clip students and teachers compare too."""
    if hasattr(model, "embed_windows"):
        return model.embed_windows(waveform, hop_s)
    windows = frame_windows(waveform, model.sample_rate, 1.0, hop_s)  # (B, W, S)
    embedding = model(windows.flatten(0, 1), model.sample_rate).embedding
    if embedding is None:
        raise ValueError(f"{type(model).__name__} gives no embedding; downstream needs an embedding model")
    return embedding.view(*windows.shape[:2], -1)


class FrameScaler:
    """Standardise frames with the mean and standard deviation of every train frame (sklearn StandardScaler's
    population std; a constant dimension is left unscaled)."""

    def fit(self, frames: Tensor) -> FrameScaler:
        flat = frames.reshape(-1, frames.shape[-1]).double()
        self.mean = flat.mean(0).float()
        std = flat.std(0, unbiased=False).float()
        self.scale = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def __call__(self, frames: Tensor) -> Tensor:
        return (frames - self.mean) / self.scale


def train_mil(train: ClipEmbeddings, hidden: Sequence[int] = (128, 128), lr: float = 1e-5, epochs: int = 1500,
              batch_size: int = 64, seed: int = 0, progress: bool = False) -> MILClassifier:
    """Train a :class:`MILClassifier` with BCE (+ the L2 term) and Adam on standardised train frames."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MILClassifier(train.frames.shape[-1], train.targets.shape[-1], hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    count = len(train.frames)
    from rich.progress import track

    for _ in track(range(epochs), description="MIL classifier", disable=not progress):
        for rows in torch.randperm(count, generator=generator).split(batch_size):
            loss = F.binary_cross_entropy_with_logits(model(train.frames[rows]), train.targets[rows])
            optimizer.zero_grad()
            (loss + model.l2_penalty()).backward()
            optimizer.step()
            model.constrain()
    return model.eval()


def evaluate_embedder(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader,
                      hidden: Sequence[int] = (128, 128), lr: float = 1e-5, epochs: int = 1500,
                      hop_s: float = EMBEDDING_HOP_S, seed: int = 0, progress: bool = False) -> dict[str, float]:
    """The paper's downstream score of a window embedder: ``{"micro_auprc", "macro_auprc", "micro_f1"}`` on
    ``val_loader`` of a MIL classifier trained on ``train_loader``'s embeddings."""
    train = embed_split(model, train_loader, hop_s)
    val = embed_split(model, val_loader, hop_s)
    return score_embeddings(train, val, hidden, lr, epochs, seed, progress)


def score_embeddings(train: ClipEmbeddings, val: ClipEmbeddings, hidden: Sequence[int] = (128, 128),
                     lr: float = 1e-5, epochs: int = 1500, seed: int = 0, progress: bool = False,
                     batch_size: int = 64) -> dict[str, float]:
    """Standardise with the train frames, train the MIL classifier (``seed``), score ``val`` (official AUPRC).
    Split from :func:`evaluate_embedder` so several seeds reuse one embedding pass."""
    scaler = FrameScaler().fit(train.frames)
    train = train.mapped(scaler(train.frames))
    classifier = train_mil(train, hidden, lr, epochs, batch_size=batch_size, seed=seed, progress=progress)
    with torch.no_grad():
        probabilities = torch.sigmoid(classifier(scaler(val.frames))).numpy()
    scores = sonyc_ust_scores(val.targets.numpy(), probabilities)
    return {key: float(scores[key]) for key in ("micro_auprc", "macro_auprc", "micro_f1")}


def reduce_embeddings(train: ClipEmbeddings, others: Sequence[ClipEmbeddings], dim: int,
                      method: ReduceMethod = "pca", sampling: Strategy = "random", sample_size: int = 500_000,
                      seed: int = 0, relevance_window: int = 5) -> tuple[ClipEmbeddings, list[ClipEmbeddings], Reducer]:
    """phi(teacher embeddings) before any KD, as the paper's Table 4 scores its samplers (section 4.2.2).

    phi (:func:`~kdzoo.distill.sea_reduce.fit_reducer`) is fitted on ``sample_size`` of the *train* windows,
    chosen per clip (each clip a stream) by ``sampling`` (:func:`~kdzoo.distill.sea_reduce.sample_indices`; the
    relevance samplers rank ``train.loudness``), then maps the train split and every split in ``others``.
    Returns the reduced train split, the reduced others and phi.
    """
    clips, windows, width = train.frames.shape
    flat = train.frames.reshape(-1, width).numpy()
    loudness = None
    if sampling in ("relevance", "diversity_relevance"):
        if train.loudness is None:
            raise ValueError(f"sampling {sampling!r} ranks window loudness, which this embedder's framing lacks")
        loudness = train.loudness.reshape(-1).numpy()
    rows = sample_indices(flat, np.repeat(np.arange(clips), windows), sample_size, sampling, loudness=loudness,
                          seed=seed, relevance_window=relevance_window)
    reducer = fit_reducer(flat[rows], dim, method, seed)
    log.info("phi: %s %d -> %d fitted on %d of %d train windows (%s)", method, width, dim, len(rows), len(flat),
             sampling)

    def apply(split: ClipEmbeddings) -> ClipEmbeddings:
        return split.mapped(reducer.transform_torch(split.frames))

    return apply(train), [apply(split) for split in others], reducer
