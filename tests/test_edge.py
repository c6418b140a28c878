"""The edge: export of the student alone, parity with ONNX Runtime, static int8, MACs, memory, budgets."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from scipy import stats
from sklearn.metrics import average_precision_score
from torch import nn

import kdzoo
from kdzoo.data.synth import clip_scene, render_clip
from kdzoo.data.synth.background import sensor_profile
from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.distill import Distiller, KDMethod
from kdzoo.dsp import resample
from kdzoo.edge import ExportableLogMel, export_onnx, export_torchscript, run_onnx
from kdzoo.edge.profile import count_macs, peak_activation_bytes, rnn_macs, weight_bytes
from kdzoo.edge.quantise import calibration_clips, frontend_nodes, quantise_static
from kdzoo.models import STUDENTS
from kdzoo.models.window import WindowedFrontend, frame_windows


def _smallest_per_family() -> list[str]:
    """One registered student per family (its smallest), so a new family is tested without editing this file."""
    kdzoo.list_students()
    best: dict[str, tuple[int, str]] = {}
    for name in STUDENTS.names():
        entry = STUDENTS.entry(name)
        best[entry.family] = min(best.get(entry.family, (entry.num_params, name)), (entry.num_params, name))
    return sorted(name for _, name in best.values())


def _student(name: str) -> nn.Module:
    """A student with batch-norm statistics of real-looking input (noise), so its logits are of order 1."""
    torch.manual_seed(0)
    model = kdzoo.create_student(name).train()
    with torch.no_grad():
        for _ in range(3):
            model(0.1 * torch.randn(4, model.sample_rate))
    return model.eval()


@pytest.fixture(scope="module")
def real_clip() -> torch.Tensor:
    """A 10 s clip of the generated SONYC-UST-style corpus (background, events, distractors): (1, 160000)."""
    scene = clip_scene(0, 3)
    audio = render_clip(scene, np.random.default_rng(0), 160000, 16000, sensor_profile(0, 1), Difficulty())
    return torch.tensor(audio, dtype=torch.float32)[None]


@pytest.mark.parametrize("name", ["cnn_xs", "cnn_lstm_s"])  # the two front-end kinds: 64 Slaney / 20 HTK mels
def test_exported_frontend_equals_training_frontend(name, real_clip, tmp_path):
    student = kdzoo.create_student(name).eval()
    path = export_onnx(student, tmp_path / "frontend.onnx", part="frontend")
    with torch.no_grad():
        expected = student.frontend(real_clip).numpy()
        torch_port = ExportableLogMel(student.frontend)(real_clip).numpy()
    exported = run_onnx(path, real_clip)
    assert exported.shape == expected.shape == (1, 1, student.frontend.n_mels, student.frontend.num_frames(160000))
    assert np.abs(exported - expected).max() < 1e-4  # dB
    assert np.abs(torch_port - expected).max() < 1e-4
    assert expected.min() < expected.max() - 30  # a real dynamic range, not a flat spectrogram
    dense_bank_bytes = student.frontend.mel.mel_scale.fb.numel() * 4
    assert weight_bytes(path) < 0.5 * dense_bank_bytes  # the bank's two-slope tables are stored, not its matrix


@pytest.mark.parametrize("name", _smallest_per_family())
def test_onnx_and_torchscript_logits_equal_pytorch(name, real_clip, tmp_path, one_thread):
    student = _student(name)
    if isinstance(student.frontend, WindowedFrontend):  # SEA's window embedders: one 1 s window -> embedding
        _check_window_embedder_parity(student, real_clip, tmp_path)
        return
    tones = torch.sin(2 * torch.pi * torch.arange(16000) / 16000 * torch.tensor([[440.0], [3000.0]]))
    generated = 0.3 * tones + 0.05 * torch.randn(2, 16000)
    onnx_path = export_onnx(student, tmp_path / "s.onnx")
    script = torch.jit.load(str(export_torchscript(student, tmp_path / "s.pt")))
    for clip in (generated, real_clip):  # 1 s batch of 2, then one 10 s clip: axes are free in the graph
        with torch.no_grad():
            expected = student(clip).logits.numpy()
        assert np.abs(expected).max() > 0.05  # the comparison is not between zeros
        assert np.abs(run_onnx(onnx_path, clip) - expected).max() < 1e-4
    with torch.no_grad():  # TorchScript traced on 1 s of one clip, run on a batch of two
        assert np.abs(script(generated).numpy() - student(generated).logits.numpy()).max() < 1e-4


def _check_window_embedder_parity(student: nn.Module, real_clip: torch.Tensor, tmp_path) -> None:
    """The 1 s windows of a real-length clip (25 at hop 0.4 s), a batch through the window graph: the exported
    front end equals the training one (dB), and the ONNX / TorchScript embeddings equal PyTorch's."""
    clip = resample(real_clip, 16000, student.sample_rate)
    windows = frame_windows(clip, student.sample_rate, 1.0, 0.4)[0]
    spectrogram = student.frontend.spectrogram
    with torch.no_grad():
        mel = spectrogram(windows).numpy()
        expected = student.embed_windows(clip, 0.4)[0].numpy()  # the student's own window embeddings
    assert windows.shape == (25, student.sample_rate) and expected.shape == (25, student.embed_dim)
    assert expected.std(0).max() > 1e-3  # windows differ: the comparison is not between constants
    exported_mel = run_onnx(export_onnx(student, tmp_path / "f.onnx", part="frontend"), windows)
    assert np.abs(exported_mel - mel).max() < 1e-4 and mel.min() < mel.max() - 30  # dB, a real range
    onnx_path = export_onnx(student, tmp_path / "s.onnx")
    assert [o.name for o in onnx.load(str(onnx_path)).graph.output] == ["embedding"]
    assert np.abs(run_onnx(onnx_path, windows) - expected).max() < 1e-4
    script = torch.jit.load(str(export_torchscript(student, tmp_path / "s.pt")))
    with torch.no_grad():
        assert np.abs(script(windows[:2]).numpy() - expected[:2]).max() < 1e-4


