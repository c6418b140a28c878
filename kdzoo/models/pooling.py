"""Pooling per-patch (per-instance) logits into clip logits: (B, P, K) -> (B, K).

A patch-level tagger (YAMNet scores 0.96 s patches every 0.48 s) must turn P per-patch scores into one clip
score per class. How matters: a 0.5 s impact in a 10 s clip is loud in one or two patches, and the mean of 20
patch probabilities dilutes it. The operators here, all returning *logits* so ``sigmoid(pooled)`` is the
pooled probability:

* ``mean``: the mean patch probability (:func:`mean_pool`).
* ``max``: the most confident patch (:func:`max_pool`).
* ``autopool``: AutoPool (McFee, Salamon & Bello, "Adaptive pooling operators for weakly labeled sound event
  detection", IEEE/ACM TASLP 2018): ``y_k = sum_t p_tk w_tk`` with ``w_tk = softmax_t(alpha_k p_tk)`` over the
  patch probabilities ``p``; a per-class ``alpha`` interpolates mean (0), max (+inf) and min (-inf)
  (:func:`autopool`).
* ``attention``: a learned per-class softmax over patches of a linear score of the patch features
  (:func:`attention_pool`, :class:`PatchPooling`).

Every probability-weighted pool is computed in log space as
``logit(sum_t w_t p_t) = logsumexp_t(log w_t + log p_t) - logsumexp_t(log w_t + log(1 - p_t))``, exact and
finite for saturated patches (``log p = logsigmoid(z)``, ``log(1 - p) = logsigmoid(-z)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

POOLINGS = ("mean", "max", "autopool", "attention")
"""The names :class:`PatchPooling` accepts."""


def weighted_probability_pool(patch_logits: Tensor, log_weights: Tensor) -> Tensor:
    """(B, P, K) logits, (B, P, K) log weights (each (b, :, k) summing to 1 in probability) -> (B, K) logit of
    the weighted mean patch probability."""
    positive = torch.logsumexp(log_weights + F.logsigmoid(patch_logits), dim=1)
    negative = torch.logsumexp(log_weights + F.logsigmoid(-patch_logits), dim=1)
    return positive - negative


def mean_pool(patch_logits: Tensor) -> Tensor:
    """(B, P, K) -> (B, K): logit of the mean patch probability; P = 1 returns the patch logits.

    >>> pooled = mean_pool(torch.logit(torch.tensor([[[0.9], [0.5]]], dtype=torch.float64)))  # (1, 2, 1)
    >>> round(float(torch.sigmoid(pooled)), 6)  # the mean of 0.9 and 0.5
    0.7
    """
    return weighted_probability_pool(patch_logits, torch.zeros_like(patch_logits))  # log(P) cancels


def max_pool(patch_logits: Tensor) -> Tensor:
    """(B, P, K) -> (B, K): the largest patch logit (sigmoid is monotonic, so also the largest probability)."""
    return patch_logits.amax(dim=1)


def autopool(patch_logits: Tensor, alpha: Tensor) -> Tensor:
    """(B, P, K) logits, (K,) alpha -> (B, K) AutoPool logits (McFee et al. 2018).

    Weights ``softmax_t(alpha_k * p_tk)`` over patches t of the patch probabilities; ``alpha = 0`` is
    :func:`mean_pool`, ``alpha -> +inf`` tends to :func:`max_pool`, ``alpha -> -inf`` to the min.
    """
    log_weights = torch.log_softmax(alpha * torch.sigmoid(patch_logits), dim=1)
    return weighted_probability_pool(patch_logits, log_weights)


def attention_pool(patch_logits: Tensor, scores: Tensor) -> Tensor:
    """(B, P, K) logits, (B, P, K) attention scores -> (B, K): patch probabilities weighted by
    ``softmax_t(scores)`` per class."""
    return weighted_probability_pool(patch_logits, torch.log_softmax(scores, dim=1))


class PatchPooling(nn.Module):
    """A pooling operator by name, holding what it learns: (B, P, K) logits [+ (B, P, D) features] -> (B, K).

    Args:
        mode: one of :data:`POOLINGS`.
        num_classes: K (a trainable ``autopool`` learns one alpha per class, ``attention`` one score per class).
        in_features: D, the patch features ``attention`` scores (needed only for ``attention``).
        alpha: AutoPool's initial alpha (0 = mean, as McFee et al. start).
        trainable: learn ``alpha`` (``False`` keeps it a fixed buffer, for models that are not trained, such
            as zero-shot YAMNet; ``attention`` needs training and is refused then).
    """

    def __init__(
        self,
        mode: str = "mean",
        num_classes: int = 1,
        in_features: int | None = None,
        alpha: float = 0.0,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        if mode == "attention" and (not trainable or in_features is None):
            raise ValueError(
                "pooling='attention' learns its patch scores, so it needs a trained model with patch features; "
                "use pooling='mean', 'max' or 'autopool' (fixed alpha) for a model that is not trained"
            )
        self.mode = mode
        if mode == "autopool":
            if trainable:
                self.alpha = nn.Parameter(torch.full((num_classes,), float(alpha)))
            else:  # one fixed alpha for every class, set by the arguments, so not part of the weights
                self.register_buffer("alpha", torch.tensor([float(alpha)]), persistent=False)
        if mode == "attention":
            self.score = nn.Linear(in_features, num_classes)
            nn.init.zeros_(self.score.weight)  # start as the mean; training moves weight to telling patches
            nn.init.zeros_(self.score.bias)

    def forward(self, patch_logits: Tensor, features: Tensor | None = None) -> Tensor:
        """Args: patch_logits (B, P, K); features (B, P, D), used by ``attention`` only. Returns (B, K)."""
        if self.mode == "mean":
            return mean_pool(patch_logits)
        if self.mode == "max":
            return max_pool(patch_logits)
        if self.mode == "autopool":
            return autopool(patch_logits, self.alpha)
        if features is None:
            raise ValueError("pooling='attention' needs the patch features (B, P, D)")
        return attention_pool(patch_logits, self.score(features))

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


__all__ = ["POOLINGS", "PatchPooling", "attention_pool", "autopool", "max_pool", "mean_pool"]
