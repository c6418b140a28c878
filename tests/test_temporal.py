"""Temporal KD maths: attention rollout, the teacher's temporal target, and the KL, on hand-computed cases."""

from __future__ import annotations

import json
import math

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from conftest import ToneTagging
from hypothesis import given, settings
from hypothesis import strategies as st

import kdzoo
from kdzoo import functional as KF
from kdzoo.distill import Distiller, Scratch
from kdzoo.distill.temporal import TemporalKD
from kdzoo.models import FrozenTeacher
from kdzoo.models.ast import AST
from kdzoo.types import Batch, ModelOutput

NAN = float("nan")


def _heads(*matrices: list[list[float]]) -> torch.Tensor:
    """One clip's attention of one layer, (1, H, N, N), from H hand-written N x N matrices."""
    return torch.tensor(matrices, dtype=torch.float32)[None]


# -- rollout --------------------------------------------------------------------------------------------------
def test_rollout_two_layers_by_hand():
    # layer 1: heads I and swap -> mean all 0.5 -> (A + I) / 2 = [[.75, .25], [.25, .75]]
    layer1 = _heads([[1, 0], [0, 1]], [[0, 1], [1, 0]])
    # layer 2: both heads look at token 1 -> mean [[0, 1], [0, 1]] -> (A + I) / 2 = [[.5, .5], [0, 1]]
    layer2 = _heads([[0, 1], [0, 1]], [[0, 1], [0, 1]])
    # R = A2 @ A1 = [[.5 * .75 + .5 * .25, .5 * .25 + .5 * .75], [.25, .75]]; A1 @ A2 would give [[.375, .625], ...]
    expected = torch.tensor([[[0.5, 0.5], [0.25, 0.75]]])
    torch.testing.assert_close(KF.attention_rollout([layer1, layer2]), expected)


def test_rollout_renormalises_rows_after_adding_the_residual():
    # a single head whose rows sum to 2 (not an attention, but the renormalisation must still give rows of 1)
    doubled = _heads([[2, 0], [1, 1]])
    # (A + I) / 2 = [[1.5, 0], [.5, 1]] -> rows / (1.5, 1.5) = [[1, 0], [1/3, 2/3]]
    torch.testing.assert_close(KF.attention_rollout([doubled]), torch.tensor([[[1.0, 0.0], [1 / 3, 2 / 3]]]))


def test_rollout_identity_in_identity_out():
    eye = torch.eye(5).expand(3, 2, 5, 5)
    assert torch.equal(KF.attention_rollout([eye, eye, eye]), torch.eye(5).expand(3, 5, 5))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(2, 7), st.integers(1, 4), st.integers(0, 999))
def test_rollout_rows_sum_to_one(batch, heads, tokens, layers, seed):
    g = torch.Generator().manual_seed(seed)
    attentions = [torch.softmax(3 * torch.randn(batch, heads, tokens, tokens, generator=g), -1) for _ in range(layers)]
    rollout = KF.attention_rollout(attentions)
    assert rollout.shape == (batch, tokens, tokens) and (rollout >= 0).all()
    torch.testing.assert_close(rollout.sum(-1), torch.ones(batch, tokens))


def test_rollout_in_half_precision_is_computed_in_float32():
    g = torch.Generator().manual_seed(0)
    attentions = [torch.softmax(torch.randn(2, 3, 6, 6, generator=g), -1) for _ in range(12)]
    half = KF.attention_rollout([a.half() for a in attentions])
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, KF.attention_rollout(attentions), atol=2e-3, rtol=0)


def test_rollout_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one layer"):
        KF.attention_rollout([])
    with pytest.raises(ValueError, match=r"\(B, H, N, N\)"):
        KF.attention_rollout([torch.rand(2, 3, 4)])
    with pytest.raises(ValueError, match="layer 1"):
        KF.attention_rollout([torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 4)])


# -- the teacher's temporal target ---------------------------------------------------------------------------
# AST-like tokens: [CLS], then 2 frequency rows x 2 time columns (frequency-major): times nan, .1, .3, .1, .3
AST_TIMES = torch.tensor([NAN, 0.1, 0.3, 0.1, 0.3])


