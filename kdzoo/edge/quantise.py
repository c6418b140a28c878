"""Static int8 post-training quantisation of an exported student with ONNX Runtime (QDQ format).

Static, not dynamic: dynamic int8 quantises only the weights of MatMul/Gemm/RNN layers at run time and leaves
every convolution in float, which is no int8 CNN at all. Static quantisation fixes the scale of every
activation from calibration clips (a subset of the train split, never the test split), quantises weights per
output channel (symmetric int8) and activations per tensor (int8), and writes a QDQ graph: the
QuantizeLinear/DequantizeLinear pairs ONNX Runtime (and TFLite-style converters) turn into int8 kernels.

What stays float, and why: the front end (nodes named under ``/frontend/``: an int8 power spectrum has no room
for the quiet bands of a 100 dB range; on a device it is DSP code anyway), and whatever ONNX Runtime's static
QDQ quantiser does not quantise (LSTM and GRU cells run in float; their weights are counted at 4 bytes in the
flash size).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx
from torch import Tensor, nn

from kdzoo.dsp import resample
from kdzoo.edge.export import FRONTEND_SCOPE, is_window_embedder
from kdzoo.models.window import frame_windows

log = logging.getLogger(__name__)


class _Clips:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over arrays: ``get_next() -> {input: (1, ...)} | None``."""

    def __init__(self, input_name: str, clips: Iterable[np.ndarray]) -> None:
        self.input_name = input_name
        self._items: Iterator[np.ndarray] = iter(clips)

    def get_next(self) -> dict[str, np.ndarray] | None:
        clip = next(self._items, None)
        return None if clip is None else {self.input_name: np.asarray(clip, dtype=np.float32)[None]}


def frontend_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes of the student's front end (left in float by :func:`quantise_static`)."""
    return [node.name for node in model.graph.node if node.name.startswith(FRONTEND_SCOPE)]


def quantise_static(fp32_path: str | Path, int8_path: str | Path, calibration: Iterable[np.ndarray | Tensor],
                    per_channel: bool = True) -> Path:
    """Write a static int8 (QDQ) copy of an exported student graph.

    Args:
        fp32_path: an ONNX graph from :func:`~kdzoo.edge.export.export_onnx` (any part).
        int8_path: where the int8 graph goes.
        calibration: inputs of the graph one clip at a time, without the batch axis: waveforms (T,) for the
            ``all`` part, log-mels (1, n_mels, F) for ``network``; e.g. :func:`calibration_clips`.
        per_channel: per-output-channel weight scales (``False``: one scale per tensor).

    Raises:
        ValueError: no calibration clip was given.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    clips = [c.detach().cpu().numpy() if isinstance(c, Tensor) else np.asarray(c) for c in calibration]
    if not clips:
        raise ValueError("quantise_static: calibration is empty; give at least one clip of the train split")
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"  # shapes inferred, graph simplified: what the quantiser expects
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        quantize_static(
            str(prepared), str(int8_path), _Clips(model.graph.input[0].name, clips),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=frontend_nodes(model), extra_options={"ActivationSymmetric": False},
        )
    return int8_path


def calibration_clips(datamodule, count: int, student: nn.Module | None = None) -> list[Tensor]:
    """The first ``count`` clips (T,) of ``datamodule``'s train loader: a random subset of the train split, fixed
    by the data module's own seed (the loader shuffles with it).

    With a window embedder as ``student`` (SEA), the inputs of its graph instead: each clip resampled to the
    student's rate and cut into 1 s windows (S,) with a 1 s hop, the first ``count`` windows.

    Raises:
        ValueError: ``count`` < 1, or the train split has fewer clips (windows).
    """
    if count < 1:
        raise ValueError(f"--calibration must be >= 1, got {count}")
    windows = student is not None and is_window_embedder(student)
    clips: list[Tensor] = []
    for batch in datamodule.train_dataloader():
        waveform = batch.waveform
        if windows:
            waveform = resample(waveform, batch.sample_rate, student.sample_rate)
            seconds = student.frontend.window_s
            waveform = frame_windows(waveform, student.sample_rate, seconds, seconds, center=False).flatten(0, 1)
        clips.extend(waveform[: count - len(clips)])
        if len(clips) >= count:
            return clips
    unit = "windows" if windows else "clips"
    raise ValueError(f"--calibration {count}: the train split has only {len(clips)} {unit}")


def quantised_fraction(int8_path: str | Path) -> float:
    """Share of the graph's weight elements stored as 8-bit integers (1.0: every weight is int8)."""
    model = onnx.load(str(int8_path))
    int8 = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    total = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    small = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type in int8)
    return small / total if total else 0.0
