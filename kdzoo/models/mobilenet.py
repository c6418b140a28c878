"""MobileNet students from timm (``in_chans=1``), adapted to kdzoo's front end and ModelOutput."""

from __future__ import annotations

from typing import Any

import timm
from torch import Tensor, nn

from kdzoo.models._registry import register_student
from kdzoo.models.base import AudioModel
from kdzoo.models.layers import frames_from_map, student_frontend
from kdzoo.types import ModelOutput


class MobileNet(AudioModel):
    """A timm MobileNetV2/V3 on a log-mel image (B, 1, 64, T).

    ``feature_map`` is timm's ``forward_features`` output (B, C, F', T'); ``frames`` pools it over frequency;
    ``embedding`` is timm's pre-logits vector (after MobileNetV3's conv head), so ``logits`` are exactly
    what the timm model would produce.

    Args:
        arch: a timm model name, e.g. ``mobilenetv3_small_050``.
        num_classes, sample_rate, n_mels: as in :class:`~kdzoo.models.cnn.CNN`.
        drop_rate: timm's classifier dropout.
    """

    provides = frozenset({"logits", "embedding", "frames", "feature_map"})

    def __init__(
        self,
        arch: str = "mobilenetv3_small_050",
        num_classes: int = 8,
        sample_rate: int = 16000,
        n_mels: int = 64,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__()
        self.sample_rate, self.num_classes = sample_rate, num_classes
        self.frontend = student_frontend(sample_rate, n_mels)
        self.input_norm = nn.BatchNorm2d(1)
        self.net = timm.create_model(arch, pretrained=False, in_chans=1, num_classes=num_classes, drop_rate=drop_rate)
        self.embed_dim = getattr(self.net, "head_hidden_size", None) or self.net.num_features
        self.frame_hop_s = self.frontend.hop_seconds * self.net.feature_info[-1]["reduction"]

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        feature_map = self.net.forward_features(self.input_norm(spectrogram))
        embedding = self.net.forward_head(feature_map, pre_logits=True)
        return ModelOutput(
            logits=self.net.get_classifier()(embedding),
            embedding=embedding,
            frames=frames_from_map(feature_map),
            frame_hop_s=self.frame_hop_s,
            feature_map=feature_map,
        )


@register_student(family="mobilenet", description="timm MobileNetV3-small, width 0.5")
def mobilenetv3_small_050(**kwargs: Any) -> MobileNet:
    return MobileNet(arch="mobilenetv3_small_050", **kwargs)


@register_student(family="mobilenet", description="timm MobileNetV3-small, width 1.0")
def mobilenetv3_small_100(**kwargs: Any) -> MobileNet:
    return MobileNet(arch="mobilenetv3_small_100", **kwargs)


@register_student(family="mobilenet", description="timm MobileNetV2, width 0.5")
def mobilenetv2_050(**kwargs: Any) -> MobileNet:
    return MobileNet(arch="mobilenetv2_050", **kwargs)
