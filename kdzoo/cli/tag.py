"""``kdzoo predict --student student.pt FILES...``: per-class probabilities for audio files, no recipe needed."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import torch

from kdzoo.data.audio import load_audio, probe_audio
from kdzoo.models.student_file import load_student, probabilities


def tag_files(student_path: str | Path, files: Sequence[str | Path]) -> tuple[list[str], list[list]]:
    """Run the student in ``student_path`` on each file, one at a time at the student's sample rate.

    Returns:
        ``(class_names, rows)``: each row is ``[file, p_1, ..., p_K]`` (sigmoid for multi-label students,
        softmax for single-label ones). Names default to ``class_1..K`` when the file records none.

    Raises:
        FileNotFoundError, ValueError: naming the student file or the audio file that cannot be used; every
            file's header is checked before any is decoded, so a missing or truncated file fails the call
            before any output.
    """
    model = load_student(student_path)
    meta = model.meta
    for path in files:
        probe_audio(path)
    names = meta.get("class_names") or [f"class_{k + 1}" for k in range(model.num_classes)]
    rows = []
    with torch.inference_mode():
        for path in files:
            waveform, _ = load_audio(path, sample_rate=model.sample_rate)  # (T,), one file in memory at a time
            logits = model(waveform.unsqueeze(0), model.sample_rate).logits  # (1, K)
            rows.append([str(path), *probabilities(logits, meta.get("task"))[0].tolist()])
    return names, rows


def write_csv(names: list[str], rows: list[list], out: str | Path | TextIO) -> None:
    """``file`` column then one probability column per class (6 decimals)."""
    handle = open(out, "w", newline="") if isinstance(out, str | Path) else out
    try:
        writer = csv.writer(handle)
        writer.writerow(["file", *names])
        for path, *probs in rows:
            writer.writerow([path, *(f"{p:.6f}" for p in probs)])
    finally:
        if handle is not out:
            handle.close()
