"""``kdzoo embed FILES... --out DIR``: one ``.npz`` of window embeddings per audio file (``kdzoo.get_embedding``)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdzoo embed",
        description="Embed audio files every --hop-size seconds over 1 s windows (openl3/edgel3 style); writes "
                    "DIR/<file stem>.npz holding `embedding` (N, d) and `timestamps` (N,) in seconds.")
    parser.add_argument("files", nargs="+", help="audio files (anything libsndfile reads); multi-channel is averaged")
    parser.add_argument("--out", required=True, help="folder for the .npz files (created if missing)")
    parser.add_argument("--model", default="sea_student_2",
                        help="a registered model name (`kdzoo models`) or an exported student.pt "
                             "(default: %(default)s)")
    parser.add_argument("--weights", default=None, help="weights for a registered name, e.g. an EdgeL3 .h5")
    parser.add_argument("--hop-size", type=float, default=0.1, help="seconds between windows (default: %(default)s)")
    return parser


def embed_files(files: list[str], out: str | Path, model: str = "sea_student_2", weights: str | None = None,
                hop_size: float = 0.1) -> list[Path]:
    """Write ``out/<stem>.npz`` for each file; every file is checked before any is embedded."""
    from kdzoo.data.audio import probe_audio, read_audio
    from kdzoo.embedding import get_embedding

    repeated = [stem for stem, n in Counter(Path(f).stem for f in files).items() if n > 1]
    if repeated:
        raise ValueError(f"files share the stem {repeated[0]!r}, so their .npz names would collide; embed them "
                         f"into separate --out folders")
    for path in files:
        probe_audio(path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        samples, rate = read_audio(path)  # (T, C)
        embedding, timestamps = get_embedding(samples, rate, model=model, hop_size=hop_size, weights=weights)
        target = out / f"{Path(path).stem}.npz"
        np.savez(target, embedding=embedding, timestamps=timestamps)
        written.append(target)
    return written


def main(args: list[str]) -> int:
    opts = build_parser().parse_args(args)
    try:
        written = embed_files(opts.files, opts.out, opts.model, opts.weights, opts.hop_size)
    except (FileNotFoundError, ValueError) as error:
        print(f"kdzoo embed: {error}", file=sys.stderr)
        return 2
    print(f"{len(written)} files embedded -> {opts.out}")
    return 0