def test_target_sums_patches_of_one_time_and_drops_the_class_token():
    cls_row = [0.2, 0.1, 0.3, 0.1, 0.3]
    attention = torch.eye(5)
    attention[0] = torch.tensor(cls_row)
    # one layer: rollout row 0 = (cls_row + e_0) / 2 = [.6, .05, .15, .05, .15]; time .1 -> .1, time .3 -> .3
    profile = KF.attention_over_time([attention[None, None]], AST_TIMES)
    torch.testing.assert_close(profile, torch.tensor([[0.25, 0.75]]))
    torch.testing.assert_close(KF.temporal_attention_target([attention[None, None]], AST_TIMES, 2), profile)


def test_target_orders_time_steps_by_time_not_by_token_index():
    attention = torch.eye(3)
    attention[0] = torch.tensor([0.0, 0.9, 0.1])  # token 1 is the *later* one
    profile = KF.attention_over_time([attention[None, None]], torch.tensor([NAN, 0.5, 0.1]))
    torch.testing.assert_close(profile, torch.tensor([[0.1, 0.9]]))


def test_identity_attentions_give_a_uniform_target():
    # the class token only attends to itself: no temporal information, so the target is uniform (documented)
    eye = torch.eye(5).expand(2, 3, 5, 5)
    torch.testing.assert_close(KF.temporal_attention_target([eye, eye], AST_TIMES, 4), torch.full((2, 4), 0.25))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 60), st.integers(1, 3), st.integers(0, 999))
def test_target_is_a_distribution_for_any_student_length(batch, time_steps, num_frames, freq_rows, seed):
    g = torch.Generator().manual_seed(seed)
    times = torch.cat([torch.tensor([NAN]), (torch.arange(time_steps) * 0.16 + 0.08).repeat(freq_rows)])
    tokens = times.numel()
    attentions = [torch.softmax(2 * torch.randn(batch, 2, tokens, tokens, generator=g), -1) for _ in range(2)]
    target = KF.temporal_attention_target(attentions, times, num_frames)
    assert target.shape == (batch, num_frames) and (target >= 0).all()
    torch.testing.assert_close(target.sum(-1), torch.ones(batch))


def test_interpolation_edge_cases():
    peak = torch.tensor([[0.0, 1.0, 0.0]])
    torch.testing.assert_close(KF.interpolate_distribution(peak, 1), torch.tensor([[1.0]]))  # T' = 1
    torch.testing.assert_close(KF.interpolate_distribution(peak, 3), peak)  # T' = T: unchanged
    torch.testing.assert_close(KF.interpolate_distribution(torch.tensor([[2.0, 6.0]]), 2), torch.tensor([[0.25, 0.75]]))
    # T' > T (upsampling), centres aligned: [0, 1, 0] onto 6 frames is symmetric and peaks in the middle
    up = KF.interpolate_distribution(peak, 6)
    torch.testing.assert_close(up, torch.tensor([[0.0, 0.125, 0.375, 0.375, 0.125, 0.0]]))
    # a one-step teacher gives a uniform target of any length; a uniform one stays uniform
    torch.testing.assert_close(KF.interpolate_distribution(torch.tensor([[1.0]]), 4), torch.full((1, 4), 0.25))
    torch.testing.assert_close(KF.interpolate_distribution(torch.full((1, 7), 1 / 7), 3), torch.full((1, 3), 1 / 3))
    # T' < T (downsampling): the default averages over each student frame, so a late peak stays there, whole;
    # plain linear interpolation point-samples steps 4.5, 14.5, ... and loses it (why "auto" is the default)
    late = torch.zeros(1, 50)
    late[0, 40] = 1.0
    area = KF.interpolate_distribution(late, 5)
    torch.testing.assert_close(area, torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]]))
    torch.testing.assert_close(KF.interpolate_distribution(late, 5, mode="area"), area)
    torch.testing.assert_close(KF.interpolate_distribution(late, 5, mode="linear"), torch.full((1, 5), 0.2))
    # a non-integer ratio: 3 steps onto 2 frames, each frame averages the steps it overlaps
    torch.testing.assert_close(KF.interpolate_distribution(torch.tensor([[0.6, 0.3, 0.1]]), 2),
                               torch.tensor([[0.45, 0.2]]) / 0.65)
    with pytest.raises(ValueError, match="mode"):
        KF.interpolate_distribution(peak, 2, mode="cubic")
    with pytest.raises(ValueError, match="num_frames"):
        KF.interpolate_distribution(peak, 0)


