"""SEA's downstream: MIL classifier with AutoPool, frame standardisation from train, embeddings at 0.1 s."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdzoo.downstream import ClipEmbeddings, FrameScaler, embed_split, evaluate_embedder, train_mil
from kdzoo.models.l3 import SEAStudent
from kdzoo.models.mil import MILClassifier
from kdzoo.types import Batch

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _classifier(alpha: float) -> MILClassifier:
    model = MILClassifier(4, 3, hidden=())
    model.alpha.data.fill_(alpha)
    return model


def test_autopool_alpha_zero_is_the_mean_and_large_alpha_the_max() -> None:
    torch.manual_seed(0)
    frames = torch.randn(2, 7, 4)
    model = _classifier(0.0)
    p = torch.sigmoid(model.frame_logits(frames))  # (2, 7, 3)
    assert torch.allclose(torch.sigmoid(model(frames)), p.mean(dim=1), atol=1e-6)
    model.alpha.data.fill_(1e4)
    assert torch.allclose(torch.sigmoid(model(frames)), p.amax(dim=1), atol=1e-4)
    model.alpha.data.fill_(1.0)  # alpha 1: softmax-weighted, between the two
    pooled = torch.sigmoid(model(frames))
    assert (pooled >= p.mean(dim=1) - 1e-6).all() and (pooled <= p.amax(dim=1) + 1e-6).all()
    expected = (p * torch.softmax(p, dim=1)).sum(dim=1)
    assert torch.allclose(pooled, expected, atol=1e-6)


def test_alpha_is_projected_to_non_negative() -> None:
    model = _classifier(-2.0)
    model.constrain()
    assert torch.equal(model.alpha.data, torch.zeros(3))


@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)])
def test_zero_to_two_hidden_layers(hidden: tuple[int, ...]) -> None:
    model = MILClassifier(5, 2, hidden)
    assert model(torch.randn(3, 96, 5)).shape == (3, 2)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.frames) == len(hidden) + 1
    with pytest.raises(ValueError, match="0-2 hidden layers"):
        MILClassifier(5, 2, (4, 4, 4))


def test_frame_scaler_uses_the_train_frames() -> None:
    train = torch.randn(10, 6, 3) * torch.tensor([1.0, 5.0, 0.0]) + torch.tensor([2.0, -1.0, 7.0])
    scaler = FrameScaler().fit(train)
    flat = scaler(train).reshape(-1, 3)
    assert torch.allclose(flat[:, :2].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(flat[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-5)
    assert torch.allclose(flat[:, 2], torch.zeros(60))  # constant: centred, not divided by 0


def test_mil_learns_bags_tagged_by_a_few_frames() -> None:
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(160, 20, 8, generator=generator)
    targets = (torch.rand(160, 2, generator=generator) < 0.4).float()
    for clip in range(160):  # class k present: 4 consecutive frames of the 20 carry a +2 on dimension k
        for k in range(2):
            if targets[clip, k]:
                start = int(torch.randint(16, (1,), generator=generator))
                frames[clip, start:start + 4, k] += 2.0
    train = ClipEmbeddings(frames[:120], targets[:120], [str(i) for i in range(120)])
    model = train_mil(train, hidden=(16,), lr=1e-2, epochs=40, batch_size=40)
    from kdzoo.metrics import sonyc_ust_scores

    with torch.no_grad():
        scores = sonyc_ust_scores(targets[120:].numpy(), torch.sigmoid(model(frames[120:])).numpy())
    assert scores["micro_auprc"] > 0.8  # chance: the prevalence, about 0.4
    assert (model.alpha >= 0).all() and model.alpha.max() > 0.5  # learned to lean towards the max


def _loader(clips: int, seconds: float, rate: int = 8000):
    generator = torch.Generator().manual_seed(1)
    items = [{"waveform": 0.1 * torch.randn(int(seconds * rate), generator=generator),
              "target": torch.tensor([float(i % 2), float(i % 3 == 0)]), "clip_id": f"c{i}", "sample_rate": rate}
             for i in range(clips)]
    return torch.utils.data.DataLoader(items, batch_size=4, collate_fn=Batch.collate)


def test_ten_second_clips_give_96_embeddings_at_hop_0_1() -> None:
    model = SEAStudent(size=3)
    out = embed_split(model, _loader(2, 10.0, rate=16000))  # resampled to the student's 8 kHz
    assert out.frames.shape == (2, 96, 64) and out.targets.shape == (2, 2) and out.clip_id == ["c0", "c1"]
    assert (out.frames >= 0).all()


def test_evaluate_embedder_returns_official_scores() -> None:
    torch.manual_seed(0)
    scores = evaluate_embedder(SEAStudent(size=3), _loader(8, 1.0), _loader(4, 1.0), hidden=(8,), lr=1e-3,
                               epochs=2)
    assert set(scores) == {"micro_auprc", "macro_auprc", "micro_f1"}
    assert all(0.0 <= v <= 1.0 for v in scores.values()) and np.isfinite(list(scores.values())).all()


def test_embed_split_measures_each_windows_loudness_as_the_samplers_rank_it() -> None:
    rate = 8000
    loud = torch.cat([torch.full((rate,), 0.5), torch.zeros(rate)])  # 1 s at 0.5 (-6.02 dB RMS), then 1 s silence
    items = [{"waveform": loud, "target": torch.tensor([1.0]), "clip_id": "c0", "sample_rate": rate}]
    loader = torch.utils.data.DataLoader(items, batch_size=1, collate_fn=Batch.collate)
    out = embed_split(SEAStudent(size=3), loader, hop_s=0.5)
    assert out.loudness.shape == out.frames.shape[:2] == (1, 4)
    # windows centred at 0, 0.5, 1.0, 1.5 s hold half, all, half and none of the tone (silence: the -100 dB floor)
    expected = [10 * np.log10(0.25 * 0.5), 10 * np.log10(0.25), 10 * np.log10(0.25 * 0.5), -100.0]
    assert out.loudness[0].tolist() == pytest.approx(expected, abs=0.01)


def _split(clips: int, windows: int, width: int, seed: int, shift: float = 0.0) -> ClipEmbeddings:
    generator = torch.Generator().manual_seed(seed)
    scale = torch.tensor([4.0, 2.0, 1.0, 0.5, 0.25, 0.1])[:width]  # distinct variances: a well-defined PCA
    frames = torch.randn(clips, windows, width, generator=generator) * scale + shift
    loudness = torch.randn(clips, windows, generator=generator)
    return ClipEmbeddings(frames, torch.zeros(clips, 1), [f"c{i}" for i in range(clips)], loudness)


def test_reduce_embeddings_fits_phi_on_train_and_maps_every_split() -> None:
    from kdzoo.downstream import reduce_embeddings

    train, evaluation = _split(20, 6, 6, seed=0), _split(5, 6, 6, seed=1, shift=3.0)
    reduced, (reduced_eval,), phi = reduce_embeddings(train, [evaluation], dim=2, sample_size=10_000)
    assert reduced.frames.shape == (20, 6, 2) and reduced_eval.frames.shape == (5, 6, 2)
    assert phi.scaler.n_samples_seen_ == 120  # all 120 train windows, none of the evaluation split's
    flat = reduced.frames.reshape(-1, 2)
    assert flat.mean(0).abs().max() < 1e-4  # centred on train, by train's statistics
    assert flat[:, 0].var() > flat[:, 1].var()  # components in order of variance
    by_hand = ((evaluation.frames - torch.tensor(phi.scaler.mean_, dtype=torch.float32))
               / torch.tensor(phi.scaler.scale_, dtype=torch.float32)) @ torch.tensor(phi.model.components_.T)
    assert torch.allclose(reduced_eval.frames, by_hand.float(), atol=1e-4)  # the evaluation split: train's phi
    assert reduced.targets is train.targets and reduced.loudness is train.loudness


@pytest.mark.parametrize("sampling", ["random", "relevance", "diversity", "diversity_relevance"])
def test_reduce_embeddings_fits_phi_on_the_sample_only(sampling: str) -> None:
    from kdzoo.downstream import reduce_embeddings

    train = _split(12, 8, 6, seed=2)
    _, _, phi = reduce_embeddings(train, [], dim=3, sampling=sampling, sample_size=24)  # 2 windows per clip
    assert phi.scaler.n_samples_seen_ == 24
    without_loudness = ClipEmbeddings(train.frames, train.targets, train.clip_id)
    if "relevance" in sampling:
        with pytest.raises(ValueError, match=f"sampling '{sampling}' ranks window loudness"):
            reduce_embeddings(without_loudness, [], dim=3, sampling=sampling, sample_size=24)
    else:
        reduce_embeddings(without_loudness, [], dim=3, sampling=sampling, sample_size=24)
