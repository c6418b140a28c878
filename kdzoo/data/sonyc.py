"""SONYC-UST (SONYC Urban Sound Tagging): DCASE 2019 Task 5 (v1) and DCASE 2020 Task 5 (v2.x).

Ten-second recordings from the SONYC acoustic sensor network in New York City, multi-label tagged with 8 coarse
and 29 fine classes (23 complete tags + 6 "X" incomplete "other/unknown" tags), see :data:`DCASE2019_TAXONOMY`.

* v1 (Zenodo 2590742, DCASE 2019 T5): 2351 train + 443 validate recordings in ``annotations.csv``; train files
  have 3 volunteer rows each, validate files also have SONYC-team rows and a ground-truth row (annotator 0).
  The release has no test rows, so :class:`SonycUSTDataModule` tests on ``validate``, the split the official
  baseline (UST19 README) and the SEA / IUSP papers report on.
* v2.3 (Zenodo 3966543, DCASE 2020 T5): 13538 train, 4308 validate and 664 test recordings; adds the
  spatiotemporal columns ``year, week, day, hour, borough, block, latitude, longitude``.

``annotations.csv`` holds one row per (recording, annotator): ``annotator_id`` > 0 is a Zooniverse volunteer,
< 0 a SONYC team member, 0 the verified ground truth. Presence cells are 1, 0 or -1 (-1: not annotated, because
team members tagged one coarse group at a time). Two rules turn rows into targets: UST19
(:func:`aggregate_targets`, DCASE 2019, the default for v1) and UST20 (:func:`aggregate_targets_ust20`, DCASE 2020:
train on volunteer votes, score validate/test on verified rows only; the default for v2).

Layout read under ``root`` (what the Zenodo archives unpack to, see :mod:`kdzoo.data.download`)::

    root/annotations.csv (or annotations-dev.csv)   root/dcase-ust-taxonomy.yaml (optional, built-in copy)
    root/audio/*.wav                  v2.x
    root/<split>/*.wav                v1 (Zenodo 2590742: train/, validate/)
    root/audio-dev/<split>/*.wav      v1 final release (dev archive)
    root/audio-eval/*.wav             v1 final release (eval archive, no annotations): ``predict_split="eval"``
    root/.kdzoo-cache/*.npy           decoded clips written by ``preload="cache"`` (see :mod:`kdzoo.data.cache`)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import yaml
from rich.progress import track
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from kdzoo.data.audio import fit_length, load_audio, probe_audio, resample
from kdzoo.data.cache import WaveformCache, build_cache, cache_key, open_cache
from kdzoo.files import atomic_write_text
from kdzoo.types import Batch, Task

log = logging.getLogger(__name__)

Level = Literal["coarse", "fine"]
Aggregation = Literal["ust19", "ust20"]
AGGREGATIONS = ("ust19", "ust20")

DCASE2019_TAXONOMY: dict[str, dict] = {
    "coarse": {
        1: "engine",
        2: "machinery-impact",
        3: "non-machinery-impact",
        4: "powered-saw",
        5: "alert-signal",
        6: "music",
        7: "human-voice",
        8: "dog",
    },
    "fine": {
        1: {
            1: "small-sounding-engine",
            2: "medium-sounding-engine",
            3: "large-sounding-engine",
            "X": "engine-of-uncertain-size",
        },
        2: {1: "rock-drill", 2: "jackhammer", 3: "hoe-ram", 4: "pile-driver", "X": "other-unknown-impact-machinery"},
        3: {1: "non-machinery-impact"},
        4: {1: "chainsaw", 2: "small-medium-rotating-saw", 3: "large-rotating-saw", "X": "other-unknown-powered-saw"},
        5: {1: "car-horn", 2: "car-alarm", 3: "siren", 4: "reverse-beeper", "X": "other-unknown-alert-signal"},
        6: {1: "stationary-music", 2: "mobile-music", 3: "ice-cream-truck", "X": "music-from-uncertain-source"},
        7: {
            1: "person-or-small-group-talking",
            2: "person-or-small-group-shouting",
            3: "large-crowd",
            4: "amplified-speech",
            "X": "other-unknown-human-voice",
        },
        8: {1: "dog-barking-whining"},
    },
}
"""The official SONYC-UST taxonomy (UST19 ``dcase-ust-taxonomy.yaml``; unchanged in v2.3), in yaml order."""

TAXONOMY_FILENAME = "dcase-ust-taxonomy.yaml"
ANNOTATION_FILENAMES = ("annotations.csv", "annotations-dev.csv")
ID_COLUMNS = ("split", "sensor_id", "audio_filename", "annotator_id")
STC_COLUMNS = ("year", "week", "day", "hour", "borough", "block", "latitude", "longitude")
"""The v2 spatiotemporal-context columns, right after ``annotator_id``; absent in v1."""

GROUND_TRUTH_ANNOTATOR = 0
NOT_ANNOTATED = -1
RESAMPLE_BATCH = 32
"""Clips resampled per call while preloading (32 x 10 s at 44.1 kHz = 56 MB of float32)."""
MAX_LISTED = 10
"""How many bad file names an error message lists before summarising the rest as a count."""
EVAL_SPLIT = "eval"
"""The unannotated v1 eval set in ``audio-eval/``: a ``predict_split`` only (no targets)."""
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
CACHE_DIRNAME = ".kdzoo-cache"


# --- taxonomy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taxonomy:
    """Class names in column order.

    Attributes:
        coarse: 8 names ``"<c>_<name>"``, e.g. ``"1_engine"``.
        fine: 29 names ``"<c>-<f>_<name>"``, e.g. ``"1-1_small-sounding-engine"``, X tags included, yaml order.
        coarse_of_fine: for each fine name, the index of its coarse class in ``coarse``.
    """

    coarse: list[str]
    fine: list[str]
    coarse_of_fine: list[int]

    @property
    def incomplete(self) -> list[bool]:
        """For each fine name, whether it is an "X" (coarse known, fine class unknown) tag."""
        return [name.split("_", 1)[0].endswith("-X") for name in self.fine]

    def names(self, level: Level) -> list[str]:
        if level not in ("coarse", "fine"):
            raise ValueError(f"level must be 'coarse' or 'fine', got {level!r}")
        return self.coarse if level == "coarse" else self.fine


def taxonomy_from_dict(spec: dict, source: str = "taxonomy") -> Taxonomy:
    """Build a :class:`Taxonomy` from the yaml structure ``{"coarse": {id: name}, "fine": {id: {fid: name}}}``."""
    missing = [key for key in ("coarse", "fine") if not isinstance(spec.get(key), dict)]
    if missing:
        raise ValueError(f"{source}: missing the mapping(s) {missing}; expected top-level keys 'coarse' and 'fine'")
    coarse_ids = list(spec["coarse"])
    unknown = [cid for cid in spec["fine"] if cid not in spec["coarse"]]
    if unknown:
        raise ValueError(f"{source}: fine groups {unknown} have no coarse class; coarse ids are {coarse_ids}")
    fine, coarse_of_fine = [], []
    for cid, group in spec["fine"].items():
        for fid, name in group.items():
            fine.append(f"{cid}-{fid}_{name}")
            coarse_of_fine.append(coarse_ids.index(cid))
    coarse = [f"{cid}_{name}" for cid, name in spec["coarse"].items()]
    return Taxonomy(coarse=coarse, fine=fine, coarse_of_fine=coarse_of_fine)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read ``dcase-ust-taxonomy.yaml`` (keys are ints except ``X``); ``None`` gives the built-in copy."""
    if path is None:
        return taxonomy_from_dict(DCASE2019_TAXONOMY, "built-in DCASE2019_TAXONOMY")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"taxonomy file not found: {path}; write the official one with write_taxonomy()")
    with path.open() as handle:
        spec = yaml.safe_load(handle)
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: expected a yaml mapping with 'coarse' and 'fine', got {type(spec).__name__}")
    return taxonomy_from_dict(spec, str(path))


