"""The edge for SEA's window students: one 1 s window -> embedding, static int8, the export command.

(Front-end and fp32 parity of every registered family, the SEA family included, is in tests/test_edge.py.)
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from conftest import ToneTagging
from scipy import stats
from torch import nn

from kdzoo.dsp import resample
from kdzoo.edge import export_onnx, run_onnx
from kdzoo.edge.quantise import calibration_clips, frontend_nodes, quantise_static
from kdzoo.models.l3 import sea_student_3
from kdzoo.models.window import WindowedFrontend, WindowEmbedder

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def sea_student() -> nn.Module:
    """sea_student_3 whose batch norms have seen 8 tone windows (so its embeddings vary with the input). A SEA
    student costs ~10^8 MACs a window, so the tests keep to a few dozen windows."""
    torch.manual_seed(0)
    student = sea_student_3().train()  # the registered variant (recorded, so save_student can name it)
    batch = next(iter(ToneTagging().train_dataloader()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.no_grad():
        windows = resample(batch.waveform[:8], batch.sample_rate, student.sample_rate)
        student.network(student.frontend.spectrogram(windows))
    torch.set_num_threads(threads)
    return student.eval()


def _windows(data, student: nn.Module) -> torch.Tensor:
    """The validation clips of ``data`` as 1 s windows at the student's rate: (N, 8000)."""
    waveform = torch.cat([b.waveform for b in data.val_dataloader()])
    return resample(waveform, data.sample_rate, student.sample_rate)


def test_sea_student_static_int8_tracks_fp32(sea_student, tone_data, tmp_path):
    student = sea_student
    fp32 = export_onnx(student, tmp_path / "sea.onnx")
    calibration = calibration_clips(tone_data, 8, student)
    assert len(calibration) == 8 and all(c.shape == (8000,) for c in calibration)  # 1 s windows at 8 kHz
    int8 = quantise_static(fp32, tmp_path / "sea.int8.onnx", calibration)
    graph = onnx.load(str(int8))
    conv_weights = {n.input[1] for n in graph.graph.node if n.op_type == "Conv"}
    dequantised = {n.output[0]: n.input[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    int8_names = {t.name for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert len(conv_weights) == 8 and all(dequantised.get(w) in int8_names for w in conv_weights)  # 8 int8 convs
    assert any(n.op_type == "STFT" for n in graph.graph.node if n.name in set(frontend_nodes(graph)))
    windows = _windows(tone_data, student)
    with torch.no_grad():
        expected = student.network(student.frontend.spectrogram(windows)).numpy()
    a, b = run_onnx(fp32, windows), run_onnx(int8, windows)
    assert a.shape == b.shape == (24, 64) and np.abs(a - expected).max() < 1e-4
    assert stats.spearmanr(a.ravel(), b.ravel()).statistic > 0.95
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.95  # every window's int8 embedding points where its fp32 one does


def test_export_command_writes_a_sea_student(sea_student, tmp_path, capsys):
    from kdzoo.cli import main
    from kdzoo.models import save_student

    student = save_student(sea_student, tmp_path / "run" / "student.pt")
    config = tmp_path / "data.yaml"
    config.write_text("data: {class_path: conftest.ToneTagging, init_args: {clips: 24}}\n")
    out = tmp_path / "sea.int8.onnx"
    assert main(["export", str(student.parent), "--int8", "--calibration", "4", "--data", str(config),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max |embedding of one 1 s window - PyTorch| on 1 s of noise = " in printed
    assert float(printed.split("= ")[1].split()[0]) < 1e-4
    assert "calibrated on 4 1 s windows of the train split" in printed
    assert run_onnx(out, torch.zeros(3, 8000)).shape == (3, 64)
    assert main(["export", str(student), "--score-test", "--data", str(config), "--out", str(out)]) == 2
    assert "is a window embedder (SEA) with no logits to score; score its embeddings with `kdzoo downstream" \
        in capsys.readouterr().err


class _OtherWindows(WindowEmbedder):
    """A window embedder whose per-window front end the exporter does not know."""

    def __init__(self) -> None:
        super().__init__()
        self.sample_rate, self.embed_dim = 8000, 4
        self.frontend = WindowedFrontend(nn.Identity(), 8000)
        self.network = nn.Linear(8000, 4)
        self._init_probe(0)


def test_an_unknown_window_front_end_is_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="only KapreMel window front ends can be exported, got Identity"):
        export_onnx(_OtherWindows(), tmp_path / "x.onnx")
