"""``kdzoo export`` and ``kdzoo profile``: the command-line side of :mod:`kdzoo.edge`.

A student is named by a ``student.pt``, a run directory holding one (``checkpoints/runs/NAME/version_N``), or,
for ``profile`` only, a registry name (an untrained variant: sizes, MACs, memory and latency do not depend on
the weights). Calibration clips for int8 come from the train split of a data module described the way runs and
recipes describe it (``data: {class_path, init_args}``): the run directory's ``config.yaml`` by default, or
``--data RECIPE|RUN_DIR|CONFIG.yaml``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from kdzoo.cli.recipes import find_recipe

STUDENT_FILE = "student.pt"


def student_file(source: str | Path) -> Path:
    """``source`` itself if it is a file, else ``source/student.pt``; an error naming ``source`` otherwise."""
    path = Path(source)
    if path.is_dir():
        path = path / STUDENT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no student file there (give a student.pt or a run directory "
                                f"holding one, e.g. checkpoints/runs/kd_demo/version_0)")
    return path


def load_model(source: str) -> nn.Module:
    """The student of ``source``: a ``student.pt``, a run directory, or a registry name (untrained)."""
    import kdzoo

    if not Path(source).exists() and source in kdzoo.list_students() + kdzoo.list_teachers():
        return kdzoo.create_student(source).eval()
    return kdzoo.load_student(student_file(source))


def data_config(source: str | Path) -> dict:
    """The ``data`` section (``class_path`` + ``init_args``) of a run directory, a YAML file or a recipe name."""
    path = Path(source)
    if path.is_dir():
        path = path / "config.yaml"
    elif not path.is_file():
        path = find_recipe(str(source))
    if not path.is_file():
        raise FileNotFoundError(f"--data {source}: no config.yaml there")
    data = (yaml.safe_load(path.read_text()) or {}).get("data")
    if not isinstance(data, dict) or "class_path" not in data:
        raise ValueError(f"--data {source}: {path} has no `data: {{class_path: ..., init_args: ...}}` section")
    return data


def build_datamodule(config: dict, overrides: dict[str, Any] | None = None):
    """Instantiate ``config['class_path'](**config['init_args'], **overrides)`` and set up its train split."""
    module_name, _, class_name = config["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    datamodule = cls(**{**(config.get("init_args") or {}), **(overrides or {})})
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def export_command(source: str, fmt: str, out: str, int8: bool = False, calibration: int = 64,
                   data: str | None = None, data_root: str | None = None, score_test: bool = False) -> list[str]:
    """Write the student of ``source`` to ``out``; return lines that say what was written and its parity."""
    import torch

    from kdzoo.edge import StudentGraph, export_onnx, export_torchscript, run_onnx, student_of
    from kdzoo.edge.export import example_input, is_window_embedder

    if int8 and fmt != "onnx":
        raise ValueError("--int8 needs --format onnx (static int8 is ONNX Runtime QDQ)")
    model = load_model(source)
    windows = is_window_embedder(student_of(model))
    if score_test and windows:
        raise ValueError(f"--score-test: {source} is a window embedder (SEA) with no logits to score; score its "
                         f"embeddings with `kdzoo downstream --embedder {source}`")
    if fmt == "torchscript":
        path = export_torchscript(model, out)
        graph = torch.jit.load(str(path))
        run = lambda x: graph(x).numpy()  # noqa: E731
    elif fmt == "onnx":
        path = export_onnx(model, Path(out).with_suffix(".fp32.onnx") if int8 else out)
        run = lambda x: run_onnx(path, x)  # noqa: E731
    else:
        raise ValueError(f"--format must be onnx or torchscript, got {fmt!r}")
    clip = example_input(student_of(model), "all", 1.0)
    with torch.no_grad():  # against the training front end and the network, in PyTorch
        reference = StudentGraph(student_of(model), "all", exportable_frontend=False)(clip).numpy()
        diff = float(abs(run(clip) - reference).max())
    what = "embedding of one 1 s window" if windows else "logit"
    lines = [f"{path}: {fmt} fp32, max |{what} - PyTorch| on 1 s of noise = {diff:.2e}"]
    if score_test and fmt != "onnx":
        raise ValueError("--score-test scores ONNX graphs; use --format onnx")
    graphs = {"fp32": path}
    if int8 or score_test:
        datamodule = _datamodule(source, data, data_root)
    if int8:
        lines.append(_quantise(path, Path(out), datamodule, calibration, student_of(model)))
        graphs["int8"] = Path(out)
    if score_test:
        lines += score_graphs(graphs, datamodule)
    return lines


def _datamodule(source: str, data: str | None, data_root: str | None):
    where = data or (source if Path(source).is_dir() else None)
    if where is None:
        raise ValueError("--int8 and --score-test need data: give --data RECIPE|RUN_DIR (or export from a run "
                         "directory, whose config.yaml names the data)")
    return build_datamodule(data_config(where), {"root": data_root} if data_root else None)


def _quantise(fp32: Path, out: Path, datamodule, count: int, student: nn.Module) -> str:
    from kdzoo.edge.export import is_window_embedder
    from kdzoo.edge.profile import weight_bytes
    from kdzoo.edge.quantise import calibration_clips, quantise_static

    clips = calibration_clips(datamodule, count, student)
    path = quantise_static(fp32, out, clips)
    unit = "1 s windows" if is_window_embedder(student) else "clips"
    return (f"{path}: static int8 (QDQ), calibrated on {len(clips)} {unit} of the train split; "
            f"{weight_bytes(path) / 1024:.1f} KB stored (fp32 {weight_bytes(fp32) / 1024:.1f} KB, front end "
            f"constants included)")


def score_graphs(graphs: dict[str, Path], datamodule) -> list[str]:
    """Score each exported graph on the data module's test split, one clip at a time as on a device, and compare
    each graph to the first: official micro/macro-AUPRC for multi-label tagging (targets (N, K)), accuracy (and per
    clip group, e.g. TAU's recording devices, when the data module has ``clip_groups``) for single-label
    classification (targets (N,) class ids)."""
    import numpy as np
    from rich.progress import track

    from kdzoo.edge import onnx_session, run_onnx

    datamodule.setup("test")
    sessions = {name: onnx_session(path, threads=1) for name, path in graphs.items()}
    logits: dict[str, list] = {name: [] for name in graphs}
    targets, clip_ids = [], []
    for batch in track(list(datamodule.test_dataloader()), description="scoring the test split"):
        targets.append(batch.target.numpy())
        clip_ids += list(batch.clip_id)
        for name, session in sessions.items():
            logits[name] += [run_onnx(session, clip[None]) for clip in batch.waveform]
    truth = np.concatenate(targets)
    logits = {name: np.concatenate(v) for name, v in logits.items()}
    if truth.ndim == 1:
        return _accuracy_lines(truth, logits, clip_ids, getattr(datamodule, "clip_groups", None))
    return _auprc_lines(truth, logits)


def _auprc_lines(truth, logits: dict) -> list[str]:
    """Multi-label: official micro/macro-AUPRC per graph; Spearman of the logits and max |diff| to the first."""
    import numpy as np
    from scipy.stats import spearmanr

    from kdzoo.metrics import sonyc_ust_scores

    first = next(iter(logits))
    lines = []
    for name, values in logits.items():
        score, reference = sonyc_ust_scores(truth, 1 / (1 + np.exp(-values))), logits[first]
        line = (f"test split ({len(truth)} clips), {name}: micro-AUPRC {score['micro_auprc']:.4f}, macro-AUPRC "
                f"{score['macro_auprc']:.4f}")
        if name != first:
            reference_score = sonyc_ust_scores(truth, 1 / (1 + np.exp(-reference)))["micro_auprc"]
            rho = spearmanr(values.ravel(), reference.ravel()).statistic
            line += (f"; micro-AUPRC {score['micro_auprc'] - reference_score:+.4f} vs {first}, Spearman of the "
                     f"logits {rho:.4f}, max |diff| {np.abs(values - reference).max():.3f}")
        lines.append(line)
    return lines


def _accuracy_lines(truth, logits: dict, clip_ids: list[str], groups) -> list[str]:
    """Single-label: accuracy per graph (and the data module's group means, e.g. seen / unseen devices); the
    share of clips whose predicted class equals the first graph's."""
    import torch

    from kdzoo.metrics import group_accuracy

    first = next(iter(logits))
    predicted = {name: values.argmax(1) for name, values in logits.items()}
    lines = []
    for name, classes in predicted.items():
        accuracy = float((classes == truth).mean())
        line = f"test split ({len(truth)} clips), {name}: accuracy {accuracy:.4f}"
        if groups is not None:
            by_group = group_accuracy(clip_ids, torch.from_numpy(classes), torch.from_numpy(truth), groups)
            means = [f"acc_{mean}" for mean in groups.means if f"acc_{mean}" in by_group]
            line += "".join(f", {key} {by_group[key]:.4f}" for key in means)
        if name != first:
            reference = float((predicted[first] == truth).mean())
            line += (f"; accuracy {accuracy - reference:+.4f} vs {first}, same class as {first} on "
                     f"{float((classes == predicted[first]).mean()):.4f} of the clips")
        lines.append(line)
    return lines


PROFILE_ROWS = (
    ("params", "parameters", "{:,}"),
    ("macs", "MACs per 1 s of audio (network)", "{:,}"),
    ("frontend_macs", "MACs per 1 s of audio (log-mel front end, FFT estimate)", "{:,}"),
    ("activation_kb_fp32", "peak activation memory fp32 (KB, 1 s)", "{:.1f}"),
    ("activation_kb_int8", "peak activation memory int8 (KB, 1 s)", "{:.1f}"),
    ("flash_kb_fp32", "weights fp32 (KB)", "{:.1f}"),
    ("flash_kb_int8", "weights int8, flash (KB)", "{:.1f}"),
    ("frontend_kb", "front-end constants, float (KB)", "{:.1f}"),
    ("int8_weight_share", "share of weights stored int8", "{:.3f}"),
    ("latency_ms_fp32", "latency fp32, 1 thread (ms per 1 s)", "{:.3f}"),
    ("latency_ms_int8", "latency int8, 1 thread (ms per 1 s)", "{:.3f}"),
)


def profile_lines(report: dict) -> list[str]:
    """The profile as aligned ``name  value`` lines."""
    return [f"{label:58s} {fmt.format(report[key]) if report.get(key) is not None else '-'}"
            for key, label, fmt in PROFILE_ROWS]
