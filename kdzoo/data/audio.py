"""Audio I/O: read a file into a mono float32 waveform at a chosen rate and length, or say exactly why not.

Every data module decodes through :func:`load_audio`, so a bad clip fails the same way everywhere: a
``FileNotFoundError`` for a missing path and a ``ValueError`` that names the file and the problem (unreadable,
truncated, empty, NaN/inf samples, too short). Silence is valid audio. The helpers :func:`resample` and
:func:`fit_length` work on any leading shape ``(..., T)`` so the Distiller can reuse them on batches ``(B, T)``.
Nothing is cached at module level, so everything here pickles into DataLoader workers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from torch import Tensor

from kdzoo.dsp import resample

_RIFF_UNKNOWN_SIZE = 0xFFFFFFFF
"""A RIFF chunk size streaming writers put in the header when they do not know the length yet."""


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    num_samples: int | None = None,
    min_seconds: float = 0.0,
) -> tuple[Tensor, int]:
    """Decode ``path`` into a mono waveform (T,) float32, optionally resampled and cut/padded.

    Args:
        path: any file soundfile (libsndfile) reads: WAV, FLAC, OGG, ...
        sample_rate: target rate in Hz; ``None`` keeps the file's rate.
        num_samples: if given, zero-pad at the end or crop from the start to exactly this many samples
            (counted at the returned rate).
        min_seconds: reject files shorter than this (measured before padding).

    Returns:
        ``(waveform, rate)``: waveform (T,) float32, channels averaged; rate in Hz.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is unreadable or truncated, holds no samples, has NaN/inf samples, or is
            shorter than ``min_seconds``.
    """
    path = Path(path)
    samples, rate = read_audio(path)
    check_duration(path, samples.shape[0], rate, min_seconds)
    waveform = to_mono(torch.from_numpy(samples))
    if sample_rate is not None and sample_rate != rate:
        waveform, rate = resample(waveform, rate, sample_rate), sample_rate
    if num_samples is not None:
        waveform = fit_length(waveform, num_samples)
    return waveform.contiguous(), rate


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read every sample of ``path`` as float32 (T, C), checking it is complete, non-empty and finite."""
    path = Path(path)
    probe_audio(path)
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.SoundFileError as error:
        raise ValueError(f"{path}: cannot decode audio ({error}); the file is corrupt, re-download it") from error
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise ValueError(f"{path}: {bad} of {samples.size} samples are NaN or inf; the file is corrupt, replace it")
    return samples, int(rate)


def probe_audio(path: str | Path, min_seconds: float = 0.0) -> tuple[int, int]:
    """Check a file from its header alone (exists, readable, not truncated, non-empty, long enough).

    Cheap: nothing is decoded, so NaN samples are only found by :func:`read_audio`. Used to validate a whole
    corpus without loading it into memory.

    Returns:
        ``(frames, sample_rate)`` from the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        info = sf.info(path)
    except sf.SoundFileError as error:
        raise ValueError(f"{path}: not a readable audio file ({error}); the file is corrupt, re-download it") from error
    _check_riff_complete(path)
    check_duration(path, info.frames, info.samplerate, min_seconds)
    return info.frames, info.samplerate


def check_duration(path: Path, frames: int, rate: int, min_seconds: float) -> None:
    """Raise if the clip has no samples or lasts less than ``min_seconds``."""
    if frames == 0:
        raise ValueError(f"{path}: the file holds no audio samples (0 frames); replace it")
    seconds = frames / rate
    if seconds < min_seconds:
        raise ValueError(
            f"{path}: audio is {seconds:.3f} s long ({frames} samples at {rate} Hz), shorter than the minimum "
            f"{min_seconds:g} s; replace the file or lower min_seconds"
        )


def _check_riff_complete(path: Path) -> None:
    """Raise if a WAV header declares more audio data than the file holds.

    libsndfile silently reads only the bytes present in a cut-off WAV, so an interrupted download would
    otherwise load as a shorter clip. Non-RIFF formats and streaming headers (unknown size) are skipped.
    """
    declared, available = _riff_data_sizes(path)
    if declared is not None and declared > available:
        raise ValueError(
            f"{path}: truncated WAV: the header declares {declared} bytes of audio but only {available} are "
            "present; the download or copy was interrupted, fetch the file again"
        )


def _riff_data_sizes(path: Path) -> tuple[int | None, int]:
    """(declared, available) byte counts of a WAV's ``data`` chunk; declared is None if not applicable."""
    file_size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None, file_size
        offset = 12
        while offset + 8 <= file_size:
            handle.seek(offset)
            chunk_id, size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                known = size not in (0, _RIFF_UNKNOWN_SIZE)
                return (size if known else None), file_size - offset - 8
            offset += 8 + size + (size % 2)  # chunks are padded to an even length
    return None, file_size


def to_mono(samples: Tensor) -> Tensor:
    """Average the channels of (T, C) samples into a (T,) waveform (a plain mean: no channel is favoured)."""
    if samples.dim() == 1:
        return samples
    return samples[:, 0] if samples.shape[1] == 1 else samples.mean(dim=1)


def fit_length(waveform: Tensor, num_samples: int) -> Tensor:
    """Crop (keeping the start) or zero-pad (at the end) waveform (..., T) to (..., num_samples)."""
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    length = waveform.shape[-1]
    if length >= num_samples:
        return waveform[..., :num_samples]
    return F.pad(waveform, (0, num_samples - length))


__all__ = ["check_duration", "fit_length", "load_audio", "probe_audio", "read_audio", "resample", "to_mono"]
