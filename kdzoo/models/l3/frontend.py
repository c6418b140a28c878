"""The kapre-0.1.4 mel front end of L3-Net / OpenL3 and of the SEA students, in PyTorch.

kapre ``Melspectrogram(power_melgram=1.0, htk=True, return_decibel_melgram=True, padding='same')``, as
torchopenl3's ``CustomSpectrogram`` replicates it: Keras 'same' padding of the window, STFT under a periodic
Hann window without centering, power spectrum, HTK mel filterbank, square root (``power_melgram=1``: a mel
*magnitude*), ``10 log10(max(x, 1e-10))``, minus the per-example maximum, floored at -80 dB.

Filterbank: ``librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2, htk=True, norm=1)``. In the librosa /
kapre of 2018 ``norm=1`` meant area normalisation (each triangle divided by its width, today's
``norm="slaney"``), which is our default (``mel_norm="slaney"``); in librosa >= 0.7 ``norm=1`` means L1
normalisation of each filter, which torchopenl3 gets with a current librosa: ``mel_norm="l1"``. The two differ
per band by a factor close to a constant, which the per-example max removes; not exactly, so it is an option.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

AMIN = 1e-10
DYNAMIC_RANGE_DB = 80.0


def same_padding(num_samples: int, n_fft: int, hop: int) -> tuple[int, int]:
    """Keras 'same' padding (left, right) of a 1-D conv of width ``n_fft`` and stride ``hop``: ceil(T / hop) frames."""
    remainder = num_samples % hop
    total = max(n_fft - (remainder if remainder else hop), 0)
    return total // 2, total - total // 2


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_max: float | None = None,
                   norm: str = "slaney") -> Tensor:
    """(n_mels, n_fft // 2 + 1) HTK mel filterbank from 0 Hz to ``f_max`` (default Nyquist), ``norm`` "slaney"
    (area) or "l1" (each filter sums to 1)."""
    if norm not in ("slaney", "l1"):
        raise ValueError(f"mel_norm must be 'slaney' or 'l1', got {norm!r}")
    f_max = sample_rate / 2 if f_max is None else f_max
    with warnings.catch_warnings():  # 256 HTK bands from 0 Hz leave the lowest ones empty, as in librosa
        warnings.filterwarnings("ignore", message=".*mel filterbank has all zero values.*")
        bank = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, float(f_max), n_mels, sample_rate,
                                                     norm="slaney" if norm == "slaney" else None, mel_scale="htk")
    bank = bank.T.contiguous()  # (n_mels, n_freqs)
    if norm == "l1":
        bank = bank / bank.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return bank


class KapreMel(nn.Module):
    """Windows (N, S) -> kapre dB mel magnitude (N, 1, n_mels, ceil(S / hop)) in [-80, 0] dB.

    Args:
        sample_rate: Hz. n_fft: FFT size and Hann window length. hop_length: STFT hop. n_mels: mel bands.
        f_max: top mel edge (None: Nyquist). mel_norm: see the module docstring.
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, f_max: float | None = None,
                 mel_norm: str = "slaney") -> None:
        super().__init__()
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.f_max, self.mel_norm = f_max, mel_norm
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("mel", mel_filterbank(sample_rate, n_fft, n_mels, f_max, mel_norm), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return -(-num_samples // self.hop_length)

    def forward(self, windows: Tensor) -> Tensor:
        if windows.dim() != 2:
            raise ValueError(f"KapreMel expects windows (N, S), got shape {tuple(windows.shape)}")
        with torch.autocast(device_type=windows.device.type, enabled=False):
            padded = F.pad(windows.float(), same_padding(windows.shape[-1], self.n_fft, self.hop_length))
            frames = padded.unfold(-1, self.n_fft, self.hop_length) * self.window  # (N, frames, n_fft)
            power = torch.fft.rfft(frames).abs().pow(2)  # (N, frames, n_fft/2 + 1)
            magnitude = (power @ self.mel.T).sqrt().transpose(1, 2)  # (N, n_mels, frames)
            decibel = 10.0 * torch.log10(magnitude.clamp_min(AMIN))
            decibel = decibel - decibel.amax(dim=(1, 2), keepdim=True)
            return decibel.clamp_min(-DYNAMIC_RANGE_DB).unsqueeze(1)
