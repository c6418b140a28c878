"""The edge: the student alone, exported (ONNX, TorchScript), quantised to static int8, and profiled.

* :mod:`kdzoo.edge.export`: student -> ONNX / TorchScript graph (waveform in, logits out), with a front end
  written in real arithmetic so that ONNX can hold it; parity helpers.
* :mod:`kdzoo.edge.quantise`: static int8 post-training quantisation (ONNX Runtime, QDQ) from calibration clips.
* :mod:`kdzoo.edge.profile`: parameters, MACs per second of audio, peak activation memory, flash, latency.
* :mod:`kdzoo.edge.budget`: a recipe's ``budget:`` checked against that profile before training.

Data flows one way: this package reads models (and data modules for calibration), never the CLI.
"""

from __future__ import annotations

from kdzoo.edge.export import (
    ExportableLogMel,
    StudentGraph,
    export_onnx,
    export_torchscript,
    onnx_session,
    run_onnx,
    student_of,
)

__all__ = [
    "ExportableLogMel",
    "StudentGraph",
    "export_onnx",
    "export_torchscript",
    "onnx_session",
    "run_onnx",
    "student_of",
]
