"""Decoded-audio cache: every clip of a split, resampled and cut to length once, kept on disk as int16.

A data module that decodes a corpus up front must not hold it in RAM: SONYC-UST v2.3 at 16 kHz is 18510 clips x
160000 samples = 12 GB of float32. Here the decoded clips go to one ``(N, T)`` int16 ``.npy`` file, written once
and read back through a read-only memory map, so a process's own (anonymous) memory no longer grows with the
corpus: the pages read stay in the kernel's page cache, which the kernel drops under pressure.

Why int16 loses nothing: a 16-bit PCM file decodes to ``k / 32768`` for integer ``k``, so when no resampling is
needed the int16 sample *is* the source sample (bit-exact round trip). After resampling, rounding to the int16
grid adds an error of at most half a step (``1 / 65536`` = 1.5e-5), the size of the quantisation noise the 16-bit
source already carries (about -101 dBFS), far below what a log-mel front end resolves. Samples that resampling
pushes past full scale are clipped to ``[-1, 32767 / 32768]``; only recordings already at full scale have them.
float16 would be worse for loud audio (11-bit mantissa: 5e-4 relative error near full scale).

The file name carries a key of everything the content depends on: each clip's name, byte size and modification
time (ns), the sample rate, the clip length and :data:`CACHE_FORMAT`. A changed or replaced file, or another rate
or length, gives another key and so a rebuild; a stale file is never read. Files are written to a temporary name
and moved into place with ``os.replace``, so an interrupted build leaves no half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

CACHE_FORMAT = 1
"""Bump when the stored layout or the decoding pipeline changes, so old caches are not read."""
FULL_SCALE = 32768.0
"""int16 step: a 16-bit PCM sample ``k`` decodes to ``k / 32768``."""


def cache_key(paths: list[Path], sample_rate: int, num_samples: int) -> str:
    """A 20-hex-digit key of the clips (name, size, mtime in ns), the rate and the length.

    ``stat`` instead of a content hash: hashing gigabytes of audio on every ``setup`` would cost as much as
    decoding it; a rewritten file changes its modification time (and usually its size).
    """
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "rate": sample_rate, "samples": num_samples}).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def to_int16(waveforms: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1) to the int16 grid (round to nearest, clip at full scale), any shape."""
    return np.clip(np.rint(waveforms * FULL_SCALE), -32768, 32767).astype(np.int16)


class WaveformCache:
    """Read side of a cache file: ``cache[i]`` is clip ``i`` as a float32 tensor ``(T,)``.

    The memory map is opened on first access in each process and dropped when pickled, so DataLoader workers
    (fork or spawn) receive only the path and open their own map.
    """

    def __init__(self, path: str | Path, shape: tuple[int, int]) -> None:
        self.path = Path(path)
        self.shape = shape
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(self.array[index].astype(np.float32) / np.float32(FULL_SCALE))

    @property
    def array(self) -> np.ndarray:
        """The ``(N, T)`` int16 read-only memory map."""
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict:
        return {"path": self.path, "shape": self.shape, "_array": None}


def open_cache(path: str | Path, shape: tuple[int, int]) -> WaveformCache | None:
    """The cache at ``path`` if it exists and holds an ``(N, T)`` int16 array of ``shape``, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError):  # not a .npy file (e.g. cut short by a full disk): rebuild it
        return None
    if array.shape != tuple(shape) or array.dtype != np.int16:
        return None
    return WaveformCache(path, shape)


def build_cache(
    path: str | Path, shape: tuple[int, int], fill: Callable[[Callable[[list[int], np.ndarray], None]], None]
) -> WaveformCache:
    """Write a cache atomically: ``fill(store)`` calls ``store(indices, waveforms (len(indices), T) float)``.

    The array is written through a memory map to a temporary file next to ``path`` and moved into place only
    after ``fill`` returns, so memory stays bounded by what ``fill`` holds; if ``fill`` raises (e.g. a bad audio
    file), the temporary file is removed and nothing is left at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npy")
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int16, shape=tuple(shape))

        def store(indices: list[int], waveforms: np.ndarray) -> None:
            array[indices] = to_int16(waveforms)

        fill(store)
        array.flush()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return WaveformCache(path, shape)


__all__ = ["CACHE_FORMAT", "WaveformCache", "build_cache", "cache_key", "open_cache", "to_int16"]
