"""The teacher-output store: a frozen teacher's outputs for every clip, computed once, memory-mapped from disk.

Why it lives in ``kdzoo/distill``: what it holds is decided by the KD method (``method.needs``), it is filled
from the data module the Distiller trains on and read by the Distiller's step, and it is keyed by a
:class:`~kdzoo.models.teacher.FrozenTeacher`'s identity. That is a distillation concern which reads data and
models, so it sits above both (data -> models -> distill); ``models/teacher.py`` stays a pure inference
wrapper and the CLI only calls :meth:`Distiller.fill_teacher_store`.

Layout (one folder per key, default ``checkpoints/cache/teacher-store/<key>/``, git-ignored)::

    manifest.json            the key (teacher class, weights sha256, front-end config, fields, dtype,
                             augmentation "none", data-module settings), per split: clip count, audio
                             shape, complete or not
    <split>/clips.json       row -> clip id (null: row not filled yet); rewritten atomically after each batch
    <split>/<field>.npy      (N, ...) one array per stored ModelOutput field, float16 or float32
    <split>/fingerprint.npy  (N, 2) float64 mean and RMS of each clip's waveform as the Distiller saw it

Format: numpy ``.npy`` through ``np.lib.format.open_memmap``. It is numpy's own documented, versioned format
(NEP 1), needs no dependency beyond numpy, and, unlike safetensors (one write of a whole file), its arrays can
be memory-mapped *for writing* and filled row by row, which is what makes filling resumable without holding
the split in memory; readers map it read-only, so DDP ranks share one copy through the page cache.

Keys and refusals: a store is found by a digest of its key; opening a store folder whose manifest has another
key (other weights, front end, fields, dtype or data settings) raises :class:`StoreMismatchError` naming each
difference. Only un-augmented audio is supported: every read compares each clip's waveform fingerprint with
the stored one and refuses a clip whose audio differs (augmentation, or a corpus regenerated under the same
file names). A clip not in the store raises :class:`StoreMissingClipError` naming it; there is never a silent
live forward.

Atomicity and resume: rows are written into the memory maps, flushed, and only then recorded in
``clips.json`` (atomic rename), so a kill leaves at worst unrecorded rows, which a later fill recomputes; a
split is readable only once the manifest marks it complete (written last, atomically). Fills hold a file lock,
so two processes never fill one store at once.

float16: on the demo corpus (600 clips) the shipped demo teacher's logits (|x| < 7.4) differ from float32 by at
most 1.95e-3, and its micro-AUPRC computed from float16 logits differs from the float32 one by 2.5e-5 on
validate (1.9e-5 on train), well under the 1e-3 budget; so float16 is the default and ``cache_dtype="float32"``
stores exact values. A value that overflows float16 is refused.

Student features: the same class also stores a *student's* front-end output (field ``features``, e.g. the
(N, 1, n_mels, frames) log-mel), keyed by the front end's config instead of a teacher identity (see
:func:`features_key`, default folder ``checkpoints/cache/student-features/<key>/``), so a student with a fixed
front end trains from stored spectrograms (``Distiller(cache_student_features=True)``). Filling, resuming,
locking, the audio fingerprints and the refusals are the ones above. Default dtype float32 there (128 KB per
10 s clip of 64 x 501 log-mel): the per-step loss equals the one from audio to 1.3e-7 relative. float16 rounds
demo-corpus log-mel values (-42 to 43 dB) by at most 0.016 dB, yet shifts training: after 3 epochs of cnn_xs
on the demo corpus (seed 0) val micro-AUPRC 0.5494 vs 0.5479 and micro-F1 0.427 vs 0.485, so it is opt-in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from kdzoo.files import atomic_write_text
from kdzoo.types import Batch, ModelOutput

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_ROOT = Path("checkpoints/cache/teacher-store")
FEATURES_ROOT = Path("checkpoints/cache/student-features")
FEATURES = "features"
"""The one field of a student-feature store: the student front end's output per clip."""
DERIVED_FIELDS = ("temporal_attention",)
"""Per-clip targets a method derives from a teacher's outputs (``KDMethod.prepare_teacher``), kept in
``ModelOutput.extras``: ``temporal_attention`` (N, T_teacher) is Temporal KD's rollout of the classifier token over
the teacher's time steps, stored instead of the raw attentions (L x (H, N, N) per clip)."""
STORABLE_FIELDS = ("logits", "embedding", "frames", "feature_map", *DERIVED_FIELDS)
"""Tensor fields a store can hold; ``attentions`` are stored as the rollout target (see :data:`DERIVED_FIELDS`)."""
FINGERPRINT_RTOL = 1e-6


