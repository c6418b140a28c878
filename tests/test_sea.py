"""The SEA method: MSE to the reduced teacher window embeddings, phi fitted in setup() on the train split only."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import nn

from kdzoo.distill import Distiller
from kdzoo.distill.sea import SEA, train_split_embeddings
from kdzoo.distill.sea_reduce import Reducer
from kdzoo.models.l3 import KapreMel, SEAStudent
from kdzoo.models.teacher import FrozenTeacher
from kdzoo.models.window import WindowedFrontend, WindowEmbedder
from kdzoo.types import Batch, ModelOutput
from tests.conftest import ToneTagging

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


class MeanOverTime(nn.Module):
    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:  # (N, 1, F, T) -> (N, F)
        return spectrogram.mean(dim=-1).flatten(1) / 40


class TinyWindowTeacher(WindowEmbedder):
    """A 96-d window embedder at 16 kHz (random, fixed): log-mel of each 1 s window, mean over time, a linear map."""

    def __init__(self, hop_s: float = 0.5) -> None:
        super().__init__()
        self.sample_rate, self.embed_dim = 16000, 96
        self.frontend = WindowedFrontend(KapreMel(16000, 512, 320, 32), 16000, hop_s=hop_s)
        self.network = nn.Sequential(MeanOverTime(), nn.Linear(32, 96), nn.Tanh())
        self._init_probe(0)


class TinyWindowStudent(WindowEmbedder):
    """A 32-d window embedder at 8 kHz (one linear layer on the mean log-mel), with a probe: fast to train."""

    def __init__(self, num_classes: int = 0) -> None:
        super().__init__()
        self.sample_rate, self.embed_dim = 8000, 32
        self.frontend = WindowedFrontend(KapreMel(8000, 256, 160, 32), 8000, hop_s=0.5)
        self.network = nn.Sequential(MeanOverTime(), nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))
        self._init_probe(num_classes)


def _teacher(**kwargs) -> FrozenTeacher:
    torch.manual_seed(0)
    return FrozenTeacher(TinyWindowTeacher(), **kwargs)


def test_loss_is_the_mse_to_the_reduced_teacher_windows() -> None:
    method = SEA()
    from kdzoo.distill.sea_reduce import fit_reducer

    teacher_frames = torch.randn(4, 3, 96)
    method.reducer = fit_reducer(torch.randn(200, 96).numpy(), 64)
    target = method.reducer.transform_torch(teacher_frames)
    student = torch.rand(4, 3, 64)
    batch = Batch(torch.zeros(4, 8000), torch.zeros(4, 2), ["a", "b", "c", "d"], 8000)
    out = method(ModelOutput(torch.zeros(4, 0), student.mean(1), frames=student),
                 ModelOutput(torch.zeros(4, 0), teacher_frames.mean(1), frames=teacher_frames), batch)
    assert torch.allclose(out["kd_sea"], ((student - target) ** 2).mean())
    same = method(ModelOutput(torch.zeros(4, 0), target.mean(1), frames=target),
                  ModelOutput(torch.zeros(4, 0), teacher_frames.mean(1), frames=teacher_frames), batch)
    assert same["kd_sea"] < 1e-10


def test_reducer_is_fitted_on_the_train_split_only_and_kept_in_the_state(tmp_path) -> None:
    data = ToneTagging(clips=64, batch_size=16)
    teacher = _teacher()
    method = SEA(sample_size=10_000, reducer_path=str(tmp_path / "reducer.joblib"))
    student = SEAStudent(size=3)
    method.check(student, teacher)
    method.setup(student, teacher, data, "multilabel")
    frames, _, _ = train_split_embeddings(teacher, data, False)
    assert frames.shape == (48, 2, 96)  # 75% of 64 clips; a 1 s clip has windows centred on 0 and 0.5 s
    assert np.allclose(method.reducer.scaler.mean_, frames.reshape(-1, 96).mean(0), atol=1e-5)
    assert method.reducer.out_dim == 64 and (tmp_path / "reducer.joblib").is_file()
    restored = SEA()
    restored.load_state_dict(method.state_dict())
    x = torch.randn(5, 96)
    assert torch.allclose(restored.reducer.transform_torch(x), method.reducer.transform_torch(x))
    from_file = SEA(reducer_path=str(tmp_path / "reducer.joblib"))
    from_file.setup(student, teacher, None, "multilabel")  # no data needed: loaded, not refitted
    assert torch.allclose(from_file.reducer.transform_torch(x), method.reducer.transform_torch(x))


def test_mismatched_windows_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="same \\(window_s, hop_s\\)"):
        Distiller(SEAStudent(size=3, hop_s=0.1), _teacher(), method=SEA(), task_weight=0.0)


def test_sea_training_lowers_the_embedding_loss_with_a_stored_teacher(tmp_path) -> None:
    torch.manual_seed(0)
    data = ToneTagging(clips=48, batch_size=6)
    teacher = _teacher(cache=True, cache_dir=str(tmp_path / "store"))
    method = SEA(sampling="relevance", sample_size=50)
    model = Distiller(TinyWindowStudent(num_classes=3), teacher, method=method, num_classes=3,
                      optimizer=lambda p: torch.optim.Adam(p, lr=3e-3))
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            losses.append(float(trainer.callback_metrics["train/kd_sea_step"]))

    trainer = pl.Trainer(max_epochs=5, accelerator="cpu", logger=False, enable_checkpointing=False,
                         default_root_dir=tmp_path / "run",
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()])
    trainer.fit(model, datamodule=data)
    assert (tmp_path / "store" / "train" / "frames.npy").is_file()  # filled once, read by setup() and the steps
    assert Reducer.load(tmp_path / "run" / "reducer.joblib").out_dim == 32  # saved beside the run's checkpoints
    assert len(losses) == 30 and np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
