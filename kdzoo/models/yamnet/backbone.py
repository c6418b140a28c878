"""YAMNet's MobileNetV1 backbone: 27 convs (1 standard + 13 depthwise-separable pairs, batch norm folded into the
biases, ReLU) and global average pooling, patches (N, 1, 96, 64) -> embeddings (N, 1024)."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from kdzoo.models.yamnet.frontend import MEL_BANDS, PATCH_FRAMES

BATCHNORM_EPSILON = 1e-4  # params.batchnorm_epsilon; YAMNet's BN has beta only (center=True, scale=False)

NUM_AUDIOSET_CLASSES = 521
EMBED_DIM = 1024

# (stride, output channels) of YAMNet's 14 layers: layer1 is a standard 3x3 conv, layers 2-14 are
# depthwise 3x3 + pointwise 1x1 pairs (yamnet.py, _YAMNET_LAYER_DEFS).
LAYER_DEFS: tuple[tuple[int, int], ...] = (
    (2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)  # fmt: skip


class TFSameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``padding="same"``: output size ceil(in / stride), the odd pixel of padding
    at the bottom/right. For YAMNet's 3x3 kernels that is 1 on every side at stride 1 and (0 top/left, 1
    bottom/right) at stride 2 on even sizes, the pads of the ONNX export."""

    def forward(self, x: Tensor) -> Tensor:
        left, right, top, bottom = self.same_pads(x.shape[-2:])
        if (left, top) == (right, bottom):  # symmetric: let the conv pad (no copy)
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, 1, self.groups)

    def same_pads(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) padding of an input of spatial ``size`` (H, W)."""
        pads: list[int] = []
        for length, kernel, stride in zip(
            reversed(size), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
            pads += [total // 2, total - total // 2]
        return pads[0], pads[1], pads[2], pads[3]


def conv_layer_names() -> list[tuple[str, str]]:
    """The 27 convolutions in graph order as (PyTorch module path in the backbone, Keras layer name).

    The Keras names are those of yamnet.py (``layer1/conv``, ``layer2/depthwise_conv``,
    ``layer2/pointwise_conv``, ...); each conv's batch norm is the Keras layer ``<name>/bn``.
    """
    names = [("layer1.conv", "layer1/conv")]
    for i in range(2, len(LAYER_DEFS) + 1):
        names += [
            (f"layer{i}.depthwise", f"layer{i}/depthwise_conv"),
            (f"layer{i}.pointwise", f"layer{i}/pointwise_conv"),
        ]
    return names


def _conv_relu(in_channels: int, out_channels: int, kernel: int, stride: int, groups: int) -> list:
    return [TFSameConv2d(in_channels, out_channels, kernel, stride=stride, groups=groups), nn.ReLU(inplace=True)]


def yamnet_backbone() -> nn.Sequential:
    """Patches (N, 1, 96, 64) -> embeddings (N, 1024): YAMNet's 27 convs (biases = folded batch norm), ReLU,
    global average pooling over the final (3, 2) map."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 1
    for i, (stride, out_channels) in enumerate(LAYER_DEFS, start=1):
        if i == 1:
            conv, relu = _conv_relu(in_channels, out_channels, 3, stride, groups=1)
            layers["layer1"] = nn.Sequential(OrderedDict(conv=conv, relu=relu))
        else:
            dw_conv, dw_relu = _conv_relu(in_channels, in_channels, 3, stride, groups=in_channels)
            pw_conv, pw_relu = _conv_relu(in_channels, out_channels, 1, 1, groups=1)
            parts = OrderedDict(depthwise=dw_conv, depthwise_relu=dw_relu, pointwise=pw_conv, pointwise_relu=pw_relu)
            layers[f"layer{i}"] = nn.Sequential(parts)
        in_channels = out_channels
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    return nn.Sequential(layers)


def embed_patches(backbone: nn.Module, patches: Tensor) -> Tensor:
    """Run ``backbone`` on every patch: (B, P, 1, 96, 64) -> (B, P, 1024)."""
    if patches.dim() != 5 or tuple(patches.shape[2:]) != (1, PATCH_FRAMES, MEL_BANDS):
        raise ValueError(
            f"YAMNet expects log-mel patches (B, P, 1, {PATCH_FRAMES}, {MEL_BANDS}) from YAMNetFrontend, "
            f"got shape {tuple(patches.shape)}"
        )
    batch, count = patches.shape[:2]
    return backbone(patches.flatten(0, 1)).view(batch, count, -1)
