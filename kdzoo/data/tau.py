"""TAU Urban Acoustic Scenes 2022 Mobile, development set: the data of DCASE Task 1 (low-complexity ASC).

Layout (the released archive; ``kdzoo data synth-asc`` writes the same)::

    root/audio/<scene>-<city>-<location>-<segment>-<sub>-<device>.wav   1 s, 44.1 kHz, mono
    root/meta.csv                              tab-separated: filename, scene_label, identifier, source_label
    root/evaluation_setup/fold1_train.csv      tab-separated: filename, scene_label (the training clips)
    root/evaluation_setup/fold1_evaluate.csv   tab-separated: filename, scene_label (the development test clips)
    root/split{5,10,25,50,100}.csv             optional, the 2024 task's training subsets (filename, scene_label)

``filename`` is ``audio/<name>.wav``, relative to ``root``, and is the clip id. ``source_label`` is the recording
device: ``a``, ``b``, ``c`` (real devices) and ``s1``-``s6`` (simulated); ``s4``-``s6`` occur only in the test
split, they are the *unseen devices* that the challenge reports apart. ``identifier`` names the recording
location and time (``<city>-<location id>``): all segments of one recording share it.

Splits: ``train`` = ``fold1_train.csv`` (or ``split{N}.csv`` when ``subset`` = N); ``test`` = ``fold1_evaluate.csv``;
``val`` = ``val_fraction`` of the training identifiers held out (whole recordings, so segments of one recording
never sit on both sides), drawn with ``seed``. ``val_fraction=0`` validates on the test split, as the DCASE 2024
baseline does (then the selected checkpoint has seen the test split: say so when you report).

Scores: the Distiller logs ``accuracy`` over all clips and, because the data module's ``clip_groups`` groups
clips by device (:data:`DEVICE_GROUPS`), ``acc_device_<d>`` per device, ``acc_seen_devices``,
``acc_unseen_devices`` and ``acc_device_mean`` (unweighted means over devices), under ``val/`` and ``test/``;
``kdzoo.metrics.group_accuracy(clip_ids, preds, target, DEVICE_GROUPS)`` computes the same outside a run.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import Dataset

from kdzoo.data.audio import load_audio
from kdzoo.data.download import RemoteFile, fetch_remote
from kdzoo.data.loaders import SplitLoaders
from kdzoo.types import ClipGroups

SCENES = ("airport", "bus", "metro", "metro_station", "park", "public_square", "shopping_mall", "street_pedestrian",
          "street_traffic", "tram")
"""The 10 scene classes, in the order of the DCASE baseline."""
DEVICES = ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
UNSEEN_DEVICES = ("s4", "s5", "s6")
"""Devices absent from the training split of the development set."""
SUBSETS = (5, 10, 25, 50, 100)
SAMPLE_RATE = 44100


TAU_RECORD = 6337421
TAU_FOLDER = "TAU-urban-acoustic-scenes-2022-mobile-development"
"""Zenodo record of the development set, and the top folder its zips unpack to (dropped: files land in ``root``)."""
_TAU_MD5 = {
    # md5s as listed in soundata's tau2022uas_mobile REMOTES (record 6337421); audio.1, audio.9 and meta.zip were
    # found with the same md5s in a second, independent download script. Not checked against the files here (no
    # internet): a mismatch fails the download naming the file, and the md5 Zenodo shows for it settles which is right.
    "audio.1.zip": "8be14bdbd844481dce059ab31fbd2239", "audio.2.zip": "e821abda49b069248bb75eab39df7575",
    "audio.3.zip": "9c7897f78bb42ca0008936daddf3f8f3", "audio.4.zip": "53ec3e37c0fc0be75f53c5abbc5300b8",
    "audio.5.zip": "528422c33c5d10263203d2c61cb1f3be", "audio.6.zip": "4759a9465c903e13e57d5e82e791fc28",
    "audio.7.zip": "6d545fc83a55a17856a9ccc1ac9aff6b", "audio.8.zip": "3a2916a9b5d3f43cc7a22a62b180b0d9",
    "audio.9.zip": "071f664c86639ad730f7be4e3c39d886", "audio.10.zip": "e0839d019e9b77ecbcbb0eff85965530",
    "audio.11.zip": "fc60f1c83726be3963ae14fbcb95eeb4", "audio.12.zip": "02246547f86c0a814dc63ec65d7033bb",
    "audio.13.zip": "88ae9ef884665140d1572d8061725e00", "audio.14.zip": "c3f400d74ae90e5190dc518cde43de47",
    "audio.15.zip": "85594c6fe4f91c10aa2a410f748103b8", "audio.16.zip": "6e2df8438c69f6789414aeba8cbad9d8",
    "meta.zip": "419b6ff6570f1030730352dc80cd8d15", "doc.zip": "9c4f610bdb5d3e3e72a17d393a26452a",
}
SPLITS_URL = "https://github.com/CPJKU/dcase2024_task1_baseline/releases/download/files"
"""Where the DCASE 2024 task's ``split{5,10,25,50,100}.csv`` are published (the task baseline's release assets).
No md5 for them was found: they are fetched unverified (a warning says so)."""


def tau_remotes(subsets: bool = True) -> list[RemoteFile]:
    """The release files: 16 audio zips, meta.zip (meta.csv, evaluation_setup/), doc.zip, and optionally the
    2024 subsets ``split{N}.csv`` (placed in ``root``, where :func:`prepare_tau` reads them)."""
    remotes = [RemoteFile(f"{TAU_FOLDER}.{part}", f"https://zenodo.org/records/{TAU_RECORD}/files/{TAU_FOLDER}.{part}"
                          f"?download=1", md5, strip=TAU_FOLDER) for part, md5 in _TAU_MD5.items()]
    if subsets:
        remotes += [RemoteFile(f"split{n}.csv", f"{SPLITS_URL}/split{n}.csv", None) for n in SUBSETS]
    return remotes


def download_tau(root: str | Path, base_url: str | None = None, files: list[RemoteFile] | None = None,
                 subsets: bool = True) -> Path:
    """Download and unpack the TAU Urban Acoustic Scenes 2022 Mobile development set (about 25 GB of zips) into
    ``root`` in the layout :class:`TAUUrbanAcousticScenesDataModule` reads; resumable and safe to re-run.

    Each zip is fetched to ``<name>.part`` (resumed with HTTP Range), md5-checked, unpacked without its top folder
    and deleted (a ``.<name>.extracted`` marker stays), as :mod:`kdzoo.data.download` does for SONYC-UST.

    Args:
        root: destination folder (created if needed).
        base_url: fetch ``{base_url}/{filename}`` instead of Zenodo / GitHub (a mirror, or a test server).
        files: the files to fetch instead of :func:`tau_remotes`.
        subsets: also fetch the 2024 task's ``split{N}.csv`` (unverified, see :data:`SPLITS_URL`).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for remote in files if files is not None else tau_remotes(subsets):
        fetch_remote(remote, root, base_url)
    return root


