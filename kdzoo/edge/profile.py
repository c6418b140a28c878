"""The edge report of a student: what it costs to run 1 s of audio on a small device.

Numbers (all for 1 s of audio at the student's sample rate, batch 1; :class:`EdgeProfile`). A window
embedder (SEA's ``sea_student_*``) is profiled on what its graph does, one 1 s window -> one embedding: the
numbers are per window, i.e. per second of audio embedded with a 1 s hop (x10 at the paper's 0.1 s hop).

* ``params``: trainable parameters of the student (front end has none).
* ``macs``: multiply-accumulates of the network (log-mel in, logits out), counted by fvcore's
  ``FlopCountAnalysis`` (one fvcore "flop" is one MAC) over convolutions, linear layers and matrix products.
  Checked against a hand count on a small CNN (``tests/test_edge.py``), where fvcore was the counter that got
  it exactly once norms are dropped: torchinfo and ptflops also count bias additions (and ptflops every
  element-wise op), fvcore counts batch norm as work though export folds it into the convolution. Two things
  fvcore does not do are added here: norms and pooling are left out (element-wise, not MACs; batch norm is
  folded away at export) and RNN cells, which fvcore skips with a warning, are counted by their formula
  ``gates x hidden x (input + hidden)`` per step and direction (:func:`rnn_macs`).
* ``frontend_macs``: the log-mel front end, counted separately and by formula (:func:`frontend_macs`): window
  ``n_fft``, a radix-2 real FFT ``n_fft log2(n_fft)``, power ``2 (n_fft/2 + 1)`` and the mel bank as the
  exported graph applies it, by its two slopes (:mod:`kdzoo.edge.melbank`): ``2 (n_fft/2 + 1)`` per frame (a
  dense matrix would be ``(n_fft/2 + 1) n_mels``). An estimate of an FFT, not a measurement of one library.
* ``activation_kb_fp32`` / ``activation_kb_int8``: peak activation memory of the network, the largest set of
  tensors alive at once when the ONNX graph runs node by node in its order (:func:`peak_activation_bytes`).
  Own code, because none of the counters above reports liveness (torchinfo sums every layer's output, which
  is the memory of keeping all of them, not the peak). Weights are not activations (they are flash).
* ``flash_kb_int8`` / ``flash_kb_fp32``: bytes of the network's stored weights in the int8 (QDQ: int8 weights,
  int32 biases, scales, zero points; float where ONNX Runtime leaves float, e.g. LSTM cells) and fp32 graphs.
  ``frontend_kb``: the front end's constants (window, the mel bank's two-slope tables) beside them.
* ``latency_ms_fp32`` / ``latency_ms_int8``: median wall time of ONNX Runtime on one CPU thread for the whole
  student (front end included) on 1 s of audio, over ``runs`` runs after ``warmup`` runs.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from kdzoo.edge.export import (
    StudentGraph,
    example_input,
    export_onnx,
    input_samples,
    is_window_embedder,
    onnx_session,
    student_of,
    training_features,
)
from kdzoo.edge.quantise import quantise_static

NOT_MACS = ("aten::batch_norm", "aten::group_norm", "aten::layer_norm", "aten::instance_norm",
            "aten::adaptive_avg_pool2d", "aten::upsample_nearest2d", "aten::upsample_bilinear2d",
            "aten::grid_sampler")
"""fvcore's default handles that count element-wise work; not MACs (norms fold into convolutions at export)."""
VIEWS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
"""Operators whose output is a view of their input (no memory of its own)."""
IN_PLACE = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh")
"""Element-wise activations a runtime fuses into the producer or runs in place when nothing else reads the input."""
RNN_GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}
BYTES = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.INT8: 1, onnx.TensorProto.UINT8: 1,
         onnx.TensorProto.INT32: 4, onnx.TensorProto.INT64: 8, onnx.TensorProto.FLOAT16: 2,
         onnx.TensorProto.BOOL: 1, onnx.TensorProto.DOUBLE: 8}


@dataclass
class EdgeProfile:
    """The edge report of one student, for 1 s of audio (see the module docstring for each field)."""

    params: int
    macs: int
    frontend_macs: int
    activation_kb_fp32: float
    activation_kb_int8: float
    flash_kb_fp32: float
    flash_kb_int8: float
    frontend_kb: float
    int8_weight_share: float
    latency_ms_fp32: float | None = None
    latency_ms_int8: float | None = None
    latency_runs: int = 0

    def row(self) -> dict:
        return asdict(self)


# --- MACs -----------------------------------------------------------------------------------------------------


