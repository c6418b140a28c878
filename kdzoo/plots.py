"""Training curves of a run, drawn from its ``metrics.csv`` (written by Lightning's CSVLogger)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def epoch_table(metrics_csv: str | Path) -> pd.DataFrame:
    """One row per epoch: the epoch means of every ``train/*_epoch`` and ``val/*`` column of ``metrics.csv``."""
    frame = pd.read_csv(metrics_csv)
    columns = [c for c in frame.columns if c.startswith("val/") or (c.startswith("train/") and c.endswith("_epoch"))]
    return frame.groupby("epoch")[columns].mean().dropna(how="all")


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Save ``curves.png`` in ``run_dir``: losses (left) and validation scores (right) per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    table = epoch_table(run_dir / "metrics.csv")
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for column in table.columns:
        if "loss" in column or column.startswith("train/kd") or column.startswith("val/kd"):
            loss_ax.plot(table.index, table[column], marker=".", label=column.removesuffix("_epoch"))
        elif column in ("val/micro_auprc", "val/macro_auprc", "val/mAP", "val/accuracy"):
            score_ax.plot(table.index, table[column], marker=".", label=column)
    loss_ax.set(title="losses", xlabel="epoch")
    score_ax.set(title="validation", xlabel="epoch", ylim=(0, 1))
    for ax in (loss_ax, score_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(run_dir.as_posix(), fontsize=9)
    fig.tight_layout()
    out = Path(out) if out is not None else run_dir / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
