"""CNN-LSTM students, the IUSP paper's student family as far as it is known: one conv layer, then one LSTM.

The IUSP paper (Chang et al., Interspeech 2020) does not publish its students; the only description found is a
third-party one ("one CNN layer followed by a single layer LSTM cell"): Conv2d(1, 32, k=5, stride=2) over 20
log-mel bands, the (channels x bands) slice of each time step into an LSTM(256 -> 64), the last step into a
linear layer. The sizes here scale that shape from ~10 k to ~330 k parameters. Unverified details are options:
the readout (``"last"`` LSTM step, as described, or ``"pool"``: mean + max over the sequence like the other
kdzoo students) and the batch norm + ReLU after the conv (ours).
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from kdzoo.models._registry import register_student
from kdzoo.models.base import AudioModel
from kdzoo.models.frontend import LogMel
from kdzoo.models.layers import pool_time
from kdzoo.types import ModelOutput

Readout = Literal["last", "pool"]


def vggish_style_frontend(sample_rate: int = 16000, n_mels: int = 20) -> LogMel:
    """25 ms windows every 10 ms, ``n_mels`` HTK bands over 125-7500 Hz (the VGGish-style features described)."""
    return LogMel(sample_rate=sample_rate, n_fft=512, win_length=round(0.025 * sample_rate),
                  hop_length=round(0.010 * sample_rate), n_mels=n_mels, f_min=125.0, f_max=7500.0, mel_scale="htk")


class CNNLSTM(AudioModel):
    """Log-mel (B, 1, n_mels, T) -> conv 5x5 stride 2 -> per-step vectors (B, T', C*F') -> LSTM -> head.

    ``frames`` is the LSTM output sequence (B, T', hidden), one frame every 20 ms (the 10 ms hop times the
    conv stride): what IUSP compares. ``feature_map`` is the conv output (B, C, F', T').

    Args:
        channels: conv filters.
        hidden: LSTM hidden size.
        readout: ``"last"`` (the final LSTM step feeds the head) or ``"pool"`` (mean + max over steps).
        num_classes, sample_rate: as for every student; n_mels: mel bands of the front end (20 as described).
        dropout: before the head.
    """

    provides = frozenset({"logits", "embedding", "frames", "feature_map"})

    def __init__(
        self,
        channels: int = 32,
        hidden: int = 64,
        readout: Readout = "last",
        num_classes: int = 8,
        sample_rate: int = 16000,
        n_mels: int = 20,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if readout not in ("last", "pool"):
            raise ValueError(f"CNNLSTM readout must be 'last' or 'pool', got {readout!r}")
        if n_mels < 5:
            raise ValueError(f"CNNLSTM needs n_mels >= 5 for its 5x5 conv, got {n_mels}")
        self.sample_rate, self.num_classes, self.embed_dim, self.readout = sample_rate, num_classes, hidden, readout
        self.frontend = vggish_style_frontend(sample_rate, n_mels)
        self.input_norm = nn.BatchNorm2d(1)
        self.conv = nn.Sequential(nn.Conv2d(1, channels, 5, stride=2), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        bands = (n_mels - 5) // 2 + 1
        self.lstm = nn.LSTM(channels * bands, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes)
        self.frame_hop_s = self.frontend.hop_seconds * 2

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.conv(self.input_norm(spectrogram))  # (B, C, F', T')
        frames, _ = self.lstm(feature_map.flatten(1, 2).transpose(1, 2))  # (B, T', H)
        embedding = frames[:, -1] if self.readout == "last" else pool_time(frames)
        return ModelOutput(logits=self.head(self.dropout(embedding)), embedding=embedding, frames=frames,
                           frame_hop_s=self.frame_hop_s, feature_map=feature_map)


@register_student(family="cnn_lstm", description="CNN-LSTM (IUSP family), conv 8 + LSTM 24, ~9 k params")
def cnn_lstm_s(**kwargs: Any) -> CNNLSTM:
    return CNNLSTM(channels=8, hidden=24, **kwargs)


@register_student(family="cnn_lstm", description="CNN-LSTM (IUSP family), conv 32 + LSTM 64, ~84 k params")
def cnn_lstm_m(**kwargs: Any) -> CNNLSTM:
    return CNNLSTM(channels=32, hidden=64, **kwargs)


@register_student(family="cnn_lstm", description="CNN-LSTM (IUSP family), conv 64 + LSTM 128, ~330 k params")
def cnn_lstm_l(**kwargs: Any) -> CNNLSTM:
    return CNNLSTM(channels=64, hidden=128, **kwargs)


__all__ = ["CNNLSTM", "cnn_lstm_l", "cnn_lstm_m", "cnn_lstm_s"]
