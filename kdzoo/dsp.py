"""Signal operations on waveform tensors ``(..., T)`` that both the data layer and the Distiller use.

Lives below ``data/`` and ``distill/`` so that resampling a batch for a model at another rate does not make the
Distiller import the data package.
"""

from __future__ import annotations

import torchaudio.functional
from torch import Tensor


def resample(waveform: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """Band-limited (sinc) resampling of waveform (..., T) from ``orig_rate`` to ``new_rate`` Hz.

    A thin wrapper over ``torchaudio.functional.resample`` that checks the rates and skips the work when they
    match. Output length is ``ceil(T * new_rate / orig_rate)``.
    """
    for name, rate in (("orig_rate", orig_rate), ("new_rate", new_rate)):
        if int(rate) != rate or rate <= 0:
            raise ValueError(f"{name} must be a positive integer number of Hz, got {rate!r}")
    if orig_rate == new_rate:
        return waveform
    return torchaudio.functional.resample(waveform, int(orig_rate), int(new_rate))