@dataclass(frozen=True)
class SceneClip:
    """One clip of a split: ``clip_id`` (= meta.csv filename), its file, class index and device."""

    clip_id: str
    path: Path
    label: int
    device: str


def device_of(clip_id: str) -> str:
    """The device of a TAU clip from its file name (``audio/bus-lyon-1001-40001-0-s2.wav`` -> ``s2``)."""
    return Path(clip_id).stem.rsplit("-", 1)[-1]


def read_table(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a tab-separated TAU table, checking it exists and has ``columns``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: its folder is not a TAU Urban Acoustic Scenes 2022 Mobile "
                                f"development set (write a demo one with `kdzoo data synth-asc --root {path.parent}`)")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing (found {reader.fieldnames}); TAU tables are "
                             f"tab-separated with a header row")
        return list(reader)


def read_split(root: Path, table: Path, meta: dict[str, dict[str, str]]) -> list[SceneClip]:
    """The clips listed in ``table`` (a fold or subset csv), with labels checked against meta.csv."""
    clips = []
    for line, row in enumerate(read_table(table, ("filename", "scene_label")), start=2):
        name, scene = row["filename"], row["scene_label"]
        if scene not in SCENES:
            raise ValueError(f"{table} line {line}: scene {scene!r} is not one of the 10 TAU scenes {SCENES}")
        if name not in meta:
            raise ValueError(f"{table} line {line}: {name} is not in {root / 'meta.csv'}")
        if meta[name]["scene_label"] != scene:
            raise ValueError(f"{table} line {line}: {name} is {scene!r} here but {meta[name]['scene_label']!r} in "
                             f"meta.csv")
        clips.append(SceneClip(name, root / name, SCENES.index(scene), meta[name]["source_label"]))
    if not clips:
        raise ValueError(f"{table} lists no clips")
    missing = [str(c.path) for c in clips if not c.path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} audio file(s) listed in {table} are missing, e.g. {missing[0]}")
    return clips


