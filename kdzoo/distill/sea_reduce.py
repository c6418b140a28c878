"""SEA's dimensionality reduction phi and the informed sampling of the embeddings it is fitted on.

Srivastava et al. (ICASSP 2021, section 2 and 4.2; code ``embedding-approx``): phi: R^n -> R^d is learned on a
*sample* of the teacher's embeddings of the target-domain data, then maps every teacher embedding to the
student's d-dim target. Here:

* :func:`fit_reducer`: sklearn ``StandardScaler`` then ``PCA`` (or ``umap-learn``'s ``UMAP``), as the paper's
  code (``save_approx_embedding.py``: scaler, then PCA without whitening); ``dim`` equal to the teacher's width is
  the identity (no scaler either: Student 0 regresses the raw teacher embedding). A :class:`Reducer` saves to
  and loads from one ``.joblib`` file (sklearn's documented persistence) and maps numpy or torch batches.
* :func:`sample_indices`: which embeddings fit phi, chosen per *stream* (a recording, sensor or day) without
  replacement, ``size`` in all, spread evenly over the streams: ``random`` (uniform), ``relevance``
  (probability proportional to the loudness rank of the window within a sliding window of its stream, the
  paper's SPL-informed relevance), ``diversity`` (a k-DPP with ``L = X X^T + 0.1 I`` on L1-normalised rows) and
  ``diversity_relevance`` (``L = diag(q) X X^T diag(q) + 0.1 I``, q the relevance). The k-DPP is DPPy's
  (``FiniteDPP``): exact sampling by default, or the code's MCMC (``nb_iter=3`` from a random k-subset), which
  scales to streams too large to eigendecompose.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from kdzoo.models.window import frame_windows

log = logging.getLogger(__name__)

ReduceMethod = Literal["pca", "umap"]
Strategy = Literal["random", "relevance", "diversity", "diversity_relevance"]
STRATEGIES = ("random", "relevance", "diversity", "diversity_relevance")
DPP_RIDGE = 0.1
"""The ``+ 0.1 I`` of the paper's code (``sampling.py``): keeps L positive definite."""


class Reducer:
    """A fitted phi: teacher embeddings (..., n) -> targets (..., d).

    Attributes:
        method: ``"pca"``, ``"umap"`` or ``"identity"``.
        in_dim, out_dim: n and d.
        scaler, model: the fitted sklearn ``StandardScaler`` and ``PCA`` / ``UMAP`` (None for the identity).
    """

    def __init__(self, method: str, in_dim: int, out_dim: int, scaler: object | None = None,
                 model: object | None = None) -> None:
        self.method, self.in_dim, self.out_dim, self.scaler, self.model = method, in_dim, out_dim, scaler, model

    @property
    def linear(self) -> bool:
        """True when phi is affine (identity, PCA), so it runs in torch on the training device."""
        return self.method in ("identity", "pca")

    @property
    def explained_variance(self) -> float:
        """Fraction of the (standardised) variance the PCA keeps; 1.0 for the identity."""
        if self.method == "identity":
            return 1.0
        if self.method != "pca":
            raise ValueError(f"explained variance is defined for PCA, not {self.method}")
        return float(self.model.explained_variance_ratio_.sum())

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, n) -> (N, d) float32."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        self._check(embeddings.shape[-1])
        if self.method == "identity":
            return embeddings
        return np.asarray(self.model.transform(self.scaler.transform(embeddings)), dtype=np.float32)

    def transform_torch(self, embeddings: Tensor) -> Tensor:
        """(..., n) -> (..., d) on the tensor's device; affine phi in torch, UMAP through numpy on the CPU."""
        self._check(embeddings.shape[-1])
        if self.method == "identity":
            return embeddings
        if not self.linear:
            flat = self.transform(embeddings.detach().reshape(-1, self.in_dim).cpu().numpy())
            return torch.from_numpy(flat).to(embeddings.device).view(*embeddings.shape[:-1], self.out_dim)
        mean, scale, centre, components = (torch.as_tensor(a, dtype=embeddings.dtype, device=embeddings.device)
                                           for a in (self.scaler.mean_, self.scaler.scale_, self.model.mean_,
                                                     self.model.components_))
        return ((embeddings - mean) / scale - centre) @ components.T

    def _check(self, width: int) -> None:
        if width != self.in_dim:
            raise ValueError(f"the reducer maps {self.in_dim}-d teacher embeddings, got {width}-d")

    def save(self, path: str | Path) -> Path:
        """Write the reducer to ``path`` (joblib)."""
        import joblib

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"method": self.method, "in_dim": self.in_dim, "out_dim": self.out_dim, "scaler": self.scaler,
                     "model": self.model}, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Reducer:
        """Read a reducer written by :meth:`save` (a trusted file: joblib unpickles it)."""
        import joblib

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SEA reducer {path} not found")
        state = joblib.load(path)
        return cls(state["method"], state["in_dim"], state["out_dim"], state["scaler"], state["model"])