def test_target_peaks_on_the_keyword_when_the_teachers_attention_does():
    # a 8 s clip in 50 teacher time steps (0.16 s each) x 2 frequency rows; the keyword spans 5.6-6.6 s
    # (steps 35-41). Every token of every layer attends mostly to the keyword's tokens, as in the paper's Fig. 2.
    steps, rows, hop = 50, 2, 0.16
    times = torch.cat([torch.tensor([NAN]), (torch.arange(steps) * hop + hop / 2).repeat(rows)])
    keyword = ((times >= 5.6) & (times <= 6.6)).float()
    g = torch.Generator().manual_seed(0)
    attentions = []
    for _ in range(4):
        logits = torch.randn(1, 3, times.numel(), times.numel(), generator=g) + 4 * keyword
        attentions.append(torch.softmax(logits, -1))
    student_frames = 400  # 20 ms student frames over the same 8 s
    target = KF.temporal_attention_target(attentions, times, student_frames)[0]
    peak_s = (int(target.argmax()) + 0.5) * 8.0 / student_frames
    assert 5.6 <= peak_s <= 6.6
    frame_s = (torch.arange(student_frames) + 0.5) * 8.0 / student_frames
    assert float(target[(frame_s >= 5.6) & (frame_s <= 6.6)].sum()) > 0.5  # most mass in 1 s of 8 s


def test_target_refuses_untimed_tokens_and_wrong_lengths():
    attention = torch.softmax(torch.randn(1, 1, 3, 3), -1)
    with pytest.raises(ValueError, match="no finite entry"):
        KF.attention_over_time([attention], torch.full((3,), NAN))
    with pytest.raises(ValueError, match=r"token_time must be \(N,\)"):
        KF.attention_over_time([attention], torch.zeros(4))


# -- KL ------------------------------------------------------------------------------------------------------
def test_kl_by_hand_and_direction():
    teacher, student = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.25, 0.75]])
    by_hand = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(KF.temporal_attention_kl(student, teacher)) == pytest.approx(by_hand, rel=1e-6)
    reverse = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert float(KF.temporal_attention_kl(teacher, student)) == pytest.approx(reverse, rel=1e-6)
    # teacher zeros count 0 (0 log 0 = 0): KL([1, 0] || [.5, .5]) = log 2
    assert float(KF.temporal_attention_kl(torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0]]))) == pytest.approx(
        math.log(2))


def test_kl_is_the_batch_mean():
    s, t = torch.tensor([[0.25, 0.75], [0.5, 0.5]]), torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    per_clip = [float(KF.temporal_attention_kl(s[i : i + 1], t[i : i + 1])) for i in range(2)]
    assert float(KF.temporal_attention_kl(s, t)) == pytest.approx(sum(per_clip) / 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(0, 999))
def test_kl_zero_iff_equal(batch, frames, seed):
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(batch, frames, generator=g), -1)
    assert float(KF.temporal_attention_kl(p, p)) == pytest.approx(0.0, abs=1e-6)
    q = torch.softmax(torch.randn(batch, frames, generator=g), -1)
    kl = float(KF.temporal_attention_kl(q, p))
    assert kl >= 0
    if frames > 1 and float((p - q).abs().max()) > 1e-3:
        assert kl > 0


def test_kl_in_log_space_is_stable_in_half_precision():
    # student scores spread over 40 units: softmax in fp16 underflows to 0 (log 0 = -inf), log_softmax does not
    scores = torch.tensor([[0.0, -20.0, -40.0]])
    teacher = torch.tensor([[0.2, 0.3, 0.5]])
    exact = float(KF.temporal_attention_kl(torch.log_softmax(scores.double(), -1), teacher.double(), log_input=True))
    for dtype in (torch.float16, torch.bfloat16):
        log_s = torch.log_softmax(scores.to(dtype), -1)
        got = float(KF.temporal_attention_kl(log_s, teacher.to(dtype), log_input=True))
        assert math.isfinite(got) and got == pytest.approx(exact, rel=1e-2)
    assert torch.softmax(scores.half(), -1)[0, 2] == 0  # why log space: the probability itself underflows


def test_kl_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="interpolate_distribution"):
        KF.temporal_attention_kl(torch.rand(2, 5), torch.rand(2, 6))


# -- the method ----------------------------------------------------------------------------------------------


