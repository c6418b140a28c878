"""The corpus writer: plans every clip, renders them in worker processes and writes the SONYC-UST v1 layout.

Files are written atomically; the ``.synth.json`` marker goes last, so its presence means the corpus is complete.
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kdzoo.data.synth.background import sensor_profile
from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.mixer import render_clip, to_pcm16
from kdzoo.data.synth.plan import ClipPlan, clip_rows, plan_corpus
from kdzoo.data.synth.scenes import STREAM_AUDIO, coarse_presence
from kdzoo.data.synth.taxonomy import COARSE_TAGS, annotation_columns, taxonomy_yaml

logger = logging.getLogger(__name__)

GENERATOR = "kdzoo.data.synth"
"""Recorded in the marker (the package, not this module, so markers from before the split still read the same)."""
SYNTH_VERSION = "1.0.0"
"""Bump whenever the output for a given seed and parameters changes, so stale corpora are regenerated."""

MARKER_NAME = ".synth.json"
PARTIAL_NAME = ".synth.partial"
"""Present while a generation is under way (or crashed): lets a rerun overwrite its own unfinished output."""
ANNOTATIONS_NAME = "annotations.csv"
TAXONOMY_NAME = "dcase-ust-taxonomy.yaml"
AUDIO_DIR = "audio-dev"
SPLITS = ("train", "validate", "test")
SpeechMode = Literal["auto", "formant", "espeak"]





def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary sibling then rename, so a crash never leaves a half-written file in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def _write_csv(path: Path, rows: list[list]) -> None:
    def write(p: Path) -> None:
        with p.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(annotation_columns())
            w.writerows(rows)

    _atomic(path, write)


def _write_wav(path: Path, pcm: np.ndarray, sr: int) -> None:
    _atomic(path, lambda p: sf.write(p, pcm, sr, subtype="PCM_16", format="WAV"))


@dataclass(frozen=True)
class _Job:
    path: str
    plan: ClipPlan
    seed: int
    n: int
    sr: int
    difficulty: Difficulty
    speech: str


def _render_job(job: _Job) -> None:
    """Render and write one clip (runs in a worker process; all randomness keyed by seed and clip index)."""
    rng = np.random.default_rng([job.seed, job.plan.index, STREAM_AUDIO])
    profile = sensor_profile(job.seed, job.plan.sensor)
    audio = render_clip(job.plan.scene, rng, job.n, job.sr, profile, job.difficulty, job.speech)
    _write_wav(Path(job.path), to_pcm16(audio), job.sr)


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar over ``total`` clips; yields the function that advances it by one."""
    columns = (TextColumn("synth corpus"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not enabled, transient=False) as bar:
        task = bar.add_task("clips", total=total)
        yield lambda: bar.advance(task)


def _render_all(jobs: list[_Job], workers: int, show: bool) -> None:
    if workers == 1:
        with _progress(show, len(jobs)) as advance:
            for job in jobs:
                _render_job(job)
                advance()
        return
    # Fork is cheap (no re-import of torch via kdzoo/__init__); the pool forks before the progress thread starts.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        done = pool.map(_render_job, jobs, chunksize=max(1, min(8, len(jobs) // (4 * workers))))
        with _progress(show, len(jobs)) as advance:
            for _ in done:
                advance()


_WAV_NAME = re.compile(r"^(\d{2}_\d{6}\.wav|\..*\.tmp)$")


def _remove_stale(root: Path, plans: list[ClipPlan]) -> None:
    """Delete generated-looking audio (and temp files) that this corpus does not list (from an earlier run)."""
    keep = {(p.split, p.filename) for p in plans}
    for split in SPLITS:
        folder = root / AUDIO_DIR / split
        for path in folder.glob("*") if folder.is_dir() else ():
            if _WAV_NAME.match(path.name) and (split, path.name) not in keep:
                path.unlink()


def resolve_speech(speech: str) -> str:
    """``"formant"`` or ``"espeak"``: ``auto`` picks espeak-ng only when it is on PATH."""
    if speech not in ("auto", "formant", "espeak"):
        raise ValueError(f"speech={speech!r} is not one of 'auto', 'formant', 'espeak'")
    available = shutil.which("espeak-ng") is not None
    if speech == "espeak" and not available:
        raise FileNotFoundError("speech='espeak' needs the espeak-ng program on PATH; install it "
                                "(Debian: apt-get install espeak-ng) or pass speech='formant'")
    return "espeak" if speech == "espeak" or (speech == "auto" and available) else "formant"


def _claim(root: Path, params: dict) -> None:
    """Mark ``root`` as being (re)written: the completeness marker goes first, so a crash never looks complete.

    Refuses a folder whose annotations.csv no generator run wrote (no marker, no partial marker): that may be a
    real SONYC-UST download, which must never be overwritten.
    """
    if (root / ANNOTATIONS_NAME).exists() and not (root / MARKER_NAME).exists() and not (root / PARTIAL_NAME).exists():
        raise FileExistsError(f"{root / ANNOTATIONS_NAME} was not written by synth_ust (no {MARKER_NAME}); refusing "
                              "to overwrite what may be a real corpus. Pick an empty folder or delete that one first.")
    _write_text(root / PARTIAL_NAME, json.dumps(params, indent=2))
    (root / MARKER_NAME).unlink(missing_ok=True)


def _params(clips: int, seed: int, validate_fraction: float, sample_rate: int, clip_seconds: float, speech: str,
            d: Difficulty, test_clips: int = 0) -> dict:
    """What fixes the corpus's bytes (worker count and progress do not), JSON-normalised for comparison.

    ``test_clips`` is recorded only when > 0, so a corpus written before the test split existed still matches a
    request without one (its bytes are the same).
    """
    test = {"test_clips": test_clips} if test_clips else {}
    p = {"clips": clips, **test, "seed": seed, "validate_fraction": validate_fraction, "sample_rate": sample_rate,
         "clip_seconds": clip_seconds, "speech": speech, "speech_source": resolve_speech(speech), **asdict(d)}
    return json.loads(json.dumps(p))


def read_marker(root: str | Path) -> dict | None:
    """The ``.synth.json`` marker of a complete generated corpus, or None if there is none (absent = incomplete)."""
    path = Path(root) / MARKER_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# ----------------------------------------------------------------------------------------------------------------
# Public entry points


def _check(clips: int, seed: int, validate_fraction: float, sample_rate: int, clip_seconds: float,
           workers: int, test_clips: int) -> None:
    if clips < 2:
        raise ValueError(f"clips={clips}: need at least 2 (one train and one validate clip)")
    if test_clips < 0:
        raise ValueError(f"test_clips={test_clips} must be >= 0 (0: no held-out test split)")
    if seed < 0:
        raise ValueError(f"seed={seed} must be >= 0 (it keys numpy SeedSequence)")
    if not 0.0 < validate_fraction < 1.0:
        raise ValueError(f"validate_fraction={validate_fraction} must be in (0, 1), e.g. 0.2")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate={sample_rate} Hz is too low for the alert and voice content; use >= 8000")
    if clip_seconds < 0.5:
        raise ValueError(f"clip_seconds={clip_seconds} is too short; use >= 0.5 (SONYC clips are 10 s)")
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")


def _summary(root: Path, plans: list[ClipPlan], seconds: float, speech: str) -> dict:
    prevalence = np.mean([coarse_presence(p.scene) for p in plans], axis=0)
    return {
        "root": str(root),
        "clips": {s: sum(p.split == s for p in plans) for s in SPLITS},
        "sensors": {s: sorted({p.sensor for p in plans if p.split == s}) for s in SPLITS},
        "prevalence": {t: round(float(v), 4) for t, v in zip(COARSE_TAGS, prevalence, strict=True)},
        "speech_source": speech,
        "seconds": round(seconds, 2),
    }


_D = Difficulty  # the keyword defaults below are Difficulty's: one source of truth for the knobs


def synth_ust(
    root: str | Path,
    clips: int = 600,
    seed: int = 0,
    validate_fraction: float = 0.2,
    sample_rate: int = 16000,
    clip_seconds: float = 10.0,
    workers: int = 2,
    speech: SpeechMode = "auto",
    *,
    test_clips: int = 0,
    snr_db: tuple[float, float] = _D.snr_db,
    far_prob: float = _D.far_prob,
    far_drop_db: float = _D.far_drop_db,
    max_events: int = _D.max_events,
    background_noise_db: tuple[float, float] = _D.background_noise_db,
    distractor_rate: float = _D.distractor_rate,
    distractor_snr_db: tuple[float, float] = _D.distractor_snr_db,
    miss_rate: float = _D.miss_rate,
    miss_slope_db: float = _D.miss_slope_db,
    false_rate: float = _D.false_rate,
    fine_accuracy: float = _D.fine_accuracy,
    uncertain_rate: float = _D.uncertain_rate,
    team_prob: float = _D.team_prob,
    progress: bool = True,
) -> dict:
    """Write a SONYC-UST v1 look-alike corpus under ``root`` and return a summary.

    The difficulty keywords are documented on :class:`Difficulty`. ``speech``: ``formant`` (built-in voice
    model), ``espeak`` (espeak-ng phrases; needs the program) or ``auto`` (espeak when on PATH); the source used
    is recorded in the marker. ``test_clips`` > 0 adds a held-out ``test`` split of that many clips (the same kind
    of ``clip_seconds`` scenes, on sensors of its own, with the verified truth row only; see
    :mod:`kdzoo.data.synth.plan`): no run selects anything on it. Any existing marker is removed first and the
    new one written last; a folder holding an annotations.csv that no generator run wrote is refused
    (FileExistsError).

    Returns:
        ``{"root", "clips": {"train", "validate", "test"}, "sensors", "prevalence": {"1_engine": share, ...},
        "speech_source", "seconds"}``; prevalence is the share of clips whose true labels hold the class.
    """
    start = time.perf_counter()
    _check(clips, seed, validate_fraction, sample_rate, clip_seconds, workers, test_clips)
    local = locals()  # the difficulty keywords, gathered by their Difficulty field names
    d = Difficulty(**{f.name: local[f.name] for f in fields(Difficulty)})
    source, root = resolve_speech(speech), Path(root)
    params = _params(clips, seed, validate_fraction, sample_rate, clip_seconds, speech, d, test_clips)
    _claim(root, params)
    plans = plan_corpus(clips, seed, validate_fraction, clip_seconds, d, test_clips)
    _write_text(root / TAXONOMY_NAME, taxonomy_yaml())
    n = int(round(clip_seconds * sample_rate))
    jobs = [_Job(str(root / AUDIO_DIR / p.split / p.filename), p, seed, n, sample_rate, d, source) for p in plans]
    _render_all(jobs, workers, progress)
    _remove_stale(root, plans)
    _write_csv(root / ANNOTATIONS_NAME, [row for p in plans for row in clip_rows(p, seed, d)])
    summary = _summary(root, plans, time.perf_counter() - start, source)
    marker = {"generator": GENERATOR, "version": SYNTH_VERSION, "params": params, "summary": summary}
    _write_text(root / MARKER_NAME, json.dumps(marker, indent=2))
    (root / PARTIAL_NAME).unlink()
    logger.info("wrote %d clips (%s) to %s in %.1f s", len(plans), summary["clips"], root, summary["seconds"])
    return summary


def corpus_matches(root: str | Path, **kwargs) -> bool:
    """True when ``root`` holds a complete corpus equal to what ``synth_ust(root, **kwargs)`` would write.

    Compares the generator version, the seed, every parameter that changes the output (not ``workers``) and the
    speech source ``auto`` would resolve to now. A corpus without a marker is incomplete and never matches.
    """
    marker = read_marker(root)
    if marker is None or marker.get("version") != SYNTH_VERSION:
        return False
    bound = inspect.signature(synth_ust).bind(root, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    d = Difficulty(**{f.name: a[f.name] for f in fields(Difficulty)})
    expected = _params(a["clips"], a["seed"], a["validate_fraction"], a["sample_rate"], a["clip_seconds"],
                       a["speech"], d, a["test_clips"])
    return marker.get("params") == expected