def rnn_macs(module: nn.Module, steps: int) -> int:
    """MACs of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` over ``steps`` time steps (batch 1): per layer and direction
    ``gates * hidden * (input + hidden)`` a step (the input and recurrent matrix products)."""
    gates = next(g for kind, g in RNN_GATES.items() if isinstance(module, kind))
    directions = 2 if module.bidirectional else 1
    total, width = 0, module.input_size
    for _ in range(module.num_layers):
        total += directions * gates * module.hidden_size * (width + module.hidden_size) * steps
        width = directions * module.hidden_size
    return total


def count_macs(model: nn.Module, inputs: Tensor) -> int:
    """MACs of ``model(inputs)`` (batch 1): fvcore for convolutions/linear/matmul, :func:`rnn_macs` for RNNs."""
    from fvcore.nn import FlopCountAnalysis

    steps: list[tuple[nn.Module, int]] = []
    hooks = [m.register_forward_hook(lambda mod, args, out: steps.append((mod, _steps(mod, args[0]))))
             for m in model.modules() if isinstance(m, tuple(RNN_GATES))]
    try:
        analysis = FlopCountAnalysis(model, (inputs,))
        # a zero handle: fvcore 0.1.5's set_op_handle(name, None) keeps a default handle that is already set
        analysis.set_op_handle(**dict.fromkeys(NOT_MACS, _no_macs))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dense = int(analysis.total())
    finally:
        for hook in hooks:
            hook.remove()
    seen = {id(m): n for m, n in steps}  # fvcore traces once; one count per module
    by_id = {id(m): m for m, _ in steps}
    return dense + sum(rnn_macs(by_id[i], n) for i, n in seen.items())


def _no_macs(inputs: list, outputs: list) -> int:
    return 0


def _steps(module: nn.Module, inputs: Tensor) -> int:
    return int(inputs.shape[1] if module.batch_first else inputs.shape[0])


def frontend_macs(student: nn.Module, seconds: float = 1.0) -> int:
    """MACs of the log-mel front end for ``seconds`` of audio (a window embedder: one window), by formula (see
    the module docstring)."""
    frontend = student.frontend.spectrogram if is_window_embedder(student) else student.frontend
    n_fft = frontend.n_fft
    frames = frontend.num_frames(input_samples(student, seconds))
    bins = n_fft // 2 + 1
    per_frame = n_fft + round(n_fft * math.log2(n_fft)) + 2 * bins + 2 * bins  # window, FFT, power, two slopes
    return frames * per_frame


# --- memory ---------------------------------------------------------------------------------------------------


def _tensor_bytes(value: onnx.ValueInfoProto) -> int | None:
    kind = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim]
    if any(d is None for d in dims):
        return None
    return int(np.prod(dims, dtype=np.int64)) * BYTES.get(kind.elem_type, 4)