def tiny_ast(seed: int = 0, **frozen) -> FrozenTeacher:
    """A 2-layer AST (width 32, 32 mels): 1 s clips give [CLS] + 2 x 3 patch tokens."""
    torch.manual_seed(seed)
    return FrozenTeacher(AST(dim=32, depth=2, heads=2, n_mels=32, num_classes=3, max_seconds=1.0, dropout=0.0),
                         **frozen)


def tiny_student(seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return kdzoo.create_student("cnn_xs", num_classes=3)


def fit(student, teacher, method, data, steps: int = 6, **trainer_args) -> tuple[Distiller, list[float]]:
    pl.seed_everything(0, verbose=False)
    model = Distiller(student, teacher=teacher, method=method, task="multilabel", num_classes=3)
    losses: list[float] = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            losses.append(float(trainer.callback_metrics["train/task_loss_step"]))

    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Record()], num_sanity_val_steps=0,
                         limit_val_batches=1, enable_checkpointing=False, **trainer_args)
    trainer.fit(model, datamodule=data)
    return model, losses


def test_refused_with_a_teacher_that_has_no_attentions():
    cnn_teacher = FrozenTeacher(kdzoo.create_student("cnn_xs", num_classes=3))
    with pytest.raises(ValueError, match="returns its attention weights.*ast_"):
        Distiller(tiny_student(), teacher=cnn_teacher, method=TemporalKD(0.1), num_classes=3)
    with pytest.raises(ValueError, match="teacher=None"):
        Distiller(tiny_student(), teacher=None, method=TemporalKD(0.1), num_classes=3)
    with pytest.raises(ValueError, match="att_rnn"):  # native attention needs a student that has one
        Distiller(tiny_student(), teacher=tiny_ast(), method=TemporalKD(0.1, attention="native"), num_classes=3)
    with pytest.raises(ValueError, match="attention"):
        TemporalKD(0.1, attention="own")


def test_head_is_sized_in_setup_and_gives_a_distribution():
    student, teacher = tiny_student(), tiny_ast()
    method = TemporalKD(0.5)
    assert method.query is None and list(method.parameters()) == []
    state = {k: v.clone() for k, v in student.state_dict().items()}
    rng = torch.random.get_rng_state()
    method.setup(student, teacher, None, "multilabel")
    assert torch.equal(torch.random.get_rng_state(), rng)  # sizing draws nothing from the random stream
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in state.items())  # nor moves BatchNorm statistics
    assert student.training  # and leaves the student in the mode it found it
    assert method.query.shape == (student(torch.zeros(1, 16000)).frames.shape[-1],) == (32,)
    out = student(torch.randn(2, 16000))
    a_s = method.student_log_attention(out).exp()
    torch.testing.assert_close(a_s.sum(-1), torch.ones(2))
    torch.testing.assert_close(a_s, torch.full_like(a_s, 1 / a_s.shape[1]))  # zero query: uniform at the start


def test_term_equals_the_kl_against_the_interpolated_rollout_for_any_student_length():
    teacher = tiny_ast()
    wave = torch.randn(2, 16000)
    t_out = teacher(wave, 16000)
    for frames in (1, 2, 3, 7, 50):  # T' = 1, fewer, equal to (3 time patches), more than the teacher
        method = TemporalKD(0.25)
        method.query = torch.nn.Parameter(torch.randn(4))
        s_out = ModelOutput(logits=torch.zeros(2, 3), embedding=torch.zeros(2, 4), frames=torch.randn(2, frames, 4))
        terms = method(s_out, method.prepare_teacher(t_out), batch=None)
        target = KF.temporal_attention_target(t_out.attentions, t_out.token_time_s, frames)
        log_s = torch.log_softmax(s_out.frames @ method.query, -1)
        torch.testing.assert_close(terms["kd_temporal"], 0.25 * KF.temporal_attention_kl(log_s, target, log_input=True))
        assert terms["kd_temporal"] >= 0


def test_native_attention_averages_heads_in_probability():
    scores = torch.randn(2, 4, 9)
    out = ModelOutput(logits=torch.zeros(2, 3), embedding=torch.zeros(2, 1), extras={"time_attention": scores})
    got = TemporalKD(attention="native").student_log_attention(out).exp()
    torch.testing.assert_close(got, torch.softmax(scores, -1).mean(1))


