"""L3-Net's audio network (the OpenL3 / EdgeL3 teacher) and the four SEA students, with their registry names.

One conv stack, :class:`L3ConvNet`: an input BatchNorm, four blocks of two 3x3 'same' convs (BN + ReLU after
each) with a 2x2 max pool after the first three blocks, then the last conv ``audio_embedding_layer``. It
differs between the two roles in exactly two places (shared/reference/methods.md section 1.2-1.3):

* OpenL3's teacher has *no* BN/ReLU after ``audio_embedding_layer`` and max-pools the (32, 24) map with a
  (32, 24) window to 512-d or an (8, 8) window to 4 x 3 x 512 = 6144-d (flattened channels-last, as Keras);
* the SEA students (EdgeL3 ``_construct_ust_specialized_audio_network``) *do* add BN + ReLU there and max-pool
  the whole remaining (8, 6) map, so their embeddings are >= 0, as released.

Keras BatchNorm (eps 1e-3, momentum 0.99) is PyTorch ``BatchNorm2d(eps=1e-3, momentum=0.01)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from kdzoo.models._registry import register_student, register_teacher
from kdzoo.models.l3.frontend import KapreMel
from kdzoo.models.window import WindowedFrontend, WindowEmbedder

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # Keras momentum 0.99
L3_SAMPLE_RATE, L3_N_FFT, L3_HOP, L3_MELS = 48000, 2048, 242, 256
SEA_SAMPLE_RATE, SEA_N_FFT, SEA_HOP, SEA_MELS = 8000, 1024, 160, 64
L3_POOLS = {512: (32, 24), 6144: (8, 8)}
"""OpenL3 mel256 max-pool window per embedding size."""
SEA_FILTERS = {
    0: (64, 128, 256, 512),
    1: (32, 64, 128, 256),
    2: (32, 64, 128, 128),
    3: (32, 64, 128, 64),
}
"""Filters of conv blocks 1-4 of SEA students 0-3 (EdgeL3 reduction factors [1,1,1,1], [2,2,2,2], [2,2,2,4],
[2,2,2,8] of 64/128/256/512); the embedding width is the last one."""
TRAIN_HOP_S = 0.5
"""Window hop of the SEA upstream KD audio (EA ``get_audio_windows``: 1 s windows every 0.5 s)."""


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class L3ConvNet(nn.Module):
    """Mel (N, 1, F, T) -> (N, D) embedding.

    Args:
        filters: channels of blocks 1-4 (two convs each; the second conv of block 4 is ``audio_embedding_layer``).
        embedding_activation: BN + ReLU after ``audio_embedding_layer`` (SEA students) or not (OpenL3).
        pool: max-pool window over the final map, None for a global max pool. The pooled map is flattened
            channels-last (Keras order), so a (4, 3, 512) map gives the OpenL3 6144-d layout.
    """

    def __init__(self, filters: Sequence[int], embedding_activation: bool, pool: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.input_norm = _bn(1)
        layers: list[nn.Module] = []
        in_channels = 1
        for block, out_channels in enumerate(filters):
            for conv in range(2):
                layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1))
                in_channels = out_channels
                if block == len(filters) - 1 and conv == 1 and not embedding_activation:
                    break
                layers += [_bn(out_channels), nn.ReLU(inplace=True)]
            if block < len(filters) - 1:
                layers.append(nn.MaxPool2d(2, 2))
        self.layers = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(pool) if pool is not None else nn.AdaptiveMaxPool2d(1)

    def conv_layers(self) -> list[nn.Conv2d]:
        return [m for m in self.layers if isinstance(m, nn.Conv2d)]

    def norm_layers(self) -> list[nn.BatchNorm2d]:
        return [self.input_norm, *(m for m in self.layers if isinstance(m, nn.BatchNorm2d))]

    def forward(self, spectrogram: Tensor) -> Tensor:
        pooled = self.pool(self.layers(self.input_norm(spectrogram)))  # (N, C, h, w)
        return pooled.permute(0, 2, 3, 1).flatten(1)  # channels-last flatten, as Keras


class L3Audio(WindowEmbedder):
    """L3-Net / OpenL3 audio network ("L3 Audio", mel256): 1 s windows at 48 kHz -> 512-d or 6144-d each.

    Front end: :class:`~kdzoo.models.l3.frontend.KapreMel` (n_fft 2048, hop 242, 256 HTK mels) -> (1, 256, 199).
    No L3 weights can be downloaded here: pass ``weights=PATH`` to an OpenL3 / EdgeL3 Keras ``.h5`` you have
    (read with h5py, see :mod:`kdzoo.models.l3.h5`), or a kdzoo ``.pt``; the default is an untrained network.

    Args:
        embedding_size: 512 or 6144.
        weights: None (random init) or a path to ``.h5`` / ``.pt``.
        hop_s: window hop in seconds (0.5 as SEA's upstream windows; ``get_embedding`` asks for 0.1).
        num_classes: K of the optional probe (see :class:`~kdzoo.models.window.WindowEmbedder`).
        mel_norm: "slaney" or "l1" (:mod:`kdzoo.models.l3.frontend`).
    """

    def __init__(self, embedding_size: int = 512, weights: str | None = None, hop_s: float = TRAIN_HOP_S,
                 num_classes: int = 0, mel_norm: str = "slaney") -> None:
        super().__init__()
        if embedding_size not in L3_POOLS:
            raise ValueError(f"l3_audio embedding_size must be one of {sorted(L3_POOLS)}, got {embedding_size}")
        self.sample_rate, self.embed_dim = L3_SAMPLE_RATE, embedding_size
        mel = KapreMel(L3_SAMPLE_RATE, L3_N_FFT, L3_HOP, L3_MELS, mel_norm=mel_norm)
        self.frontend = WindowedFrontend(mel, L3_SAMPLE_RATE, hop_s=hop_s)
        self.network = L3ConvNet(SEA_FILTERS[0], embedding_activation=False, pool=L3_POOLS[embedding_size])
        self._init_probe(num_classes)
        if weights is not None:
            _load_weights(self.network, weights)


class SEAStudent(WindowEmbedder):
    """A SEA student (Srivastava et al. 2021, EdgeL3): 1 s windows at 8 kHz -> a non-negative embedding each.

    Front end: :class:`~kdzoo.models.l3.frontend.KapreMel` (n_fft 1024, hop 160, 64 HTK mels to 4 kHz) ->
    (1, 64, 50). Network: :class:`L3ConvNet` with ``SEA_FILTERS[size]``, BN + ReLU after the embedding conv,
    global max pool.

    Args:
        size: 0-3 (embedding 512 / 256 / 128 / 64).
        hop_s: window hop in seconds (0.5 for SEA training; ``get_embedding`` asks for 0.1).
        num_classes: K of the optional probe; 0 keeps exactly the paper's trainable parameters.
        weights: None or a path to an EdgeL3 ``.h5`` or a kdzoo ``.pt`` of this network.
        sample_rate: accepted only as 8000 (recipes link the data's rate; the Distiller resamples).
    """

    def __init__(self, size: int = 2, hop_s: float = TRAIN_HOP_S, num_classes: int = 0, weights: str | None = None,
                 sample_rate: int | None = None, mel_norm: str = "slaney") -> None:
        super().__init__()
        if size not in SEA_FILTERS:
            raise ValueError(f"SEA student size must be one of {sorted(SEA_FILTERS)}, got {size}")
        if sample_rate not in (None, SEA_SAMPLE_RATE):
            raise ValueError(f"SEA students run at {SEA_SAMPLE_RATE} Hz (the Distiller resamples), got {sample_rate}")
        self.sample_rate, self.embed_dim = SEA_SAMPLE_RATE, SEA_FILTERS[size][-1]
        mel = KapreMel(SEA_SAMPLE_RATE, SEA_N_FFT, SEA_HOP, SEA_MELS, mel_norm=mel_norm)
        self.frontend = WindowedFrontend(mel, SEA_SAMPLE_RATE, hop_s=hop_s)
        self.network = L3ConvNet(SEA_FILTERS[size], embedding_activation=True)
        self._init_probe(num_classes)
        if weights is not None:
            _load_weights(self.network, weights)


def _load_weights(network: L3ConvNet, weights: str) -> None:
    from kdzoo.models.l3.h5 import load_l3_weights

    load_l3_weights(network, weights)


# ------------------------------------------------------------------------------------------------ registry


@register_teacher(family="l3", description="L3-Net / OpenL3 audio (mel256, 48 kHz), 512-d; weights from a .h5")
def l3_audio(embedding_size: int = 512, weights: str | None = None, hop_s: float = TRAIN_HOP_S,
             num_classes: int | None = None, **kwargs: Any) -> L3Audio:
    return L3Audio(embedding_size=embedding_size, weights=weights, hop_s=hop_s, num_classes=num_classes or 0,
                   **{k: v for k, v in kwargs.items() if k != "sample_rate"})


def _student(size: int, kwargs: dict[str, Any]) -> SEAStudent:
    kwargs = dict(kwargs)
    kwargs["num_classes"] = kwargs.get("num_classes") or 0
    return SEAStudent(size=size, **kwargs)


@register_student(family="sea", description="SEA student 0 (64-512 filters), 512-d, 8 kHz")
def sea_student_0(**kwargs: Any) -> SEAStudent:
    return _student(0, kwargs)


@register_student(family="sea", description="SEA student 1 (32-256 filters), 256-d, 8 kHz")
def sea_student_1(**kwargs: Any) -> SEAStudent:
    return _student(1, kwargs)


@register_student(family="sea", description="SEA student 2 (32-128 filters), 128-d, 8 kHz")
def sea_student_2(**kwargs: Any) -> SEAStudent:
    return _student(2, kwargs)


@register_student(family="sea", description="SEA student 3 (32-128, 64 filters), 64-d, 8 kHz")
def sea_student_3(**kwargs: Any) -> SEAStudent:
    return _student(3, kwargs)
