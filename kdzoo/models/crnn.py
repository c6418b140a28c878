"""CRNN students: a small conv front end, then a bidirectional GRU over time (frames = its sequence)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from kdzoo.models._registry import register_student
from kdzoo.models.base import AudioModel
from kdzoo.models.layers import ConvBlock, classify_frames, student_frontend
from kdzoo.types import ModelOutput


class CRNN(AudioModel):
    """Log-mel (B, 1, 64, T) -> conv blocks pooling (2, 2) -> per-frame vectors -> BiGRU -> head.

    The conv front end reduces 64 mel bands to ``64 / 2**len(channels)`` and flattens (channels x bands)
    into one vector per frame; the GRU's output sequence (B, T', 2 * hidden) is ``frames``.

    Args:
        channels: conv block widths (each block pools frequency and time by 2).
        hidden: GRU hidden size per direction.
        num_classes, sample_rate, n_mels, dropout: as in :class:`~kdzoo.models.cnn.CNN`.
    """

    provides = frozenset({"logits", "embedding", "frames", "feature_map"})

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 32),
        hidden: int = 32,
        num_classes: int = 8,
        sample_rate: int = 16000,
        n_mels: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.sample_rate, self.num_classes, self.embed_dim = sample_rate, num_classes, 2 * hidden
        self.frontend = student_frontend(sample_rate, n_mels)
        self.input_norm = nn.BatchNorm2d(1)
        widths = [1, *channels]
        self.convs = nn.Sequential(*[ConvBlock(a, b, 1, (2, 2)) for a, b in zip(widths, widths[1:], strict=False)])
        bands = n_mels // 2 ** len(channels)
        self.gru = nn.GRU(channels[-1] * bands, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, num_classes)
        self.frame_hop_s = self.frontend.hop_seconds * 2 ** len(channels)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.convs(self.input_norm(spectrogram))  # (B, C, F', T')
        per_frame = feature_map.flatten(1, 2).transpose(1, 2)  # (B, T', C * F')
        frames, _ = self.gru(per_frame)  # (B, T', 2H)
        return classify_frames(frames, feature_map, self.dropout, self.head, self.frame_hop_s)


@register_student(family="crnn", description="CRNN, 3 conv blocks (16-32 ch) + BiGRU 32")
def crnn_s(**kwargs: Any) -> CRNN:
    return CRNN(channels=(16, 32, 32), hidden=32, **kwargs)


@register_student(family="crnn", description="CRNN, 3 conv blocks (32-64 ch) + BiGRU 64")
def crnn_m(**kwargs: Any) -> CRNN:
    return CRNN(channels=(32, 64, 64), hidden=64, **kwargs)