def fit_reducer(embeddings: np.ndarray, dim: int, method: ReduceMethod = "pca", seed: int = 0,
                umap_neighbors: int = 50, umap_min_dist: float = 0.1) -> Reducer:
    """Fit phi on teacher embeddings (N, n): StandardScaler, then PCA or UMAP to ``dim``; identity if dim == n.

    Args:
        embeddings: (N, n) sampled teacher embeddings (see :func:`sample_indices`).
        dim: d, the student's embedding width.
        method: ``"pca"`` (sklearn, no whitening) or ``"umap"`` (umap-learn, euclidean; ``pip install kdzoo[reduce]``).
        seed: ``random_state`` of PCA / UMAP (same seed and data: same phi).
        umap_neighbors, umap_min_dist: UMAP's ``n_neighbors`` and ``min_dist`` (paper: 50-250; 0.1 or 0.9).
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ValueError(f"fit_reducer expects embeddings (N, n), got shape {embeddings.shape}")
    count, width = embeddings.shape
    if dim == width:
        return Reducer("identity", width, width)
    if not 0 < dim < width:
        raise ValueError(f"fit_reducer: dim must be in 1..{width} (the teacher's width), got {dim}")
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(embeddings)
    scaled = scaler.transform(embeddings)
    if method == "pca":
        from sklearn.decomposition import PCA

        model = PCA(n_components=min(dim, count), random_state=seed).fit(scaled)
        if dim > count:
            _pad_components(model, dim)
    elif method == "umap":
        try:
            from umap import UMAP
        except ImportError as error:  # pragma: no cover - optional extra
            raise ImportError("method='umap' needs umap-learn: pip install 'kdzoo[reduce]'") from error
        model = UMAP(n_neighbors=umap_neighbors, min_dist=umap_min_dist, n_components=dim, metric="euclidean",
                     random_state=seed).fit(scaled)
    else:
        raise ValueError(f"fit_reducer: method must be 'pca' or 'umap', got {method!r}")
    return Reducer(method, width, dim, scaler, model)


def _pad_components(model: object, dim: int) -> None:
    """PCA from N < d embeddings (a tiny split): N components exist, the other d - N target dims are 0 (logged)."""
    missing = dim - len(model.components_)
    log.warning("SEA reducer: PCA to %d dims from %d embeddings; the last %d target dims are 0 (sample more)",
                dim, len(model.components_), missing)
    model.components_ = np.concatenate([model.components_, np.zeros((missing, model.components_.shape[1]),
                                                                    dtype=model.components_.dtype)])
    model.explained_variance_ratio_ = np.concatenate([model.explained_variance_ratio_, np.zeros(missing)])


# ------------------------------------------------------------------------------------------------ sampling


def window_loudness(waveform: Tensor, sample_rate: int, window_s: float = 1.0, hop_s: float = 0.5) -> Tensor:
    """(B, T) -> (B, W) RMS level in dB of each window, framed as the window embedders frame it."""
    windows = frame_windows(waveform.float(), sample_rate, window_s, hop_s)
    return 10 * torch.log10(windows.pow(2).mean(dim=-1).clamp_min(1e-10))


def relevance_scores(loudness: np.ndarray, window: int = 5) -> np.ndarray:
    """(n,) loudness of one stream in time order -> (n,) relevance in (0, 1]: the rank of each frame's loudness
    among the frames of a sliding window of ``window`` frames centred on it, divided by the window's size (the
    loudest frame of its neighbourhood scores 1). The paper ranks SPL in a 2-hour window of a sensor's day."""
    loudness = np.asarray(loudness, dtype=np.float64)
    half = max(window, 1) // 2
    scores = np.empty_like(loudness)
    for i, value in enumerate(loudness):
        around = loudness[max(i - half, 0):i + half + 1]
        scores[i] = np.count_nonzero(around <= value) / around.size
    return scores