def test_weight_zero_trains_exactly_as_vanilla():
    data = ToneTagging(clips=32, batch_size=8)
    vanilla, vanilla_losses = fit(tiny_student(), None, Scratch(), data, steps=4)
    temporal, temporal_losses = fit(tiny_student(), tiny_ast(), TemporalKD(0.0), data, steps=4)
    assert len(vanilla_losses) == 4 and temporal_losses == vanilla_losses
    for name, value in vanilla.student.state_dict().items():
        assert torch.equal(value, temporal.student.state_dict()[name]), name
    assert temporal.method.query is not None  # the head existed and was optimised alongside (with no effect)


def test_kd_moves_the_student_attention_towards_the_teacher(tone_data):
    """weight > 0: optimising the KD term (student + head) brings a_S to a peaked teacher target on a batch."""
    student, method = tiny_student(), TemporalKD(1.0)
    method.setup(student, tiny_ast(), None, "multilabel")
    batch = Batch.collate(tone_data._items(range(6)))
    peaked = torch.tensor([0.02, 0.02, 0.1, 0.8, 0.04, 0.02]).expand(6, 6)  # over 6 teacher time steps
    target = ModelOutput(logits=torch.zeros(6, 3), embedding=torch.zeros(6, 1), extras={"temporal_attention": peaked})
    optimiser = torch.optim.Adam([*student.parameters(), *method.parameters()], lr=0.02)
    kls = []
    for _ in range(15):
        kl = method(student(batch.waveform), target, batch)["kd_temporal"]
        optimiser.zero_grad()
        kl.backward()
        optimiser.step()
        kls.append(kl.item())
    assert kls[0] > 0.3 and kls[-1] < 0.5 * kls[0]
    assert student.head.weight.grad is None or student.head.weight.grad.abs().sum() == 0  # not through the logits


def test_head_is_checkpointed_but_never_exported(tmp_path):
    tone_data = ToneTagging(clips=32, batch_size=8)
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    pl.seed_everything(0, verbose=False)
    model = Distiller(tiny_student(), teacher=tiny_ast(), method=TemporalKD(0.5), task="multilabel", num_classes=3)
    trainer = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[checkpoints], num_sanity_val_steps=0,
                         limit_val_batches=1, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=tone_data)
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["state_dict"]
    assert torch.equal(saved["method.query"], model.method.query.detach()) and saved["method.query"].abs().sum() > 0
    # resuming rebuilds the head in setup() before the checkpoint is loaded, so its weights come back
    resumed = Distiller(tiny_student(seed=5), teacher=tiny_ast(), method=TemporalKD(0.5), task="multilabel",
                        num_classes=3)
    resume = pl.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1,
                        default_root_dir=tmp_path)
    resume.fit(resumed, datamodule=tone_data, ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert torch.equal(resumed.method.query, saved["method.query"])
    # the export holds the vanilla architecture only: same keys, same parameter count, same outputs
    path = model.save_student(tmp_path / "student.pt")
    exported = torch.load(path, weights_only=False)["state_dict"]
    vanilla = tiny_student()
    assert set(exported) == set(vanilla.state_dict()) and not any("query" in k for k in exported)
    loaded = kdzoo.load_student(path)
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in vanilla.parameters())
    wave = torch.randn(2, 16000)
    model.student.eval()
    torch.testing.assert_close(loaded(wave).logits, model.student(wave).logits, rtol=0, atol=0)


def test_the_store_keeps_the_target_not_the_attentions(tmp_path):
    tone_data = ToneTagging(clips=32, batch_size=8)
    teacher = tiny_ast(cache=True, cache_dir=str(tmp_path / "store"), cache_dtype="float32")
    model, cached_losses = fit(tiny_student(), teacher, TemporalKD(0.5), tone_data, steps=3)
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["key"]["fields"] == ["temporal_attention"]
    stored = np.load(tmp_path / "store" / "train" / "temporal_attention.npy")
    assert stored.shape == (24, 3)  # 24 training clips x 3 teacher time steps (1 s / 16 frames of 20 ms)
    np.testing.assert_allclose(stored.sum(-1), 1.0, rtol=1e-6)
    clips = json.loads((tmp_path / "store" / "train" / "clips.json").read_text())
    batch = Batch.collate(tone_data._items([int(clips[0][4:])]))
    t_out = tiny_ast()(batch.waveform, 16000)
    torch.testing.assert_close(torch.from_numpy(stored[0:1]), KF.attention_over_time(t_out.attentions,
                                                                                     t_out.token_time_s))
    _, live_losses = fit(tiny_student(), tiny_ast(), TemporalKD(0.5), tone_data, steps=3)
    assert len(live_losses) == 3
    np.testing.assert_allclose(cached_losses, live_losses, rtol=1e-5)