class _ProjectedKD(KDMethod):
    """A method with a trainable, training-only head: 77 outputs, a width no student has."""

    needs = frozenset({"embedding"})

    def __init__(self) -> None:
        super().__init__()
        self.projection = nn.Linear(32, 77)

    def terms(self, student, teacher, batch):
        return {"kd_proj": (self.projection(student.embedding) ** 2).mean()}


def test_training_only_head_never_exported(tmp_path):
    student = _student("cnn_xs")
    teacher = kdzoo.create_teacher("cnn_xs", num_classes=8)
    distiller = Distiller(student, teacher, method=_ProjectedKD())
    graph = onnx.load(str(export_onnx(distiller, tmp_path / "d.onnx")))
    shapes = [tuple(t.dims) for t in graph.graph.initializer]
    assert not any(77 in shape for shape in shapes)
    assert (8, 32) in shapes  # the student's own head is there
    clip = 0.1 * torch.randn(1, 16000)
    with torch.no_grad():
        assert np.abs(run_onnx(tmp_path / "d.onnx", clip) - student(clip).logits.numpy()).max() < 1e-4


def _train_tiny(data, steps: int = 30) -> nn.Module:
    """cnn_xs trained on the tone-tagging clips with Adam (log-mels computed once); returns it in eval mode."""
    torch.manual_seed(0)
    model = kdzoo.create_student("cnn_xs", num_classes=data.num_classes).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    with torch.no_grad():
        batches = [(model.frontend(b.waveform), b.target) for b in data.train_dataloader()]
    for step in range(steps):
        features, target = batches[step % len(batches)]
        logits = model.forward_spectrogram(features).logits
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def test_static_int8_tracks_fp32_on_a_trained_model(tone_data, tmp_path):
    model = _train_tiny(tone_data)
    fp32 = export_onnx(model, tmp_path / "s.onnx")
    int8 = quantise_static(fp32, tmp_path / "s.int8.onnx", calibration_clips(tone_data, 16))
    graph = onnx.load(str(int8))
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("QuantizeLinear") >= 4 and "ConvInteger" not in ops  # static QDQ, not dynamic
    conv_weights = {n.input[1] for n in graph.graph.node if n.op_type == "Conv"}
    dequantised = {n.output[0]: n.input[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    int8_names = {t.name for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert conv_weights and all(dequantised.get(w) in int8_names for w in conv_weights)  # every conv is int8
    made_by = {out: n.op_type for n in graph.graph.node for out in n.output}
    mel_ops = ("STFT", "ScatterElements")  # the spectrum and the mel bank (two-slope: one scatter-add)
    front = [n for n in graph.graph.node if n.name in set(frontend_nodes(graph)) and n.op_type in mel_ops]
    assert len(front) == 2 and all(made_by.get(i) != "DequantizeLinear" for n in front for i in n.input)  # float
    waveform = torch.cat([b.waveform for b in tone_data.val_dataloader()])
    target = torch.cat([b.target for b in tone_data.val_dataloader()]).numpy()
    a, b = run_onnx(fp32, waveform), run_onnx(int8, waveform)
    auprc_fp32 = average_precision_score(target.ravel(), a.ravel())
    auprc_int8 = average_precision_score(target.ravel(), b.ravel())
    assert auprc_fp32 > 0.9  # training moved the metric (chance is ~0.4)
    assert auprc_fp32 - auprc_int8 < 0.02
    assert stats.spearmanr(a.ravel(), b.ravel()).statistic > 0.95
    params = sum(p.numel() for p in model.parameters())
    assert weight_bytes(fp32) - weight_bytes(int8) > 0.6 * 4 * params  # the front end's constants stay float


def test_calibration_refuses_more_clips_than_the_train_split(tone_data):
    with pytest.raises(ValueError, match="--calibration 1000: the train split has only 72 clips"):
        calibration_clips(tone_data, 1000)


class _TinyCNN(nn.Module):
    """Input (1, 1, 8, 10). Hand count of MACs (out channels x in channels x 3 x 3 x output positions):
    conv1 4*1*9*(8*10) = 2880; pool to 4x5; conv2 6*4*9*(4*5) = 4320; linear 6*3 = 18. Total 7218.
    Batch norm, ReLU, pooling, bias additions and means are not multiply-accumulates."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1))
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def test_macs_match_a_hand_count():
    assert count_macs(_TinyCNN().eval(), torch.randn(1, 1, 8, 10)) == 7218
    # cnn_xs on 1 s (64 mels x 51 frames): 8*1*9*64*51 + 16*8*9*32*25 + 32*16*9*16*12 + 32*32*9*8*6 + 32*8
    student = kdzoo.create_student("cnn_xs").eval()
    from kdzoo.edge.export import StudentGraph, example_input

    assert count_macs(StudentGraph(student, "network"), example_input(student, "network")) == 2483968


def test_rnn_macs_match_a_hand_count():
    # LSTM 6 -> 5 over 7 steps: 4 gates x 5 x (6 + 5) x 7 = 1540; bidirectional GRU 6 -> 5, 2 layers:
    # layer 1: 2 x 3 x 5 x (6 + 5) = 330 a step; layer 2 reads 10: 2 x 3 x 5 x (10 + 5) = 450; x 7 steps = 5460
    assert rnn_macs(nn.LSTM(6, 5), 7) == 1540
    assert rnn_macs(nn.GRU(6, 5, num_layers=2, bidirectional=True), 7) == 5460

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.head = nn.LSTM(6, 5, batch_first=True), nn.Linear(5, 2)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    assert count_macs(Seq().eval(), torch.randn(1, 7, 6)) == 1540 + 10


def test_peak_activation_memory_matches_a_hand_count(tmp_path):
    """Conv(1->4) on (1,1,8,10), ReLU, Conv(4->2), mean: the peak is while conv2 runs, with its input (ReLU in
    place on conv1's output, 4*8*10 floats) and output (2*8*10 floats) alive: (320 + 160) * 4 bytes."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))

        def forward(self, x):
            return self.body(x).mean((2, 3))

    path = tmp_path / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 1, 8, 10),), str(path), dynamo=False, opset_version=17)
    assert peak_activation_bytes(path) == (320 + 160) * 4
    assert weight_bytes(path) == (4 * 9 + 4 + 2 * 4 * 9 + 2) * 4


def test_fit_refuses_a_student_over_its_budget_before_loading_data(tmp_path, monkeypatch, capsys):
    from kdzoo.cli import main

    monkeypatch.chdir(tmp_path)
    budget = tmp_path / "budget.yaml"  # what a recipe's `budget:` section holds
    budget.write_text("budget: {max_params: 1000, max_macs: 3000000, max_flash_kb: 4}\n")
    code = main(["fit", "--recipe", "scratch_demo", "--config", str(budget),
                 "--data.init_args.root", str(tmp_path / "corpus")])
    error = capsys.readouterr().err
    assert code == 2
    assert "cnn_xs is over the recipe's budget: params 15,490 > budget.max_params 1,000" in error
    assert "flash_kb 16.6 > budget.max_flash_kb 4" in error  # int8 network: 15,490 weights at ~1 byte + scales
    assert "max_macs" not in error  # 2,483,968 MACs per second fit within 3,000,000
    assert not (tmp_path / "corpus").exists()  # stopped before prepare_data would have generated the corpus


def test_budget_limits_must_be_positive():
    from kdzoo.edge.budget import Budget, check_budget

    with pytest.raises(ValueError, match="budget.max_flash_kb must be > 0"):
        Budget(max_flash_kb=0)
    assert check_budget(kdzoo.create_student("cnn_xs"), {"max_params": 20000}) == {"params": 15490}


def test_export_and_profile_commands(tone_data, tmp_path, capsys):
    from kdzoo.cli import main
    from kdzoo.models import save_student

    student = save_student(_student("cnn_xs"), tmp_path / "run" / "student.pt")
    config = tmp_path / "data.yaml"
    config.write_text("data: {class_path: conftest.ToneTagging, init_args: {clips: 24}}\n")
    out = tmp_path / "s.int8.onnx"
    assert main(["export", str(student.parent), "--int8", "--calibration", "8", "--data", str(config),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "calibrated on 8 clips of the train split" in printed and out.is_file()
    assert float(printed.split("= ")[1].split()[0]) < 1e-4  # the fp32 graph's printed parity
    assert main(["export", str(student), "--format", "torchscript", "--out", str(tmp_path / "s.pt")]) == 0
    assert main(["export", str(student), "--int8", "--out", str(out)]) == 2
    assert "--int8 and --score-test need data: give --data" in capsys.readouterr().err
    assert main(["profile", "cnn_xs", "--no-latency"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-1] == "2,483,968"  # MACs per second, as counted by hand above


def test_bench_rows_carry_the_edge_columns(tmp_path):
    import pandas as pd

    from kdzoo.cli import bench
    from kdzoo.models import save_student

    save_student(_student("cnn_xs"), tmp_path / "a" / "student.pt")
    runs = pd.DataFrame({"recipe": ["a", "b"], "run_dir": [str(tmp_path / "a"), str(tmp_path / "none")]})
    table = bench.add_edge_columns(pd.DataFrame({"recipe": ["a", "b"]}), runs).set_index("recipe")
    assert table.loc["a", "edge_macs"] == 2483968 and table.loc["a", "edge_params"] == 15490
    assert 0 < table.loc["a", "edge_latency_ms_int8"] and table.loc["a", "edge_latency_runs"] == 50
    assert table.loc["a", "edge_flash_kb_int8"] < 0.35 * table.loc["a", "edge_flash_kb_fp32"]
    assert pd.isna(table.loc["b", "edge_macs"])  # a run without student.pt gets empty cells, not an error
    assert bench._edge_cell(2483968.0) == "2,483,968" and bench._edge_cell(float("nan")) == ""
