"""Evaluation metrics: the official DCASE 2019 Task 5 (SONYC-UST) coarse-level scores and the collections kdzoo logs.

`sonyc_ust_scores` reproduces the coarse mode of ``metrics.py`` / ``evaluate_predictions.py`` in
sonyc-project/urban-sound-tagging-baseline (the challenge's official evaluation, identical in the DCASE 2020
baseline), so numbers computed here can be compared with published SONYC-UST results:

* per class, the thresholds are the distinct predicted scores ``>= min_threshold`` (0.01) plus 1.0, in
  descending order; a clip is predicted positive when ``score >= threshold``;
* ``P = TP / max(TP + FP, 0.5)`` and ``R = TP / max(TP + FN, 0.5)``;
* a curve is sorted by recall, padded with ``(R=0, P=1)`` in front and ``(R=1, P=0)`` at the end, and its area
  is the trapezoidal rule (``sklearn.metrics.auc``);
* micro: TP/FP/FN are pooled over classes at every threshold of the union of the class thresholds;
  macro: the unweighted mean of the per-class areas; micro-F1: ``2 / (1/P + 1/R)`` of the micro curve at the
  smallest union threshold ``>= 0.5``.

This is *not* the ranking average precision of AudioSet-style tagging (``sklearn.metrics.average_precision_score``,
torchmetrics ``MultilabelAveragePrecision``): the threshold floor, the 0.5 denominators, the padding and the
trapezoids all move the number. `build_metrics` logs both, under different keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision
from torchmetrics.utilities import dim_zero_cat

from kdzoo.types import ClipGroups

MIN_THRESHOLD = 0.01  # the reference skips scores below this when listing thresholds
_DENOMINATOR_FLOOR = 0.5  # the reference's ``mu``: keeps P and R defined when TP+FP or TP+FN is 0
_F1_THRESHOLD = 0.5
UST_KEYS = ("micro_auprc", "macro_auprc", "micro_f1")


class SonycUSTResult(TypedDict):
    """Scores returned by `sonyc_ust_scores`; ``class_auprc`` has one area per class, in column order."""

    micro_auprc: float
    macro_auprc: float
    micro_f1: float
    class_auprc: list[float]


# ---------------------------------------------------------------------------------------------------------------
# numpy implementation of the official metric
# ---------------------------------------------------------------------------------------------------------------


def _as_checked_arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate inputs and return ``(labels (N, K) bool, scores (N, K) float64)``.

    Scores go to float64 before any comparison: the reference reads them from CSV as float64, and comparing a
    float32 score with 0.01 in float32 would keep values (0.01f < 0.01) that the reference drops.
    """
    labels, scores = np.asarray(y_true), np.asarray(y_pred, dtype=np.float64)
    if scores.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"y_true and y_pred must both be (N, K) arrays of the same shape, got {labels.shape} and {scores.shape}; "
            "pass one row per clip and one column per class."
        )
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"Need at least one clip and one class, got shape {scores.shape}.")
    if not np.all((scores >= 0.0) & (scores <= 1.0)):  # also rejects NaN
        raise ValueError(
            "y_pred must hold probabilities in [0, 1] (no NaN); apply sigmoid to logits first. "
            f"Got values in [{np.nanmin(scores)}, {np.nanmax(scores)}]."
        )
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError(f"y_true must be multi-hot (0/1 only), got values {np.unique(labels)[:10]}.")
    return labels == 1, scores


def _class_thresholds(scores: np.ndarray, min_threshold: float) -> np.ndarray:
    """Thresholds of one class, in the reference's (descending) row order: distinct scores >= floor, plus 1.0.

    Args:
        scores: ``(N,)`` float64 scores of one class.
    Returns:
        ``(T,)`` strictly decreasing thresholds; 1.0 is always present, so every class has a "nothing predicted"
        row and the micro lookup below always finds a row.
    """
    kept = scores[scores >= min_threshold]
    return np.unique(np.append(kept, 1.0))[::-1]


