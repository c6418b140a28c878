"""Keyword-spotting students in google-research ``kws_streaming``'s published sizes (the Temporal KD students).

Sizes and layer settings are those of ``kws_streaming/experiments/kws_experiments_paper_12_labels.md``
(Rybakov et al., "Streaming keyword spotting on mobile devices", Interspeech 2020; ``shared/reference/methods.md``
2.4); the code is ours, in PyTorch. Trainable parameters for the 12-label task, counted layer by layer from those
settings with Keras' conventions (one GRU bias pair per gate as in Keras' ``reset_after=True``, which is also
PyTorch's) and checked in ``tests/test_kws_models.py``:

===========  ==========  =====================================================================
name         params      layers
===========  ==========  =====================================================================
lstm_p       545,912     LSTM 500 units, peepholes, projection 200, last step; dropout 0.3
tc_resnet    365,274     conv (3x1) 50, residual blocks 50,50,50,50,72,72 (9x1 kernels); dropout 0.2
crnn_kws     467,772     conv 16 (3,3) + conv 16 (5,3) valid, GRU 256 last step, dense 128 -> 256
att_rnn      496,497     conv 10 (5,1) + conv 1 (5,1) + BN, 2 x BiGRU 128, 1 attention query
mhatt_rnn    743,025     as att_rnn with 4 query heads, dropout 0.2
===========  ==========  =====================================================================

(kws_streaming's README gives about 750 K for ``att_mh_rnn``.) Every model reads MFCCs like kws_streaming's:
40 ms windows every 20 ms, 40 mel bands up to 7600 Hz (8000 for mhatt_rnn), DCT to 20 coefficients (40 for
tc_resnet). Our MFCC is the orthonormal DCT of the natural log of the mel power (kws_streaming's ``mfcc_tf`` uses
TensorFlow's op; the scale may differ slightly). SpecAugment is not part of the models here.

For Temporal KD every model exposes ``frames`` (B, T', C), the sequence just before it pools or picks over time:
the LSTM's projected outputs, TC-ResNet's last residual map, the GRU sequences; the attention models also give
their own attention scores over time in ``extras["time_attention"]`` (B, heads, T') so that KD may read them
(``TemporalKD(attention="native")``) instead of a separate head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torchaudio
from torch import Tensor, nn

from kdzoo.models._registry import register_student
from kdzoo.models.base import AudioModel
from kdzoo.models.frontend import LogMel
from kdzoo.types import ModelOutput

KWS_CLASSES = 12
"""10 words + silence + unknown: the registered sizes are counted for this task."""
DB_TO_LN = math.log(10) / 10
"""dB of power -> natural log of power."""


class MFCC(LogMel):
    """Waveform (B, T) -> MFCC (B, 1, frames, n_mfcc), time first like kws_streaming's feature layout.

    The log-mel of :class:`~kdzoo.models.frontend.LogMel` (40 ms Hann window in a 1024-point FFT at 16 kHz, 20 ms
    hop, centred frames: 1 + T // hop frames), converted to the natural log of mel power, then an orthonormal DCT-II.
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 40, n_mfcc: int = 20, f_max: float = 7600.0,
                 window_seconds: float = 0.04, hop_seconds: float = 0.02) -> None:
        window = round(sample_rate * window_seconds)
        super().__init__(sample_rate, n_fft=1 << (window - 1).bit_length(), hop_length=round(sample_rate * hop_seconds),
                         n_mels=n_mels, win_length=window, f_max=min(f_max, sample_rate / 2))
        self.n_mfcc = n_mfcc
        self.register_buffer("dct", torchaudio.functional.create_dct(n_mfcc, n_mels, norm="ortho"), persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        log_power = super().forward(waveform)[:, 0] * DB_TO_LN  # (B, n_mels, frames)
        return (log_power.transpose(1, 2) @ self.dct).unsqueeze(1)  # (B, 1, frames, n_mfcc)


class KWSModel(AudioModel):
    """Shared set-up of the KWS students: sample rate, classes and the MFCC front end."""

    provides = frozenset({"logits", "embedding", "frames"})

    def _kws_init(self, num_classes: int, sample_rate: int, n_mfcc: int, f_max: float) -> None:
        self.sample_rate, self.num_classes = sample_rate, num_classes
        self.frontend = MFCC(sample_rate, n_mfcc=n_mfcc, f_max=f_max)


class PeepholeLSTM(nn.Module):
    """One-layer LSTM with peephole connections and a linear projection of its output (Sak et al. 2014).

    PyTorch's ``nn.LSTM`` has projections but no peepholes (and two bias vectors), so this is written out: per
    step, i, f = sigma(W x + R r + p * c_prev + b), g = tanh(.), c = f c_prev + i g, o = sigma(. + p_o * c),
    r = P (o * tanh c). Parameters: (input + proj) x 4 units + 4 units + 3 units + units x proj, as the TF1
    ``LSTMCell(use_peepholes=True, num_proj=...)`` kws_streaming uses. The forget-gate bias starts at 1 (TF's
    ``forget_bias``).

    Input (B, T, input), output (B, T, proj).
    """

    def __init__(self, input_size: int, units: int, proj: int) -> None:
        super().__init__()
        self.units, self.proj = units, proj
        self.gates = nn.Linear(input_size + proj, 4 * units)
        self.peephole = nn.Parameter(torch.zeros(3, units))  # input, forget, output gates
        self.projection = nn.Linear(units, proj, bias=False)
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[units : 2 * units].fill_(1.0)

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        r = x.new_zeros(batch, self.proj)
        c = x.new_zeros(batch, self.units)
        p_i, p_f, p_o = self.peephole
        outputs = []
        for t in range(x.shape[1]):
            z_i, z_f, z_g, z_o = self.gates(torch.cat([x[:, t], r], dim=-1)).chunk(4, dim=-1)
            c = torch.sigmoid(z_f + p_f * c) * c + torch.sigmoid(z_i + p_i * c) * torch.tanh(z_g)
            r = self.projection(torch.sigmoid(z_o + p_o * c) * torch.tanh(c))
            outputs.append(r)
        return torch.stack(outputs, dim=1)


class LSTMP(KWSModel):
    """kws_streaming ``lstm`` with peepholes and projection (``lstm_peep``): MFCC -> LSTM-P -> last step -> dense.

    ``frames`` = the projected output at every step (B, T, proj); ``embedding`` = the last step's.
    """

    def __init__(self, units: int = 500, proj: int = 200, dropout: float = 0.3, num_classes: int = KWS_CLASSES,
                 sample_rate: int = 16000, n_mfcc: int = 20) -> None:
        super().__init__()
        self._kws_init(num_classes, sample_rate, n_mfcc, 7600.0)
        self.embed_dim = proj
        self.lstm = PeepholeLSTM(n_mfcc, units, proj)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(proj, num_classes)
        self.frame_hop_s = self.frontend.hop_seconds

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        frames = self.lstm(spectrogram[:, 0])  # (B, T, proj)
        embedding = frames[:, -1]
        return ModelOutput(logits=self.head(self.dropout(embedding)), embedding=embedding, frames=frames,
                           frame_hop_s=self.frame_hop_s)


class ResidualBlock(nn.Module):
    """TC-ResNet block: two (k x 1) temporal convs + BN (ReLU between), plus the input, or a 1x1 conv + BN +
    ReLU of it when the width changes (then the block strides 2 in time)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 9) -> None:
        super().__init__()
        stride = 1 if in_channels == out_channels else 2
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=pad), nn.BatchNorm1d(out_channels),
            nn.ReLU(), nn.Conv1d(out_channels, out_channels, kernel, padding=pad), nn.BatchNorm1d(out_channels))
        self.shortcut = nn.Identity() if stride == 1 else nn.Sequential(
            nn.Conv1d(in_channels, out_channels, 1, stride=2), nn.BatchNorm1d(out_channels), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class TCResNet(KWSModel):
    """TC-ResNet (Choi et al. 2019), kws_streaming's flavour: the MFCC coefficients are the input channels and
    every convolution runs over time only ((3 x 1) stem, (9 x 1) blocks), so a (T x 1) map flows through.

    kws_streaming writes these as Conv2D on a (T, 1, C) map; a Conv1d over time has the same weights.
    ``frames`` = the last block's map before the global average pool, (B, T', C) with T' = ceil(T / 2).
    """

    def __init__(self, channels: Sequence[int] = (50, 50, 50, 50, 50, 72, 72), kernel: int = 9, dropout: float = 0.2,
                 num_classes: int = KWS_CLASSES, sample_rate: int = 16000, n_mfcc: int = 40) -> None:
        super().__init__()
        self._kws_init(num_classes, sample_rate, n_mfcc, 7600.0)
        self.embed_dim = channels[-1]
        self.stem = nn.Sequential(nn.Conv1d(n_mfcc, channels[0], 3, padding=1), nn.BatchNorm1d(channels[0]), nn.ReLU())
        pairs = zip(channels, channels[1:], strict=False)
        self.blocks = nn.Sequential(*[ResidualBlock(a, b, kernel) for a, b in pairs])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels[-1], num_classes)  # kws_streaming's 1x1 conv on the pooled map
        self.frame_hop_s = self.frontend.hop_seconds * 2 ** sum(a != b for a, b in zip(channels, channels[1:],
                                                                                        strict=False))

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.blocks(self.stem(spectrogram[:, 0].transpose(1, 2)))  # (B, C, T')
        embedding = feature_map.mean(dim=-1)
        return ModelOutput(logits=self.head(self.dropout(embedding)), embedding=embedding,
                           frames=feature_map.transpose(1, 2), frame_hop_s=self.frame_hop_s,
                           feature_map=feature_map.unsqueeze(2))

    provides = frozenset({"logits", "embedding", "frames", "feature_map"})


class CRNNKWS(KWSModel):
    """kws_streaming ``crnn``: two valid convs over (time, MFCC) with ReLU, a GRU whose last step goes through
    dense 128 (linear) -> dense 256 (ReLU) -> classes. ``frames`` = the GRU's output sequence (B, T', units)."""

    def __init__(self, filters: Sequence[int] = (16, 16), kernels: Sequence[tuple[int, int]] = ((3, 3), (5, 3)),
                 units: int = 256, dense: Sequence[int] = (128, 256), dropout: float = 0.1,
                 num_classes: int = KWS_CLASSES, sample_rate: int = 16000, n_mfcc: int = 20) -> None:
        super().__init__()
        self._kws_init(num_classes, sample_rate, n_mfcc, 7600.0)
        layers, width, features = [], 1, n_mfcc
        for out, kernel in zip(filters, kernels, strict=True):
            layers += [nn.Conv2d(width, out, tuple(kernel)), nn.ReLU()]
            width, features = out, features - kernel[1] + 1
        self.convs = nn.Sequential(*layers)
        self.gru = nn.GRU(width * features, units, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Sequential(nn.Linear(units, dense[0]), nn.Linear(dense[0], dense[1]), nn.ReLU())
        self.head = nn.Linear(dense[1], num_classes)
        self.embed_dim = dense[1]
        self.frame_hop_s = self.frontend.hop_seconds

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.convs(spectrogram)  # (B, C, T', F')
        frames, _ = self.gru(feature_map.permute(0, 2, 1, 3).flatten(2))  # (B, T', units)
        embedding = self.dense(self.dropout(frames[:, -1]))
        return ModelOutput(logits=self.head(embedding), embedding=embedding, frames=frames,
                           frame_hop_s=self.frame_hop_s)


class AttentionRNN(KWSModel):
    """kws_streaming ``att_rnn`` / ``att_mh_rnn`` (de Andrade et al. 2018; multi-head: Rybakov et al. 2020).

    (5 x 1) convs over time with ReLU and BatchNorm, two bidirectional GRUs, then per head a query projected from
    the middle frame: scores_t = q . h_t, softmax over time, attended sum; heads concatenated -> dropout ->
    dense 64 (ReLU) -> dense 32 (linear) -> classes. ``frames`` = the BiGRU sequence (B, T, 2 units);
    ``extras["time_attention"]`` = the scores before the softmax (B, heads, T).
    """

    native_time_attention = True
    """Marks models whose outputs carry ``extras["time_attention"]`` (read by ``TemporalKD(attention="native")``)."""

    def __init__(self, heads: int = 1, filters: Sequence[int] = (10, 1), units: int = 128, layers: int = 2,
                 dense: Sequence[int] = (64, 32), dropout: float = 0.1, num_classes: int = KWS_CLASSES,
                 sample_rate: int = 16000, n_mfcc: int = 20, f_max: float = 7600.0) -> None:
        super().__init__()
        self._kws_init(num_classes, sample_rate, n_mfcc, f_max)
        convs, width = [], 1
        for out in filters:
            convs += [nn.Conv2d(width, out, (5, 1), padding=(2, 0)), nn.ReLU(), nn.BatchNorm2d(out)]
            width = out
        self.convs = nn.Sequential(*convs)
        self.rnn = nn.GRU(width * n_mfcc, units, num_layers=layers, batch_first=True, bidirectional=True)
        self.queries = nn.ModuleList(nn.Linear(2 * units, 2 * units) for _ in range(heads))
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Sequential(nn.Linear(heads * 2 * units, dense[0]), nn.ReLU(), nn.Linear(dense[0], dense[1]))
        self.head = nn.Linear(dense[1], num_classes)
        self.embed_dim = dense[1]
        self.frame_hop_s = self.frontend.hop_seconds

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.convs(spectrogram)  # (B, C, T, F)
        frames, _ = self.rnn(feature_map.permute(0, 2, 1, 3).flatten(2))  # (B, T, 2 units)
        middle = frames[:, frames.shape[1] // 2]
        scores = torch.stack([torch.einsum("bc,btc->bt", query(middle), frames) for query in self.queries], dim=1)
        attended = torch.einsum("bht,btc->bhc", torch.softmax(scores, dim=-1), frames).flatten(1)
        embedding = self.dense(self.dropout(attended))
        return ModelOutput(logits=self.head(embedding), embedding=embedding, frames=frames,
                           frame_hop_s=self.frame_hop_s, extras={"time_attention": scores})


@register_student(family="kws", description="LSTM-P (kws_streaming lstm_peep): LSTM 500 + peepholes + projection 200")
def lstm_p(**kwargs: Any) -> LSTMP:
    return LSTMP(**kwargs)


@register_student(family="kws", description="TC-ResNet (kws_streaming flavour): channels 50x5, 72x2, 9x1 kernels")
def tc_resnet(**kwargs: Any) -> TCResNet:
    return TCResNet(**kwargs)


@register_student(family="kws", description="CRNN (kws_streaming crnn): 2 convs 16, GRU 256, dense 128-256")
def crnn_kws(**kwargs: Any) -> CRNNKWS:
    return CRNNKWS(**kwargs)


@register_student(family="kws", description="Att-RNN (kws_streaming att_rnn): convs, 2 BiGRU 128, 1 attention head")
def att_rnn(**kwargs: Any) -> AttentionRNN:
    return AttentionRNN(**{"heads": 1, "dropout": 0.1, **kwargs})


@register_student(family="kws", description="MHAtt-RNN (kws_streaming att_mh_rnn): as att_rnn with 4 heads")
def mhatt_rnn(**kwargs: Any) -> AttentionRNN:
    return AttentionRNN(**{"heads": 4, "dropout": 0.2, "f_max": 8000.0, **kwargs})