def prepare_tau(root: str | Path, subset: int | None = None, val_fraction: float = 0.1,
                seed: int = 0) -> dict[str, list[SceneClip]]:
    """The clips of ``train``, ``val`` and ``test`` (see the module docstring)."""
    root = Path(root)
    if subset is not None and subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS} (percent of the training split) or None, got {subset!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rows = read_table(root / "meta.csv", ("filename", "scene_label", "identifier", "source_label"))
    meta = {row["filename"]: row for row in rows}
    setup = root / "evaluation_setup"
    train_table = setup / "fold1_train.csv" if subset is None else root / f"split{subset}.csv"
    train = read_split(root, train_table, meta)
    test = read_split(root, setup / "fold1_evaluate.csv", meta)
    if val_fraction == 0:
        return {"train": train, "val": test, "test": test}
    identifiers = sorted({meta[c.clip_id]["identifier"] for c in train})
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(identifiers)[: max(1, round(val_fraction * len(identifiers)))].tolist())
    val = [c for c in train if meta[c.clip_id]["identifier"] in held]
    train = [c for c in train if meta[c.clip_id]["identifier"] not in held]
    if not train:
        raise ValueError(f"{root}: val_fraction={val_fraction} holds out every training recording; lower it")
    return {"train": train, "val": val, "test": test}


DEVICE_GROUPS = ClipGroups(names=DEVICES, of=device_of, prefix="device_",
                           means={"seen_devices": tuple(d for d in DEVICES if d not in UNSEEN_DEVICES),
                                  "unseen_devices": UNSEEN_DEVICES, "device_mean": DEVICES})
"""TAU clips grouped by recording device: what the data module's ``clip_groups`` gives the Distiller, which then
logs ``acc_device_<d>`` per device present, ``acc_seen_devices`` / ``acc_unseen_devices`` (unweighted means over
the devices of the training split / the devices only in the test split) and ``acc_device_mean`` (over all devices
present), each under ``val/`` and ``test/``."""


class SceneClips(Dataset):
    """One split as Batch items: waveform (rate,) 1 s, target () class id, clip_id, sample_rate."""

    def __init__(self, clips: list[SceneClip], sample_rate: int) -> None:
        self.clips, self.sample_rate = clips, sample_rate

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        waveform, _ = load_audio(clip.path, self.sample_rate, num_samples=self.sample_rate)
        return {"waveform": waveform, "target": torch.tensor(clip.label), "clip_id": clip.clip_id,
                "sample_rate": self.sample_rate}


class TAUUrbanAcousticScenesDataModule(SplitLoaders, pl.LightningDataModule):
    """TAU Urban Acoustic Scenes 2022 Mobile development set, 10 scenes, single-label (see the module docstring).

    Batches: ``Batch(waveform (B, sample_rate), target (B,) class ids, clip_id, sample_rate)``; ``task`` is
    ``multiclass`` (cross-entropy, accuracy). ``clip_groups`` (:data:`DEVICE_GROUPS`) makes the Distiller log
    accuracy per recording device and over seen / unseen devices.

    Args:
        root: the development set folder (official layout).
        subset: None (all of ``fold1_train.csv``) or 5, 10, 25, 50, 100: train on ``split{subset}.csv``.
        val_fraction: share of training recordings held out for validation; 0 validates on the test split.
        sample_rate: the 44.1 kHz clips are resampled to this at load (DCASE systems commonly use 32 kHz).
        batch_size, num_workers, seed: loader settings; ``seed`` also draws the validation recordings.
    """

    task = "multiclass"
    clip_groups = DEVICE_GROUPS

    def __init__(self, root: str = "data/tau2022", subset: int | None = None, val_fraction: float = 0.1,
                 sample_rate: int = 32000, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if subset is not None and subset not in SUBSETS:
            raise ValueError(f"TAUUrbanAcousticScenesDataModule: subset must be one of {SUBSETS} or None, "
                             f"got {subset!r}")
        self.root, self.subset, self.val_fraction, self.sample_rate = Path(root), subset, val_fraction, sample_rate
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.class_names = list(SCENES)
        self.num_classes = len(SCENES)
        self._datasets: dict[str, SceneClips] = {}

    def setup(self, stage: str | None = None) -> None:
        if self._datasets:
            return
        splits = prepare_tau(self.root, self.subset, self.val_fraction, self.seed)
        self._datasets = {split: SceneClips(clips, self.sample_rate) for split, clips in splits.items()}

    def clips(self, split: str) -> list[SceneClip]:
        """The clips of ``split`` (``train``, ``val``, ``test``)."""
        self.setup()
        return self._datasets[split].clips