def write_taxonomy(path: str | Path) -> Path:
    """Write :data:`DCASE2019_TAXONOMY` as yaml in the official file's shape (int keys, ``X`` as a string)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(DCASE2019_TAXONOMY, sort_keys=False))
    return path


# --- annotations and targets --------------------------------------------------------------------------------


def presence_columns(taxonomy: Taxonomy, level: Level) -> list[str]:
    """The ``<name>_presence`` columns of ``level`` in taxonomy order."""
    return [f"{name}_presence" for name in taxonomy.names(level)]


def load_annotations(annotations_csv: str | Path, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Read and validate ``annotations.csv`` (v1 or v2 columns).

    Presence columns come back as float (-1, 0 or 1; the file may write ``1`` or ``1.0``), ``annotator_id``
    as int and ``audio_filename`` / ``split`` as str. Proximity columns are kept as read and not required.

    Raises:
        FileNotFoundError: no such file.
        ValueError: required columns are missing (all of them are listed) or a presence cell is not -1, 0 or 1.
    """
    path = Path(annotations_csv)
    if not path.is_file():
        raise FileNotFoundError(f"annotations file not found: {path}")
    taxonomy = taxonomy or load_taxonomy()
    frame = pd.read_csv(path, dtype={"split": str, "audio_filename": str, "sensor_id": str})
    presence = presence_columns(taxonomy, "fine") + presence_columns(taxonomy, "coarse")
    missing = [column for column in (*ID_COLUMNS, *presence) if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} required column(s) missing: {missing}; this is not a SONYC-UST annotations.csv "
            "(or its taxonomy differs from the one given)"
        )
    unknown = [column for column in frame.columns if column.endswith("_presence") and column not in presence]
    if unknown:
        raise ValueError(
            f"{path}: {len(unknown)} label column(s) not in the taxonomy: {unknown[:MAX_LISTED]}; put the corpus's "
            f"own {TAXONOMY_FILENAME} next to the annotations, or remove the columns"
        )
    frame["annotator_id"] = _as_numbers(frame, "annotator_id", path).astype(int)
    for column in presence:
        frame[column] = _as_numbers(frame, column, path)
        _check_presence_values(frame[column], column, path)
    return frame


