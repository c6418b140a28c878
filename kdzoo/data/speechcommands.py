"""Google Speech Commands (Warden 2018) and its noisy long-clip variant (Temporal KD's "Noisy Speech Commands v2").

Layout (the released archive; ``kdzoo data synth-kws`` writes the same)::

    root/<word>/<speaker>_nohash_<k>.wav    1 s, 16 kHz, one spoken word
    root/validation_list.txt                relative paths of the validation clips
    root/testing_list.txt                   relative paths of the test clips (training = every other clip)
    root/_background_noise_/*.wav           longer noise recordings

Tasks: ``"12"`` = the 10 command words + ``_silence_`` + ``_unknown_`` (every other word), the standard KWS task;
``"35"`` = every word of v2, no silence or unknown class. In the 12-label task each split also gets
``silence_fraction`` x (its command-word clips) silence clips cut from the background noise, and a subset of its
unknown-word clips of ``unknown_fraction`` x (its command-word clips), drawn with ``seed`` (our defaults:
10 % each).

Noisy variant (``clip_seconds`` > 1): each 1 s clip is placed at an offset inside a ``clip_seconds`` stretch of
background noise, mixed at ``noise_snr_db`` (keyword power over noise power; silence clips are noise only). The
paper's construction is not public (``shared/reference/methods.md`` 2.5): the noise source, the uniform offset
and the SNR are our choices, all options. Offsets, noise files and noise positions are drawn from
(``seed``, clip id), so they are the same every epoch and on every machine: that is what val/test need, and it is
what lets the teacher-output store hold one target per clip. ``train_offsets="random"`` redraws them for the
training split on every access instead (an augmentation; then the teacher must run live, ``cache: false``).

Download: :func:`download_speech_commands` fetches the official archive (URLs and sha256 as torchaudio's
``SPEECHCOMMANDS`` checks them), verifies it and unpacks it into ``root``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from kdzoo.data.audio import load_audio
from kdzoo.data.download import download_file, extract_archive
from kdzoo.data.loaders import SplitLoaders

log = logging.getLogger(__name__)

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
NOISE_DIR = "_background_noise_"
WORDS_V2 = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
            "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila",
            "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
"""The 35 words of v0.02 (v0.01 lacks backward, follow, forward, learn, visual)."""
SAMPLE_RATE = 16000
ARCHIVES = {
    1: ("http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d"),
    2: ("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"),
}
"""version -> (official URL, sha256), the values torchaudio's SPEECHCOMMANDS verifies."""


def download_speech_commands(root: str | Path, version: int = 2, base_url: str | None = None) -> Path:
    """Fetch, verify (sha256) and unpack Speech Commands ``version`` into ``root``; a second call does nothing.

    Args:
        root: destination folder; the archive unpacks the word folders and lists directly into it.
        version: 1 or 2.
        base_url: fetch ``{base_url}/<archive name>`` instead of the official URL (a mirror, or a test server).
    """
    if version not in ARCHIVES:
        raise ValueError(f"Speech Commands version must be 1 or 2, got {version!r}")
    url, sha256 = ARCHIVES[version]
    name = url.rsplit("/", 1)[-1]
    root = Path(root)
    marker = root / f".{name}.extracted"
    if marker.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    archive = download_file(url if base_url is None else f"{base_url.rstrip('/')}/{name}", root / name)
    digest = _sha256(archive)
    if digest != sha256:
        archive.unlink()
        raise ValueError(f"{name}: sha256 {digest} differs from the published {sha256}; the download is corrupt "
                         f"(deleted); run again")
    extract_archive(archive, root)
    marker.write_text(sha256 + "\n")
    archive.unlink()
    return root


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Clip:
    """One item of a split: a word recording (``path``) or a silence clip (``path`` None), and its class index."""

    clip_id: str
    path: Path | None
    label: int


def class_names(task: str, version: int = 2) -> list[str]:
    if task == "12":
        return [*COMMANDS, SILENCE, UNKNOWN]
    if task == "35":
        if version != 2:
            raise ValueError("task '35' needs Speech Commands v2 (v1 has 30 words)")
        return list(WORDS_V2)
    raise ValueError(f"task must be '12' or '35', got {task!r}")