class StoreError(RuntimeError):
    """Base class of teacher-output store errors."""


class StoreMismatchError(StoreError):
    """The store on disk was filled for another key (teacher weights, front end, fields, dtype)."""


class StoreIncompleteError(StoreError):
    """The store's manifest does not mark the split complete (a fill was interrupted)."""


class StoreMissingClipError(StoreError):
    """A clip asked for is not in the store, or its audio differs from the audio the store was filled with."""


DATA_SETTINGS_IGNORED = frozenset({"batch_size", "num_workers", "workers", "preload", "seed", "prepare_data_per_node",
                                   "allow_zero_length_dataloader_with_multiple_devices"})
"""Data-module settings that change how clips are batched or loaded, not the clips: left out of the key."""


def data_config(datamodule: object | None) -> dict:
    """The data module's class and its scalar settings (paths resolved), minus :data:`DATA_SETTINGS_IGNORED`.

    Part of the key, so the default folder of a store differs per corpus (root, clip length, rate, level...);
    the per-clip audio fingerprints then guard what the settings cannot see (a corpus rewritten in place).
    """
    if datamodule is None:
        return {}
    settings = {}
    for name, value in vars(datamodule).items():
        if name.startswith("_") or name in DATA_SETTINGS_IGNORED:
            continue
        if isinstance(value, Path):
            settings[name] = str(value.resolve())
        elif isinstance(value, int | float | str | bool | None):
            settings[name] = value
    return {"class": f"{type(datamodule).__module__}.{type(datamodule).__qualname__}", **settings}


def store_key(identity: dict, fields: set[str] | frozenset[str], dtype: str, data: dict | None = None) -> dict:
    """The key of a store: the teacher's identity (see ``FrozenTeacher.identity``), fields, dtype and data.

    ``augmentation`` is always ``"none"``: only un-augmented audio is supported (checked clip by clip).
    """
    unknown = set(fields) - set(STORABLE_FIELDS)
    if unknown:
        raise ValueError(f"the teacher-output store can hold {list(STORABLE_FIELDS)}, not {sorted(unknown)}")
    if not fields:
        raise ValueError("a teacher-output store needs at least one field (the method's `needs` is empty)")
    return {**identity, "fields": sorted(fields), "dtype": dtype, "augmentation": "none", "data": data or {}}


def features_key(frontend: dict, sample_rate: int, dtype: str, data: dict | None = None) -> dict:
    """The key of a student-feature store: the front end's config (class and every scalar setting, see
    ``kdzoo.models.teacher.frontend_config``), its sample rate, dtype and data; augmentation ``"none"``."""
    return {"kind": "student-features", "frontend": frontend, "sample_rate": int(sample_rate), "fields": [FEATURES],
            "dtype": dtype, "augmentation": "none", "data": data or {}}


