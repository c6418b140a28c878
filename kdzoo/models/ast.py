"""An audio spectrogram transformer (AST-style) teacher that exposes every layer's attention weights.

Written out here rather than taken from timm's ViT because Temporal KD needs the attention weights
(B, H, N, N) of each layer, which fused attention kernels do not return.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdzoo.models._registry import register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.frontend import LogMel
from kdzoo.types import ModelOutput


class SelfAttention(nn.Module):
    """Multi-head self-attention that also returns its weights (B, H, N, N), rows summing to 1."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D // self.heads), dim=-1)
        out = (self.dropout(weights) @ v).transpose(1, 2).reshape(B, N, D)
        return self.proj(out), weights


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        attended, weights = self.attn(self.norm1(x))
        x = x + attended
        return x + self.mlp(self.norm2(x)), weights


class AST(AudioModel):
    """Log-mel (B, 1, n_mels, T) -> non-overlapping patches -> [CLS] + patch tokens -> transformer.

    Tokens: index 0 is [CLS]; patch (f, t) is token ``1 + f * T' + t`` (frequency-major). Positions are
    factorised (a frequency embedding plus a time embedding), and the time embedding is linearly
    interpolated for clips longer than ``max_seconds``, so any clip length works.

    Output: ``logits`` from [CLS]; ``embedding`` = final [CLS]; ``frames`` = patch tokens averaged over
    frequency (B, T', D); ``attentions`` = one (B, H, N, N) per layer; ``token_time_s`` = centre time of
    each token's patch (nan for [CLS]).

    Args:
        dim, depth, heads, mlp_ratio: transformer size.
        patch: (mel bins, frames) per patch.
        num_classes, sample_rate: as for students; n_mels / hop as for the front end.
        max_seconds: clip length the time embedding is sized for.
    """

    provides = frozenset({"logits", "embedding", "frames", "attentions"})

    def __init__(
        self,
        dim: int = 192,
        depth: int = 4,
        heads: int = 3,
        mlp_ratio: float = 4.0,
        patch: tuple[int, int] = (16, 16),
        num_classes: int = 8,
        sample_rate: int = 16000,
        n_mels: int = 64,
        hop_seconds: float = 0.02,
        max_seconds: float = 10.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if n_mels % patch[0]:
            raise ValueError(f"n_mels {n_mels} must be a multiple of the patch height {patch[0]}")
        self.sample_rate, self.num_classes, self.embed_dim = sample_rate, num_classes, dim
        self.frontend = LogMel(sample_rate, n_fft=1 << round(sample_rate * 0.064).bit_length() - 1,
                               hop_length=round(sample_rate * hop_seconds), n_mels=n_mels)
        self.patch = tuple(patch)
        self.input_norm = nn.BatchNorm2d(1)
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=self.patch, stride=self.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.freq_pos = nn.Parameter(torch.randn(1, dim, n_mels // patch[0], 1) * 0.02)
        max_patches = self.frontend.num_frames(int(max_seconds * sample_rate)) // patch[1]
        self.time_pos = nn.Parameter(torch.randn(1, dim, 1, max_patches) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.patch_hop_s = self.frontend.hop_seconds * patch[1]

    def _positions(self, time_patches: int) -> Tensor:
        time_pos = self.time_pos
        if time_patches != time_pos.shape[-1]:
            time_pos = F.interpolate(time_pos.squeeze(2), size=time_patches, mode="linear").unsqueeze(2)
        return self.freq_pos + time_pos  # (1, D, F', T')

    def token_times(self, freq_patches: int, time_patches: int) -> Tensor:
        """(N,) centre time in seconds of each token, nan for [CLS].

        The front end's STFT is centred (:class:`~kdzoo.models.frontend.LogMel`), so frame i is centred at
        ``i * hop``; time patch t spans frames ``w t .. w t + w - 1`` (w = patch width in frames), whose centre
        is ``(w t + (w - 1) / 2) * hop``: ``(16 t + 7.5) * hop`` for 16-frame patches.
        """
        width = self.patch[1]
        centres = (
            torch.arange(time_patches, dtype=torch.float64) * width + (width - 1) / 2
        ) * self.frontend.hop_seconds
        return torch.cat([torch.tensor([math.nan], dtype=torch.float64), centres.repeat(freq_patches)]).float()

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        patches = self.patch_embed(self.input_norm(spectrogram))  # (B, D, F', T')
        B, D, Fp, Tp = patches.shape
        tokens = (patches + self._positions(Tp)).flatten(2).transpose(1, 2)  # (B, F'T', D)
        x = torch.cat([self.cls_token.expand(B, -1, -1), tokens], dim=1)
        attentions = []
        for block in self.blocks:
            x, weights = block(x)
            attentions.append(weights)
        x = self.norm(x)
        frames = x[:, 1:].reshape(B, Fp, Tp, D).mean(dim=1)  # (B, T', D)
        return ModelOutput(
            logits=self.head(x[:, 0]),
            embedding=x[:, 0],
            frames=frames,
            frame_hop_s=self.patch_hop_s,
            attentions=tuple(attentions),
            token_time_s=self.token_times(Fp, Tp).to(x.device),
        )


@register_teacher(family="ast", description="AST, dim 192, 4 layers x 3 heads, 16x16 patches")
def ast_tiny(**kwargs: Any) -> AST:
    return AST(dim=192, depth=4, heads=3, **kwargs)


@register_teacher(family="ast", description="AST, dim 384, 6 layers x 6 heads, 16x16 patches")
def ast_s(**kwargs: Any) -> AST:
    return AST(dim=384, depth=6, heads=6, **kwargs)
