"""The Distiller: construction-time checks, a metric that moves, KD terms, frozen teacher, export."""

import lightning.pytorch as pl
import pytest
import torch

import kdzoo
from kdzoo.distill import Distiller, HintonKD, KDMethod, Scratch, list_methods
from kdzoo.models import FrozenTeacher
from kdzoo.types import Batch


def trainer(**kwargs) -> pl.Trainer:
    defaults = dict(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return pl.Trainer(**{**defaults, **kwargs})


def test_list_methods_finds_every_method():
    methods = list_methods()
    assert {"Scratch", "HintonKD"} <= set(methods)
    assert all(issubclass(cls, KDMethod) for cls in methods.values())


def test_method_requiring_teacher_fails_at_construction():
    with pytest.raises(ValueError, match="HintonKD distils from a teacher"):
        Distiller(kdzoo.create_student("cnn_xs"), teacher=None, method=HintonKD())


def test_method_needs_are_checked_against_model_provides():
    class NeedsAttention(KDMethod):
        needs = frozenset({"attentions"})

    with pytest.raises(ValueError, match=r"needs \['attentions'\] from the student"):
        Distiller(kdzoo.create_student("cnn_xs"), kdzoo.create_teacher("ast_tiny"), method=NeedsAttention())


def test_hinton_rejects_teacher_with_other_classes():
    with pytest.raises(ValueError, match="student predicts 8 classes and the teacher 5"):
        Distiller(kdzoo.create_student("cnn_xs"), kdzoo.create_teacher("cnn_teacher_s", num_classes=5), HintonKD())


def test_data_and_student_class_counts_must_agree():
    with pytest.raises(ValueError, match="the data has 3 classes but the student predicts 8"):
        Distiller(kdzoo.create_student("cnn_xs"), num_classes=3)


def test_teacher_is_wrapped_frozen():
    model = Distiller(kdzoo.create_student("cnn_xs"), kdzoo.create_student("cnn_s"), HintonKD())
    assert isinstance(model.teacher, FrozenTeacher)
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_training_improves_the_validation_metric(tone_data):
    torch.manual_seed(0)
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), task="multilabel", num_classes=3,
                      optimizer=lambda p: torch.optim.Adam(p, lr=3e-3))
    before = trainer().validate(model, datamodule=tone_data, verbose=False)[0]
    trainer(max_epochs=6).fit(model, datamodule=tone_data)
    after = trainer().validate(model, datamodule=tone_data, verbose=False)[0]
    assert after["val/micro_auprc"] > before["val/micro_auprc"] + 0.15
    assert after["val/loss"] < before["val/loss"]
    assert after["val/score"] == after["val/micro_auprc"]


def test_hinton_kd_logs_its_term_and_leaves_teacher_untouched(tone_data):
    torch.manual_seed(0)
    teacher = FrozenTeacher(kdzoo.create_student("cnn_s", num_classes=3))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    model = Distiller(kdzoo.create_student("cnn_xs", num_classes=3), teacher, HintonKD(temperature=2.0, weight=0.5),
                      num_classes=3)
    run = trainer(max_steps=3, limit_val_batches=1)
    run.fit(model, datamodule=tone_data)
    logged = run.logged_metrics
    assert logged["train/kd_logit_epoch"] > 0
    assert logged["train/loss_epoch"] == pytest.approx(
        float(logged["train/task_loss_epoch"] + logged["train/kd_logit_epoch"]), rel=1e-4)
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_kd_weight_zero_equals_scratch_training(tone_data):
    def run(method):
        torch.manual_seed(1)
        student = kdzoo.create_student("cnn_xs", num_classes=3)
        teacher = FrozenTeacher(kdzoo.create_student("cnn_s", num_classes=3))
        model = Distiller(student, teacher if method.requires_teacher else None, method, num_classes=3)
        trainer(max_steps=2, limit_val_batches=0).fit(model, datamodule=tone_data)
        return student.state_dict()

    kd, scratch = run(HintonKD(weight=0.0)), run(Scratch())
    for key in kd:
        torch.testing.assert_close(kd[key], scratch[key])


def test_student_is_fed_at_its_own_sample_rate():
    model = Distiller(kdzoo.create_student("cnn_xs", sample_rate=8000))
    out = model(torch.randn(2, 16000), 16000)  # 1 s at 16 kHz -> 8000 samples -> 1 + 8000 // 160 frames
    assert out.logits.shape == (2, 8)
    assert model.student.frontend.num_frames(8000) == 51