def _as_numbers(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = frame.loc[values.isna(), column]
    if len(bad):
        rows = [int(i) + 2 for i in bad.index[:MAX_LISTED]]  # +2: 1-based line numbers after the header
        raise ValueError(
            f"{path}: column {column!r} has non-numeric or empty values {bad.tolist()[:MAX_LISTED]} "
            f"(lines {rows}); fix or re-download the file"
        )
    return values.astype(float)


def _check_presence_values(values: pd.Series, column: str, path: Path) -> None:
    bad = values[~values.isin((NOT_ANNOTATED, 0, 1))]
    if len(bad):
        raise ValueError(f"{path}: column {column!r} must hold -1, 0 or 1, found {sorted(set(bad.tolist()))}")


def annotation_version(frame: pd.DataFrame) -> int:
    """2 if the annotations carry the v2 spatiotemporal columns, else 1."""
    return 2 if all(column in frame.columns for column in STC_COLUMNS) else 1


def aggregate_targets(frame: pd.DataFrame, columns: list[str]) -> tuple[list[str], np.ndarray]:
    """The UST19 rule (DCASE 2019 Task 5, default for v1): one binary target row per recording, any split.

    UST19 ``classify.py::get_file_targets``: if the recording has a ground-truth row (``annotator_id == 0``),
    its value is the target; otherwise a tag is positive iff at least one annotator marked it present
    ("minority vote"). Unlike a literal sum of presence values, -1 cells (SONYC-team rows that did not
    annotate this coarse group) count as missing here and never cancel a positive vote; with volunteer rows
    only (all of v1 train) the two rules agree.

    Args:
        frame: validated annotations (:func:`load_annotations`).
        columns: presence columns, in output order.

    Returns:
        ``(audio_filenames, targets)``: names sorted, targets (N, len(columns)) float32 in {0, 1}.
    """
    is_truth = frame["annotator_id"] == GROUND_TRUTH_ANNOTATOR
    filenames = sorted(frame["audio_filename"].unique())
    voters = frame.loc[~is_truth]
    votes = (voters[columns] == 1).groupby(voters["audio_filename"]).any()
    truth = frame.loc[is_truth].groupby("audio_filename")[columns].first() == 1
    targets = votes.reindex(filenames, fill_value=False)
    targets.loc[truth.index] = truth
    return filenames, targets.to_numpy(dtype=np.float32)


def aggregate_targets_ust20(frame: pd.DataFrame, columns: list[str], split: str) -> tuple[list[str], np.ndarray]:
    """The UST20 rule (DCASE 2020 Task 5, SONYC-UST v2.x, default for v2): who is trusted depends on the split.

    * ``train``: only volunteer rows (``annotator_id > 0``); a tag is positive iff at least one volunteer marked
      it. Ground-truth and SONYC-team rows of train files are ignored. Files without a volunteer row are
      dropped (the baseline would keep them with an all-zero target; v2.3 has none).
    * ``validate`` / ``test`` (any other split): only the verified row (``annotator_id == 0``) is the target.
      Files without one are dropped: the official evaluation takes its ground truth from annotator-0 rows
      alone, so such files are never scored (v2.3: every test file is verified, validate only partly).

    Verified against sonyc-project/dcase2020task5-uststc-baseline ``src/classify.py`` (commit 428acdf):
    ``get_file_targets`` skips ``ann_id <= 0`` on train and ``ann_id != 0`` elsewhere, then marks a tag
    positive iff the summed presences are > 0 (volunteer cells are 0/1, so: at least one vote); and
    ``get_subset_split`` keeps a validate file only if its smallest ``annotator_id`` is <= 0 ("only use verified
    annotations"). The SONYC-UST v2.3 README (as embedded in soundata ``datasets/sonyc_ust.py``) says annotator 0
    is the agreed-upon verified ground truth and that all test recordings are verified.

    Returns:
        ``(audio_filenames, targets)`` as :func:`aggregate_targets`, over the files the rule keeps.
    """
    if split == "train":
        rows = frame.loc[frame["annotator_id"] > GROUND_TRUTH_ANNOTATOR]
        targets = (rows[columns] == 1).groupby(rows["audio_filename"]).any()
    else:
        rows = frame.loc[frame["annotator_id"] == GROUND_TRUTH_ANNOTATOR]
        targets = rows.groupby("audio_filename")[columns].first() == 1
    dropped = frame["audio_filename"].nunique() - len(targets)
    if dropped:
        kind = "volunteer (annotator_id > 0)" if split == "train" else "verified (annotator_id == 0)"
        log.info("SONYC-UST '%s' (UST20 rule): %d file(s) without a %s row left out", split, dropped, kind)
    targets = targets.sort_index()
    return targets.index.tolist(), targets.to_numpy(dtype=np.float32)


def default_aggregation(version: int) -> Aggregation:
    """``"ust20"`` for v2.x annotations (DCASE 2020 Task 5), ``"ust19"`` for v1 (DCASE 2019 Task 5)."""
    return "ust20" if version == 2 else "ust19"


def load_targets(
    annotations_csv: str | Path,
    split: str,
    level: Level = "coarse",
    taxonomy: Taxonomy | None = None,
    aggregation: Aggregation | None = None,
) -> tuple[list[str], np.ndarray]:
    """Targets of one split: ``(audio_filenames, targets)``, sorted by file name.

    Args:
        annotations_csv: a SONYC-UST ``annotations.csv`` (v1 or v2).
        split: ``"train"``, ``"validate"`` or ``"test"`` (v2 only).
        level: ``"coarse"`` (K = 8) or ``"fine"`` (K = 29, X tags included), columns in taxonomy order.
        taxonomy: defaults to the built-in :data:`DCASE2019_TAXONOMY`.
        aggregation: ``"ust19"`` (:func:`aggregate_targets`) or ``"ust20"`` (:func:`aggregate_targets_ust20`);
            ``None`` picks by the file's columns (:func:`default_aggregation`).

    Returns:
        names (N,) and targets (N, K) float32 in {0, 1}.
    """
    taxonomy = taxonomy or load_taxonomy()
    frame = load_annotations(annotations_csv, taxonomy)
    return split_targets(frame, split, level, taxonomy, source=str(annotations_csv), aggregation=aggregation)


def split_targets(
    frame: pd.DataFrame,
    split: str,
    level: Level,
    taxonomy: Taxonomy,
    source: str = "annotations",
    aggregation: Aggregation | None = None,
) -> tuple[list[str], np.ndarray]:
    """:func:`load_targets` on an already loaded annotation frame."""
    aggregation = aggregation or default_aggregation(annotation_version(frame))
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    rows = frame.loc[frame["split"] == split]
    if rows.empty:
        available = sorted(frame["split"].unique())
        raise ValueError(f"{source}: no rows with split == {split!r}; the splits present are {available}")
    columns = presence_columns(taxonomy, level)
    if aggregation == "ust19":
        return aggregate_targets(rows, columns)
    names, targets = aggregate_targets_ust20(rows, columns, split)
    if not names:
        kind = "volunteer (annotator_id > 0)" if split == "train" else "verified (annotator_id == 0)"
        raise ValueError(
            f"{source}: no '{split}' file has a {kind} row, so the UST20 rule leaves nothing; "
            "pass aggregation='ust19' to use the crowd votes"
        )
    return names, targets


# --- data module --------------------------------------------------------------------------------------------


def download_hint(root: str | Path, version: int) -> str:
    """The commands that create a corpus at ``root`` (used in every missing-data error)."""
    return (
        f"download it with `kdzoo data download sonyc-ust --version {version} --root {root}`, or generate the "
        f"offline corpus with `kdzoo data synth-ust --root {root}`"
    )


def audio_dirs(root: Path, split: str) -> list[Path]:
    """The folders searched, in order, for a ``split`` file (first hit wins); see the module docstring."""
    return [root / "audio", root / "audio-dev" / split, root / split, root / "audio-eval"]


def eval_audio(root: Path) -> list[Path]:
    """Every audio file in ``root/audio-eval/`` (the eval set has no annotations), sorted by name."""
    folder = root / "audio-eval"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no eval folder {folder}: the unannotated eval clips come with the SONYC-UST v1 final release "
            "(Zenodo 3338310, audio-eval.tar.gz, unpacked to audio-eval/)"
        )
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)}); unpack the eval archive")
    return paths


