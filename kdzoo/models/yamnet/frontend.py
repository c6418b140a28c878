"""YAMNet's exact log-mel front end: waveform (B, T) at 16 kHz -> log-mel patches (B, P, 1, 96, 64).

TF STFT framing, the TF/HTK mel matrix, ``log(mel + 0.001)``, patch hop 0.48 s (research/audioset/yamnet
``params.py`` and ``features.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# YAMNet's feature parameters (research/audioset/yamnet/params.py), in samples and frames at 16 kHz.
SAMPLE_RATE = 16000
STFT_WINDOW = 400  # 25 ms, periodic Hann
STFT_HOP = 160  # 10 ms
FFT_LENGTH = 512  # next power of two above the window, as features.py computes it
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_HOP_SECONDS = PATCH_HOP_FRAMES * STFT_HOP / SAMPLE_RATE


def num_patches(num_samples: int) -> int:
    """Patches YAMNet makes from a clip of ``num_samples`` samples: one, plus one per started 0.48 s hop."""
    extra = max(num_samples - _min_samples(), 0)
    return 1 + math.ceil(extra / (PATCH_HOP_FRAMES * STFT_HOP))


def _min_samples() -> int:
    """Samples in one patch: 96 STFT frames of 400 samples, 160 apart (0.975 s)."""
    return STFT_WINDOW + (PATCH_FRAMES - 1) * STFT_HOP


def _hertz_to_mel(hertz: Tensor) -> Tensor:
    """HTK mel scale, as TensorFlow writes it: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(hertz / 700.0)


def mel_weight_matrix() -> Tensor:
    """YAMNet's (257, 64) magnitude-to-mel matrix, built the way ``tf.signal.linear_to_mel_weight_matrix`` does.

    Triangles are linear in mel (not in Hz), span 125-7500 Hz with edges equally spaced in mel, peak at 1 and
    are not area-normalised; the DC bin gets no weight (HTK). Computed in float64, returned as float32.
    """
    bin_hz = torch.linspace(0.0, SAMPLE_RATE / 2, FFT_LENGTH // 2 + 1, dtype=torch.float64)[1:]
    bin_mel = _hertz_to_mel(bin_hz).unsqueeze(1)  # (256, 1)
    low, high = _hertz_to_mel(torch.tensor([MEL_MIN_HZ, MEL_MAX_HZ], dtype=torch.float64)).tolist()
    edges = torch.linspace(low, high, MEL_BANDS + 2, dtype=torch.float64)  # band k: edges k, k+1, k+2
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return F.pad(weights, (0, 0, 1, 0)).float()


class YAMNetFrontend(nn.Module):
    """Waveform (B, T) at 16 kHz -> YAMNet log-mel patches (B, P, 1, 96, 64) (frames x mel bands).

    The exact YAMNet features: frames of 400 samples every 160 (no centering) under a periodic Hann window,
    zero-padded to a 512-point FFT, magnitude, the TF mel matrix (:func:`mel_weight_matrix`),
    ``log(mel + 0.001)``, then 96-frame patches every 48 frames.

    Padding follows YAMNet's ``pad_waveform``: a clip shorter than one patch (0.975 s = 15,600 samples) is
    zero-padded to one patch, and a longer one is zero-padded at the end to a whole number of 0.48 s hops, so
    P = :func:`num_patches` (T) and the last patch may hold up to 0.48 s of silence (e.g. 10 s gives 20 patches).
    """

    def __init__(self) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.hop_seconds = PATCH_HOP_SECONDS
        # Not persistent: fixed by YAMNet's definition, so they stay out of checkpoints and weight files.
        self.register_buffer("window", torch.hann_window(STFT_WINDOW, periodic=True), persistent=False)
        self.register_buffer("mel_matrix", mel_weight_matrix(), persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        if waveform.dim() != 2:
            raise ValueError(f"YAMNetFrontend expects a waveform batch (B, T), got shape {tuple(waveform.shape)}")
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            log_mel = self.log_mel(self.pad(waveform.float()))  # (B, frames, 64)
        patches = log_mel.unfold(1, PATCH_FRAMES, PATCH_HOP_FRAMES)  # (B, P, 64, 96)
        return patches.transpose(-1, -2).unsqueeze(2)

    @staticmethod
    def pad(waveform: Tensor) -> Tensor:
        """(B, T) -> (B, T') zero-padded at the end so that exactly :func:`num_patches` (T) patches fit."""
        num_samples = waveform.shape[-1]
        padded = _min_samples() + (num_patches(num_samples) - 1) * PATCH_HOP_FRAMES * STFT_HOP
        return F.pad(waveform, (0, padded - num_samples))

    def log_mel(self, waveform: Tensor) -> Tensor:
        """(B, T) -> (B, frames, 64) with frames = 1 + (T - 400) // 160."""
        frames = waveform.unfold(-1, STFT_WINDOW, STFT_HOP) * self.window  # (B, frames, 400)
        magnitude = torch.fft.rfft(frames, n=FFT_LENGTH).abs()  # (B, frames, 257)
        return torch.log(magnitude @ self.mel_matrix + LOG_OFFSET)
