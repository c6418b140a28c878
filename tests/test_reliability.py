"""Failing clearly and repeating exactly: NaN/inf losses, determinism, checkpoints of another architecture,
one metric row per clip however the clips were split across processes."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch

import kdzoo
from kdzoo.distill import Distiller, KDMethod
from kdzoo.distill.distiller import NonFiniteLossError
from kdzoo.metrics import ClipMetrics, ClipPredictions, build_metrics, clip_key


def trainer(**kwargs) -> pl.Trainer:
    defaults = dict(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return pl.Trainer(**{**defaults, **kwargs})


class Diverges(KDMethod):
    """A KD term that is finite until step ``at``, then ``value`` (NaN or inf)."""

    requires_teacher = False

    def __init__(self, at: int, value: float) -> None:
        super().__init__()
        self.at, self.value, self.calls = at, value, 0

    def terms(self, student, teacher, batch):
        self.calls += 1
        bad = self.calls > self.at
        return {"kd_probe": student.logits.sum() * 0 + (self.value if bad else 0.0)}


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_loss_stops_training_at_once_naming_step_term_and_clips(tone_data, value):
    torch.manual_seed(0)
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), method=Diverges(at=2, value=value),
                      num_classes=3)
    run = trainer(max_epochs=3, limit_val_batches=0)
    expected = list(tone_data.train_dataloader())[2].clip_id  # the third batch of the first epoch
    with pytest.raises(NonFiniteLossError) as error:
        run.fit(model, datamodule=tone_data)
    message = str(error.value)
    assert "training step 2 (epoch 0, batch 2)" in message
    assert f"kd_probe = {value}" in message and "task_loss" not in message  # only the guilty term is named
    assert f"the batch's clips: {', '.join(expected)}." in message
    assert run.global_step == 2  # no optimiser step was taken with the bad loss


def fit_tones(tone_data, seed: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    pl.seed_everything(seed, verbose=False)
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), num_classes=3)
    run = trainer(max_epochs=2, limit_train_batches=2, deterministic=True)
    run.fit(model, datamodule=tone_data)
    metrics = {k: float(v) for k, v in run.callback_metrics.items() if k.startswith("val/")}
    return metrics, {k: v.clone() for k, v in model.student.state_dict().items()}


def test_same_seed_gives_identical_metrics_and_weights_another_seed_does_not(tone_data):
    (a, weights_a), (b, weights_b) = fit_tones(tone_data, 0), fit_tones(tone_data, 0)
    assert a == b and {"val/micro_auprc", "val/loss"} <= a.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    other, _ = fit_tones(tone_data, 1)
    assert other["val/loss"] != a["val/loss"]  # the seed matters, so the equality above can fail


def test_a_checkpoint_of_another_architecture_is_refused_naming_the_file(tone_data, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    small = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), num_classes=3)
    trainer(max_steps=1, limit_val_batches=0, enable_checkpointing=True,
            callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)]).fit(small, datamodule=tone_data)
    other = Distiller(kdzoo.create_student("cnn_s", num_classes=3), num_classes=3)
    ckpt = tmp_path / "last.ckpt"
    with pytest.raises(ValueError, match=rf"{ckpt} is a checkpoint of .*'student': 'cnn_xs'.* this run builds .*"
                                         rf"'student': 'cnn_s'.*other shapes \['student\."):
        trainer(max_steps=2).fit(other, datamodule=tone_data, ckpt_path=str(ckpt))


def test_clip_predictions_keep_one_row_per_clip_in_key_order():
    rows = ClipPredictions()
    rows.update(["a", "b"], torch.tensor([[0.1], [0.2]]), torch.tensor([[0.0], [1.0]]))
    rows.update(["c", "a"], torch.tensor([[0.3], [0.9]]), torch.tensor([[1.0], [0.0]]))  # "a" again, as DDP pads
    keys, preds, target, _ = rows.compute()
    order = sorted(["a", "b", "c"], key=clip_key)
    first = {"a": 0.1, "b": 0.2, "c": 0.3}
    assert keys.tolist() == [clip_key(c) for c in order]
    assert preds.flatten().tolist() == pytest.approx([first[c] for c in order])
    with pytest.raises(ValueError, match="2 clip ids, 1 predictions"):
        rows.update(["a", "b"], torch.zeros(1, 1), torch.zeros(1, 1))


def test_clip_metrics_score_a_padded_split_like_the_clean_one():
    generator = torch.Generator().manual_seed(0)
    probs, target = torch.rand(9, 4, generator=generator), (torch.rand(9, 4, generator=generator) > 0.5).float()
    ids = [f"clip{i}" for i in range(9)]
    clean = build_metrics("multilabel", 4)
    clean.update(probs, target)
    padded = ClipMetrics("multilabel", 4)
    for part in (slice(0, 5), slice(5, 9), slice(0, 1)):  # what two ranks see when 9 clips are padded to 10
        padded.update(ids[part], probs[part], target[part])
    expected, got = clean.compute(), padded.compute()
    assert {k: float(v) for k, v in got.items()} == pytest.approx({k: float(v) for k, v in expected.items()})
    naive = build_metrics("multilabel", 4)
    naive.update(torch.cat([probs, probs[:1]]), torch.cat([target, target[:1]]))
    assert float(naive.compute()["micro_auprc"]) != float(expected["micro_auprc"])  # the duplicate does count