def find_audio(root: Path, split: str, filenames: list[str]) -> list[Path]:
    """Resolve every file name to its path, or raise one error naming the missing ones and the dirs searched."""
    dirs = [d for d in audio_dirs(root, split) if d.is_dir()]
    paths, missing = [], []
    for name in filenames:
        hit = next((d / name for d in dirs if (d / name).is_file()), None)
        paths.append(hit)
        if hit is None:
            missing.append(name)
    if missing:
        searched = ", ".join(str(d) for d in audio_dirs(root, split))
        raise FileNotFoundError(
            f"{len(missing)} of {len(filenames)} '{split}' audio file(s) not found: {_list_some(missing)}; "
            f"searched {searched}. Re-run the download (it resumes) or restore the files."
        )
    return paths


def _list_some(names: list[str]) -> str:
    listed = ", ".join(names[:MAX_LISTED])
    return listed + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _raise_bad_audio(errors: dict[str, str], split: str) -> None:
    if errors:
        details = "; ".join(errors[name] for name in list(errors)[:MAX_LISTED])
        more = f" (and {len(errors) - MAX_LISTED} more)" if len(errors) > MAX_LISTED else ""
        raise ValueError(f"{len(errors)} bad '{split}' audio file(s): {details}{more}")


def _progress(items: list, description: str):
    """A rich progress bar for long loops (more than 50 items); a plain iterator otherwise."""
    return track(items, description=description, transient=True) if len(items) > 50 else items


