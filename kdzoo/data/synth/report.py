"""A printable summary of a generated (or real) corpus: clips and sensors per split, per-class prevalence."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from kdzoo.data.synth.corpus import ANNOTATIONS_NAME, read_marker
from kdzoo.data.synth.taxonomy import COARSE_TAGS


def _truth(df: pd.DataFrame, split: str, cols: list[str]) -> pd.DataFrame:
    return df[(df.split == split) & (df.annotator_id == 0)].set_index("audio_filename")[cols]


def _prevalence_table(df: pd.DataFrame, title: str, speech: str) -> Table:
    cols = [f"{t}_presence" for t in COARSE_TAGS]
    train = df[df.split == "train"].groupby("audio_filename")[cols].max()
    shares = {"train clips (any volunteer)": train, "validate clips (truth)": _truth(df, "validate", cols)}
    if (df.split == "test").any():
        shares["test clips (truth)"] = _truth(df, "test", cols)
    table = Table(title=title)
    for name in ("class", *shares):
        table.add_column(name, justify="left" if name == "class" else "right")
    for tag, col in zip(COARSE_TAGS, cols, strict=True):
        table.add_row(tag, *(f"{(clips[col] > 0).mean():.1%}" for clips in shares.values()))
    sensors = df.groupby("split").sensor_id.nunique().to_dict()
    counts = [f"{len(clips)} {name.split()[0]} clips / {sensors.get(name.split()[0], 0)} sensors"
              for name, clips in shares.items()]
    table.caption = f"{', '.join(counts)}; speech: {speech}"
    return table


def describe(root: str | Path) -> str:
    """A printable summary of a corpus: clips and sensors per split, and per-class prevalence (volunteer
    minority vote on train, verified truth on validate and test)."""
    path = Path(root) / ANNOTATIONS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; generate a corpus first with kdzoo.data.synth.synth_ust")
    marker = read_marker(root) or {}
    title = f"{root} ({'generator ' + marker['version'] if marker else 'no .synth.json marker'})"
    speech = marker.get("params", {}).get("speech_source", "?")
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(_prevalence_table(pd.read_csv(path), title, speech))
    return console.file.getvalue()
