"""The SEA paper's downstream classifier: a per-frame MLP, a sigmoid per class, AutoPool over time (MIL).

``embedding-approx`` ``classify.py::construct_mlp_mil``: ``TimeDistributed(Dense(H, relu))`` x 0-2,
``TimeDistributed(Dense(K, sigmoid))``, then ``AutoPool1D`` over time with a non-negative alpha per class (Keras
``non_neg`` constraint, initialised at 0), L2 1e-5 on the dense kernels. AutoPool (McFee, Salamon & Bello 2018):
``y_k = sum_t p_tk softmax_t(alpha_k p_tk)``; alpha 0 is the mean over frames, alpha -> inf the max. It is
computed in log space by :func:`kdzoo.models.pooling.autopool`, which returns the pooled probability's logit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from kdzoo.models.pooling import autopool

L2_WEIGHT = 1e-5


class MILClassifier(nn.Module):
    """Frames (B, T, D) -> clip logits (B, K) (``sigmoid`` of them = the AutoPool-ed frame probabilities).

    Args:
        in_features: D, the embedding width.
        num_classes: K.
        hidden: widths of 0-2 hidden layers (ReLU), applied to every frame.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        if len(hidden) > 2:
            raise ValueError(f"MILClassifier takes 0-2 hidden layers (the paper's grid), got {len(hidden)}")
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            in_features = width
        layers.append(nn.Linear(in_features, num_classes))
        self.frames = nn.Sequential(*layers)
        self.alpha = nn.Parameter(torch.zeros(num_classes))

    def frame_logits(self, frames: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, K) per-frame logits."""
        return self.frames(frames)

    def forward(self, frames: Tensor) -> Tensor:
        return autopool(self.frame_logits(frames), self.alpha)

    def constrain(self) -> None:
        """Project alpha back onto alpha >= 0 (call after each optimiser step, as Keras' ``non_neg``)."""
        with torch.no_grad():
            self.alpha.clamp_(min=0.0)

    def l2_penalty(self) -> Tensor:
        """``1e-5 * sum ||W||^2`` over the dense kernels (Keras ``kernel_regularizer=l2(1e-5)``)."""
        return L2_WEIGHT * sum(m.weight.pow(2).sum() for m in self.frames if isinstance(m, nn.Linear))