def prepare_speech_commands(root: str | Path, task: str = "12", version: int = 2, silence_fraction: float = 0.1,
                            unknown_fraction: float = 0.1, seed: int = 0) -> dict[str, list[Clip]]:
    """The clips of each split (``train``, ``val``, ``test``) from the lists in ``root``; see the module docstring."""
    root = Path(root)
    for needed in ("validation_list.txt", "testing_list.txt", NOISE_DIR):
        if not (root / needed).exists():
            raise FileNotFoundError(f"{root / needed} is missing: {root} is not a Speech Commands folder (download "
                                    f"it with `kdzoo data download speech-commands --root {root}` or write one with "
                                    f"`kdzoo data synth-kws --root {root}`)")
    names = class_names(task, version)
    lists = {split: set((root / f"{name}_list.txt").read_text().split())
             for split, name in (("val", "validation"), ("test", "testing"))}
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    splits: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
    unknown: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
    for word in words:
        for path in sorted((root / word).glob("*.wav")):
            relative = f"{word}/{path.name}"
            split = next((s for s, listed in lists.items() if relative in listed), "train")
            if word in names:
                splits[split].append(Clip(relative, path, names.index(word)))
            elif task == "12":
                unknown[split].append(Clip(relative, path, names.index(UNKNOWN)))
    if task == "12":
        rng = np.random.default_rng(seed)
        for split, clips in splits.items():
            count = len(clips)
            picked = rng.permutation(len(unknown[split]))[: math.ceil(unknown_fraction * count)]
            silence = [Clip(f"{SILENCE}/{split}_{i:05d}", None, names.index(SILENCE))
                       for i in range(math.ceil(silence_fraction * count))]
            clips += [unknown[split][i] for i in sorted(picked)] + silence
    empty = [split for split, clips in splits.items() if not clips]
    if empty:
        raise ValueError(f"{root}: no clips of the task's words in split(s) {empty}")
    return splits


def clip_rng(seed: int, clip_id: str, epoch: int | None = None) -> np.random.Generator:
    """A generator fixed by (seed, clip id[, epoch]): the same draws for a clip on every run and machine."""
    words = [seed, zlib.crc32(clip_id.encode())] + ([] if epoch is None else [epoch])
    return np.random.default_rng(words)


def place_in_noise(keyword: Tensor, noise: Tensor, offset: int, snr_db: float | None) -> Tensor:
    """Add ``keyword`` (K,) into ``noise`` (N,) at ``offset``, the noise scaled to ``snr_db`` below the keyword.

    The SNR compares mean powers over the keyword's own span (the 1 s clip against 1 s of noise), so a long clip
    does not dilute it. ``snr_db=None`` leaves silence around the keyword (no noise).
    """
    if offset < 0 or offset + keyword.numel() > noise.numel():
        raise ValueError(f"offset {offset} puts a {keyword.numel()}-sample keyword outside {noise.numel()} samples")
    if snr_db is None:
        out = torch.zeros_like(noise)
    else:
        keyword_power = keyword.pow(2).mean()
        noise_power = noise.pow(2).mean().clamp_min(1e-12)
        gain = torch.sqrt(keyword_power / noise_power / 10 ** (snr_db / 10)) if keyword_power > 0 else 1.0
        out = noise * gain
    out[offset : offset + keyword.numel()] += keyword
    return out


class SpeechCommandsClips(Dataset):
    """The clips of one split as Batch items: waveform (clip_seconds * rate,), target (), clip_id, sample_rate."""

    def __init__(self, clips: list[Clip], noise: list[Tensor], clip_seconds: float, noise_snr_db: float | None,
                 seed: int, random_offsets: bool = False, silence_gain: float = 0.3) -> None:
        self.clips, self.noise, self.seed = clips, noise, seed
        self.num_samples = round(clip_seconds * SAMPLE_RATE)
        self.noise_snr_db, self.random_offsets, self.silence_gain = noise_snr_db, random_offsets, silence_gain
        self._draws = 0

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        self._draws += 1
        rng = clip_rng(self.seed, clip.clip_id, self._draws if self.random_offsets else None)
        if clip.path is None:  # silence: background noise only
            waveform = self.silence_gain * self._noise(rng, self.num_samples)
        else:
            keyword, _ = load_audio(clip.path, SAMPLE_RATE, num_samples=SAMPLE_RATE)
            if self.num_samples == SAMPLE_RATE:
                waveform = keyword
            else:
                offset = self._keyword_offset(rng)
                waveform = place_in_noise(keyword, self._noise(rng, self.num_samples), offset, self.noise_snr_db)
        return {"waveform": waveform.float(), "target": torch.tensor(clip.label), "clip_id": clip.clip_id,
                "sample_rate": SAMPLE_RATE}

    def keyword_span(self, index: int) -> tuple[float, float] | None:
        """Where clip ``index``'s 1 s keyword lies, ``(start, end)`` in seconds; None for the silence class.

        The same draw as ``__getitem__`` makes, so it holds for the fixed offsets of validate and test (and of
        train unless ``train_offsets="random"``, which is refused: there the offset changes at every read).
        """
        if self.random_offsets:
            raise ValueError("keyword_span: this split redraws its offsets at every read (train_offsets='random')")
        clip = self.clips[index]
        if clip.path is None:
            return None
        if self.num_samples == SAMPLE_RATE:
            return 0.0, 1.0
        offset = self._keyword_offset(clip_rng(self.seed, clip.clip_id))
        return offset / SAMPLE_RATE, offset / SAMPLE_RATE + 1.0

    def _keyword_offset(self, rng: np.random.Generator) -> int:
        """The keyword's first sample in the long clip: uniform over every position that keeps it whole."""
        return int(rng.integers(0, self.num_samples - SAMPLE_RATE + 1))

    def _noise(self, rng: np.random.Generator, length: int) -> Tensor:
        """``length`` samples of one background recording from a random position (looped if it is shorter)."""
        recording = self.noise[int(rng.integers(len(self.noise)))]
        repeats = math.ceil((length + recording.numel()) / recording.numel())
        start = int(rng.integers(recording.numel()))
        return recording.repeat(repeats)[start : start + length].clone()


