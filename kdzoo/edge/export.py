"""Export the student alone, its log-mel front end included: waveform (B, T) in, logits (B, K) out.

Only the student crosses: :func:`student_of` takes it out of a :class:`~kdzoo.distill.distiller.Distiller`
(never the teacher, never a KD method's heads or projections, which live in the method) and
:class:`StudentGraph` keeps only ``logits`` of its :class:`~kdzoo.types.ModelOutput`, so the graph holds the
front end, the network and the classifier head, nothing else.

Why a front end of our own for ONNX: training uses torchaudio's ``MelSpectrogram``, which computes the STFT in
complex numbers, and the ONNX exporter that needs no extra package (``dynamo=False``) cannot write complex
tensors. :class:`ExportableLogMel` computes the same thing in real arithmetic (reflect padding, ONNX's own
``STFT`` operator on a window zero-padded to ``n_fft`` as torch does it, power, the very same mel filter bank
stored by its two slopes (:mod:`kdzoo.edge.melbank`: 12 KB instead of a 131 KB matrix), ``10 log10`` with the
same floor), so the whole student is one graph. Its parity with the training front end is a test
(``tests/test_edge.py``), not an assumption. TorchScript traces the training front end as it is.

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

from kdzoo.edge.melbank import CompactMelBank
from kdzoo.models.frontend import LogMel
from kdzoo.models.kws import DB_TO_LN
from kdzoo.models.l3.frontend import AMIN as KAPRE_AMIN
from kdzoo.models.l3.frontend import DYNAMIC_RANGE_DB, KapreMel, same_padding
from kdzoo.models.window import WindowedFrontend, window_samples

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


def is_window_embedder(student: nn.Module) -> bool:
    """True for SEA-style window embedders (a :class:`~kdzoo.models.window.WindowedFrontend`): their graph embeds
    one window (B, window samples) -> (B, d) instead of tagging a clip."""
    return isinstance(student.frontend, WindowedFrontend)


def input_samples(student: nn.Module, seconds: float = 1.0) -> int:
    """Samples of the graph's input: one window for a window embedder (whatever ``seconds``), else ``seconds``."""
    if is_window_embedder(student):
        return window_samples(student.sample_rate, student.frontend.window_s)
    return round(seconds * student.sample_rate)


