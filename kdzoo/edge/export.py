"""Export the student alone, its log-mel front end included: waveform (B, T) in, logits (B, K) out.

Only the student crosses: :func:`student_of` takes it out of a :class:`~kdzoo.distill.distiller.Distiller`
(never the teacher, never a KD method's heads or projections, which live in the method) and
:class:`StudentGraph` keeps only ``logits`` of its :class:`~kdzoo.types.ModelOutput`, so the graph holds the
front end, the network and the classifier head, nothing else.

Why a front end of our own for ONNX: training uses torchaudio's ``MelSpectrogram``, which computes the STFT in
complex numbers, and the ONNX exporter that needs no extra package (``dynamo=False``) cannot write complex
tensors. :class:`ExportableLogMel` computes the same thing in real arithmetic (reflect padding, ONNX's own
``STFT`` operator on a window zero-padded to ``n_fft`` as torch does it, power, the very same mel filter bank,
``10 log10`` with the same floor), so the whole student is one graph. Its parity with the training front end is
a test (``tests/test_edge.py``), not an assumption. TorchScript traces the training front end as it is.

Graph parts (``part``): ``"all"`` (waveform -> logits, what ``kdzoo export`` writes), ``"frontend"`` (waveform
-> log-mel (B, 1, n_mels, frames)) and ``"network"`` (log-mel -> logits). The profile counts the front end and
the network separately and quantises only the network (int8 log-mels would lose the quiet bands).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdzoo.models.frontend import LogMel
from kdzoo.models.kws import DB_TO_LN

Part = Literal["all", "frontend", "network"]
OPSET = 17
"""ONNX opset: 17 is the first with an ``STFT`` operator."""
FRONTEND_SCOPE = "/frontend/"
"""Name prefix of the front end's nodes in an exported graph (what int8 quantisation leaves in float)."""


def student_of(model: nn.Module) -> nn.Module:
    """The student to export: ``model.student`` of a Distiller (teacher and method left behind), else ``model``."""
    student = getattr(model, "student", model)
    if not hasattr(student, "forward_spectrogram") or not hasattr(student, "frontend"):
        raise TypeError(f"{type(student).__name__} is not a kdzoo student (it needs .frontend and "
                        f".forward_spectrogram); export the student of a Distiller or a model from create_student")
    return student


class ExportableLogMel(nn.Module):
    """:class:`~kdzoo.models.frontend.LogMel` in real arithmetic: waveform (B, T) -> dB log-mel (B, 1, n_mels, F).

    Same numbers as the training front end (centred frames with reflect padding, Hann window of ``win_length``
    centred in ``n_fft``, one-sided power spectrum, the training module's own mel filter bank, ``10 log10`` of
    the power floored at ``amin``), written with operators ONNX has, so it exports with the network.

    Args:
        logmel: the student's training front end; its window and filter bank are copied, not recomputed.
    """

    def __init__(self, logmel: LogMel) -> None:
        super().__init__()
        if not isinstance(logmel, LogMel):
            raise TypeError(f"only LogMel front ends can be exported, got {type(logmel).__name__}")
        spectrogram = logmel.mel.spectrogram
        if spectrogram.pad_mode != "reflect" or not spectrogram.center or spectrogram.power != 2.0:
            raise ValueError("ExportableLogMel reproduces centred, reflect-padded power spectrograms only")
        self.n_fft, self.hop_length = spectrogram.n_fft, spectrogram.hop_length
        window = spectrogram.window.detach().clone()
        left = (self.n_fft - window.numel()) // 2  # torch.stft centres a short window inside n_fft
        self.register_buffer("window", F.pad(window, (left, self.n_fft - window.numel() - left)))
        self.register_buffer("filterbank", logmel.mel.mel_scale.fb.detach().clone())  # (n_fft // 2 + 1, n_mels)
        self.amin = float(logmel.to_db.amin)
        # MFCC (the keyword students' front end) = this log-mel in natural-log units, then its own DCT-II matrix
        dct = getattr(logmel, "dct", None)
        self.register_buffer("dct", None if dct is None else dct.detach().clone())

    def forward(self, waveform: Tensor) -> Tensor:
        """(B, T) -> (B, 1, n_mels, 1 + T // hop_length); for MFCC (B, 1, 1 + T // hop_length, n_mfcc)."""
        half = self.n_fft // 2
        padded = F.pad(waveform.unsqueeze(1), (half, half), mode="reflect").squeeze(1)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*return_complex=False.*")
            spec = torch.stft(padded, self.n_fft, self.hop_length, self.n_fft, self.window, center=False,
                              return_complex=False)  # (B, n_fft // 2 + 1, F, 2): real and imaginary parts
        power = spec.pow(2).sum(-1)  # (B, n_freqs, F)
        mel = torch.matmul(power.transpose(1, 2), self.filterbank).transpose(1, 2)  # (B, n_mels, F)
        db = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))  # (B, n_mels, F)
        if self.dct is None:
            return db.unsqueeze(1)
        return ((db * DB_TO_LN).transpose(1, 2) @ self.dct).unsqueeze(1)  # MFCC: (B, 1, F, n_mfcc)