class SpeechCommandsDataModule(SplitLoaders, pl.LightningDataModule):
    """Speech Commands, 12- or 35-label, optionally as the noisy long-clip variant (see the module docstring).

    Batches: ``Batch(waveform (B, clip_seconds * 16000), target (B,) class ids, clip_id, sample_rate=16000)``;
    ``task`` is ``multiclass`` (cross-entropy, accuracy).

    Args:
        root: the corpus folder (official layout).
        version: 1 or 2.
        task: ``"12"`` (10 words + silence + unknown) or ``"35"``.
        clip_seconds: 1 (the clips as they are) or longer (2, 4, 6, 8: the noisy variant).
        noise_snr_db: keyword-to-noise SNR in the noisy variant (None: silence around the keyword).
        silence_fraction, unknown_fraction: the 12-label task's extra classes, per split, relative to its
            command-word clips.
        train_offsets: ``fixed`` (default: drawn once per clip from the seed) or ``random`` (redrawn at each
            access of a training clip).
        download: fetch the official archive in ``prepare_data`` when ``root`` has no corpus.
        batch_size, num_workers, seed: loader settings and the seed of every draw.
    """

    task = "multiclass"

    def __init__(self, root: str = "data/speech-commands", version: int = 2, task: Literal["12", "35"] = "12",
                 clip_seconds: float = 1.0, noise_snr_db: float | None = 5.0, silence_fraction: float = 0.1,
                 unknown_fraction: float = 0.1, train_offsets: Literal["fixed", "random"] = "fixed",
                 download: bool = False, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if clip_seconds < 1:
            raise ValueError(f"clip_seconds must be >= 1 (a keyword lasts 1 s), got {clip_seconds}")
        if train_offsets not in ("fixed", "random"):
            raise ValueError(f"train_offsets must be 'fixed' or 'random', got {train_offsets!r}")
        self.root, self.version, self.task_name = Path(root), version, str(task)
        self.class_names = class_names(self.task_name, version)
        self.num_classes = len(self.class_names)
        self.clip_seconds, self.noise_snr_db = clip_seconds, noise_snr_db
        self.silence_fraction, self.unknown_fraction, self.train_offsets = silence_fraction, unknown_fraction, \
            train_offsets
        self.download, self.batch_size, self.num_workers, self.seed = download, batch_size, num_workers, seed
        self.sample_rate = SAMPLE_RATE
        self._datasets: dict[str, SpeechCommandsClips] = {}

    def prepare_data(self) -> None:
        if self.download and not (self.root / "testing_list.txt").exists():
            download_speech_commands(self.root, self.version)

    def setup(self, stage: str | None = None) -> None:
        if self._datasets:
            return
        splits = prepare_speech_commands(self.root, self.task_name, self.version, self.silence_fraction,
                                         self.unknown_fraction, self.seed)
        noise = [load_audio(p, SAMPLE_RATE)[0] for p in sorted((self.root / NOISE_DIR).glob("*.wav"))]
        if not noise:
            raise FileNotFoundError(f"{self.root / NOISE_DIR} holds no .wav: the silence class and the noisy "
                                    "variant need background noise")
        for split, clips in splits.items():
            random_offsets = split == "train" and self.train_offsets == "random"
            self._datasets[split] = SpeechCommandsClips(clips, noise, self.clip_seconds, self.noise_snr_db,
                                                        self.seed, random_offsets)

