"""L3-Net / OpenL3 audio (the SEA teacher) and the SEA students (EdgeL3), one concept per module:

* ``frontend``: :class:`KapreMel`, the kapre-0.1.4 dB mel front end both use;
* ``network``: :class:`L3ConvNet`, :class:`L3Audio` (``l3_audio``), :class:`SEAStudent` (``sea_student_0..3``);
* ``h5``: OpenL3 / EdgeL3 Keras ``.h5`` weights read with h5py (no TensorFlow).
"""

from kdzoo.models.l3 import frontend, h5, network
from kdzoo.models.l3.frontend import KapreMel, mel_filterbank, same_padding
from kdzoo.models.l3.h5 import load_l3_weights, read_keras_layers
from kdzoo.models.l3.network import (
    SEA_FILTERS,
    L3Audio,
    L3ConvNet,
    SEAStudent,
    l3_audio,
    sea_student_0,
    sea_student_1,
    sea_student_2,
    sea_student_3,
)

__all__ = [
    "SEA_FILTERS",
    "KapreMel",
    "L3Audio",
    "L3ConvNet",
    "SEAStudent",
    "frontend",
    "h5",
    "l3_audio",
    "load_l3_weights",
    "mel_filterbank",
    "network",
    "read_keras_layers",
    "same_padding",
    "sea_student_0",
    "sea_student_1",
    "sea_student_2",
    "sea_student_3",
]
