"""SEA's reducer (StandardScaler + PCA / UMAP, identity at full width) and its samplers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from kdzoo.distill.sea_reduce import (
    Reducer,
    dpp_kernel,
    fit_reducer,
    relevance_scores,
    sample_indices,
    sample_kdpp,
    window_loudness,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _embeddings(n: int = 300, width: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 6)) * np.array([5, 4, 3, 2, 1, 0.5])
    return (latent @ rng.normal(size=(6, width)) + 0.1 * rng.normal(size=(n, width)) + 3).astype(np.float32)


def test_full_width_is_the_identity() -> None:
    x = _embeddings()
    reducer = fit_reducer(x, dim=32)
    assert reducer.method == "identity" and np.array_equal(reducer.transform(x), x)
    assert torch.equal(reducer.transform_torch(torch.from_numpy(x)), torch.from_numpy(x))


def test_pca_is_standardise_then_project_and_torch_agrees(tmp_path) -> None:
    x = _embeddings()
    reducer = fit_reducer(x, dim=4, seed=3)
    z = (x - x.mean(0)) / x.std(0)  # StandardScaler: population std
    out = reducer.transform(x)
    assert out.shape == (300, 4)
    assert np.allclose(out, (z - z.mean(0)) @ reducer.model.components_.T, atol=1e-4)
    assert np.allclose(reducer.transform_torch(torch.from_numpy(x)).numpy(), out, atol=1e-4)
    assert np.allclose(out.mean(0), 0, atol=1e-4)  # centred targets
    loaded = Reducer.load(reducer.save(tmp_path / "run" / "reducer.joblib"))
    assert np.array_equal(loaded.transform(x), out)


def test_reducer_is_deterministic_for_a_seed_and_variance_rises_with_dim() -> None:
    x = _embeddings()
    assert np.array_equal(fit_reducer(x, 8, seed=1).transform(x), fit_reducer(x, 8, seed=1).transform(x))
    kept = [fit_reducer(x, d).explained_variance for d in (1, 2, 4, 8, 16)]
    assert all(a < b for a, b in zip(kept, kept[1:], strict=False)) and kept[-1] <= 1.0
    assert kept[3] > 0.95  # the data have 6 latent directions


class _StubUMAP:
    """Stands in for umap.UMAP (whose numba compilation takes > 1 min on 2 cores): records its arguments."""

    made: list[dict] = []

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs
        _StubUMAP.made.append(kwargs)

    def fit(self, x: np.ndarray) -> _StubUMAP:
        self.fitted_mean = x.mean(0)  # the scaler ran first: ~0
        self.projection = np.random.default_rng(self.kwargs["random_state"]).normal(size=(x.shape[1], 3))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x @ self.projection)  # non-linear, so the torch path must go through numpy


def test_umap_reducer_scales_then_calls_umap_with_the_papers_settings(monkeypatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=_StubUMAP))
    x = _embeddings(n=120)
    reducer = fit_reducer(x, 3, method="umap", seed=7, umap_neighbors=50, umap_min_dist=0.9)
    assert _StubUMAP.made[-1] == {"n_neighbors": 50, "min_dist": 0.9, "n_components": 3, "metric": "euclidean",
                                  "random_state": 7}
    assert np.allclose(reducer.model.fitted_mean, 0, atol=1e-4) and not reducer.linear
    out = reducer.transform(x[:5])
    assert out.shape == (5, 3)
    assert np.allclose(reducer.transform_torch(torch.from_numpy(x[:5])).numpy(), out, atol=1e-6)


def test_pca_from_fewer_embeddings_than_dims_pads_zero_targets(caplog) -> None:
    x = _embeddings(n=10)
    out = fit_reducer(x, 16).transform(x)
    assert out.shape == (10, 16) and np.array_equal(out[:, 10:], np.zeros((10, 6)))
    assert np.abs(out[:, :9]).max() > 0.1 and "last 6 target dims are 0" in caplog.text


def test_bad_dims_are_named() -> None:
    with pytest.raises(ValueError, match="dim must be in 1..32"):
        fit_reducer(_embeddings(), 64)
    with pytest.raises(ValueError, match="512-d teacher embeddings, got 32-d"):
        Reducer("identity", 512, 512).transform(_embeddings())


@pytest.mark.parametrize("strategy", ["random", "relevance", "diversity", "diversity_relevance"])
def test_samplers_draw_size_distinct_rows_spread_over_streams(strategy: str) -> None:
    x = _embeddings(n=60)
    streams = np.repeat(["a", "b", "c"], 20)
    loudness = np.random.default_rng(0).normal(size=60)
    rows = sample_indices(x, streams, 15, strategy, loudness=loudness, seed=4)
    assert len(rows) == 15 and len(set(rows.tolist())) == 15
    assert [int((streams[rows] == s).sum()) for s in "abc"] == [5, 5, 5]
    assert np.array_equal(rows, sample_indices(x, streams, 15, strategy, loudness=loudness, seed=4))


def test_short_streams_give_their_share_to_the_others() -> None:
    streams = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    rows = sample_indices(np.zeros((10, 2)), streams, 6, "random")
    assert len(rows) == 6 and set(rows[:2].tolist()) == {0, 1}
    assert len(sample_indices(np.zeros((10, 2)), streams, 50, "random")) == 10


def test_relevance_scores_rank_within_the_sliding_window() -> None:
    scores = relevance_scores(np.array([1.0, 5.0, 2.0, 0.0, 3.0]), window=3)
    assert np.allclose(scores, [1 / 2, 1.0, 2 / 3, 1 / 3, 1.0])


def test_relevance_favours_loud_frames() -> None:
    loudness = np.tile([-60.0, -20.0], 100)  # alternate quiet and loud windows in one stream
    rows = np.concatenate([sample_indices(np.zeros((200, 2)), np.zeros(200), 20, "relevance", loudness=loudness,
                                          seed=s) for s in range(20)])
    loud = np.mean(loudness[rows] == -20.0)
    assert loud > 0.6  # relevance 1 vs 1/2 (window 5): 2/3 expected; uniform would give 1/2


def _exact_kdpp_marginals(kernel: np.ndarray, k: int) -> np.ndarray:
    subsets = list(itertools.combinations(range(len(kernel)), k))
    weights = np.array([np.linalg.det(kernel[np.ix_(s, s)]) for s in subsets])
    marginals = np.zeros(len(kernel))
    for subset, w in zip(subsets, weights / weights.sum(), strict=True):
        marginals[list(subset)] += w
    return marginals


def test_kdpp_marginals_match_exact_enumeration() -> None:
    rng = np.random.RandomState(0)
    kernel = dpp_kernel(rng.rand(6, 3), quality=np.array([1.0, 0.5, 1.0, 0.2, 1.0, 0.8]))
    expected = _exact_kdpp_marginals(kernel, 2)
    draws = 2000
    counts = np.zeros(6)
    for _ in range(draws):
        counts[sample_kdpp(kernel, 2, rng)] += 1
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(counts / draws - expected) < 4 * sigma + 1e-3)
    assert expected.max() - expected.min() > 0.2  # the kernel is far from uniform, so the check has teeth


def test_diversity_picks_across_clusters() -> None:
    rng = np.random.default_rng(0)
    cluster_a = np.abs(rng.normal([5, 0.1, 0.1], 0.05, size=(10, 3)))
    cluster_b = np.abs(rng.normal([0.1, 0.1, 5], 0.05, size=(10, 3)))
    x = np.concatenate([cluster_a, cluster_b])
    split = [len({int(i >= 10) for i in sample_indices(x, np.zeros(20), 2, "diversity", seed=s)})
             for s in range(50)]
    assert np.mean(np.array(split) == 2) > 0.8  # random pairs straddle the clusters 10/19 = 53% of the time


def test_window_loudness_is_rms_db_per_window() -> None:
    wave = torch.cat([torch.full((1, 8000), 0.1), torch.full((1, 8000), 0.01)], dim=1)
    level = window_loudness(wave, 8000, 1.0, 1.0)  # windows centred on 0, 1 and 2 s
    assert level.shape == (1, 3)
    assert abs(level[0, 0] - 10 * np.log10(0.5 * 0.01)) < 1e-3  # half padding, half 0.1
    assert abs(level[0, 1] - 10 * np.log10(0.5 * 0.01 + 0.5 * 1e-4)) < 1e-3