def test_save_student_roundtrip(tmp_path):
    model = Distiller(kdzoo.create_student("cnn_xs"))
    path = model.save_student(tmp_path / "student.pt", recipe="test")
    teacher = FrozenTeacher(kdzoo.create_student("cnn_xs"), checkpoint=str(path))
    model.eval()
    waveform = torch.randn(1, 16000)
    torch.testing.assert_close(teacher(waveform, 16000).logits, model(waveform, 16000).logits)
    assert torch.load(path, weights_only=False)["meta"]["recipe"] == "test"


def test_batch_collate_rejects_mixed_rates():
    item = {"waveform": torch.zeros(4), "target": torch.zeros(2), "clip_id": "a", "sample_rate": 16000}
    with pytest.raises(ValueError, match="different sample rates"):
        Batch.collate([item, {**item, "sample_rate": 8000}])


def test_resume_from_last_checkpoint_continues_where_it_stopped(tone_data, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def fresh_model():
        torch.manual_seed(0)
        return Distiller(kdzoo.create_student("cnn_xs", num_classes=3), num_classes=3)

    first = trainer(max_epochs=1, enable_checkpointing=True, default_root_dir=tmp_path,
                    callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)])
    first.fit(fresh_model(), datamodule=tone_data)
    steps_per_epoch = first.global_step
    resumed = trainer(max_epochs=2)
    model = fresh_model()
    resumed.fit(model, datamodule=tone_data, ckpt_path=str(tmp_path / "last.ckpt"))
    assert resumed.current_epoch == 2 and resumed.global_step == 2 * steps_per_epoch
    state = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert state["optimizer_states"][0]["state"], "the optimiser state must be in the checkpoint"


class FrameProbe(KDMethod):
    """A toy method with a trainable head sized in ``setup`` from the width of the student's frames."""

    needs = frozenset({"frames"})
    requires_teacher = False

    def __init__(self) -> None:
        super().__init__(weight=1.0)
        self.head: torch.nn.Linear | None = None
        self.setup_calls: list = []

    def setup(self, student, teacher, datamodule, task) -> None:
        super().setup(student, teacher, datamodule, task)
        was_training = student.training
        student.eval()  # a dummy forward must not move the student's BatchNorm statistics
        with torch.no_grad():
            width = student(torch.zeros(1, student.sample_rate), student.sample_rate).frames.shape[-1]
        student.train(was_training)
        self.head = torch.nn.Linear(width, student.num_classes)
        self.initial = self.head.weight.detach().clone()
        self.setup_calls.append((task, datamodule))

    def terms(self, student, teacher, batch):
        logits = self.head(student.frames.mean(dim=1))
        return {"probe": torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.target.float())}


def test_method_setup_sizes_a_head_that_trains_checkpoints_resumes_and_stays_out_of_student_pt(tone_data, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def fresh_model(seed: int) -> Distiller:
        torch.manual_seed(seed)
        return Distiller(kdzoo.create_student("cnn_xs", num_classes=3), method=FrameProbe(), num_classes=3,
                         optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))

    model = fresh_model(0)
    assert model.method.head is None and model.method.task == "multilabel"  # nothing set up before a run
    run = trainer(max_steps=4, limit_val_batches=1, enable_checkpointing=True,
                  callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True)])
    run.fit(model, datamodule=tone_data)
    method = model.method
    assert method.setup_calls == [("multilabel", tone_data)]  # once, with the Distiller's task and the data
    assert method.head.in_features == 32  # cnn_xs frames are (B, T', 32)
    assert not torch.equal(method.head.weight, method.initial), "the head must be optimised with the student"
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    torch.testing.assert_close(saved["state_dict"]["method.head.weight"], method.head.weight, rtol=0, atol=0)
    student_params = len(list(model.student.parameters()))
    assert len(saved["optimizer_states"][0]["param_groups"][0]["params"]) == student_params + 2

    resumed = fresh_model(1)  # another seed: a different head until the checkpoint is restored
    trainer(max_steps=4, limit_val_batches=1).fit(resumed, datamodule=tone_data, ckpt_path=tmp_path / "last.ckpt")
    torch.testing.assert_close(resumed.method.head.weight, method.head.weight, rtol=0, atol=0)
    torch.testing.assert_close(resumed.method.head.bias, method.head.bias, rtol=0, atol=0)
    resumed.save_student(tmp_path / "student.pt")
    exported = torch.load(tmp_path / "student.pt", weights_only=True)["state_dict"]
    assert set(exported) == set(resumed.student.state_dict())  # no method.* (and no teacher) keys