def test_demo_recipe_says_its_teacher_must_be_trained_first(tmp_path, monkeypatch):
    from kdzoo.cli import main
    from kdzoo.cli.recipes import find_recipe

    first_line = find_recipe("tkd_dcase_demo").read_text().splitlines()[0]
    assert "kdzoo fit --recipe teacher_ast_demo" in first_line
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="teacher_ast_demo/version_0/student.pt does not exist.*train it first"):
        main(["fit", "--recipe", "tkd_dcase_demo", "--trainer.max_epochs", "1"])


def test_attention_figure_shows_teacher_and_student(tmp_path):
    from kdzoo.plots import attention_over_clip, plot_attention

    teacher, student, method = tiny_ast(), tiny_student(), TemporalKD(0.5)
    model = Distiller(student, teacher=teacher, method=method, task="multilabel", num_classes=3)
    method.setup(student, teacher, None, "multilabel")
    wave = torch.randn(16000) * 0.1
    curve = attention_over_clip(model, wave, 16000)
    frames = student(wave[None]).frames.shape[1]
    assert curve["student"].shape == curve["teacher"].shape == curve["seconds"].shape == (frames,)
    np.testing.assert_allclose(curve["student"], 1 / frames, rtol=1e-5)  # the untrained (zero) query: uniform
    t_out = teacher(wave[None], 16000)
    np.testing.assert_allclose(curve["teacher"], KF.temporal_attention_target(t_out.attentions, t_out.token_time_s,
                                                                              frames)[0].numpy(), rtol=1e-5)
    out = plot_attention(wave, 16000, {"before": curve}, tmp_path / "fig.png")
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 10_000


def test_plot_attention_command_reads_a_run(tmp_path, capsys):
    """`kdzoo plot attention CKPT AUDIO --out FIG.png`: the run's config.yaml rebuilds models, CKPT fills them."""
    import soundfile as sf
    import yaml

    from kdzoo.cli import main

    ast_args = {"dim": 32, "depth": 2, "heads": 2, "n_mels": 32, "num_classes": 8, "max_seconds": 1.0, "dropout": 0.0}
    config = {
        "model": {"student": {"class_path": "kdzoo.models.create_student", "init_args": {"name": "cnn_xs"}},
                  "teacher": {"class_path": "kdzoo.models.FrozenTeacher",
                              "init_args": {"model": {"class_path": "kdzoo.models.ast.AST", "init_args": ast_args}}},
                  "method": {"class_path": "kdzoo.distill.temporal.TemporalKD", "init_args": {"weight": 0.5}}},
        "data": {"class_path": "kdzoo.data.demo.SynthUSTDataModule",
                 "init_args": {"root": str(tmp_path / "corpus"), "clips": 12}},
        # keys a real run's config.yaml holds that only `fit` accepts: the plot must not choke on them
        "ckpt_path": None, "weights_only": None, "optimizer": None, "lr_scheduler": None, "name": "run",
    }
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    student, teacher = kdzoo.create_student("cnn_xs", num_classes=8), FrozenTeacher(AST(**ast_args))
    method = TemporalKD(0.5)
    model = Distiller(student, teacher=teacher, method=method, num_classes=8)
    method.setup(student, teacher, None, "multilabel")
    with torch.no_grad():
        method.query.normal_()
    torch.save({"state_dict": model.state_dict()}, run / "checkpoints" / "last.ckpt")
    sf.write(tmp_path / "clip.wav", (0.1 * np.random.default_rng(0).standard_normal(16000)).astype("float32"), 16000)
    out = tmp_path / "fig.png"
    assert main(["plot", "attention", str(run / "checkpoints" / "last.ckpt"), str(tmp_path / "clip.wav"),
                 "--out", str(out), "--before", str(run / "checkpoints" / "last.ckpt")]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "wrote" in capsys.readouterr().out