class ExportableLogMel(nn.Module):
    """:class:`~kdzoo.models.frontend.LogMel` in real arithmetic: waveform (B, T) -> dB log-mel (B, 1, n_mels, F).

    Same numbers as the training front end (centred frames with reflect padding, Hann window of ``win_length``
    centred in ``n_fft``, one-sided power spectrum, the training module's own mel filter bank (stored by its two
    slopes), ``10 log10`` of the power floored at ``amin``), written with operators ONNX has, so it exports with
    the network.

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
        self.mel_bank = CompactMelBank(logmel.mel.mel_scale.fb)  # (n_fft // 2 + 1, n_mels), by its two slopes
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
        mel = self.mel_bank(power)  # (B, n_mels, F)
        db = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))  # (B, n_mels, F)
        if self.dct is None:
            return db.unsqueeze(1)
        return ((db * DB_TO_LN).transpose(1, 2) @ self.dct).unsqueeze(1)  # MFCC: (B, 1, F, n_mfcc)


class ExportableKapreMel(nn.Module):
    """:class:`~kdzoo.models.l3.frontend.KapreMel` (SEA students, L3) in real arithmetic, for one window length.

    windows (B, S) -> dB mel magnitude (B, 1, n_mels, ceil(S / hop)) in [-80, 0], as the training module: Keras
    'same' padding (fixed by ``num_samples``, the window the graph embeds), frames without centring under the
    periodic Hann window (ONNX ``STFT``), power, the training module's own HTK mel bank (stored by its two slopes),
    square root, ``10 log10`` floored at 1e-10, minus the per-window maximum, floored at -80 dB.

    Args:
        kapre: the student's training front end (``student.frontend.spectrogram``); its tables are copied.
        num_samples: S, the window length in samples (the padding depends on it).
    """

    def __init__(self, kapre: KapreMel, num_samples: int) -> None:
        super().__init__()
        if not isinstance(kapre, KapreMel):
            raise TypeError(f"only KapreMel window front ends can be exported, got {type(kapre).__name__}")
        self.n_fft, self.hop_length, self.num_samples = kapre.n_fft, kapre.hop_length, num_samples
        self.padding = same_padding(num_samples, kapre.n_fft, kapre.hop_length)
        self.register_buffer("window", kapre.window.detach().clone())
        self.mel_bank = CompactMelBank(kapre.mel.T)  # (n_fft // 2 + 1, n_mels), by its two slopes

    def forward(self, windows: Tensor) -> Tensor:
        """(B, S) -> (B, 1, n_mels, frames); S must be ``num_samples``."""
        padded = F.pad(windows, self.padding)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*return_complex=False.*")
            spec = torch.stft(padded, self.n_fft, self.hop_length, self.n_fft, self.window, center=False,
                              return_complex=False)  # (B, n_fft // 2 + 1, frames, 2)
        power = spec.pow(2).sum(-1)  # (B, n_freqs, frames)
        magnitude = self.mel_bank(power).sqrt()  # (B, n_mels, F)
        db = 10.0 * torch.log10(torch.clamp(magnitude, min=KAPRE_AMIN))
        db = db - db.amax(dim=(1, 2), keepdim=True)
        return torch.clamp(db, min=-DYNAMIC_RANGE_DB).unsqueeze(1)


def onnx_frontend(student: nn.Module) -> nn.Module:
    """The ONNX-ready front end of ``student``: :class:`ExportableLogMel` for clip students (LogMel / MFCC),
    :class:`ExportableKapreMel` for window embedders; a TypeError naming the front end otherwise."""
    if is_window_embedder(student):
        return ExportableKapreMel(student.frontend.spectrogram, input_samples(student))
    return ExportableLogMel(student.frontend)


class StudentGraph(nn.Module):
    """The part of a student that is exported, returning a plain tensor (graphs cannot return a dataclass).

    Clip students (``cnn_*``, ``crnn_*``, keyword students, ...): ``"all"``: waveform (B, T) -> logits (B, K);
    ``"frontend"``: waveform -> log-mel (B, 1, n_mels, F); ``"network"``: log-mel -> logits.

    Window embedders (SEA's ``sea_student_*``): the graph embeds *one* window, as the device would every hop:
    ``"all"``: window (B, S) (S = 1 s at the student's rate, 8000 samples) -> embedding (B, d); ``"frontend"``:
    window -> mel (B, 1, 64, 50); ``"network"``: mel -> embedding. Framing a clip into windows stays outside
    (it is a strided view of the audio buffer, :func:`~kdzoo.models.window.frame_windows`), and so does the
    optional linear probe, which only reports AUPRC during training (the embedding is what SEA ships).

    Args:
        student: a kdzoo student (``.frontend`` + ``.forward_spectrogram``), put in eval mode.
        part: ``"all"``, ``"frontend"`` or ``"network"`` (above).
        exportable_frontend: use the real-arithmetic front end (:func:`onnx_frontend`; ONNX) instead of the
            training one (TorchScript).
    """

    def __init__(self, student: nn.Module, part: Part = "all", exportable_frontend: bool = True) -> None:
        super().__init__()
        if part not in ("all", "frontend", "network"):
            raise ValueError(f"part must be 'all', 'frontend' or 'network', got {part!r}")
        self.part, self.windows = part, is_window_embedder(student)
        training_frontend = student.frontend.spectrogram if self.windows else student.frontend
        self.frontend = onnx_frontend(student) if exportable_frontend else training_frontend
        self.network = student
        self.eval()

    @property
    def output_name(self) -> str:
        return "logmel" if self.part == "frontend" else "embedding" if self.windows else "logits"

    def forward(self, x: Tensor) -> Tensor:
        if self.part != "network":
            x = self.frontend(x)
        if self.part == "frontend":
            return x
        if self.windows:
            return self.network.network(x)  # (B, d): the window embedding
        return self.network.forward_spectrogram(x).logits


def example_input(student: nn.Module, part: Part, seconds: float = 1.0, batch: int = 1) -> Tensor:
    """A deterministic input of ``seconds`` of audio for ``part``: noise waveform (B, T) or its log-mel.

    For a window embedder: one window (B, S) of noise, or its mel (B, 1, n_mels, frames); ``seconds`` is unused.
    """
    generator = torch.Generator().manual_seed(0)
    waveform = 0.1 * torch.randn(batch, input_samples(student, seconds), generator=generator)
    return training_features(student, waveform) if part == "network" else waveform


@torch.no_grad()
def training_features(student: nn.Module, waveform: Tensor) -> Tensor:
    """The training front end's output for a graph input (B, T) (a window embedder's: windows (B, S))."""
    frontend = student.frontend.spectrogram if is_window_embedder(student) else student.frontend
    return frontend(waveform)


@contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporter's notices about itself (deprecation of the TorchScript-based path); not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*(TracerWarning|Converting a tensor|return_complex).*")
        warnings.filterwarnings("ignore", message=".*Constant folding - Only steps=1.*")  # the trace's own unfold
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
    network part); output ``logits`` (B, K) (``logmel`` for the front end part). A window embedder's graph
    (:class:`StudentGraph`) reads one window ``waveform`` (B, S) and writes ``embedding`` (B, d); only its
    batch axis is free (the window length is the model's).
    """
    student = student_of(model)
    graph, path = StudentGraph(student, part), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = example_input(student, part, seconds)
    input_name = "logmel" if part == "network" else "waveform"
    output_name = graph.output_name
    axes = {input_name: {0: "batch", example.dim() - 1: "time"}, output_name: {0: "batch"}}
    if part == "frontend":
        axes[output_name] = {0: "batch", 3: "frames"}
    if graph.windows:  # one window of fixed length in, one embedding out: only the batch is free
        axes = {input_name: {0: "batch"}, output_name: {0: "batch"}}
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(graph, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes=axes if dynamic else None)
    return path


def export_torchscript(model: nn.Module, path: str | Path, seconds: float = 1.0) -> Path:
    """Trace the student of ``model`` (training front end included) to TorchScript: waveform (B, T) -> logits
    (window embedders: window (B, S) -> embedding (B, d), as :class:`StudentGraph`).

    Tracing records the operators, not the example's length, so other clip lengths and batch sizes run (the
    parity test checks a 10 s clip through a graph traced on 1 s); a window embedder's graph keeps its window.
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
