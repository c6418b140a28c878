"""SP and IUSP: the formulas on hand-computed cases, their invariances (hypothesis), and the methods."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kdzoo
from kdzoo.distill import Distiller, Scratch
from kdzoo.distill.iusp import IUSP
from kdzoo.distill.sp import SimilarityPreserving
from kdzoo.functional import intra_utterance_similarity, similarity_preserving
from kdzoo.types import ModelOutput

# One clip, two frames: student frames orthogonal (G = I), teacher frames identical (G = all ones).
# Row-normalised: I vs [[1/sqrt2, 1/sqrt2], [1/sqrt2, 1/sqrt2]]; squared Frobenius distance 4 - 2 sqrt2; / T^2 = 4.
ORTHOGONAL = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
IDENTICAL = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
BY_HAND = (4 - 2 * math.sqrt(2)) / 4


def test_iusp_two_frames_by_hand():
    assert float(intra_utterance_similarity(ORTHOGONAL[None], IDENTICAL[None])) == pytest.approx(BY_HAND)


def test_sp_two_clips_by_hand():
    # the same matrices read as a batch of two clips with two features each: the same number
    assert float(similarity_preserving(ORTHOGONAL, IDENTICAL)) == pytest.approx(BY_HAND)


def test_iusp_gram_rows_are_normalised_not_columns():
    # rows of different norms: [[2, 0], [0, 1]] has G = diag(4, 1), normalised rows -> I, so the loss vs I is 0;
    # a column-wise normalisation would not give I here either, but scaling one frame must change the loss
    # only through the off-diagonal terms, which are zero: loss 0.
    scaled = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
    assert float(intra_utterance_similarity(scaled, ORTHOGONAL[None])) == 0.0
    # per-frame rescaling of correlated frames does change it (not invariant to per-frame scaling)
    a = torch.tensor([[[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    b = a * torch.tensor([1.0, 5.0, 1.0])[None, :, None]
    assert float(intra_utterance_similarity(a, b)) > 1e-3


def test_different_channel_counts_are_allowed():
    s, t = torch.randn(3, 7, 5), torch.randn(3, 7, 11)
    assert intra_utterance_similarity(s, t).shape == ()
    assert similarity_preserving(torch.randn(3, 4, 2, 9), torch.randn(3, 16)).shape == ()


def test_iusp_refuses_unequal_frame_counts():
    with pytest.raises(ValueError, match="align the frame counts"):
        intra_utterance_similarity(torch.randn(2, 5, 3), torch.randn(2, 6, 3))


def test_silent_input_gives_finite_values_and_gradients():
    for loss_fn, shape in ((intra_utterance_similarity, (2, 4, 3)), (similarity_preserving, (2, 4, 3))):
        silent = torch.zeros(shape, requires_grad=True)
        loss = loss_fn(silent, torch.randn(shape))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(silent.grad).all()


frames_strategy = st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 6), st.integers(1, 6),
                            st.integers(0, 999))


@settings(max_examples=40, deadline=None)
@given(frames_strategy, st.floats(0.01, 100.0))
def test_iusp_invariances(dims, scale):
    batch, frames, c_s, c_t, seed = dims
    g = torch.Generator().manual_seed(seed)
    s, t = torch.randn(batch, frames, c_s, generator=g), torch.randn(batch, frames, c_t, generator=g)
    loss = intra_utterance_similarity(s, t)
    assert loss >= 0 and torch.isfinite(loss)
    assert float(intra_utterance_similarity(s, s * scale)) == pytest.approx(0.0, abs=1e-5)
    torch.testing.assert_close(intra_utterance_similarity(scale * s, t), loss, atol=1e-5, rtol=1e-4)
    rotation, _ = torch.linalg.qr(torch.randn(c_t, c_t, generator=g, dtype=torch.float64))
    rotated = (t.double() @ rotation).float()
    torch.testing.assert_close(intra_utterance_similarity(s, rotated), loss, atol=1e-5, rtol=1e-4)
    channels = torch.randperm(c_s, generator=g)
    torch.testing.assert_close(intra_utterance_similarity(s[..., channels], t), loss, atol=1e-6, rtol=1e-5)
    order = torch.randperm(frames, generator=g)
    torch.testing.assert_close(intra_utterance_similarity(s[:, order], t[:, order]), loss, atol=1e-6, rtol=1e-5)
    per_clip = torch.stack([intra_utterance_similarity(s[i : i + 1], t[i : i + 1]) for i in range(batch)])
    torch.testing.assert_close(per_clip.mean(), loss, atol=1e-6, rtol=1e-5)  # batch = mean of clips; B = 1 works


@settings(max_examples=40, deadline=None)
@given(frames_strategy, st.floats(0.01, 100.0))
def test_sp_invariances(dims, scale):
    batch, width, c_s, c_t, seed = dims
    g = torch.Generator().manual_seed(seed)
    s, t = torch.randn(batch, width, c_s, generator=g), torch.randn(batch, c_t, generator=g)
    loss = similarity_preserving(s, t)
    assert loss >= 0 and torch.isfinite(loss)
    assert float(similarity_preserving(s, scale * s)) == pytest.approx(0.0, abs=1e-5)
    torch.testing.assert_close(similarity_preserving(s, scale * t), loss, atol=1e-5, rtol=1e-4)
    rotation, _ = torch.linalg.qr(torch.randn(c_t, c_t, generator=g, dtype=torch.float64))
    torch.testing.assert_close(similarity_preserving(s, (t.double() @ rotation).float()), loss, atol=1e-5, rtol=1e-4)


def test_sp_depends_on_batch_composition_iusp_does_not():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 5, generator=g)
    halves_sp = (similarity_preserving(s[:2], t[:2]) + similarity_preserving(s[2:], t[2:])) / 2
    assert abs(float(halves_sp - similarity_preserving(s, t))) > 1e-3
    halves_iusp = (intra_utterance_similarity(s[:2], t[:2]) + intra_utterance_similarity(s[2:], t[2:])) / 2
    torch.testing.assert_close(halves_iusp, intra_utterance_similarity(s, t))


# -- methods ------------------------------------------------------------------------------------------------
def _out(frames: torch.Tensor, feature_map: torch.Tensor | None = None) -> ModelOutput:
    return ModelOutput(logits=torch.zeros(frames.shape[0], 8), embedding=torch.zeros(frames.shape[0], 1),
                       frames=frames, feature_map=feature_map)


def test_iusp_aligns_teacher_frames_to_the_student():
    student, teacher = torch.randn(2, 10, 4), torch.randn(2, 5, 6)
    terms = IUSP(weight=2.0)(_out(student), _out(teacher), batch=None)
    expected = intra_utterance_similarity(student, kdzoo.functional.align_frames(teacher, 10))
    torch.testing.assert_close(terms["kd_iusp"], 2.0 * expected)


def test_iusp_feature_map_layer_keeps_every_frequency_bin():
    fmap_s, fmap_t = torch.randn(2, 3, 4, 7), torch.randn(2, 5, 2, 7)  # (B, C, F, T)
    method = IUSP(layer="feature_map")
    got = method.terms(_out(torch.zeros(2, 7, 1), fmap_s), _out(torch.zeros(2, 7, 1), fmap_t), batch=None)
    rows = [m.permute(0, 3, 1, 2).reshape(2, 7, -1) for m in (fmap_s, fmap_t)]  # (B, T, C*F)
    torch.testing.assert_close(got["kd_iusp"], intra_utterance_similarity(*rows))


def test_hinton_term_is_weighted_on_its_own():
    method = IUSP(weight=0.0, hinton_weight=0.5)
    s = ModelOutput(logits=torch.randn(2, 8), embedding=torch.zeros(2, 1), frames=torch.randn(2, 4, 3))
    t = ModelOutput(logits=torch.randn(2, 8), embedding=torch.zeros(2, 1), frames=torch.randn(2, 4, 3))
    terms = method(s, t, batch=None)
    assert float(terms["kd_iusp"]) == 0.0
    torch.testing.assert_close(terms["kd_logit"], 0.5 * kdzoo.functional.hinton_kd_multilabel(s.logits, t.logits))
    assert method.needs == {"frames", "logits"} and IUSP().needs == {"frames"}


def test_methods_refuse_a_layer_the_models_lack():
    from kdzoo.models.cnn import CNN

    class ClipLevelOnly(CNN):
        provides = frozenset({"logits", "embedding"})

    with pytest.raises(ValueError, match=r"needs \['frames'\] from the teacher"):
        Distiller(kdzoo.create_student("cnn_xs"), ClipLevelOnly(), IUSP())
    with pytest.raises(ValueError, match="layer must be one of"):
        IUSP(layer="embedding")


def _fit_losses(method, tone_data, teacher) -> list[float]:
    """Per-step training losses of cnn_xs on the tone data with ``method`` (same seed every call)."""
    torch.manual_seed(0)
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    model = Distiller(student, teacher, method=method, num_classes=3,
                      optimizer=lambda p: torch.optim.Adam(p, lr=3e-3))
    losses: list[float] = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            losses.append(float(outputs["loss"]))

    pl.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, accelerator="cpu", logger=False,
               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
               callbacks=[Record()]).fit(model, datamodule=tone_data)
    return losses


@pytest.mark.parametrize("method_cls", [IUSP, SimilarityPreserving])
def test_weight_zero_reproduces_scratch_exactly(method_cls, tone_data):
    torch.manual_seed(1)
    teacher = kdzoo.create_student("cnn_s", num_classes=3)  # any frame-providing model can teach
    scratch = _fit_losses(Scratch(), tone_data, None)
    assert _fit_losses(method_cls(weight=0.0), tone_data, teacher) == scratch


def test_iusp_training_lowers_the_iusp_term(tone_data):
    torch.manual_seed(1)
    teacher = kdzoo.create_student("cnn_s", num_classes=3)
    student = kdzoo.create_student("cnn_xs", num_classes=3)
    model = Distiller(student, teacher, IUSP(weight=50.0), num_classes=3,
                      optimizer=lambda p: torch.optim.Adam(p, lr=3e-3))
    batch = next(iter(tone_data.val_dataloader()))

    def iusp_term() -> float:
        model.eval()
        with torch.no_grad():
            return float(model.method.terms(model(batch.waveform, batch.sample_rate),
                                             model.teacher(batch.waveform, batch.sample_rate), batch)["kd_iusp"])

    before = iusp_term()
    pl.Trainer(max_epochs=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(model, datamodule=tone_data)
    assert iusp_term() < 0.7 * before