class StudentGraph(nn.Module):
    """The part of a student that is exported, returning a plain tensor (graphs cannot return a dataclass).

    Args:
        student: a kdzoo student (``.frontend`` + ``.forward_spectrogram``), put in eval mode.
        part: ``"all"``: waveform (B, T) -> logits (B, K); ``"frontend"``: waveform -> log-mel;
            ``"network"``: log-mel (B, 1, n_mels, F) -> logits.
        exportable_frontend: use :class:`ExportableLogMel` (ONNX) instead of the training front end (TorchScript).
    """

    def __init__(self, student: nn.Module, part: Part = "all", exportable_frontend: bool = True) -> None:
        super().__init__()
        if part not in ("all", "frontend", "network"):
            raise ValueError(f"part must be 'all', 'frontend' or 'network', got {part!r}")
        self.part = part
        self.frontend = ExportableLogMel(student.frontend) if exportable_frontend else student.frontend
        self.network = student
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        if self.part != "network":
            x = self.frontend(x)
        if self.part == "frontend":
            return x
        return self.network.forward_spectrogram(x).logits


def example_input(student: nn.Module, part: Part, seconds: float = 1.0, batch: int = 1) -> Tensor:
    """A deterministic input of ``seconds`` of audio for ``part``: noise waveform (B, T) or its log-mel."""
    generator = torch.Generator().manual_seed(0)
    waveform = 0.1 * torch.randn(batch, round(seconds * student.sample_rate), generator=generator)
    if part == "network":
        with torch.no_grad():
            return student.frontend(waveform)
    return waveform


@contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporter's notices about itself (deprecation of the TorchScript-based path); not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*(TracerWarning|Converting a tensor|return_complex).*")
        yield


def export_onnx(model: nn.Module, path: str | Path, part: Part = "all", seconds: float = 1.0,
                dynamic: bool = True) -> Path:
    """Write the student of ``model`` (see :func:`student_of`) as an ONNX graph.

    Args:
        model: a student or a Distiller.
        path: the ``.onnx`` file to write.
        part: which graph (:class:`StudentGraph`).
        seconds: length of the example clip the graph is traced with.
        dynamic: batch and time axes left free (the shipped file); ``False`` fixes the shapes of the example,
            which the profile wants for exact tensor sizes.

    Input ``waveform`` (B, T) float32 at the student's sample rate (``logmel`` (B, 1, n_mels, F) for the
    network part); output ``logits`` (B, K) (``logmel`` for the front end part).
    """
    student = student_of(model)
    graph, path = StudentGraph(student, part), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = example_input(student, part, seconds)
    input_name = "logmel" if part == "network" else "waveform"
    output_name = "logmel" if part == "frontend" else "logits"
    axes = {input_name: {0: "batch", example.dim() - 1: "time"}, output_name: {0: "batch"}}
    if part == "frontend":
        axes[output_name] = {0: "batch", 3: "frames"}
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(graph, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes=axes if dynamic else None)
    return path


def export_torchscript(model: nn.Module, path: str | Path, seconds: float = 1.0) -> Path:
    """Trace the student of ``model`` (training front end included) to TorchScript: waveform (B, T) -> logits.

    Tracing records the operators, not the example's length, so other clip lengths and batch sizes run (the
    parity test checks a 10 s clip through a graph traced on 1 s).
    """
    student = student_of(model)
    graph, path = StudentGraph(student, "all", exportable_frontend=False), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_export(), torch.no_grad():
        traced = torch.jit.trace(graph, (example_input(student, "all", seconds),), check_trace=False)
    traced.save(str(path))
    return path


def onnx_session(path: str | Path, threads: int = 1):
    """An ONNX Runtime CPU session on ``path`` with ``threads`` intra-op threads (1: the edge setting)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session_or_path, inputs: Tensor | np.ndarray) -> np.ndarray:
    """Run a one-input graph (session or file) on ``inputs`` and return its first output as float32."""
    session = onnx_session(session_or_path) if isinstance(session_or_path, str | Path) else session_or_path
    array = inputs.detach().cpu().numpy() if isinstance(inputs, Tensor) else np.asarray(inputs)
    name = session.get_inputs()[0].name
    return session.run(None, {name: array.astype(np.float32)})[0]
