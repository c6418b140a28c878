"""VGG-style CNNs (the DCASE baseline family): conv blocks with pooling, global pooling, a linear head.

The same class serves small students (``cnn_*``) and wide teachers (``cnn_teacher_*``, the kind of
CNN teacher SP/IUSP-style papers distil from).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from kdzoo.models._registry import register_student, register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.layers import ConvBlock, classify_frames, frames_from_map, student_frontend
from kdzoo.types import ModelOutput


class CNN(AudioModel):
    """Log-mel (B, 1, 64, T) -> len(channels) conv blocks, each halving frequency and time except the last.

    Args:
        channels: output channels of each block.
        convs_per_block: 3x3 convolutions per block.
        num_classes: K.
        sample_rate: expected input rate (8000 or 16000 typical); the front end scales with it.
        n_mels: mel bands.
        dropout: before the classifier.
    """

    provides = frozenset({"logits", "embedding", "frames", "feature_map"})

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64, 64),
        convs_per_block: int = 1,
        num_classes: int = 8,
        sample_rate: int = 16000,
        n_mels: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.sample_rate, self.num_classes, self.embed_dim = sample_rate, num_classes, channels[-1]
        self.frontend = student_frontend(sample_rate, n_mels)
        self.input_norm = nn.BatchNorm2d(1)
        blocks, in_channels = [], 1
        for i, out_channels in enumerate(channels):
            pool = (2, 2) if i < len(channels) - 1 else None
            blocks.append(ConvBlock(in_channels, out_channels, convs_per_block, pool))
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels[-1], num_classes)
        # Each pooled block halves time: the frame hop grows by 2 per pool.
        self.frame_hop_s = self.frontend.hop_seconds * 2 ** (len(channels) - 1)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.blocks(self.input_norm(spectrogram))  # (B, C, F', T')
        frames = frames_from_map(feature_map)  # (B, T', C)
        return classify_frames(frames, feature_map, self.dropout, self.head, self.frame_hop_s)


@register_student(family="cnn", description="CNN, 4 blocks of 8-32 channels (microcontroller-sized)")
def cnn_xs(**kwargs: Any) -> CNN:
    return CNN(channels=(8, 16, 32, 32), **kwargs)


@register_student(family="cnn", description="CNN, 4 blocks of 16-64 channels")
def cnn_s(**kwargs: Any) -> CNN:
    return CNN(channels=(16, 32, 64, 64), **kwargs)


@register_student(family="cnn", description="CNN, 4 blocks of 2 convs, 32-128 channels")
def cnn_m(**kwargs: Any) -> CNN:
    return CNN(channels=(32, 64, 128, 128), convs_per_block=2, **kwargs)


@register_teacher(family="cnn_teacher", description="CNN teacher, 4 blocks of 24-192 channels (CPU-trainable)")
def cnn_teacher_s(**kwargs: Any) -> CNN:
    return CNN(channels=(24, 48, 96, 192), **kwargs)


@register_teacher(family="cnn_teacher", description="wide CNN teacher, 4 blocks of 2 convs, 64-512 channels")
def cnn_teacher_m(**kwargs: Any) -> CNN:
    return CNN(channels=(64, 128, 256, 512), convs_per_block=2, **kwargs)
