"""Load OpenL3 / EdgeL3 Keras ``.h5`` weights into :class:`~kdzoo.models.l3.network.L3ConvNet` with h5py only.

No L3 weights can be downloaded here (the openl3 / edgel3 packages fetch them at install time); a user who has
``openl3_audio_mel256_env.h5`` or an EdgeL3 ``.h5`` passes its path. The reader needs no TensorFlow: a Keras
weight file (``save_weights``, or ``model.save`` with the layers under ``model_weights/``) stores one group per
layer with datasets ``<layer>/<weight>:0``. The audio network's layers keep Keras' default names: the input
``batch_normalization_1``, then ``conv2d_1`` ... ``conv2d_7`` each followed by a ``batch_normalization_*``,
and the last conv ``audio_embedding_layer`` (plus one more BN in the SEA students). Layers are matched by kind
and Keras' numbering (``conv2d_3`` before ``conv2d_12``; ``audio_embedding_layer`` last), not by the exact
counter, which depends on what else the Keras session had built; the kapre mel layer holds no trained weights
and is skipped. Every shape is checked and a mismatch names the file and the layer.

Keras conv kernels are (kh, kw, in, out) over (freq, time) maps, i.e. PyTorch's (out, in, kh, kw) transposed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

CONV_LAST = "audio_embedding_layer"
BN_WEIGHTS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def read_keras_layers(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {weight name: array}}`` of every dataset in a Keras weight file (``kernel``, ``bias``,
    ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``; the ``:0`` suffix dropped)."""
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is in the yamnet/test extras
        raise ImportError("reading Keras .h5 weights needs h5py: pip install 'kdzoo[yamnet]'") from error
    layers: dict[str, dict[str, np.ndarray]] = {}

    def collect(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            parts = name.split("/")
            if len(parts) >= 2:
                layers.setdefault(parts[-2], {})[parts[-1].split(":")[0]] = np.asarray(item)

    with h5py.File(path, "r") as handle:
        handle.visititems(collect)
    return layers


def _order(name: str) -> tuple[int, int]:
    """Sort key: Keras' numbering (``conv2d`` = 0, ``conv2d_7`` = 7), ``audio_embedding_layer`` last."""
    if name == CONV_LAST:
        return (1, 0)
    match = re.search(r"_(\d+)$", name)
    return (0, int(match.group(1)) if match else 0)


def keras_to_state_dict(layers: dict[str, dict[str, np.ndarray]], network: nn.Module, path: str | Path) -> dict:
    """Match Keras conv/BN layers to ``network.conv_layers()`` / ``norm_layers()`` in order -> a state dict."""
    convs = sorted((n for n, w in layers.items() if "kernel" in w and w["kernel"].ndim == 4), key=_order)
    norms = sorted((n for n, w in layers.items() if "moving_mean" in w), key=_order)
    modules = dict((id(m), name) for name, m in network.named_modules())
    targets = [(network.conv_layers(), convs, "conv"), (network.norm_layers(), norms, "batch-norm")]
    state: dict[str, torch.Tensor] = {}
    for wanted, found, kind in targets:
        if len(found) != len(wanted):
            raise ValueError(f"{path}: {len(found)} {kind} layers ({', '.join(found)}), this network needs "
                             f"{len(wanted)}; is it the right L3 / SEA model (size, embedding)?")
        for module, keras_name in zip(wanted, found, strict=True):
            prefix = modules[id(module)]
            if kind == "conv":
                weights = layers[keras_name]
                pairs = {"weight": weights["kernel"].transpose(3, 2, 0, 1), "bias": weights["bias"]}
            else:
                pairs = {ours: layers[keras_name][theirs] for theirs, ours in BN_WEIGHTS.items()}
            for key, value in pairs.items():
                expected = tuple(getattr(module, key).shape)
                if tuple(value.shape) != expected:
                    raise ValueError(f"{path}: layer {keras_name} {key} has shape {tuple(value.shape)}, "
                                     f"expected {expected}")
                state[f"{prefix}.{key}"] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    return state


def load_l3_weights(network: nn.Module, weights: str | Path) -> None:
    """Load ``weights`` (a Keras ``.h5``, or a kdzoo ``.pt`` of the network or of its model) into ``network``."""
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"L3 / SEA weights {path} not found; no L3 weights can be downloaded by kdzoo: "
                                f"pass an OpenL3 / EdgeL3 .h5 you have, or a kdzoo .pt")
    if path.suffix.lower() in (".h5", ".hdf5"):
        state = keras_to_state_dict(read_keras_layers(path), network, path)
        missing = network.load_state_dict(state, strict=False).missing_keys
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing:
            raise ValueError(f"{path}: no weights for {missing[:4]}")
        return
    from kdzoo.models.teacher import load_state_dict

    state = load_state_dict(path)
    if any(k.startswith("network.") for k in state):
        state = {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}
    network.load_state_dict(state)
