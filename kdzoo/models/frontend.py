"""Log-mel front ends. Each model owns one, so student and teacher may run at different rates and hops."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

DB_FLOOR_AMPLITUDE = 1e-10
"""Power floor before ``10 log10``: silence maps to -100 dB instead of -inf (silent clips are valid audio)."""


class LogMel(nn.Module):
    """Waveform (B, T) -> log-mel spectrogram (B, 1, n_mels, frames) in dB.

    ``torchaudio.transforms.MelSpectrogram`` (power 2, Hann window, centred frames, Slaney mel scale by
    default) followed by ``AmplitudeToDB`` without ``top_db`` clipping. With ``center=True`` a clip of
    ``T`` samples gives ``1 + T // hop_length`` frames. A clip shorter than half a window (``n_fft // 2 + 1``
    samples, 32 ms at the defaults) is zero-padded to that length first: the centred STFT reflects half a window
    at each end, which needs that many samples. Models normalise the dB values themselves (an input
    BatchNorm), so no dataset statistics are baked in here.

    Args:
        sample_rate: the rate this front end (and so its model) expects, in Hz.
        n_fft: FFT size in samples.
        hop_length: frame hop in samples.
        n_mels: mel bands.
        win_length: window length in samples (default ``n_fft``).
        f_min, f_max: mel band edges in Hz (default 0 and Nyquist).
        mel_scale: ``"slaney"`` or ``"htk"``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 320,
        n_mels: int = 64,
        win_length: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        mel_scale: str = "slaney",
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            power=2.0,
            mel_scale=mel_scale,
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)
        self.to_db.amin = DB_FLOOR_AMPLITUDE

    @property
    def hop_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of ``num_samples`` samples (centred STFT; short clips padded, see above)."""
        return 1 + max(num_samples, self.n_fft // 2 + 1) // self.hop_length

    def forward(self, waveform: Tensor) -> Tensor:
        if waveform.dim() != 2:
            raise ValueError(f"LogMel expects a waveform batch (B, T), got shape {tuple(waveform.shape)}")
        short = self.n_fft // 2 + 1 - waveform.shape[-1]
        if short > 0:
            waveform = F.pad(waveform, (0, short))
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            spec = self.to_db(self.mel(waveform.float()))
        return spec.unsqueeze(1)
