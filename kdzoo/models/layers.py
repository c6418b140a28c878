"""Building blocks shared by more than one model family."""

from __future__ import annotations

from torch import Tensor, nn

from kdzoo.models.frontend import LogMel
from kdzoo.types import ModelOutput


def student_frontend(sample_rate: int, n_mels: int = 64, hop_seconds: float = 0.02) -> LogMel:
    """The kdzoo default log-mel: 64 ms window (n_fft 1024 at 16 kHz, 512 at 8 kHz), 20 ms hop, 64 mels."""
    n_fft = 1 << round(sample_rate * 0.064).bit_length() - 1
    return LogMel(sample_rate=sample_rate, n_fft=n_fft, hop_length=round(sample_rate * hop_seconds), n_mels=n_mels)


class ConvBlock(nn.Sequential):
    """``convs`` x (3x3 conv -> BatchNorm -> ReLU), then an optional (freq, time) average pool."""

    def __init__(self, in_channels: int, out_channels: int, convs: int = 1, pool: tuple[int, int] | None = (2, 2)):
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
        if pool is not None:
            layers.append(nn.AvgPool2d(pool))
        super().__init__(*layers)


def frames_from_map(feature_map: Tensor) -> Tensor:
    """(B, C, F, T) -> (B, T, C): average over frequency, keep time (what IUSP-style methods compare)."""
    return feature_map.mean(dim=2).transpose(1, 2)


def pool_time(frames: Tensor) -> Tensor:
    """(B, T, C) -> (B, C): mean + max over time, so both sustained and short events reach the head."""
    return frames.mean(dim=1) + frames.amax(dim=1)


def classify_frames(
    frames: Tensor, feature_map: Tensor, dropout: nn.Module, head: nn.Module, frame_hop_s: float
) -> ModelOutput:
    """The shared tail of the CNN and CRNN: frames (B, T, C) -> pooled embedding (B, C) -> dropout -> head."""
    embedding = pool_time(frames)
    return ModelOutput(logits=head(dropout(embedding)), embedding=embedding, frames=frames, frame_hop_s=frame_hop_s,
                       feature_map=feature_map)