def _counts_at(scores: np.ndarray, positive: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """TP, FP, FN of one class when clips with ``score >= t`` are predicted positive, for every ``t``.

    Vectorised with ``searchsorted`` on sorted scores instead of one confusion matrix per threshold.

    Args:
        scores: ``(N,)`` scores; positive: ``(N,)`` bool labels; thresholds: ``(T,)`` any order.
    Returns:
        ``tp, fp, fn``, each ``(T,)`` int64, aligned with ``thresholds``.
    """
    all_sorted = np.sort(scores)
    pos_sorted = np.sort(scores[positive])
    n_predicted = all_sorted.size - np.searchsorted(all_sorted, thresholds, side="left")
    tp = pos_sorted.size - np.searchsorted(pos_sorted, thresholds, side="left")
    return tp, n_predicted - tp, pos_sorted.size - tp


def _precision_recall(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P = TP / max(TP+FP, 0.5)``, ``R = TP / max(TP+FN, 0.5)`` (0 instead of 0/0, as in the reference)."""
    precision = tp / np.maximum(tp + fp, _DENOMINATOR_FLOOR)
    recall = tp / np.maximum(tp + fn, _DENOMINATOR_FLOOR)
    return precision, recall


def _padded_curve_area(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under a P-R curve sorted by recall and padded with (R=0, P=1) and (R=1, P=0).

    The sort is ``np.argsort`` with its default (unstable) kind, called on the points in the reference's row
    order, because that is what the reference does: when several points share a recall, their order (and so
    the area) is whatever numpy's default sort gives on this machine, and we want the same number as the
    official script here. The trapezoid sum is written as numpy's ``trapezoid`` (what ``sklearn.metrics.auc``
    calls) so the result is bit-identical on any numpy version.
    """
    order = np.argsort(recall)
    r = np.concatenate(([0.0], recall[order], [1.0]))
    p = np.concatenate(([1.0], precision[order], [0.0]))
    return float(np.add.reduce(np.diff(r) * (p[1:] + p[:-1]) / 2.0))


def _f1(precision: float, recall: float) -> float:
    """The reference's ``2 / (1/P + 1/R)``, which is 0 when P or R is 0 (``2 / inf``)."""
    with np.errstate(divide="ignore"):
        return float(2.0 / (1.0 / np.float64(precision) + 1.0 / np.float64(recall)))


def _micro_scores(labels: np.ndarray, scores: np.ndarray, thresholds: list[np.ndarray]) -> tuple[float, float]:
    """Micro AUPRC and micro-F1 from TP/FP/FN pooled over classes at each threshold of the union.

    The reference takes, per class, the last (lowest) row whose threshold is ``>= t``. Every score at or above
    ``t`` is itself a row of that class (scores are in [0, 1], ``t`` is a kept score or 1.0), so that row counts
    exactly the clips with ``score >= t``: counting at ``t`` directly gives the same TP/FP/FN.

    Args:
        labels: ``(N, K)`` bool; scores: ``(N, K)`` float64; thresholds: per-class arrays from `_class_thresholds`.
    """
    union = np.unique(np.concatenate(thresholds))  # ascending, the reference's micro row order
    pooled = [_counts_at(scores[:, k], labels[:, k], union) for k in range(scores.shape[1])]
    tp, fp, fn = (np.sum(parts, axis=0) for parts in zip(*pooled, strict=True))
    precision, recall = _precision_recall(tp, fp, fn)
    at_half = int(np.searchsorted(union, _F1_THRESHOLD, side="left"))  # first union threshold >= 0.5 (1.0 exists)
    return _padded_curve_area(precision, recall), _f1(precision[at_half], recall[at_half])


def _class_auprc(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> float:
    """Area under one class's padded P-R curve. labels: ``(N,)`` bool; scores: ``(N,)``; thresholds: ``(T,)``."""
    precision, recall = _precision_recall(*_counts_at(scores, labels, thresholds))
    return _padded_curve_area(precision, recall)


def sonyc_ust_scores(y_true: Any, y_pred: Any, min_threshold: float = MIN_THRESHOLD) -> SonycUSTResult:
    """Official SONYC-UST / DCASE 2019 Task 5 coarse-level micro-AUPRC, macro-AUPRC and micro-F1@0.5.

    Reproduces the coarse mode of the reference evaluation (see the module docstring) without pandas or a loop
    over thresholds. Known differences, both where the reference cannot produce a number:

    * a class whose labels and thresholded predictions hold a single value at some threshold (e.g. a class with
      no positive clip, at threshold 1.0) makes the reference's ``sklearn.metrics.confusion_matrix`` return a
      1x1 matrix and crash with ``IndexError``; here its counts are used as they are (TP = FN = 0 gives P = R = 0
      through the 0.5 denominators, so that class has area 0);
    * scores outside [0, 1] (which can crash the reference's micro lookup) are rejected with ``ValueError``.

    Args:
        y_true: ``(N, K)`` multi-hot ground truth in {0, 1} (N clips, K classes; K = 8 for SONYC-UST coarse).
        y_pred: ``(N, K)`` predicted probabilities in [0, 1].
        min_threshold: scores below this never become thresholds (the reference's fixed 0.01).

    Returns:
        ``micro_auprc``, ``macro_auprc``, ``micro_f1`` as floats and ``class_auprc`` (K floats, column order).
    """
    labels, scores = _as_checked_arrays(y_true, y_pred)
    thresholds = [_class_thresholds(scores[:, k], min_threshold) for k in range(scores.shape[1])]
    class_auprc = [_class_auprc(labels[:, k], scores[:, k], t) for k, t in enumerate(thresholds)]
    micro_auprc, micro_f1 = _micro_scores(labels, scores, thresholds)
    return SonycUSTResult(
        micro_auprc=micro_auprc,
        macro_auprc=float(np.mean(class_auprc)),
        micro_f1=micro_f1,
        class_auprc=class_auprc,
    )


# ---------------------------------------------------------------------------------------------------------------
# torchmetrics wrappers
# ---------------------------------------------------------------------------------------------------------------


def _check_batch(preds: Tensor, target: Tensor, num_labels: int | None) -> None:
    """Shape checks only (no device sync); value checks happen once, in `sonyc_ust_scores`."""
    if preds.ndim != 2 or preds.shape != target.shape:
        raise ValueError(
            f"preds and target must both be (B, K) with the same shape, got {tuple(preds.shape)} and "
            f"{tuple(target.shape)}; pass sigmoid probabilities and multi-hot targets, one row per clip."
        )
    if num_labels is not None and preds.shape[1] != num_labels:
        raise ValueError(f"Expected {num_labels} classes (columns), got {preds.shape[1]}.")


class SonycUSTScores(Metric):
    """The official SONYC-UST scores (`sonyc_ust_scores`) accumulated over an epoch.

    The metric is defined over the whole evaluation set (thresholds are its distinct scores), so the states are
    the raw ``(N, K)`` predictions and targets, concatenated across batches and processes.

    ``compute()`` returns a dict of scalar float32 tensors ``micro_auprc``, ``macro_auprc``, ``micro_f1``;
    inside a `MetricCollection` these keys are merged into the collection's flat result.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    preds: list[Tensor]
    target: list[Tensor]

    def __init__(self, num_labels: int | None = None, min_threshold: float = MIN_THRESHOLD, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.min_threshold = min_threshold
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Store a batch. preds: ``(B, K)`` probabilities (sigmoid applied); target: ``(B, K)`` multi-hot."""
        _check_batch(preds, target, self.num_labels)
        self.preds.append(preds.detach())
        self.target.append(target.detach())

    def compute(self) -> dict[str, Tensor]:
        """Scores over everything seen since the last reset, as scalar tensors on the metric's device."""
        if isinstance(self.preds, list) and not self.preds:
            raise ValueError("SonycUSTScores.compute() called before any update(); feed at least one batch.")
        preds = dim_zero_cat(self.preds).to(torch.float64).cpu().numpy()
        target = dim_zero_cat(self.target).cpu().numpy()
        scores = sonyc_ust_scores(target, preds, min_threshold=self.min_threshold)
        return {key: torch.tensor(scores[key], dtype=torch.float32, device=self.device) for key in UST_KEYS}


class _MultilabelAPFloatTarget(MultilabelAveragePrecision):
    """torchmetrics' multilabel AP, also accepting float multi-hot targets (it insists on integer ones)."""

    def update(self, preds: Tensor, target: Tensor) -> None:
        """preds: ``(B, K)`` probabilities; target: ``(B, K)`` multi-hot, float or integer."""
        if target.is_floating_point():
            as_long = target.long()
            if not torch.equal(as_long.to(target.dtype), target):
                raise ValueError("mAP targets must be exactly 0 or 1; got fractional (soft) labels.")
            target = as_long
        super().update(preds, target)


def build_metrics(
    task: Literal["multilabel", "multiclass"], num_classes: int, **metric_kwargs: Any
) -> MetricCollection:
    """The metrics kdzoo logs for a task, as one collection whose ``compute()`` is a flat dict of scalars.

    * ``"multilabel"`` (SONYC-UST): ``micro_auprc``, ``macro_auprc``, ``micro_f1`` (the official scores, see
      `SonycUSTScores`) and ``mAP``, torchmetrics' macro ``MultilabelAveragePrecision``: the AudioSet-style
      ranking average precision, a different number from ``macro_auprc`` (no threshold floor, no padding, step
      interpolation instead of trapezoids), reported for comparison with tagging literature.
    * ``"multiclass"`` (e.g. Speech Commands): ``accuracy`` (micro, i.e. the fraction of clips right) and
      ``macro_accuracy`` (mean per-class recall).

    ``update(probs, target)`` takes probabilities (sigmoid or softmax already applied): ``(B, K)`` with float or
    integer multi-hot targets ``(B, K)`` for multilabel, long class ids ``(B,)`` for multiclass. Log
    ``collection.compute()`` (a dict), not the collection object: the UST metric returns several values.
    ``metric_kwargs`` go to every metric (torchmetrics ``Metric`` options, e.g. ``sync_on_compute=False``).
    """
    if num_classes < 1 or (task == "multiclass" and num_classes < 2):
        raise ValueError(f"num_classes={num_classes} is too small for task {task!r} (need >= 1, multiclass >= 2).")
    if task == "multilabel":
        metrics = {
            "sonyc_ust": SonycUSTScores(num_labels=num_classes, **metric_kwargs),
            "mAP": _MultilabelAPFloatTarget(num_labels=num_classes, average="macro", **metric_kwargs),
        }
        # Both metrics keep states named preds/target holding equal values; compute groups would then share one
        # copy between them, with the dtype of whichever updated first. Keep them apart.
        return MetricCollection(metrics, compute_groups=False)
    if task == "multiclass":
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(num_classes=num_classes, average="micro", **metric_kwargs),
                "macro_accuracy": MulticlassAccuracy(num_classes=num_classes, average="macro", **metric_kwargs),
            }
        )
    raise ValueError(f"Unknown task {task!r}; use 'multilabel' (SONYC-UST) or 'multiclass' (Speech Commands).")


# ---------------------------------------------------------------------------------------------------------------
# one row per clip across processes
# ---------------------------------------------------------------------------------------------------------------


def clip_key(clip_id: str) -> int:
    """A signed 64-bit integer for a clip id (blake2b of its UTF-8 bytes): clip ids travel between processes as
    tensors, and strings cannot. Two distinct ids of a split collide with probability about N^2 / 2^64."""
    return int.from_bytes(hashlib.blake2b(clip_id.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class ClipPredictions(Metric):
    """Every clip's prediction and target, gathered from all processes, one row per clip id.

    Why: under DDP Lightning's ``DistributedSampler`` pads the evaluation set to a multiple of the number of
    processes by repeating clips, and a test run by every rank on the whole split sees each clip once per rank.
    Scores computed on such rows count some clips twice. Here rows are keyed by :func:`clip_key` and
    ``compute()`` keeps the first row of each key, ordered by key, so the score is the one a single process
    gets on the same clips.
    """

    full_state_update = False
    keys: list[Tensor]
    preds: list[Tensor]
    target: list[Tensor]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("keys", default=[], dist_reduce_fx="cat")
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("groups", default=[], dist_reduce_fx="cat")

    def update(self, clip_ids: list[str], preds: Tensor, target: Tensor, groups: Tensor | None = None) -> None:
        """clip_ids: B ids; preds: ``(B, K)``; target: ``(B, K)`` multi-hot or ``(B,)`` class ids; groups:
        optional ``(B,)`` group index per clip (:class:`ClipGroups`), -1 when not given."""
        if len(clip_ids) != preds.shape[0] or target.shape[0] != preds.shape[0]:
            raise ValueError(f"ClipPredictions: {len(clip_ids)} clip ids, {preds.shape[0]} predictions and "
                             f"{target.shape[0]} targets; pass one of each per clip")
        self.keys.append(torch.tensor([clip_key(c) for c in clip_ids], dtype=torch.int64, device=preds.device))
        self.preds.append(preds.detach())
        self.target.append(target.detach())
        self.groups.append(torch.full((len(clip_ids),), -1, dtype=torch.int64, device=preds.device)
                           if groups is None else groups.to(device=preds.device, dtype=torch.int64))

    def compute(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(keys (N,), preds (N, K), target (N, ...), groups (N,))`` over distinct clips, sorted by key."""
        if isinstance(self.keys, list) and not self.keys:
            raise ValueError("ClipPredictions.compute() called before any update(); feed at least one batch.")
        keys, preds, target, groups = (dim_zero_cat(x) for x in (self.keys, self.preds, self.target, self.groups))
        order = torch.argsort(keys, stable=True)
        keys, preds, target, groups = keys[order], preds[order], target[order], groups[order]
        first = torch.ones_like(keys, dtype=torch.bool)
        first[1:] = keys[1:] != keys[:-1]
        return keys[first], preds[first], target[first], groups[first]


class ClipMetrics(nn.Module):
    """:func:`build_metrics` over the distinct clips of all processes (see :class:`ClipPredictions`).

    ``update(clip_ids, probs, target)`` per batch, ``compute()`` once per epoch (a flat dict of scalars, equal on
    every rank), ``reset()`` after. The scores are computed locally from the gathered rows, so the inner metrics
    do not synchronise a second time. With ``groups`` (single-label only, see :meth:`set_groups`) ``compute()``
    adds :class:`GroupedAccuracy`'s per-group accuracies over the same distinct clips.
    """

    def __init__(self, task: Literal["multilabel", "multiclass"], num_classes: int,
                 groups: ClipGroups | None = None) -> None:
        super().__init__()
        self.task = task
        self.rows = ClipPredictions()
        self.scores = build_metrics(task, num_classes, sync_on_compute=False)
        self.grouped: GroupedAccuracy | None = None
        self.set_groups(groups)

    def set_groups(self, groups: ClipGroups | None) -> None:
        """Also score accuracy per group of clips (e.g. per recording device); None turns it off."""
        if groups is not None and self.task != "multiclass":
            raise ValueError(f"per-group accuracy needs single-label (multiclass) data, this task is {self.task!r}")
        self.grouped = None if groups is None else GroupedAccuracy(groups, sync_on_compute=False)

    def update(self, clip_ids: list[str], preds: Tensor, target: Tensor) -> None:
        groups = None if self.grouped is None else self.grouped.groups.index(clip_ids).to(preds.device)
        self.rows.update(clip_ids, preds, target, groups)

    def compute(self) -> dict[str, Tensor]:
        _, preds, target, groups = self.rows.compute()
        self.scores.reset()
        self.scores.update(preds, target)
        values = self.scores.compute()
        if self.grouped is not None:
            self.grouped.reset()
            self.grouped.update(preds, target, groups)
            values.update(self.grouped.compute())
        return values

    def reset(self) -> None:
        self.rows.reset()
        self.scores.reset()
        if self.grouped is not None:
            self.grouped.reset()


# ---------------------------------------------------------------------------------------------------------------
# accuracy per group of clips (e.g. per recording device)
# ---------------------------------------------------------------------------------------------------------------


def grouped_accuracy(preds: Tensor, target: Tensor, groups: Tensor, num_groups: int) -> tuple[Tensor, Tensor]:
    """Clips right and clips in total per group.

    Args:
        preds: (N, K) scores or (N,) predicted class ids.
        target: (N,) class ids.
        groups: (N,) group index of each clip in ``[0, num_groups)``.

    Returns:
        ``(correct (G,), total (G,))`` float64 counts; accuracy of group g is ``correct[g] / total[g]``.
    """
    predicted = preds.argmax(dim=-1) if preds.dim() == 2 else preds
    if not predicted.shape == target.shape == groups.shape:
        raise ValueError(f"grouped_accuracy: predictions {tuple(predicted.shape)}, targets {tuple(target.shape)} and "
                         f"groups {tuple(groups.shape)} must all be (N,)")
    if groups.numel() and (groups.min() < 0 or groups.max() >= num_groups):
        raise ValueError(f"grouped_accuracy: group indices must lie in [0, {num_groups}), got "
                         f"{groups.min().item()}..{groups.max().item()}")
    right = (predicted == target).to(torch.float64)
    correct = torch.zeros(num_groups, dtype=torch.float64, device=right.device).index_add_(0, groups, right)
    total = torch.zeros(num_groups, dtype=torch.float64, device=right.device).index_add_(0, groups,
                                                                                           torch.ones_like(right))
    return correct, total


class GroupedAccuracy(Metric):
    """Accuracy per group of clips and unweighted means over groups (see :class:`ClipGroups`).

    ``update(preds (N, K) | (N,), target (N,), groups (N,))``; ``compute()`` is a dict with ``acc_<prefix><name>``
    for every group that has clips and ``acc_<mean>`` for every mean with at least one such group.
    """

    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(self, groups: ClipGroups, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        unknown = {g for members in groups.means.values() for g in members} - set(groups.names)
        if unknown:
            raise ValueError(f"ClipGroups.means name groups {sorted(unknown)} that are not in {list(groups.names)}")
        self.groups = groups
        size = len(groups.names)
        self.add_state("correct", default=torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, groups: Tensor) -> None:
        correct, total = grouped_accuracy(preds, target, groups, len(self.groups.names))
        self.correct += correct.to(self.correct.device)
        self.total += total.to(self.total.device)

    def compute(self) -> dict[str, Tensor]:
        per = {name: self.correct[i] / self.total[i] for i, name in enumerate(self.groups.names) if self.total[i] > 0}
        out = {f"acc_{self.groups.prefix}{name}": value.float() for name, value in per.items()}
        for mean, members in self.groups.means.items():
            present = [per[g] for g in members if g in per]
            if present:
                out[f"acc_{mean}"] = torch.stack(present).mean().float()
        return out


def group_accuracy(clip_ids: Sequence[str], preds: Tensor, target: Tensor, groups: ClipGroups) -> dict[str, float]:
    """:class:`GroupedAccuracy`'s scores for one set of predictions, outside a training run.

    E.g. per TAU recording device: ``group_accuracy(ids, logits, target, kdzoo.data.tau.DEVICE_GROUPS)``.

    Args:
        clip_ids: N clip ids (``groups.of`` maps each to its group).
        preds: (N, K) scores or (N,) predicted class ids.
        target: (N,) class ids.
    """
    if len(clip_ids) != preds.shape[0] or target.shape[0] != preds.shape[0]:
        raise ValueError(f"group_accuracy: {len(clip_ids)} clip ids, {preds.shape[0]} predictions, "
                         f"{target.shape[0]} targets")
    metric = GroupedAccuracy(groups)
    metric.update(preds, target, groups.index(clip_ids))
    return {key: float(value) for key, value in metric.compute().items()}