def key_digest(key: dict) -> str:
    """16 hex digits of the sha256 of the key's canonical JSON: the default folder name."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def key_differences(stored: dict, wanted: dict, prefix: str = "") -> list[str]:
    """Human-readable differences between two keys, e.g. ``weights_sha256: stored 3f2a... vs this teacher 9b1c...``."""
    lines = []
    for name in sorted(set(stored) | set(wanted)):
        a, b = stored.get(name), wanted.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += key_differences(a, b, f"{prefix}{name}.")
        elif a != b:
            lines.append(f"{prefix}{name}: stored {a!r} vs this run {b!r}")
    return lines


def fingerprint(waveform: Tensor) -> np.ndarray:
    """(B, 2) float64 mean and RMS of each clip of ``waveform`` (B, T): cheap, and changes with the audio."""
    wave = waveform.detach().double()
    return torch.stack([wave.mean(dim=-1), wave.pow(2).mean(dim=-1).sqrt()], dim=-1).cpu().numpy()


Outputs = ModelOutput | Mapping[str, Tensor]
"""What a fill's ``forward`` returns: a teacher's :class:`ModelOutput`, or ``{"features": tensor}``."""


class TeacherStore:
    """One store folder: create or check its manifest, fill it, and read outputs by clip id.

    Holds teacher outputs (:meth:`for_teacher`) or a student's front-end features (:meth:`for_student_features`).

    Args:
        path: the store's folder.
        key: from :func:`store_key`; a folder holding another key is refused.
    """

    def __init__(self, path: str | Path, key: dict) -> None:
        self.path = Path(path)
        self.key = key
        self.dtype = np.dtype(key["dtype"])
        self.fields = tuple(key["fields"])
        self.label = "student-feature store" if key.get("kind") == "student-features" else "teacher-output store"
        self._readers: dict[str, _SplitReader] = {}

    @classmethod
    def for_teacher(cls, identity: dict, fields: set[str] | frozenset[str], dtype: str = "float16",
                    path: str | Path | None = None, data: dict | None = None) -> TeacherStore:
        """The store for a teacher identity and data: at ``path`` if given, else ``DEFAULT_ROOT/<key digest>``."""
        key = store_key(identity, fields, dtype, data)
        return cls(Path(path) if path is not None else DEFAULT_ROOT / key_digest(key), key)

    @classmethod
    def for_student_features(cls, frontend: dict, sample_rate: int, dtype: str = "float16",
                             path: str | Path | None = None, data: dict | None = None) -> TeacherStore:
        """The store of a student front end's features: at ``path``, else ``FEATURES_ROOT/<key digest>``."""
        key = features_key(frontend, sample_rate, dtype, data)
        return cls(Path(path) if path is not None else FEATURES_ROOT / key_digest(key), key)

    # -- manifest ----------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict:
        """The manifest on disk after checking its key; a fresh one (not yet written) if there is none."""
        if not self.manifest_path.is_file():
            return {"format": FORMAT_VERSION, "key": self.key, "splits": {}}
        manifest = json.loads(self.manifest_path.read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise StoreMismatchError(
                f"{self.label} {self.path} has format {manifest.get('format')!r}, this kdzoo reads "
                f"{FORMAT_VERSION}; delete the folder (it is a cache) or pass another cache_dir"
            )
        differences = key_differences(manifest.get("key", {}), self.key)
        if differences:
            raise StoreMismatchError(
                f"{self.label} {self.path} was filled for another teacher, front end or method: "
                + "; ".join(differences[:8])
                + ". Delete the folder (it is a cache), or pass another cache_dir (the default folder is "
                "named after the key, so leaving cache_dir unset never mixes keys)"
            )
        return manifest

    def _write_manifest(self, manifest: dict) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))

    def is_complete(self, splits: list[str]) -> bool:
        splits_info = self.manifest()["splits"]
        return all(splits_info.get(split, {}).get("complete", False) for split in splits)

    # -- filling -----------------------------------------------------------------------------------------
    def fill(self, forward: Callable[[Batch], Outputs], loaders: dict[str, DataLoader],
             progress: bool = True) -> None:
        """Compute and store the outputs of every clip of each split not stored yet (resumable, locked).

        Args:
            forward: a batch -> the teacher's outputs for it (the Distiller's live teacher path), or
                ``{"features": ...}`` for a student-feature store.
            loaders: split name -> a loader whose ``dataset`` yields the clips (its order, shuffling and
                ``drop_last`` are ignored: every item of the dataset is stored once, in dataset order).
            progress: show a rich progress bar.
        """
        from rich.progress import Progress

        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path / ".fill.lock")), Progress(disable=not progress, transient=True) as bar:
            for split, loader in loaders.items():
                manifest = self.manifest()
                if manifest["splits"].get(split, {}).get("complete"):
                    continue
                self._fill_split(split, loader, forward, bar)

    def _fill_split(self, split: str, loader: DataLoader, forward: Callable[[Batch], Outputs], bar) -> None:
        dataset: Dataset = loader.dataset
        count = len(dataset)
        clips_path = self.path / split / "clips.json"
        clips: list[str | None] = json.loads(clips_path.read_text()) if clips_path.is_file() else [None] * count
        if len(clips) != count:
            raise StoreMismatchError(
                f"{self.label} {self.path}: split {split!r} was started with {len(clips)} clips, the data "
                f"now has {count}; delete {self.path / split} to refill it"
            )
        todo = [i for i, clip in enumerate(clips) if clip is None]
        task = bar.add_task(f"{self.label} ({split})", total=count, completed=count - len(todo))
        arrays: dict[str, np.memmap] | None = self._open_arrays(split, count) if count > len(todo) else None
        rows = DataLoader(Subset(dataset, todo), batch_size=loader.batch_size or 1, shuffle=False,
                          collate_fn=loader.collate_fn, num_workers=loader.num_workers)
        done = iter(todo)
        for batch in rows:
            index = [next(done) for _ in range(len(batch))]
            outputs = forward(batch)
            if arrays is None:
                arrays = self._create_arrays(split, count, outputs, batch)
            self._write_rows(arrays, index, outputs, batch, split)
            for i, clip in zip(index, batch.clip_id, strict=True):
                clips[i] = clip
            atomic_write_text(clips_path, json.dumps(clips))  # rows count as stored only from here on
            bar.advance(task, len(batch))
        self._mark_complete(split, clips)

    def _create_arrays(self, split: str, count: int, outputs: Outputs, batch: Batch) -> dict[str, np.memmap]:
        folder = self.path / split
        folder.mkdir(parents=True, exist_ok=True)
        shapes = {name: (count, *self._field(outputs, name).shape[1:]) for name in self.fields}
        specs = {**{name: (shape, self.dtype) for name, shape in shapes.items()},
                 "fingerprint": ((count, 2), np.dtype("float64"))}
        for name, (shape, dtype) in specs.items():
            tmp = folder / f".{name}.npy.tmp"
            np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape).flush()
            tmp.replace(folder / f"{name}.npy")  # a half-created header is never seen under the real name
        manifest = self.manifest()
        manifest["splits"][split] = {"clips": count, "complete": False, "sample_rate": batch.sample_rate,
                                     "num_samples": batch.waveform.shape[-1],
                                     "frame_hop_s": getattr(outputs, "frame_hop_s", None)}
        self._write_manifest(manifest)
        return self._open_arrays(split, count)

    def _open_arrays(self, split: str, count: int) -> dict[str, np.memmap]:
        names = [*self.fields, "fingerprint"]
        arrays = {name: np.load(self.path / split / f"{name}.npy", mmap_mode="r+") for name in names}
        for name, array in arrays.items():
            if array.shape[0] != count:
                raise StoreMismatchError(f"{self.path / split / name}.npy has {array.shape[0]} rows, expected {count}")
        return arrays

    def _field(self, outputs: Outputs, name: str) -> Tensor:
        if isinstance(outputs, Mapping):
            value = outputs.get(name)
        else:
            value = outputs.extras.get(name) if name in DERIVED_FIELDS else getattr(outputs, name)
        if not isinstance(value, Tensor):
            raise StoreError(f"the {self.label}'s forward returned no tensor {name!r} (got "
                             f"{type(value).__name__}); the store holds {list(self.fields)}")
        return value

    def _write_rows(self, arrays: dict[str, np.memmap], index: list[int], outputs: Outputs, batch: Batch,
                    split: str) -> None:
        for name in self.fields:
            value = self._field(outputs, name).detach().float().cpu().numpy()
            stored = value.astype(self.dtype)
            if not np.isfinite(stored).all() and np.isfinite(value).all():
                raise StoreError(f"{self.label}: {name} overflow {self.dtype} (max |x| = {np.abs(value).max():.3g}) in "
                                 f"split {split!r}; use cache_dtype='float32'")
            if arrays[name].shape[1:] != stored.shape[1:]:
                raise StoreError(f"{self.label}: {name} has shape {stored.shape[1:]} per clip in this batch, "
                                 f"{arrays[name].shape[1:]} earlier; the store needs clips of one length")
            arrays[name][index] = stored
        arrays["fingerprint"][index] = fingerprint(batch.waveform)
        for array in arrays.values():
            array.flush()

    def _mark_complete(self, split: str, clips: list[str | None]) -> None:
        if len(set(clips)) != len(clips):
            raise StoreError(f"split {split!r} has repeated clip ids; the store keys outputs by clip id")
        manifest = self.manifest()
        manifest["splits"][split] = {**manifest["splits"].get(split, {}), "clips": len(clips), "complete": True}
        self._write_manifest(manifest)
        log.info("%s %s: split %s complete (%d clips)", self.label, self.path, split, len(clips))

    # -- reading -----------------------------------------------------------------------------------------
    def read(self, split: str, batch: Batch, device: torch.device | str = "cpu") -> ModelOutput:
        """The stored outputs for ``batch``'s clips (float32 on ``device``); refuses missing or changed clips."""
        return self._reader(split).read(batch, device)

    def read_fields(self, split: str, batch: Batch, device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """The stored tensors for ``batch``'s clips by field name (float32 on ``device``); refuses as :meth:`read`."""
        return self._reader(split).read_fields(batch, device)

    def _reader(self, split: str) -> _SplitReader:
        if split not in self._readers:
            self._readers[split] = _SplitReader(self, split)
        return self._readers[split]

    def close(self) -> None:
        self._readers.clear()


class _SplitReader:
    """Read-only memory maps of one complete split, and the clip id -> row index."""

    def __init__(self, store: TeacherStore, split: str) -> None:
        info = store.manifest()["splits"].get(split)
        if not info or not info.get("complete"):
            state = "absent" if not info else "incomplete (a fill was interrupted)"
            how = "let `kdzoo fit` fill it" if store.fields == (FEATURES,) else (
                "fill it with `kdzoo cache-teacher --recipe NAME` (or let `kdzoo fit` fill it)")
            raise StoreIncompleteError(f"{store.label} {store.path}: split {split!r} is {state}; {how} before reading")
        folder = store.path / split
        clips = json.loads((folder / "clips.json").read_text())
        self.store, self.split = store, split
        self.row = {clip: i for i, clip in enumerate(clips)}
        self.arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in store.fields}
        self.fingerprints = np.load(folder / "fingerprint.npy", mmap_mode="r")
        self.frame_hop_s = info.get("frame_hop_s")

    def read(self, batch: Batch, device: torch.device | str) -> ModelOutput:
        values = self.read_fields(batch, device)
        return ModelOutput(logits=values.get("logits"), embedding=values.get("embedding"),
                           frames=values.get("frames"), feature_map=values.get("feature_map"),
                           frame_hop_s=self.frame_hop_s if "frames" in values else None,
                           extras={name: values[name] for name in DERIVED_FIELDS if name in values})

    def read_fields(self, batch: Batch, device: torch.device | str) -> dict[str, Tensor]:
        missing = [clip for clip in batch.clip_id if clip not in self.row]
        if missing:
            raise StoreMissingClipError(
                f"clip {missing[0]!r} (and {len(missing) - 1} more) is not in split {self.split!r} of the "
                f"{self.store.label} {self.store.path}; the data changed since it was filled: delete the folder "
                f"or run `kdzoo cache-teacher` again"
            )
        rows = np.array([self.row[clip] for clip in batch.clip_id])
        self._check_audio(rows, batch)
        return {name: torch.from_numpy(np.ascontiguousarray(array[rows])).to(device=device, dtype=torch.float32)
                for name, array in self.arrays.items()}

    def _check_audio(self, rows: np.ndarray, batch: Batch) -> None:
        stored = self.fingerprints[rows]
        seen = fingerprint(batch.waveform)
        close = np.isclose(seen, stored, rtol=FINGERPRINT_RTOL, atol=1e-9).all(axis=1)
        if not close.all():
            clip = batch.clip_id[int(np.flatnonzero(~close)[0])]
            raise StoreMissingClipError(
                f"clip {clip!r}: its audio differs from the audio the {self.store.label} {self.store.path} was "
                f"filled with (split {self.split!r}). The store supports un-augmented audio only; turn augmentation "
                f"off, or this cache (the teacher's cache / the Distiller's cache_student_features). If the corpus "
                f"was regenerated, delete the folder"
            )
