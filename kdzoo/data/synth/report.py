"""A printable summary of a generated (or real) corpus: clips and sensors per split, per-class prevalence."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from kdzoo.data.synth.corpus import ANNOTATIONS_NAME, read_marker
from kdzoo.data.synth.taxonomy import COARSE_TAGS


def _prevalence_table(df: pd.DataFrame, title: str, speech: str) -> Table:
    cols = [f"{t}_presence" for t in COARSE_TAGS]
    train = df[df.split == "train"].groupby("audio_filename")[cols].max()
    truth = df[(df.split == "validate") & (df.annotator_id == 0)].set_index("audio_filename")[cols]
    table = Table(title=title)
    for name in ("class", "train clips (any volunteer)", "validate clips (truth)"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for tag, col in zip(COARSE_TAGS, cols, strict=True):
        table.add_row(tag, f"{(train[col] > 0).mean():.1%}", f"{(truth[col] > 0).mean():.1%}")
    sensors = df.groupby("split").sensor_id.nunique().to_dict()
    table.caption = (f"{len(train)} train clips / {sensors.get('train', 0)} sensors, {len(truth)} validate clips / "
                     f"{sensors.get('validate', 0)} sensors; speech: {speech}")
    return table


def describe(root: str | Path) -> str:
    """A printable summary of a corpus: clips and sensors per split, and per-class prevalence (volunteer
    minority vote on train, verified truth on validate)."""
    path = Path(root) / ANNOTATIONS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; generate a corpus first with kdzoo.data.synth.synth_ust")
    marker = read_marker(root) or {}
    title = f"{root} ({'generator ' + marker['version'] if marker else 'no .synth.json marker'})"
    speech = marker.get("params", {}).get("speech_source", "?")
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(_prevalence_table(pd.read_csv(path), title, speech))
    return console.file.getvalue()
