"""``kdzoo.get_embedding``: embeddings of an audio signal every ``hop_size`` seconds, the openl3 / edgel3 way.

``emb, ts = kdzoo.get_embedding(audio, sr, model="sea_student_2", hop_size=0.1)`` gives one embedding per 1 s
window (N, d) and the window times (N,) in seconds, as ``openl3.get_audio_embedding`` / ``edgel3.get_embedding``:

* multi-channel audio is averaged to mono; audio at another rate is resampled to the model's (band-limited sinc,
  ``torchaudio``; openl3 uses resampy's kaiser_best, which differs in the last bits);
* windows are framed by :func:`kdzoo.models.window.frame_windows` with ``center=True``: window i is centred on
  ``ts[i] = i * hop_size``; a 10 s clip at hop 0.1 s gives 96 windows;
* a signal shorter than one window is zero-padded to one window (openl3 pads too): one embedding at t = 0;
* ``model`` is a registered name (``kdzoo models`` lists them), an exported ``student.pt``, or a model object.
  Window embedders (``sea_student_*``, ``l3_audio``, ``yamnet_window``) embed each window with their own
  network; any other kdzoo model is run on each 1 s window and its clip ``embedding`` is taken.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kdzoo.dsp import resample
from kdzoo.models.window import frame_windows, window_timestamps

WINDOW_S = 1.0
CHUNK_WINDOWS = 64
"""Windows embedded per forward pass (bounds memory on long recordings)."""


@functools.lru_cache(maxsize=4)
def _registered(name: str, weights: str | None) -> nn.Module:
    from kdzoo.models import create_student

    kwargs = {"weights": weights} if weights is not None else {}
    return create_student(name, **kwargs).eval()


def resolve_model(model: str | nn.Module, weights: str | None = None) -> nn.Module:
    """A model object from a registered name, a ``student.pt`` path, or the model itself."""
    if isinstance(model, nn.Module):
        return model.eval()
    if str(model).endswith((".pt", ".pth")) and Path(model).is_file():
        from kdzoo.models.student_file import load_student

        return load_student(model).eval()
    return _registered(str(model), weights)


def to_mono(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(T,) or 2-D multi-channel audio -> (T,) float32; the smaller axis of a 2-D array is the channel axis
    ((T, C) as soundfile reads it, or (C, T) as librosa does), averaged."""
    signal = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    if signal.dim() == 2:
        signal = signal.mean(dim=_channel_axis(signal))
    if signal.dim() != 1:
        raise ValueError(f"get_embedding: audio must be (T,) or 2-D (T, C) / (C, T), got shape {tuple(signal.shape)}")
    if signal.numel() == 0:
        raise ValueError("get_embedding: audio is empty")
    if not torch.isfinite(signal).all():
        raise ValueError("get_embedding: audio holds NaN or inf samples")
    return signal


def _channel_axis(signal: torch.Tensor) -> int:
    return 0 if signal.shape[0] < signal.shape[1] else 1


@torch.no_grad()
def get_embedding(audio: np.ndarray | torch.Tensor, sr: int, model: str | nn.Module = "sea_student_2",
                  hop_size: float = 0.1, center: bool = True, weights: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of ``audio`` every ``hop_size`` seconds (see the module docstring).

    Args:
        audio: (T,) mono, or 2-D multi-channel samples (averaged).
        sr: its sample rate in Hz.
        model: a registered name, a ``student.pt`` path, or a model object.
        hop_size: seconds between windows.
        center: centre window i on ``i * hop_size`` (pad half a window in front), as openl3's default.
        weights: weights for a registered name (e.g. an EdgeL3 ``.h5`` for ``sea_student_2``).

    Returns:
        ``(embeddings (N, d) float32, timestamps (N,) float64 seconds)``.
    """
    if int(sr) != sr or sr <= 0:
        raise ValueError(f"get_embedding: sr must be a positive integer number of Hz, got {sr!r}")
    if hop_size <= 0:
        raise ValueError(f"get_embedding: hop_size must be > 0, got {hop_size}")
    net = resolve_model(model, weights)
    rate = int(net.sample_rate)
    signal = resample(to_mono(audio)[None], int(sr), rate)
    window_s = getattr(getattr(net, "frontend", None), "window_s", WINDOW_S)
    windows = frame_windows(signal, rate, window_s, hop_size, center)[0]  # (N, S)
    device = next(iter(net.parameters()), torch.zeros(())).device
    chunks = [_embed_chunk(net, chunk.to(device)) for chunk in windows.split(CHUNK_WINDOWS)]
    embeddings = torch.cat(chunks).float().cpu().numpy()
    return embeddings, window_timestamps(len(embeddings), hop_size).numpy()


def _embed_chunk(net: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Windows (n, S) -> (n, d): a window embedder's network on each window, else each window's clip embedding."""
    if hasattr(net, "embed_features"):
        return net.embed_features(net.frontend.spectrogram(windows)[None])[0]
    return net(windows, net.sample_rate).embedding
