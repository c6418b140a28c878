"""Tests for kdzoo.metrics: the official SONYC-UST coarse scores and the torchmetrics collections.

Expected numbers are worked out by hand in the comments. A curve is written as its (R, P) points after
sorting by recall, padding included; its area is the sum of trapezoids (R_{i+1} - R_i) * (P_i + P_{i+1}) / 2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import auc
from torchmetrics.utilities import dim_zero_cat

from kdzoo.metrics import SonycUSTScores, build_metrics, sonyc_ust_scores

# ---------------------------------------------------------------------------------------------------------------
# A slow, literal re-statement of the reference (urban-sound-tagging-baseline metrics.py, coarse mode):
# a confusion count per threshold, then the micro lookup "last row of each class with threshold >= t".
# ---------------------------------------------------------------------------------------------------------------


def _slow_class_table(labels: list[int], scores: list[float], min_threshold: float) -> list[tuple]:
    """Rows (threshold, TP, FP, FN, P, R) in descending threshold order, one loop per threshold."""
    kept = sorted(x for x in scores if x >= min_threshold)
    thresholds = sorted(set(kept) | {1.0}, reverse=True)
    rows = []
    for t in thresholds:
        tp = fp = fn = 0
        for y, x in zip(labels, scores, strict=True):
            predicted = x >= t
            tp += int(y == 1 and predicted)
            fp += int(y == 0 and predicted)
            fn += int(y == 1 and not predicted)
        rows.append((t, tp, fp, fn, tp / max(tp + fp, 0.5), tp / max(tp + fn, 0.5)))
    return rows


def _slow_padded_auc(precisions: list[float], recalls: list[float]) -> float:
    # The reference sorts with numpy's default argsort and integrates with sklearn.metrics.auc.
    order = np.argsort(list(recalls))
    r = [0.0] + [recalls[i] for i in order] + [1.0]
    p = [1.0] + [precisions[i] for i in order] + [0.0]
    return auc(np.array(r), np.array(p))


def slow_reference(y_true: np.ndarray, y_pred: np.ndarray, min_threshold: float = 0.01) -> dict:
    tables = [
        _slow_class_table(y_true[:, k].tolist(), y_pred[:, k].astype(float).tolist(), min_threshold)
        for k in range(y_true.shape[1])
    ]
    class_auprc = [_slow_padded_auc([row[4] for row in tab], [row[5] for row in tab]) for tab in tables]
    union = sorted({row[0] for tab in tables for row in tab})  # ascending, like np.unique
    micro_p, micro_r, micro_f = [], [], []
    for t in union:
        tp = fp = fn = 0
        for tab in tables:
            last = [row for row in tab if row[0] >= t][-1]
            tp, fp, fn = tp + last[1], fp + last[2], fn + last[3]
        p, r = tp / max(tp + fp, 0.5), tp / max(tp + fn, 0.5)
        micro_p.append(p)
        micro_r.append(r)
        micro_f.append(0.0 if p == 0 or r == 0 else 2 / (1 / p + 1 / r))
    first_half = next(i for i, t in enumerate(union) if t >= 0.5)
    return {
        "micro_auprc": _slow_padded_auc(micro_p, micro_r),
        "macro_auprc": sum(class_auprc) / len(class_auprc),
        "micro_f1": micro_f[first_half],
        "class_auprc": class_auprc,
    }


def _assert_scores(got: dict, micro: float, macro: float, f1: float, classes: list[float] | None = None) -> None:
    assert got["micro_auprc"] == pytest.approx(micro, abs=1e-12)
    assert got["macro_auprc"] == pytest.approx(macro, abs=1e-12)
    assert got["micro_f1"] == pytest.approx(f1, abs=1e-12)
    if classes is not None:
        assert got["class_auprc"] == pytest.approx(classes, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# Hand-computed cases
# ---------------------------------------------------------------------------------------------------------------


def test_perfect_predictions_score_one():
    # Scores equal the labels: 0 is below 0.01, so each class has the single threshold 1.0, where
    # TP = #positives, FP = FN = 0 -> (R=1, P=1). Curve (0,1),(1,1),(1,0): area 1. Micro likewise; F1 at 1.0 is 1.
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]] * 2)
    _assert_scores(sonyc_ust_scores(y, y.astype(float)), 1.0, 1.0, 1.0, [1.0, 1.0, 1.0])


def test_all_zero_predictions_score_zero():
    # Only threshold 1.0 survives: nothing predicted, TP = FP = 0 -> P = 0/0.5 = 0, R = 0.
    # Curve (0,1),(0,0),(1,0): area 0 + 1 * (0 + 0) / 2 = 0. F1 at 1.0: 2 / (inf + inf) = 0.
    y = np.array([[1, 0], [0, 1], [1, 1]])
    _assert_scores(sonyc_ust_scores(y, np.zeros((3, 2))), 0.0, 0.0, 0.0, [0.0, 0.0])


def test_two_class_four_clip_case_by_hand():
    # clip:        0     1     2      3
    # class A y:   1     1     0      0     scores 0.9   0.6   0.6   0.005
    # class B y:   0     1     0      1     scores 0.95  0.3   0.005 0.3
    #
    # Class A thresholds (>= 0.01, plus 1.0, descending): 1.0, 0.9, 0.6
    #   t=1.0: TP0 FP0 FN2 -> (R0, P0);  t=0.9: TP1 FP0 FN1 -> (R.5, P1);  t=0.6: TP2 FP1 FN0 -> (R1, P2/3)
    #   curve (0,1),(0,0),(.5,1),(1,2/3),(1,0): .5*(0+1)/2 + .5*(1+2/3)/2 = 1/4 + 5/12 = 2/3
    # Class B thresholds: 1.0, 0.95, 0.3
    #   t=1.0: TP0 FP0 FN2 -> (0,0);  t=0.95: TP0 FP1 FN2 -> (0,0);  t=0.3: TP2 FP1 FN0 -> (R1, P2/3)
    #   curve (0,1),(0,0),(0,0),(1,2/3),(1,0): 1*(0+2/3)/2 = 1/3
    # Macro = (2/3 + 1/3) / 2 = 1/2.
    #
    # Micro: union thresholds 0.3, 0.6, 0.9, 0.95, 1.0 (4 positives in all), pooled counts of scores >= t:
    #   t=1.0:  TP0 FP0 FN4 -> (R0,   P0)
    #   t=0.95: TP0 FP1 FN4 -> (R0,   P0)      [B's 0.95 negative]
    #   t=0.9:  TP1 FP1 FN3 -> (R.25, P.5)     [A's row 0.9; B's row 0.95]
    #   t=0.6:  TP2 FP2 FN2 -> (R.5,  P.5)
    #   t=0.3:  TP4 FP2 FN0 -> (R1,   P2/3)
    #   curve (0,1),(0,0),(0,0),(.25,.5),(.5,.5),(1,2/3),(1,0):
    #   .25*(0+.5)/2 + .25*(.5+.5)/2 + .5*(.5+2/3)/2 = 1/16 + 1/8 + 7/24 = 23/48
    # F1: first union threshold >= 0.5 is 0.6: P = R = .5 -> 2 / (2 + 2) = 1/2
    #   (at 0.9 it would be 2/(2+4) = 1/3, at 0.3 it would be 2/(1.5+1) = 0.8).
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    s = np.array([[0.9, 0.95], [0.6, 0.3], [0.6, 0.005], [0.005, 0.3]])
    _assert_scores(sonyc_ust_scores(y, s), 23 / 48, 1 / 2, 1 / 2, [2 / 3, 1 / 3])


def test_scores_below_min_threshold_are_ignored():
    # y = [1, 1], scores [0.8, 0.005]: thresholds 1.0, 0.8 only (0.005 < 0.01).
    #   t=1.0 -> (0,0); t=0.8: TP1 FP0 FN1 -> (.5, 1). Curve (0,1),(0,0),(.5,1),(1,0): .25 + .25 = 0.5.
    # With min_threshold=0.001, 0.005 is a threshold too: TP2 FN0 -> (1,1).
    #   Curve (0,1),(0,0),(.5,1),(1,1),(1,0): .25 + .5 = 0.75.
    y, s = np.array([[1], [1]]), np.array([[0.8], [0.005]])
    assert sonyc_ust_scores(y, s)["macro_auprc"] == pytest.approx(0.5)
    assert sonyc_ust_scores(y, s, min_threshold=0.001)["macro_auprc"] == pytest.approx(0.75)


def test_min_threshold_is_inclusive_and_compared_in_float64():
    # 0.01 itself is kept (the reference keeps values >= 0.01). float32(0.01) is 0.0099999998 < 0.01 and is
    # dropped, as it is when the reference reads it back as float64. Positive at 0.01 kept -> thresholds 1.0, 0.01
    # -> curve (0,1),(0,0),(1,1),(1,0): area 1*(0+1)/2 = 0.5; dropped -> only t=1.0 -> (0,1),(0,0),(1,0): area 0.
    y = np.array([[1], [0]])
    assert sonyc_ust_scores(y, np.array([[0.01], [0.0]]))["macro_auprc"] == pytest.approx(0.5)
    assert sonyc_ust_scores(y, np.array([[0.01], [0.0]], dtype=np.float32))["macro_auprc"] == 0.0


def test_class_without_positives_uses_half_denominator():
    # Class 0: y [1, 0], scores [0.8, 0.005] -> thresholds 1.0, 0.8: (0,0), (R1, P1).
    #   Curve (0,1),(0,0),(1,1),(1,0): 1*(0+1)/2 = 0.5.
    # Class 1: y [0, 0], scores [0.9, 0.005]: TP = FN = 0 everywhere -> R = 0/0.5 = 0, P = 0/max(FP, .5) = 0.
    #   Curve (0,1),(0,0),(0,0),(1,0): 0.   Macro = 0.25.
    # Micro: union 0.8, 0.9, 1.0 (1 positive): t=1.0 TP0 FP0 FN1 -> (0,0); t=0.9 TP0 FP1 -> (0,0);
    #   t=0.8 TP1 FP1 FN0 -> (R1, P.5). Curve (0,1),(0,0),(0,0),(1,.5),(1,0): 1*(0+.5)/2 = 0.25.
    #   F1 at 0.8: 2 / (2 + 1) = 2/3.
    y = np.array([[1, 0], [0, 0]])
    s = np.array([[0.8, 0.9], [0.005, 0.005]])
    _assert_scores(sonyc_ust_scores(y, s), 0.25, 0.25, 2 / 3, [0.5, 0.0])


def test_tied_scores_flip_together():
    # y [1, 0, 1, 0], scores [.7, .7, .2, .2]: thresholds 1.0, 0.7, 0.2; tied clips cross a threshold together.
    #   t=1.0 -> (0,0); t=0.7: TP1 FP1 FN1 -> (.5,.5); t=0.2: TP2 FP2 -> (1,.5).
    #   Curve (0,1),(0,0),(.5,.5),(1,.5),(1,0): .5*(0+.5)/2 + .5*(.5+.5)/2 = .125 + .25 = 0.375.
    # Stepping clip by clip instead (e.g. ranking ties as positive first) would add the points (.5, 1) and
    # (1, 2/3) to this curve; the reference has one threshold per distinct score, so they never appear.
    y = np.array([[1], [0], [1], [0]])
    tied = sonyc_ust_scores(y, np.array([[0.7], [0.7], [0.2], [0.2]]))
    _assert_scores(tied, 0.375, 0.375, 0.5)  # F1 at 0.7: 2 / (2 + 2)


def test_tied_scores_across_classes_share_a_micro_threshold():
    # Class A y [0, 1], scores [.6, .3]; class B y [1, 0], scores [.6, .005]. Both classes have threshold .6.
    # Micro union .3, .6, 1.0 (2 positives): t=1.0: (0,0); t=.6: A FP1, B TP1 -> TP1 FP1 FN1 -> (.5,.5);
    #   t=.3: A TP1 FP1, B TP1 -> TP2 FP1 FN0 -> (1, 2/3).
    #   Curve (0,1),(0,0),(.5,.5),(1,2/3),(1,0): .5*(0+.5)/2 + .5*(.5+2/3)/2 = 1/8 + 7/24 = 5/12.  F1 at .6: .5.
    # Per class: A (0,0),(0,0),(1,.5) -> 1*(0+.5)/2 = 0.25;  B (0,0),(1,1) -> 1*(0+1)/2 = 0.5.  Macro 0.375.
    y = np.array([[0, 1], [1, 0]])
    s = np.array([[0.6, 0.6], [0.3, 0.005]])
    _assert_scores(sonyc_ust_scores(y, s), 5 / 12, 0.375, 0.5, [0.25, 0.5])


def test_f1_uses_first_threshold_at_or_above_half():
    # One class, y [1, 0, 1], scores [.8, .5, .49]. Union/thresholds ascending: .49, .5, .8, 1.0.
    # First >= 0.5 is 0.5 itself (inclusive): TP1 FP1 FN1 -> P = R = .5 -> F1 = .5.
    # (At .8: P1 R.5 -> 2/3; at .49: P2/3 R1 -> 0.8.)
    y = np.array([[1], [0], [1]])
    assert sonyc_ust_scores(y, np.array([[0.8], [0.5], [0.49]]))["micro_f1"] == pytest.approx(0.5)
    # Nothing >= 0.5 except the appended 1.0: nothing predicted there, so F1 = 0.
    assert sonyc_ust_scores(y, np.array([[0.4], [0.3], [0.2]]))["micro_f1"] == 0.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        (np.ones((3, 2)), np.ones((3, 3)), "same shape"),
        (np.ones(3), np.ones(3), "same shape"),
        (np.ones((0, 2)), np.ones((0, 2)), "at least one clip"),
        (np.ones((2, 1)), np.array([[0.5], [1.5]]), r"\[0, 1\]"),
        (np.ones((2, 1)), np.array([[0.5], [np.nan]]), "NaN"),
        (np.array([[1], [0.5]]), np.array([[0.5], [0.5]]), "multi-hot"),
    ],
)
def test_invalid_inputs_are_rejected(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        sonyc_ust_scores(y_true, y_pred)


# ---------------------------------------------------------------------------------------------------------------
# Vectorised version == literal loops, on random inputs with many ties
# ---------------------------------------------------------------------------------------------------------------

_SPECIAL_SCORES = st.sampled_from([0.0, 0.005, 0.01, 0.5, 1.0])
_ROUNDED_SCORES = st.integers(0, 20).map(lambda i: i / 20)  # coarse grid -> many tied scores
_FINE_SCORES = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def _labelled_scores(draw):
    n, k = draw(st.integers(1, 12)), draw(st.integers(1, 4))
    score = st.one_of(_SPECIAL_SCORES, _ROUNDED_SCORES, _FINE_SCORES)
    y_pred = draw(hnp.arrays(np.float64, (n, k), elements=score))
    y_true = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 1)))
    return y_true, y_pred


@settings(max_examples=300, deadline=None)
@given(_labelled_scores())
def test_vectorised_matches_literal_reference(data):
    y_true, y_pred = data
    got, want = sonyc_ust_scores(y_true, y_pred), slow_reference(y_true, y_pred)
    _assert_scores(got, want["micro_auprc"], want["macro_auprc"], want["micro_f1"], want["class_auprc"])


def test_vectorised_matches_literal_reference_on_sonyc_sized_input():
    # 443 clips x 8 classes (the v1 validate split's size), scores on a 0.01 grid: long tie runs in both curves.
    rng = np.random.default_rng(0)
    y_true = (rng.random((443, 8)) < 0.3).astype(int)
    y_pred = np.clip(np.round(0.5 * y_true + 0.6 * rng.random((443, 8)), 2), 0.0, 1.0)
    got, want = sonyc_ust_scores(y_true, y_pred), slow_reference(y_true, y_pred)
    _assert_scores(got, want["micro_auprc"], want["macro_auprc"], want["micro_f1"], want["class_auprc"])
    assert 0.5 < got["micro_auprc"] < 1.0  # informative scores, not a degenerate curve


# ---------------------------------------------------------------------------------------------------------------
# torchmetrics wrappers
# ---------------------------------------------------------------------------------------------------------------


def _random_batches(seed: int, sizes: list[int], k: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for b in sizes:
        target = (torch.rand(b, k, generator=gen) < 0.4).float()
        probs = torch.round(torch.rand(b, k, generator=gen) * 0.6 + 0.4 * target, decimals=2)
        batches.append((probs, target))
    return batches


def test_metric_accumulates_batches_like_one_call():
    batches = _random_batches(0, [5, 17, 9])
    metric = SonycUSTScores(num_labels=8)
    for probs, target in batches:
        metric.update(probs, target)
    got = metric.compute()
    probs = torch.cat([p for p, _ in batches]).double().numpy()
    target = torch.cat([t for _, t in batches]).numpy()
    want = slow_reference(target.astype(int), probs)
    assert set(got) == {"micro_auprc", "macro_auprc", "micro_f1"}
    for key in got:
        assert got[key].ndim == 0
        assert got[key].item() == pytest.approx(want[key], abs=1e-6)
    assert SonycUSTScores.higher_is_better is True and SonycUSTScores.full_state_update is False
    assert metric._reductions["preds"] is dim_zero_cat  # gathered across processes, not summed


def test_metric_reset_forgets_previous_batches():
    first, second = _random_batches(1, [12]), _random_batches(2, [12])
    metric = SonycUSTScores()
    metric.update(*first[0])
    metric.reset()
    metric.update(*second[0])
    probs, target = second[0]
    assert metric.compute()["micro_auprc"].item() == pytest.approx(
        slow_reference(target.int().numpy(), probs.double().numpy())["micro_auprc"], abs=1e-6
    )


def test_metric_rejects_bad_shapes():
    metric = SonycUSTScores(num_labels=8)
    with pytest.raises(ValueError, match="same shape"):
        metric.update(torch.rand(4, 8), torch.zeros(4, 7))
    with pytest.raises(ValueError, match="Expected 8 classes"):
        metric.update(torch.rand(4, 3), torch.zeros(4, 3))


def test_build_metrics_multilabel_keys_and_values():
    # Class 0: y [1,0,1,0], probs [.9,.8,.3,.1]. Ranking AP = mean precision at each positive = (1/1 + 2/3)/2 = 5/6.
    # Class 1: y [0,1,1,0], probs [.2,.7,.6,.4]. Both positives ranked first: AP = 1.  mAP = (5/6 + 1)/2 = 11/12.
    # The UST scores of the same data come from the literal reference above; macro AUPRC is a different number.
    probs = torch.tensor([[0.9, 0.2], [0.8, 0.7], [0.3, 0.6], [0.1, 0.4]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])  # float multi-hot is accepted
    metrics = build_metrics("multilabel", num_classes=2)
    metrics.update(probs[:2], target[:2])
    metrics.update(probs[2:], target[2:])
    out = metrics.compute()
    assert set(out) == {"micro_auprc", "macro_auprc", "micro_f1", "mAP"}
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in out.values())
    assert out["mAP"].item() == pytest.approx(11 / 12, abs=1e-6)
    want = slow_reference(target.int().numpy(), probs.double().numpy())
    for key in ("micro_auprc", "macro_auprc", "micro_f1"):
        assert out[key].item() == pytest.approx(want[key], abs=1e-6)
    assert abs(out["macro_auprc"].item() - out["mAP"].item()) > 0.1


def test_build_metrics_multilabel_rejects_soft_targets():
    metrics = build_metrics("multilabel", num_classes=2)
    with pytest.raises(ValueError, match="exactly 0 or 1"):
        metrics.update(torch.rand(3, 2), torch.full((3, 2), 0.9))


def test_build_metrics_multiclass_keys_and_values():
    # Targets [0,1,2,2], argmax predictions [0,1,1,2]: accuracy 3/4;
    # per-class recall: class 0 1/1, class 1 1/1, class 2 1/2 -> macro accuracy 5/6.
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    target = torch.tensor([0, 1, 2, 2])
    metrics = build_metrics("multiclass", num_classes=3)
    metrics.update(probs, target)
    out = metrics.compute()
    assert set(out) == {"accuracy", "macro_accuracy"}
    assert out["accuracy"].item() == pytest.approx(0.75)
    assert out["macro_accuracy"].item() == pytest.approx(5 / 6)


def test_build_metrics_prefix_and_forward_keep_flat_keys():
    metrics = build_metrics("multilabel", num_classes=8).clone(prefix="val/")
    probs, target = _random_batches(3, [16])[0]
    batch_out = metrics(probs, target)  # forward: scores of this batch alone
    assert set(batch_out) == {"val/micro_auprc", "val/macro_auprc", "val/micro_f1", "val/mAP"}
    want = slow_reference(target.int().numpy(), probs.double().numpy())
    assert batch_out["val/micro_auprc"].item() == pytest.approx(want["micro_auprc"], abs=1e-6)
    assert not math.isnan(batch_out["val/mAP"].item())


@pytest.mark.parametrize(("task", "num_classes"), [("multiclass", 1), ("multilabel", 0), ("regression", 3)])
def test_build_metrics_rejects_bad_arguments(task, num_classes):
    with pytest.raises(ValueError, match="num_classes|Unknown task"):
        build_metrics(task, num_classes)