class SonycClips(Dataset):
    """Clips of one split as dicts ``{"waveform": (T,), "target": (K,), "clip_id": str, "sample_rate": int}``.

    ``waveforms`` is where decoded clips live: an (N, T) float32 tensor in RAM, a :class:`WaveformCache` on
    disk, or ``None`` to decode each item on access; ``rows[i]`` is clip ``i``'s row in it (default: ``i``; a
    cache keeps rows for skipped clips). Eval clips (no annotations) have NaN targets, so scoring them by
    mistake fails in the metric instead of giving a number.
    """

    def __init__(
        self,
        paths: list[Path],
        targets: np.ndarray,
        sample_rate: int,
        num_samples: int,
        waveforms: Tensor | WaveformCache | None = None,
        rows: list[int] | None = None,
    ) -> None:
        self.paths = paths
        self.rows = rows
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.sample_rate = sample_rate
        self.num_samples = num_samples
        self.waveforms = waveforms

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        if self.waveforms is not None:
            waveform = self.waveforms[index if self.rows is None else self.rows[index]]
        else:
            waveform, _ = load_audio(self.paths[index], self.sample_rate, self.num_samples)
        return {
            "waveform": waveform,
            "target": self.targets[index],
            "clip_id": self.paths[index].name,
            "sample_rate": self.sample_rate,
        }