def dpp_kernel(embeddings: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
    """The paper's L-ensemble: ``L = diag(q) X X^T diag(q) + 0.1 I`` with X the L1-normalised rows (q = 1 if None)."""
    from sklearn.preprocessing import normalize

    rows = normalize(np.asarray(embeddings, dtype=np.float64), norm="l1")
    kernel = rows @ rows.T
    if quality is not None:
        kernel = quality[:, None] * kernel * quality[None, :]
    return kernel + DPP_RIDGE * np.eye(len(rows))


def sample_kdpp(kernel: np.ndarray, k: int, rng: np.random.RandomState, mode: str = "exact") -> np.ndarray:
    """k distinct indices from the k-DPP of L-ensemble ``kernel`` (n, n), with DPPy.

    ``mode="exact"`` (spectral sampler) or ``"mcmc"`` (the paper's code: ``sample_mcmc_k_dpp``, 3 iterations from
    a random k-subset; approximate, but needs no eigendecomposition).
    """
    try:
        from dppy.finite_dpps import FiniteDPP
    except ImportError as error:  # pragma: no cover - optional extra
        raise ImportError("the diversity samplers need DPPy: pip install 'kdzoo[reduce]'") from error
    n = len(kernel)
    if k >= n:
        return np.arange(n)
    dpp = FiniteDPP("likelihood", L=kernel)
    if mode == "exact":
        sample = dpp.sample_exact_k_dpp(size=k, random_state=rng)
    elif mode == "mcmc":
        start = list(rng.choice(n, size=k, replace=False))
        sample = dpp.sample_mcmc_k_dpp(size=k, s_init=start, nb_iter=3, random_state=rng)  # the chain's last state
    else:
        raise ValueError(f"k-DPP mode must be 'exact' or 'mcmc', got {mode!r}")
    return np.asarray(sample, dtype=np.int64)


def _quotas(lengths: Sequence[int], size: int) -> list[int]:
    """Spread ``size`` draws over streams as evenly as their lengths allow (total = min(size, sum(lengths)))."""
    quotas = [0] * len(lengths)
    remaining = min(size, sum(lengths))
    open_streams = [s for s, n in enumerate(lengths) if n > 0]
    while remaining > 0:
        share = max(remaining // len(open_streams), 1)
        for s in open_streams:
            give = min(share, lengths[s] - quotas[s], remaining)
            quotas[s] += give
            remaining -= give
        open_streams = [s for s in open_streams if quotas[s] < lengths[s]]
    return quotas


def _sample_stream(embeddings: np.ndarray, loudness: np.ndarray | None, k: int, strategy: str,
                   rng: np.random.RandomState, relevance_window: int, dpp_mode: str) -> np.ndarray:
    n = len(embeddings)
    if strategy == "random":
        return rng.choice(n, size=k, replace=False)
    quality = relevance_scores(loudness, relevance_window) if strategy in ("relevance", "diversity_relevance") \
        else None
    if strategy == "relevance":
        return rng.choice(n, size=k, replace=False, p=quality / quality.sum())
    return sample_kdpp(dpp_kernel(embeddings, quality), k, rng, dpp_mode)


def sample_indices(embeddings: np.ndarray, streams: Sequence, size: int, strategy: Strategy = "random",
                   loudness: np.ndarray | None = None, seed: int = 0, relevance_window: int = 5,
                   dpp_mode: str = "exact") -> np.ndarray:
    """Choose ``size`` rows of ``embeddings`` (N, n) to fit phi on, per stream, without replacement.

    Args:
        embeddings: (N, n) teacher embeddings, each stream's rows in time order.
        streams: (N,) stream id of each row (a clip, sensor or day); draws are spread evenly over streams.
        size: rows in all (all rows if N <= size).
        strategy: one of :data:`STRATEGIES` (module docstring).
        loudness: (N,) level of each row's audio window in dB (:func:`window_loudness`); needed by the two
            relevance strategies.
        seed: the draw's seed (same seed, same rows).
        relevance_window: frames in the sliding window of :func:`relevance_scores`.
        dpp_mode: ``"exact"`` or ``"mcmc"`` (:func:`sample_kdpp`).

    Returns:
        (min(size, N),) sorted distinct row indices.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"sampling strategy must be one of {STRATEGIES}, got {strategy!r}")
    streams = np.asarray(streams)
    if len(streams) != len(embeddings):
        raise ValueError(f"streams has {len(streams)} ids for {len(embeddings)} embeddings")
    if strategy in ("relevance", "diversity_relevance"):
        if loudness is None or len(loudness) != len(embeddings):
            raise ValueError(f"strategy {strategy!r} needs loudness (N,) for the {len(embeddings)} embeddings")
        loudness = np.asarray(loudness)
    rng = np.random.RandomState(seed)
    ids = list(dict.fromkeys(streams.tolist()))
    rows = [np.flatnonzero(streams == s) for s in ids]
    chosen = []
    for members, k in zip(rows, _quotas([len(r) for r in rows], size), strict=True):
        if k == 0:
            continue
        local = _sample_stream(embeddings[members], None if loudness is None else loudness[members], k, strategy,
                               rng, relevance_window, dpp_mode)
        chosen.append(members[local])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)

