"""``kdzoo downstream``: SEA's downstream evaluation (:mod:`kdzoo.downstream`) of one or more embedders on a
corpus in the SONYC-UST layout (the real v1/v2 data or the generated ``kdzoo data synth-ust`` corpus).

Each embedder (a ``student.pt``, a run directory holding one, or a registered student/teacher name) embeds every
clip once (1 s windows every ``hop`` s); then, per seed, a MIL classifier (0-2 hidden layers, AutoPool) is
trained on the train split and the evaluation split is scored with the official micro/macro AUPRC. Writes
``results.csv`` (one row per embedder and seed), ``results.md`` (mean ± std over seeds per embedder) and
``results.png`` (micro-AUPRC against the embedding width, :func:`kdzoo.plots.plot_downstream`).

``--reduce D [D ...]`` adds, for every embedder wider than D, the paper's Table 4 rows: phi(embeddings) *before*
any KD, phi = StandardScaler + PCA (or UMAP) to D fitted on ``--sample-size`` train windows chosen per clip by
each ``--sampling`` strategy (:func:`kdzoo.downstream.reduce_embeddings`). It reuses the one embedding pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from torch import nn

CSV, MARKDOWN, PLOT = "results.csv", "results.md", "results.png"


def load_embedder(source: str | nn.Module) -> nn.Module:
    """A model from a ``student.pt``, a run directory, a registered student or teacher name, or itself."""
    if isinstance(source, nn.Module):
        return source.eval()
    import kdzoo
    from kdzoo.cli.edge import student_file

    if not Path(source).exists():
        if source in kdzoo.list_students():
            return kdzoo.create_student(source).eval()
        if source in kdzoo.list_teachers():
            return kdzoo.create_teacher(source).eval()
        raise FileNotFoundError(f"--embedder {source}: neither a file, a run directory nor a registered model "
                                f"(`kdzoo models` lists them)")
    return kdzoo.load_student(student_file(source)).eval()


def datamodule_for(root: str | Path, sample_rate: int, clip_seconds: float, batch_size: int = 8):
    """The SONYC-UST data module over ``root`` (any version-1 layout, the generated corpus included), set up."""
    from kdzoo.data.sonyc import SonycUSTDataModule

    if not Path(root).is_dir():
        raise FileNotFoundError(f"--data-root {root}: no such folder (make one with `kdzoo data synth-ust`)")
    data = SonycUSTDataModule(str(root), sample_rate=sample_rate, clip_seconds=clip_seconds,
                              batch_size=batch_size, preload=False)
    data.setup(None)
    return data


def run_downstream(embedders: dict[str, str | nn.Module], data_root: str | Path, out: str | Path,
                   hidden: Sequence[int] = (128, 128), seeds: Sequence[int] = (0,), epochs: int = 200,
                   lr: float = 1e-3, hop_s: float = 0.1, split: str = "validate", clip_seconds: float = 10.0,
                   progress: bool = True, reduce_dims: Sequence[int] = (), sampling: Sequence[str] = ("random",),
                   sample_size: int = 500_000, reducer: str = "pca") -> pd.DataFrame:
    """Score every embedder (name -> source) with every seed; write and return the per-seed table.

    ``reduce_dims``: also score phi(embedder) at each width (below the embedder's) for each ``sampling``
    strategy, phi fitted on ``sample_size`` train windows (the ``reducer``, ``sampling`` and ``sample_rows``
    columns say which; plain rows have reducer ``none``).
    """
    from kdzoo.downstream import embed_split, reduce_embeddings, score_embeddings

    if split not in ("validate", "test"):
        raise ValueError(f"--split must be validate or test, got {split!r}")
    import torch

    torch.manual_seed(0)  # a registered name builds an untrained model: the same one on every call
    models = {name: load_embedder(source) for name, source in embedders.items()}
    data = datamodule_for(data_root, max(int(m.sample_rate) for m in models.values()), clip_seconds)
    rows = []
    for name, model in models.items():
        train = embed_split(model, data.train_dataloader(), hop_s)
        evaluation = embed_split(model, data.val_dataloader() if split == "validate" else data.test_dataloader(),
                                 hop_s)
        variants = [(name, "none", "", 0, train, evaluation)]
        for dim in (d for d in reduce_dims if d < train.frames.shape[-1]):
            for strategy in sampling:
                reduced, (reduced_eval,), _ = reduce_embeddings(train, [evaluation], dim, reducer, strategy,
                                                                sample_size)
                rows_used = min(sample_size, train.frames.shape[0] * train.frames.shape[1])
                variants.append((f"{name} -> {reducer}{dim} ({strategy})", reducer, strategy, rows_used, reduced,
                                 reduced_eval))
        for label, method, strategy, rows_used, train_v, eval_v in variants:
            for seed in seeds:
                scores = score_embeddings(train_v, eval_v, hidden, lr, epochs, seed, progress)
                rows.append({"embedder": label, "seed": seed, "dim": train_v.frames.shape[-1], "reducer": method,
                             "sampling": strategy, "sample_rows": rows_used, "split": split,
                             "clips_train": len(train.clip_id), f"clips_{split}": len(evaluation.clip_id),
                             **scores})
    table = pd.DataFrame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / CSV, index=False)
    (out / MARKDOWN).write_text(markdown(table))
    from kdzoo.plots import plot_downstream

    plot_downstream(table, out / PLOT)
    return table


def markdown(table: pd.DataFrame) -> str:
    """Mean ± std over seeds of micro/macro AUPRC per embedder, as a Markdown table."""
    lines = ["| embedder | d | seeds | micro-AUPRC | macro-AUPRC |", "|---|---:|---:|---:|---:|"]
    for name, rows in table.groupby("embedder", sort=False):
        cells = [f"{rows[k].mean():.4f} ± {rows[k].std(ddof=1) if len(rows) > 1 else 0.0:.4f}"
                 for k in ("micro_auprc", "macro_auprc")]
        lines.append(f"| {name} | {int(rows['dim'].iloc[0])} | {len(rows)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main(args: list[str]) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="kdzoo downstream",
        description="SEA's downstream evaluation of embedders on a SONYC-UST-layout corpus: window embeddings "
                    "every --hop s, frames standardised with train statistics, a MIL classifier with AutoPool per "
                    "seed, official micro/macro AUPRC on --split. Writes results.csv, results.md and results.png to "
                    "--out.")
    parser.add_argument("--embedder", nargs="+", required=True,
                        help="student.pt files, run directories or registered model names (e.g. sea_student_2)")
    parser.add_argument("--data-root", required=True, help="corpus in the SONYC-UST v1 layout (e.g. data/synth-ust)")
    parser.add_argument("--out", required=True, help="folder for results.csv and results.md")
    parser.add_argument("--hidden", type=int, nargs="*", default=[128, 128],
                        help="hidden widths of the MIL classifier, 0-2 of them (default: 128 128)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="classifier seeds (default: 0)")
    parser.add_argument("--epochs", type=int, default=200, help="classifier epochs (the paper: 1500; default: "
                        "%(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (the paper: 1e-5; default: "
                        "%(default)s)")
    parser.add_argument("--hop", type=float, default=0.1, help="seconds between 1 s windows (default: %(default)s)")
    parser.add_argument("--split", choices=["validate", "test"], default="validate",
                        help="split that is scored (default: %(default)s, as the paper)")
    parser.add_argument("--clip-seconds", type=float, default=10.0, help="clip length (default: %(default)s)")
    parser.add_argument("--reduce", type=int, nargs="+", default=[], metavar="D",
                        help="also score phi(embedder) at these widths, before any KD (the paper's Table 4)")
    parser.add_argument("--sampling", nargs="+", default=["random"],
                        choices=["random", "relevance", "diversity", "diversity_relevance"],
                        help="how the train windows phi is fitted on are chosen, per clip (default: random)")
    parser.add_argument("--sample-size", type=int, default=500_000,
                        help="train windows phi is fitted on; all if the split has fewer (default: %(default)s)")
    parser.add_argument("--reducer", choices=["pca", "umap"], default="pca", help="phi (default: pca)")
    opts = parser.parse_args(args)
    embedders = {source: source for source in opts.embedder}
    try:
        table = run_downstream(embedders, opts.data_root, opts.out, opts.hidden, opts.seeds, opts.epochs, opts.lr,
                               opts.hop, opts.split, opts.clip_seconds, reduce_dims=opts.reduce,
                               sampling=opts.sampling, sample_size=opts.sample_size, reducer=opts.reducer)
    except (FileNotFoundError, ValueError) as error:
        print(f"kdzoo downstream: {error}", file=sys.stderr)
        return 2
    print(markdown(table), end="")
    print(f"-> {Path(opts.out) / CSV}")
    return 0
