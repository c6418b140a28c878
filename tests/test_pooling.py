"""Patch pooling (B, P, K) -> (B, K): hand-computed values, limits of AutoPool, permutation invariance."""

from __future__ import annotations

import math

import pytest
import torch

from kdzoo.models.pooling import POOLINGS, PatchPooling, attention_pool, autopool, max_pool, mean_pool


def probs(*values: float) -> torch.Tensor:
    """Patch logits (1, P, 1) of the given patch probabilities, in float64."""
    return torch.logit(torch.tensor(values, dtype=torch.float64)).view(1, -1, 1)


def prob(pooled: torch.Tensor) -> float:
    return float(torch.sigmoid(pooled))


def test_mean_and_max_by_hand():
    z = probs(0.9, 0.5, 0.1)
    assert prob(mean_pool(z)) == pytest.approx(0.5)
    assert prob(max_pool(z)) == pytest.approx(0.9)


def test_autopool_by_hand():
    # alpha = 2 on p = (0.9, 0.1): w = softmax(1.8, 0.2) = (e^1.6, 1) / (e^1.6 + 1), y = sum w p
    w = math.exp(1.6) / (math.exp(1.6) + 1)
    expected = 0.9 * w + 0.1 * (1 - w)
    assert prob(autopool(probs(0.9, 0.1), torch.tensor([2.0], dtype=torch.float64))) == pytest.approx(expected)


def test_autopool_limits_are_mean_and_max():
    z = torch.randn(3, 7, 4, dtype=torch.float64)
    torch.testing.assert_close(autopool(z, torch.zeros(4, dtype=torch.float64)), mean_pool(z))
    large = autopool(z, torch.full((4,), 1e4, dtype=torch.float64))
    torch.testing.assert_close(torch.sigmoid(large), torch.sigmoid(max_pool(z)), atol=1e-6, rtol=0)
    small = autopool(z, torch.full((4,), -1e4, dtype=torch.float64))
    torch.testing.assert_close(torch.sigmoid(small), torch.sigmoid(z.amin(dim=1)), atol=1e-6, rtol=0)


def test_attention_weights_by_hand():
    # scores (log 3, 0) -> weights (0.75, 0.25) on p = (0.8, 0.4): 0.6 + 0.1 = 0.7
    scores = torch.tensor([math.log(3), 0.0], dtype=torch.float64).view(1, 2, 1)
    assert prob(attention_pool(probs(0.8, 0.4), scores)) == pytest.approx(0.7)


@pytest.mark.parametrize("mode", POOLINGS)
def test_one_patch_is_the_identity_and_order_does_not_matter(mode):
    torch.manual_seed(0)
    pooling = PatchPooling(mode, num_classes=5, in_features=6, alpha=3.0).double()
    if mode == "attention":
        torch.nn.init.normal_(pooling.score.weight)  # not the mean-like zero init
    z, features = torch.randn(2, 1, 5, dtype=torch.float64), torch.randn(2, 1, 6, dtype=torch.float64)
    torch.testing.assert_close(pooling(z, features), z[:, 0])
    z, features = torch.randn(2, 9, 5, dtype=torch.float64), torch.randn(2, 9, 6, dtype=torch.float64)
    order = torch.randperm(9)
    torch.testing.assert_close(pooling(z[:, order], features[:, order]), pooling(z, features))


def test_saturated_patches_stay_finite():
    z = torch.tensor([[[60.0], [-60.0]]])
    for pooled in (mean_pool(z), autopool(z, torch.tensor([5.0])), max_pool(z)):
        assert torch.isfinite(pooled).all()


def test_learned_parameters_and_bad_arguments():
    assert PatchPooling("autopool", num_classes=4).alpha.shape == (4,)
    assert [n for n, _ in PatchPooling("autopool", trainable=False).named_parameters()] == []
    assert PatchPooling("attention", num_classes=4, in_features=8).score.weight.shape == (4, 8)
    with pytest.raises(ValueError, match="pooling must be one of"):
        PatchPooling("median")
    with pytest.raises(ValueError, match="not trained"):
        PatchPooling("attention", in_features=8, trainable=False)