def peak_activation_bytes(path: str | Path) -> int:
    """Largest total size of activation tensors alive at once when the graph's nodes run in order.

    A tensor lives from the node that makes it to the last node that reads it (graph outputs to the end);
    while a node runs, its inputs and outputs are all alive. Weights (initializers, constants) are flash,
    not activations. Views (reshapes) and element-wise activations whose input nothing else reads share their
    input's memory (runtimes fuse them into the producing kernel). A QDQ graph is counted as the int8 kernels
    it stands for: a DequantizeLinear output is the int8 tensor it reads (no memory of its own), and a float
    tensor read only by QuantizeLinear is fused into the node that makes it (no memory); so the int8 input
    is the front end's output already quantised. Needs static shapes (export with ``dynamic=False``).

    Raises:
        ValueError: a tensor's shape is not static.
    """
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True)
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    for node in graph.node:  # constants and weight dequantisation feed on weights only: flash, not RAM
        if node.op_type == "Constant" or (node.input and all(i in weights or not i for i in node.input)):
            weights.update(node.output)
    sizes = {v.name: _tensor_bytes(v) for v in [*graph.input, *graph.value_info, *graph.output]}
    outputs = {v.name for v in graph.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    alias: dict[str, str] = {}
    for node in graph.node:
        source = node.input[0] if node.input else ""
        if source in weights or not source:
            continue
        dequantise = node.op_type == "DequantizeLinear"
        in_place = node.op_type in IN_PLACE and len(consumers[source]) == 1 and source not in outputs
        if dequantise or node.op_type in VIEWS or in_place:
            alias[node.output[0]] = alias.get(source, source)

    def size(name: str) -> int:
        if name in weights or name in alias or not name:
            return 0
        readers = consumers.get(name, [])
        if readers and name not in outputs and all(n.op_type == "QuantizeLinear" for n in readers):
            return 0
        if sizes.get(name) is None:
            raise ValueError(f"{path}: tensor {name!r} has no static shape; export with dynamic=False")
        return sizes[name]

    last_use = {}
    for step, node in enumerate(graph.node):
        for name in node.input:
            last_use[alias.get(name, name)] = step
    for name in outputs:
        last_use[alias.get(name, name)] = len(graph.node)
    live = {v.name: size(v.name) for v in graph.input if v.name not in weights}
    peak = sum(live.values())
    for step, node in enumerate(graph.node):
        for name in node.output:
            live[name] = size(name)
        peak = max(peak, sum(live.values()))
        for name in [n for n in live if last_use.get(n, -1) <= step]:
            del live[name]
    return peak


def weight_bytes(path: str | Path) -> int:
    """Bytes of all stored tensors of a graph (initializers and constant nodes), each in its own dtype."""
    model = onnx.load(str(path))
    tensors = [*model.graph.initializer,
               *(a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value")]
    return sum(int(np.prod(t.dims, dtype=np.int64)) * BYTES.get(t.data_type, 4) for t in tensors)


def int8_share(path: str | Path) -> float:
    """Share of the graph's stored weight elements (initializers) that are 8-bit integers."""
    tensors = onnx.load(str(path)).graph.initializer
    total = sum(int(np.prod(t.dims, dtype=np.int64)) for t in tensors)
    small = sum(int(np.prod(t.dims, dtype=np.int64)) for t in tensors
                if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))
    return small / total if total else 0.0


# --- latency --------------------------------------------------------------------------------------------------


def latency_ms(path: str | Path, inputs: Tensor, runs: int = 50, warmup: int = 5) -> float:
    """Median wall time in ms of one ONNX Runtime run on one CPU thread, over ``runs`` runs after ``warmup``."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    session = onnx_session(path, threads=1)
    feed = {session.get_inputs()[0].name: inputs.detach().cpu().numpy().astype(np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


# --- the report -----------------------------------------------------------------------------------------------


def profile_student(model: nn.Module, calibration: list[Tensor] | None = None, runs: int = 50,
                    latency: bool = True, seconds: float = 1.0) -> EdgeProfile:
    """The :class:`EdgeProfile` of the student of ``model`` for ``seconds`` (default 1) of audio.

    A window embedder (SEA students) is profiled on one 1 s window -> one embedding: its numbers are per window
    (multiply MACs and latency by 1 / hop for a stream embedded every hop, e.g. x10 at SEA's 0.1 s).

    Args:
        model: a student or a Distiller.
        calibration: waveforms (T,) for int8 calibration. Sizes, memory and latency do not depend on it
            (activation scales are scalars), so by default 8 clips of noise are used; an int8 *accuracy* needs
            train clips (:func:`~kdzoo.edge.quantise.calibration_clips`).
        runs: latency runs (>= 50 for the reported median).
        latency: measure latency (``False``: sizes only, e.g. for a budget check).
    """
    student = student_of(model).eval()
    waveform = example_input(student, "all", seconds)
    clips = calibration or [c for c in 0.1 * torch.randn(8, waveform.shape[1], generator=torch.Generator()
                                                          .manual_seed(1))]
    with torch.no_grad():
        mels = [training_features(student, c[None])[0] for c in clips]
        macs = count_macs(StudentGraph(student, "network"), example_input(student, "network", seconds))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        network = export_onnx(student, tmp / "network.onnx", "network", seconds, dynamic=False)
        network8 = quantise_static(network, tmp / "network.int8.onnx", mels)
        frontend = export_onnx(student, tmp / "frontend.onnx", "frontend", seconds, dynamic=False)
        report = EdgeProfile(
            params=sum(p.numel() for p in student.parameters() if p.requires_grad),
            macs=macs,
            frontend_macs=frontend_macs(student, seconds),
            activation_kb_fp32=peak_activation_bytes(network) / 1024,
            activation_kb_int8=peak_activation_bytes(network8) / 1024,
            flash_kb_fp32=weight_bytes(network) / 1024,
            flash_kb_int8=weight_bytes(network8) / 1024,
            frontend_kb=weight_bytes(frontend) / 1024,
            int8_weight_share=int8_share(network8),
        )
        if latency:
            whole = export_onnx(student, tmp / "student.onnx", "all", seconds)
            whole8 = quantise_static(whole, tmp / "student.int8.onnx", clips)
            report.latency_ms_fp32 = latency_ms(whole, waveform, runs)
            report.latency_ms_int8 = latency_ms(whole8, waveform, runs)
            report.latency_runs = runs
    return report


def op_counts(path: str | Path) -> Counter:
    """How many nodes of each operator type a graph has (e.g. to see what int8 left in float)."""
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)
