"""Window embedders: a clip cut into fixed-length windows, one embedding per window (OpenL3 / EdgeL3 style).

L3-Net and the SEA students embed exactly 1 s of audio; a clip becomes a sequence of window embeddings. This
module owns the windowing (OpenL3's ``center=True`` framing) and :class:`WindowEmbedder`, the
:class:`~kdzoo.models.base.AudioModel` every window embedder derives from, so the L3 teacher, the SEA students
and the YAMNet window teacher share one time axis: with the same ``window_s`` and ``hop_s`` they give the same
number of windows for a clip whatever their sample rates (the SEA loss compares them window by window).

Framing (OpenL3 ``core.py``): with ``center=True`` the clip gets ``window/2`` zeros in front, then zeros at the
end so that ``(len - window)`` is a whole number of hops (at least one window), and
``W = 1 + (len - window) // hop``; window ``i`` is centred on ``i * hop_s`` seconds of the original clip. A
10 s clip at hop 0.1 s gives 96 windows (at 48, 16 or 8 kHz), at hop 0.5 s 20.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdzoo.models.base import AudioModel
from kdzoo.types import ModelOutput


def window_samples(sample_rate: int, seconds: float) -> int:
    """``seconds`` at ``sample_rate`` in whole samples (rounded, >= 1)."""
    return max(int(round(sample_rate * seconds)), 1)


def num_windows(num_samples: int, sample_rate: int, window_s: float = 1.0, hop_s: float = 0.1,
                center: bool = True) -> int:
    """Windows :func:`frame_windows` makes from a clip of ``num_samples`` samples (>= 1, a short clip is padded)."""
    window, hop = window_samples(sample_rate, window_s), window_samples(sample_rate, hop_s)
    length = num_samples + (window // 2 if center else 0)
    return 1 + max(math.ceil((length - window) / hop), 0)


def frame_windows(waveform: Tensor, sample_rate: int, window_s: float = 1.0, hop_s: float = 0.1,
                  center: bool = True) -> Tensor:
    """Cut waveform (B, T) into windows (B, W, window) the OpenL3 way (see the module docstring).

    A clip shorter than one window is zero-padded to one window (OpenL3 does the same), so W >= 1.
    """
    if waveform.dim() != 2:
        raise ValueError(f"frame_windows expects a waveform batch (B, T), got shape {tuple(waveform.shape)}")
    if hop_s <= 0 or window_s <= 0:
        raise ValueError(f"frame_windows: window_s and hop_s must be > 0, got {window_s} and {hop_s}")
    window, hop = window_samples(sample_rate, window_s), window_samples(sample_rate, hop_s)
    count = num_windows(waveform.shape[-1], sample_rate, window_s, hop_s, center)
    front = window // 2 if center else 0
    back = window + (count - 1) * hop - front - waveform.shape[-1]
    return F.pad(waveform, (front, back)).unfold(-1, window, hop)


def window_timestamps(count: int, hop_s: float) -> Tensor:
    """(W,) start times ``i * hop_s`` (with ``center=True``, the centre of window i in the original clip)."""
    return torch.arange(count, dtype=torch.float64) * hop_s


class WindowedFrontend(nn.Module):
    """Waveform (B, T) -> per-window spectrograms (B, W, ...): :func:`frame_windows`, then ``spectrogram`` on
    every window.

    Args:
        spectrogram: a module mapping windows (N, window samples) to features (N, ...).
        sample_rate: the rate of the waveform, Hz.
        window_s, hop_s, center: the framing (:func:`frame_windows`).
    """

    def __init__(self, spectrogram: nn.Module, sample_rate: int, window_s: float = 1.0, hop_s: float = 0.5,
                 center: bool = True) -> None:
        super().__init__()
        self.spectrogram = spectrogram
        self.sample_rate, self.window_s, self.hop_s, self.center = sample_rate, window_s, hop_s, center

    @property
    def hop_seconds(self) -> float:
        return self.hop_s

    def forward(self, waveform: Tensor, hop_s: float | None = None) -> Tensor:
        windows = frame_windows(waveform, self.sample_rate, self.window_s, hop_s or self.hop_s, self.center)
        features = self.spectrogram(windows.flatten(0, 1))
        return features.view(*windows.shape[:2], *features.shape[1:])


class WindowEmbedder(AudioModel):
    """Base class of window embedders: waveform (B, T) -> one ``embed_dim`` vector per window.

    Subclasses set ``self.frontend`` (a :class:`WindowedFrontend`) and ``self.network`` (per-window features
    (N, ...) -> (N, D)). Returns ``frames`` (B, W, D) = the window embeddings every ``frame_hop_s`` = ``hop_s``
    seconds, ``embedding`` (B, D) = their mean over windows, and ``logits`` (B, K) = a linear *probe* on the
    detached clip embedding when ``num_classes > 0`` (so the Distiller can report AUPRC while a method trains the
    embedding; no gradient of the probe reaches the network), else an empty (B, 0) tensor.

    Args:
        num_classes: K of the probe; 0 (default) for no probe, so the trainable parameters are the network's.
    """

    provides = frozenset({"logits", "embedding", "frames"})
    network: nn.Module
    frontend: WindowedFrontend

    def _init_probe(self, num_classes: int) -> None:
        if num_classes < 0:
            raise ValueError(f"{type(self).__name__}: num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        self.probe = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else None

    @property
    def hop_s(self) -> float:
        return self.frontend.hop_s

    def embed_windows(self, waveform: Tensor, hop_s: float | None = None) -> Tensor:
        """Waveform (B, T) at ``sample_rate`` -> window embeddings (B, W, D) at hop ``hop_s`` (default the model's)."""
        return self.embed_features(self.frontend(waveform, hop_s))

    def embed_features(self, features: Tensor) -> Tensor:
        """Per-window features (B, W, ...) -> window embeddings (B, W, D)."""
        batch, count = features.shape[:2]
        return self.network(features.flatten(0, 1)).view(batch, count, -1)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram: per-window features (B, W, ...) from ``self.frontend``."""
        frames = self.embed_features(spectrogram)
        embedding = frames.mean(dim=1)
        if self.probe is None:
            logits = frames.new_zeros(frames.shape[0], 0)
        else:
            logits = self.probe(embedding.detach())
        return ModelOutput(logits=logits, embedding=embedding, frames=frames, frame_hop_s=self.hop_s)