class SonycUSTDataModule(pl.LightningDataModule):
    """SONYC-UST multi-label tagging: batches ``Batch(waveform (B, T), target (B, K), clip_id, sample_rate)``.

    ``T = round(clip_seconds * sample_rate)`` (clips are resampled, then cut or zero-padded from the start),
    ``K`` = 8 coarse or 29 fine classes in taxonomy order. Splits: train = ``train``, val = ``validate``,
    test = ``test`` if the annotations have test rows (v2.x), else ``validate`` (v1, as the official baseline
    and the SEA / IUSP papers report). Predict uses ``predict_split`` (default: the test split); ``"eval"`` reads
    every audio file in ``root/audio-eval/`` (the v1 final release's unannotated eval set), so ``kdzoo predict``
    writes a DCASE submission (``predictions.csv``) for it. Targets follow ``aggregation``.

    ``setup`` validates the whole split before training starts and reports every bad file at once (up to 10
    names): missing root / annotations (with the download command), missing audio (with the folders
    searched), and unreadable, truncated, empty, too-short or NaN audio. With ``skip_bad_clips=True`` the
    unreadable clips are left out instead, counted in a warning and listed in :attr:`skipped` (``kdzoo fit`` copies
    it into ``summary.json``). Multi-channel files are averaged to mono; files recorded below ``sample_rate``
    are upsampled, with a warning naming them (upsampling cannot bring back the band they never held).

    Args:
        root: corpus folder (layout in the module docstring).
        version: 1 (DCASE 2019 T5) or 2 (v2.x); checked against the annotation columns.
        level: ``"coarse"`` (8 classes) or ``"fine"`` (29, X tags included).
        sample_rate: rate of the yielded waveforms in Hz.
        clip_seconds: length of every yielded waveform in seconds.
        batch_size: clips per batch.
        num_workers: DataLoader worker processes.
        preload: how clips are decoded. ``"cache"`` (or ``True``): once, in ``setup``, into an int16 memory-mapped
            file under ``cache_dir`` (:mod:`kdzoo.data.cache`), reused by later runs until a file, the rate or
            the length changes; RAM use does not grow with the corpus. ``"memory"``: into one N x T float32
            tensor in RAM (v1 at 16 kHz: 2794 x 160000 x 4 B = 1.8 GB; v2.3: 12 GB). ``False``: on every access
            (``setup`` checks headers only, so NaN samples surface when a clip is loaded).
        min_seconds: reject recordings shorter than this.
        seed: seeds the train shuffling generator.
        aggregation: how annotation rows become targets: ``"ust19"`` (:func:`aggregate_targets`) or ``"ust20"``
            (:func:`aggregate_targets_ust20`: train on volunteer votes, score validate/test on verified rows
            only); ``None`` = ``"ust20"`` for v2, ``"ust19"`` for v1.
        predict_split: the split ``predict`` runs on: ``None`` (the test split), ``"eval"`` (``audio-eval/``), or
            any split of the annotations.
        cache_dir: folder of the ``preload="cache"`` files; default ``<root>/.kdzoo-cache``.
        skip_bad_clips: leave unreadable clips (corrupt, truncated, empty, too short, NaN/inf samples) out of
            their split instead of stopping; off by default, so that a damaged corpus is noticed. Missing files
            still stop ``setup`` (a partial download), and with ``preload=False`` only headers are checked up
            front, so NaN samples still stop the run when the clip is loaded.
    """

    def __init__(
        self,
        root: str,
        version: Literal[1, 2] = 1,
        level: Level = "coarse",
        sample_rate: int = 16000,
        clip_seconds: float = 10.0,
        batch_size: int = 32,
        num_workers: int = 0,
        preload: bool | Literal["cache", "memory"] = "cache",
        min_seconds: float = 1.0,
        seed: int = 0,
        aggregation: Aggregation | None = None,
        predict_split: str | None = None,
        cache_dir: str | None = None,
        skip_bad_clips: bool = False,
    ) -> None:
        super().__init__()
        if version not in (1, 2):
            raise ValueError(f"version must be 1 (DCASE 2019 T5) or 2 (v2.x), got {version!r}")
        if level not in ("coarse", "fine"):
            raise ValueError(f"level must be 'coarse' or 'fine', got {level!r}")
        if sample_rate <= 0 or clip_seconds <= 0 or batch_size <= 0:
            raise ValueError(
                f"sample_rate, clip_seconds and batch_size must be positive, got {sample_rate}, {clip_seconds}, "
                f"{batch_size}"
            )
        if preload not in (True, False, "cache", "memory"):
            raise ValueError(f"preload must be 'cache', 'memory', True (= 'cache') or False, got {preload!r}")
        if aggregation not in (None, *AGGREGATIONS):
            raise ValueError(f"aggregation must be one of {AGGREGATIONS} or None (by version), got {aggregation!r}")
        self.root = Path(root)
        self.version = version
        self.level = level
        self.sample_rate = sample_rate
        self.clip_seconds = clip_seconds
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.preload: Literal["cache", "memory"] | None = "cache" if preload is True else (preload or None)
        self.min_seconds = min_seconds
        self.seed = seed
        self.aggregation: Aggregation = aggregation or default_aggregation(version)
        self.predict_split = predict_split
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / CACHE_DIRNAME
        self.skip_bad_clips = skip_bad_clips
        self.skipped: dict[str, dict[str, str]] = {}
        """Per split, the clips ``skip_bad_clips`` left out: file name -> why."""
        self.datasets: dict[str, SonycClips] = {}
        self.test_split: str | None = None
        """``test`` when the annotations have test rows (v2.x), else ``validate`` (v1); set by ``setup``."""
        self._taxonomy: Taxonomy | None = None
        self._train_generator: torch.Generator | None = None
        self._restored_generator: Tensor | None = None

    # --- static description -------------------------------------------------------------------------------

    @property
    def task(self) -> Task:
        return "multilabel"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_names(self) -> list[str]:
        return self.taxonomy.names(self.level)

    @property
    def num_samples(self) -> int:
        return round(self.clip_seconds * self.sample_rate)

    @property
    def taxonomy(self) -> Taxonomy:
        """The corpus's ``dcase-ust-taxonomy.yaml`` if present, else the built-in copy."""
        if self._taxonomy is None:
            path = self.root / TAXONOMY_FILENAME
            self._taxonomy = load_taxonomy(path if path.is_file() else None)
        return self._taxonomy

    # --- setup --------------------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Load annotations, resolve and validate the audio of the splits ``stage`` needs (all if None)."""
        frame = self._annotations()
        self.test_split = "test" if (frame["split"] == "test").any() else "validate"
        predict = self.predict_split or self.test_split
        uses_test_split = stage in (None, "test") or (stage == "predict" and self.predict_split is None)
        if self.test_split == "validate" and uses_test_split:
            log.info("SONYC-UST v%s annotations have no 'test' rows: testing on 'validate'", self.version)
        by_stage = {"fit": ["train", "validate"], "validate": ["validate"], "test": [self.test_split],
                    "predict": [predict]}
        for split in by_stage.get(stage, ["train", "validate", self.test_split]):
            if split not in self.datasets:
                self.datasets[split] = self._build(frame, split)

    def _annotations(self) -> pd.DataFrame:
        if not self.root.is_dir():
            hint = download_hint(self.root, self.version)
            raise FileNotFoundError(f"SONYC-UST root {self.root} does not exist; {hint}")
        path = next((self.root / n for n in ANNOTATION_FILENAMES if (self.root / n).is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"no {' or '.join(ANNOTATION_FILENAMES)} in {self.root}; {download_hint(self.root, self.version)}"
            )
        frame = load_annotations(path, self.taxonomy)
        found = annotation_version(frame)
        if found != self.version:
            stc = "present" if found == 2 else "absent"
            raise ValueError(
                f"{path} has SONYC-UST v{found} columns (spatiotemporal columns {stc}) but the data module was "
                f"built with version={self.version}; pass version={found}"
            )
        return frame

    def _build(self, frame: pd.DataFrame, split: str) -> SonycClips:
        if split == EVAL_SPLIT and not (frame["split"] == EVAL_SPLIT).any():
            paths = eval_audio(self.root)
            targets = np.full((len(paths), self.num_classes), np.nan, dtype=np.float32)
        else:
            filenames, targets = split_targets(
                frame, split, self.level, self.taxonomy, source=str(self.root), aggregation=self.aggregation
            )
            paths = find_audio(self.root, split, filenames)
        if self.preload == "cache":
            waveforms, errors = self._cached(paths, split)
        elif self.preload == "memory":
            waveforms = torch.zeros(len(paths), self.num_samples)
            errors = self._decode_all(paths, split, lambda indices, batch: waveforms.__setitem__(indices, batch))
        else:
            waveforms, errors = None, self._probe_all(paths, split)
        kept = self._drop_bad(paths, errors, split)
        log.info("SONYC-UST %s: %d clips, %d classes (%s)", split, len(kept), targets.shape[1], self.level)
        return SonycClips([paths[i] for i in kept], targets[kept], self.sample_rate, self.num_samples, waveforms,
                          rows=kept if len(kept) < len(paths) else None)

    def _drop_bad(self, paths: list[Path], errors: dict[str, str], split: str) -> list[int]:
        """Indices of the clips to keep: all, or (``skip_bad_clips``) all but ``errors``; else raise on errors."""
        if errors and not self.skip_bad_clips:
            _raise_bad_audio(errors, split)
        if errors:
            self.skipped[split] = dict(errors)
            log.warning("SONYC-UST %s: skipping %d unreadable clip(s) of %d (skip_bad_clips=True): %s", split,
                        len(errors), len(paths), _list_some(list(errors)))
            if len(errors) == len(paths):
                raise ValueError(f"every '{split}' clip is unreadable ({len(paths)} files); the first: "
                                 f"{next(iter(errors.values()))}")
        return [i for i, path in enumerate(paths) if path.name not in errors]

    def _cached(self, paths: list[Path], split: str) -> tuple[WaveformCache, dict[str, str]]:
        """The split's decoded clips from the disk cache, decoding them into it first if it is missing or stale,
        and the clips that could not be decoded (only ever non-empty with ``skip_bad_clips``: their rows are
        zeros, listed in a ``.bad.json`` file written before the cache, so a reader of the cache always finds it).
        """
        shape = (len(paths), self.num_samples)
        key = cache_key(paths, self.sample_rate, self.num_samples)
        path = self.cache_dir / f"{split}-{self.sample_rate}hz-{key}.npy"
        bad_list = path.with_suffix(".bad.json")
        cache = open_cache(path, shape)
        if cache is not None:
            log.info("SONYC-UST %s: reading decoded clips from %s", split, path)
            return cache, json.loads(bad_list.read_text()) if bad_list.is_file() else {}
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(
                f"cannot create the decoded-audio cache folder {self.cache_dir} ({error}); pass "
                "cache_dir=<a writable folder> or preload='memory'"
            ) from error
        log.info("SONYC-UST %s: decoding %d clips once into %s", split, len(paths), path)
        errors: dict[str, str] = {}

        def fill(store: Callable[[list[int], np.ndarray], None]) -> None:
            errors.update(self._decode_all(paths, split, _as_numpy(store)))
            if errors and not self.skip_bad_clips:
                _raise_bad_audio(errors, split)  # before the cache is moved into place: no cache of a bad split
            if errors:
                atomic_write_text(bad_list, json.dumps(errors, indent=1))

        return build_cache(path, shape, fill), errors

    def _decode_all(self, paths: list[Path], split: str, store: Callable[[list[int], Tensor], None]) -> dict[str, str]:
        """Decode every clip and pass them to ``store(indices, (n, T) float32)``; return the failures by file name.

        Clips are resampled in batches of equal rate and length (all of SONYC-UST is 10 s at 44.1 kHz):
        one batched resampling call is several times faster per clip than one call per clip. At most
        ``RESAMPLE_BATCH`` clips per (rate, length) group are held at a time.
        """
        errors: dict[str, str] = {}
        rates: dict[str, int] = {}
        pending: dict[tuple[int, int], list[tuple[int, Tensor]]] = {}
        for index, path in enumerate(_progress(paths, f"decoding SONYC-UST {split}")):
            try:
                waveform, rate = load_audio(path, min_seconds=self.min_seconds)
            except ValueError as error:
                errors[path.name] = str(error)
                continue
            group = pending.setdefault((rate, waveform.shape[0]), [])
            group.append((index, waveform))
            if len(group) == RESAMPLE_BATCH:
                self._resample_into(store, group, rate)
            rates[path.name] = rate
        for (rate, _), group in pending.items():
            self._resample_into(store, group, rate)
        self._warn_low_rates(rates, split)
        return errors

    def _warn_low_rates(self, rates: dict[str, int], split: str) -> None:
        """Warn, naming them, about clips recorded below ``sample_rate`` (``rates``: file name -> rate)."""
        low = {name: rate for name, rate in rates.items() if rate < self.sample_rate}
        if low:
            named = _list_some([f"{name} ({rate} Hz)" for name, rate in low.items()])
            log.warning("SONYC-UST %s: %d clip(s) recorded below sample_rate=%d Hz are upsampled and hold nothing "
                        "above half their own rate: %s", split, len(low), self.sample_rate, named)

    def _resample_into(self, store: Callable[[list[int], Tensor], None], group: list[tuple[int, Tensor]],
                       rate: int) -> None:
        """Resample a group of equal-length clips (index, (T,)) at ``rate`` together, store them, empty it."""
        if group:
            batch = resample(torch.stack([waveform for _, waveform in group]), rate, self.sample_rate)
            store([index for index, _ in group], fit_length(batch, self.num_samples))
            group.clear()

    def _probe_all(self, paths: list[Path], split: str) -> dict[str, str]:
        """Header-only validation of every clip (no decoding); the failures by file name."""
        errors: dict[str, str] = {}
        rates: dict[str, int] = {}
        for path in _progress(paths, f"checking SONYC-UST {split}"):
            try:
                rates[path.name] = probe_audio(path, self.min_seconds)[1]
            except ValueError as error:
                errors[path.name] = str(error)
        self._warn_low_rates(rates, split)
        return errors

    # --- loaders ------------------------------------------------------------------------------------------

    def train_dataloader(self) -> DataLoader:
        """Shuffled by a generator seeded with ``seed``, or restored from a checkpoint (see :meth:`state_dict`)."""
        generator = torch.Generator().manual_seed(self.seed)
        if self._restored_generator is not None:
            generator.set_state(self._restored_generator)
        self._train_generator = generator
        return self._loader("train", "fit", shuffle=True, generator=generator)

    def state_dict(self) -> dict:
        """The shuffling generator's state, which Lightning puts in every checkpoint.

        The generator advances once per epoch, so a run resumed from a checkpoint written after epoch ``e`` must
        start from the state it had then; a fresh ``manual_seed(seed)`` would replay epoch 0's order.
        """
        return {} if self._train_generator is None else {"train_generator": self._train_generator.get_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict` (Lightning calls it before the resumed run asks for its train loader)."""
        self._restored_generator = state_dict.get("train_generator")

    def val_dataloader(self) -> DataLoader:
        return self._loader("validate", "validate")

    def test_dataloader(self) -> DataLoader:
        if self.test_split is None:
            self.setup("test")
        return self._loader(self.test_split, "test")

    def predict_dataloader(self) -> DataLoader:
        if self.test_split is None:
            self.setup("predict")
        return self._loader(self.predict_split or self.test_split, "predict")

    def _loader(
        self, split: str, stage: str, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> DataLoader:
        if split not in self.datasets:
            self.setup(stage)
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            collate_fn=Batch.collate,
            persistent_workers=self.num_workers > 0,
        )


def _as_numpy(store: Callable[[list[int], np.ndarray], None]) -> Callable[[list[int], Tensor], None]:
    return lambda indices, batch: store(indices, batch.numpy())


__all__ = [
    "DCASE2019_TAXONOMY",
    "SonycClips",
    "SonycUSTDataModule",
    "Taxonomy",
    "aggregate_targets",
    "aggregate_targets_ust20",
    "annotation_version",
    "load_annotations",
    "load_taxonomy",
    "load_targets",
    "write_taxonomy",
]
