"""CP-Mobile-style CNNs for low-complexity acoustic scene classification (DCASE Task 1 budgets).

The design follows the published facts of CP-Mobile (Schmid et al., DCASE 2023 Task 1, the receptive-field
regularised CP-ResNet line): a strided convolutional stem, then stages of inverted-residual blocks (1x1 expand,
3x3 depthwise, 1x1 project, residual when shapes allow) that downsample frequency more than time, a 1x1
convolutional classifier and global average pooling. The code and exact sizes are ours: channel widths and
the expansion rate are chosen so the registered sizes fit the challenge limits with room to spare, counted the
challenge's way (parameters; MACs of the network on the log-mel of 1 s of audio, the front end left out) by
:mod:`kdzoo.edge.profile` and checked in ``tests/test_cpmobile.py``:

======  =====  ==========  ===========  ==================================================================
name    width  params      MMACs / 1 s  parameter memory (challenge limit 128 kB, 1 kB = 1000 bytes)
======  =====  ==========  ===========  ==================================================================
cpm_xs  16     41,422      7.58         41 kB int8, 83 kB float16: fits at either precision
cpm_s   24     87,754      16.23        88 kB int8 (175 kB float16: int8 only)
cpm_m   28     117,328     21.78        117 kB int8 (int8 only)
======  =====  ==========  ===========  ==================================================================

(params: trainable, BatchNorm included, i.e. an upper bound of what is stored once BN folds into the convs;
exact values are asserted in the test.)

Front end: 32 kHz, 64 ms Hann window (n_fft 2048), 16 ms hop (63 frames per 1 s), 128 mel bands.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from kdzoo.models._registry import register_student, register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.frontend import LogMel
from kdzoo.models.layers import frames_from_map
from kdzoo.types import ModelOutput


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int | tuple[int, int] = 1,
            groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias; BatchNorm folds into it at export) -> BatchNorm -> optional ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (``stride`` = (freq, time)) -> 1x1 project; + input when shapes match.

    Input (B, C_in, F, T), output (B, C_out, F / stride_f, T / stride_t).
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: tuple[int, int]) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.block = nn.Sequential(conv_bn(in_channels, hidden, 1), conv_bn(hidden, hidden, 3, stride, groups=hidden),
                                   conv_bn(hidden, out_channels, 1, relu=False))
        self.residual = in_channels == out_channels and stride == (1, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class CPMobile(AudioModel):
    """Log-mel (B, 1, 128, 63) -> stem (2 strided 3x3 convs) -> 3 stages of inverted residuals -> 1x1 classifier.

    Args:
        channels: base width; the three stages have ``channels``, ``2 channels``, ``3 channels`` (rounded).
        expansion: inverted-residual expansion rate.
        blocks: inverted residuals per stage.
        num_classes: K (10 scenes).
        sample_rate: the front end's rate (32 kHz, as DCASE Task 1 systems resample to).
        n_mels: mel bands.
        dropout: on the pooled embedding before the classifier.
    """

    provides = frozenset({"logits", "embedding", "frames", "feature_map"})

    def __init__(self, channels: int = 24, expansion: int = 3, blocks: tuple[int, int, int] = (2, 2, 2),
                 num_classes: int = 10, sample_rate: int = 32000, n_mels: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.sample_rate, self.num_classes = sample_rate, num_classes
        hop = round(sample_rate * 0.016)
        self.frontend = LogMel(sample_rate, n_fft=1 << round(sample_rate * 0.064).bit_length() - 1,
                               hop_length=hop, n_mels=n_mels)
        widths = (channels, 2 * channels, 3 * channels)
        self.input_norm = nn.BatchNorm2d(1)
        self.stem = nn.Sequential(conv_bn(1, channels // 2, 3, 2), conv_bn(channels // 2, channels, 3, 2))
        layers: list[nn.Module] = []
        in_channels = channels
        strides = ((1, 1), (2, 1), (2, 2))  # stage 2 halves frequency only, stage 3 both
        for width, count, stride in zip(widths, blocks, strides, strict=True):
            for i in range(count):
                layers.append(InvertedResidual(in_channels, width, expansion, stride if i == 0 else (1, 1)))
                in_channels = width
        self.stages = nn.Sequential(*layers)
        self.embed_dim = in_channels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_classes, 1, bias=False), nn.BatchNorm2d(num_classes))
        self.frame_hop_s = hop / sample_rate * 8  # stem /4, stage 3 /2 in time

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.stages(self.stem(self.input_norm(spectrogram)))  # (B, C, F', T')
        embedding = feature_map.mean(dim=(2, 3))  # (B, C)
        logits = self.head(self.dropout(feature_map)).mean(dim=(2, 3))  # (B, K)
        return ModelOutput(logits=logits, embedding=embedding, frames=frames_from_map(feature_map),
                           frame_hop_s=self.frame_hop_s, feature_map=feature_map)


@register_student(family="cpmobile", description="CP-Mobile-style CNN, width 16 (DCASE Task 1 budget, smallest)")
def cpm_xs(**kwargs: Any) -> CPMobile:
    return CPMobile(**{"channels": 16, "num_classes": 10, **kwargs})


@register_student(family="cpmobile", description="CP-Mobile-style CNN, width 24 (DCASE Task 1 budget)")
def cpm_s(**kwargs: Any) -> CPMobile:
    return CPMobile(**{"channels": 24, "num_classes": 10, **kwargs})


@register_student(family="cpmobile", description="CP-Mobile-style CNN, width 28 (DCASE Task 1 budget, largest)")
def cpm_m(**kwargs: Any) -> CPMobile:
    return CPMobile(**{"channels": 28, "num_classes": 10, **kwargs})


@register_teacher(family="cpmobile_teacher", description="CP-Mobile-style CNN, width 64, 10 scenes (a scene teacher, "
                                                             "over the Task 1 budget)")
def cpm_teacher(**kwargs: Any) -> CPMobile:
    return CPMobile(**{"channels": 64, "num_classes": 10, **kwargs})
