"""Teacher ensembles: averaging maths by hand, the store key over every member, and a Distiller run from the store."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch

import kdzoo
from kdzoo.distill import Distiller, HintonKD
from kdzoo.distill.store import key_differences, key_digest, store_key
from kdzoo.functional import ensemble_logits
from kdzoo.models import create_ensemble, create_teacher


def test_ensemble_logits_by_hand() -> None:
    z = torch.tensor([[[0.0, 0.0]], [[math.log(3.0), 0.0]]])  # M=2 teachers, B=1 clip, K=2 classes
    assert ensemble_logits(z, "logits")[0].tolist() == pytest.approx([math.log(3.0) / 2, 0.0])
    # softmax: (0.5, 0.5) and (0.75, 0.25) -> mean (0.625, 0.375); the logits are its log, softmax gives it back
    soft = ensemble_logits(z, "softmax")
    assert soft[0].tolist() == pytest.approx([math.log(0.625), math.log(0.375)])
    assert torch.softmax(soft, -1)[0].tolist() == pytest.approx([0.625, 0.375])
    # sigmoid: class 0 has 0.5 and 0.75 -> 0.625 -> log-odds log(0.625 / 0.375); class 1 has 0.5 twice -> 0
    assert ensemble_logits(z, "sigmoid")[0].tolist() == pytest.approx([math.log(0.625 / 0.375), 0.0], abs=1e-6)
    sure = ensemble_logits(torch.full((2, 1, 1), 100.0), "sigmoid")  # mean probability 1: clamped, finite
    assert torch.isfinite(sure).all() and sure.item() == pytest.approx(math.log((1 - 1e-6) / 1e-6), rel=1e-3)
    one = torch.randn(1, 4, 3)  # a single member: every average returns its own distribution
    assert torch.allclose(torch.softmax(ensemble_logits(one, "softmax"), -1), torch.softmax(one[0], -1), atol=1e-6)
    with pytest.raises(ValueError, match="average must be one of"):
        ensemble_logits(z, "median")


def members(rates: tuple[int, ...] = (16000, 8000), seed: int = 0) -> list:
    torch.manual_seed(seed)
    return [create_teacher("cnn_xs", num_classes=3, sample_rate=rate) for rate in rates]


def key(teacher) -> dict:
    return store_key(teacher.identity(), {"logits"}, "float16")


def test_store_key_covers_every_member_and_the_averaging() -> None:
    first, second = members()
    ensemble = create_ensemble([first, second])
    assert ensemble.sample_rate == 16000 and ensemble.num_classes == 3
    base = key(ensemble)
    assert [m["sample_rate"] for m in base["config"]["members"]] == [16000, 8000]
    with torch.no_grad():
        second.model.head.weight[0, 0] += 1e-3  # one weight of one member
    changed = key(create_ensemble([first, second]))
    assert key_digest(changed) != key_digest(base)
    assert any(line.startswith("config.members") or line.startswith("weights_sha256")
               for line in key_differences(base, changed))
    assert key_digest(key(create_ensemble([first, second], average="softmax"))) != key_digest(changed)
    assert key_digest(key(create_ensemble([second, first]))) != key_digest(changed)  # order is part of the key
    with pytest.raises(ValueError, match="member 1 has cache=true"):
        create_ensemble([first, create_teacher("cnn_xs", num_classes=3, cache=True)])
    with pytest.raises(ValueError, match="same classes; members predict \\[3, 5\\]"):
        create_ensemble([first, create_teacher("cnn_xs", num_classes=5)])


def test_distiller_trains_from_a_stored_ensemble_of_two_teachers(tone_data, tmp_path, one_thread) -> None:
    """Two tiny teachers at 16 and 8 kHz: their averaged logits are computed once per clip (the store), equal the
    live ensemble, and the student learns from them."""
    ensemble = create_ensemble(members(), average="sigmoid", cache=True, cache_dir=str(tmp_path / "store"),
                               cache_dtype="float32")
    calls: list[int] = []
    for member in ensemble.model.members:
        member.model.register_forward_hook(lambda module, args, out: calls.append(len(out.logits)))
    pl.seed_everything(0)
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), ensemble, HintonKD(temperature=1.0),
                      num_classes=3)
    before = [p.detach().clone() for p in model.student.parameters()]
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.fit(model, datamodule=tone_data)
    assert sum(calls) == 2 * 96  # each member saw each clip once (72 train + 24 val), not once per epoch
    batch = next(iter(tone_data.val_dataloader()))
    stored = model.teacher_store().read("val", batch).logits
    live = ensemble(batch.waveform, 16000).logits
    torch.testing.assert_close(stored, live, rtol=0, atol=1e-5)
    by_hand = [m(batch.waveform if m.sample_rate == 16000 else kdzoo.dsp.resample(batch.waveform, 16000, 8000),
                 m.sample_rate).logits for m in ensemble.model.members]
    torch.testing.assert_close(live, ensemble_logits(torch.stack(by_hand), "sigmoid"))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.student.parameters(), strict=True))
    assert math.isfinite(trainer.callback_metrics["train/kd_logit"].item())
