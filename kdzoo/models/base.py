"""The base class every kdzoo model (student or teacher architecture) derives from."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from kdzoo.types import ModelOutput


class AudioModel(nn.Module):
    """Waveform in, :class:`~kdzoo.types.ModelOutput` out, with the sample rate checked at the door.

    Subclasses set ``self.frontend`` (waveform (B, T) -> spectrogram) and implement
    :meth:`forward_spectrogram`. They declare in ``provides`` which optional ``ModelOutput`` fields they
    fill, so a KD method that needs e.g. ``frames`` is rejected when the Distiller is built, not mid-epoch.

    Attributes:
        sample_rate: the rate the model's front end expects, in Hz.
        num_classes: K, the width of ``logits``.
        embed_dim: D, the width of ``embedding``.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"logits", "embedding"})
    sample_rate: int
    num_classes: int
    embed_dim: int
    frontend: nn.Module

    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> ModelOutput:
        """Args: waveform (B, T) mono audio; sample_rate its rate (checked when given)."""
        self.check_sample_rate(sample_rate)
        return self.forward_spectrogram(self.frontend(waveform))

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram as produced by ``self.frontend``, e.g. (B, 1, n_mels, frames)."""
        raise NotImplementedError

    def check_sample_rate(self, sample_rate: int | None) -> None:
        if sample_rate is not None and int(sample_rate) != int(self.sample_rate):
            raise ValueError(
                f"{type(self).__name__} expects audio at {self.sample_rate} Hz but got {sample_rate} Hz; "
                f"resample first (the Distiller does this for you)"
            )
