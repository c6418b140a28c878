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
    return save_figure(fig, out if out is not None else run_dir / "curves.png", dpi=100)


def attention_over_clip(model, waveform, sample_rate: int) -> dict:
    """The teacher's temporal target and the student's attention for one clip, on the student's frames.

    Args:
        model: a :class:`~kdzoo.distill.Distiller` whose method is :class:`~kdzoo.distill.temporal.TemporalKD`
            (its head built: after a run, or a checkpoint loaded by a Trainer).
        waveform: (T,) audio at ``sample_rate``.

    Returns:
        ``{"teacher": (T',), "student": (T',), "seconds": (T',) frame centres}``, numpy arrays.
    """
    import torch

    from kdzoo.keyword_attention import attention_over_batch
    from kdzoo.types import Batch

    batch = Batch(waveform=waveform[None].float(), target=torch.zeros(1), clip_id=["plot"], sample_rate=sample_rate)
    target, student = attention_over_batch(model, batch)
    frames = target.shape[1]
    seconds = (torch.arange(frames) + 0.5) * waveform.shape[-1] / sample_rate / frames
    return {"teacher": target[0].numpy(), "student": student[0].numpy(), "seconds": seconds.numpy()}


def plot_attention(waveform, sample_rate: int, curves: dict[str, dict], out: str | Path) -> Path:
    """Temporal KD's Fig. 2: the clip's log-mel on top, the teacher's target and each student attention below.

    Args:
        waveform: (T,) audio.
        curves: label -> :func:`attention_over_clip` output (e.g. ``{"before": ..., "after": ...}``); the teacher's
            target is drawn once, from the first.
        out: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=1024, hop_length=sample_rate // 100, n_mels=64)
    log_mel = 10 * torch.log10(mel(waveform.float()) + 1e-10)
    seconds = waveform.shape[-1] / sample_rate
    fig, (spec_ax, att_ax) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    spec_ax.imshow(log_mel.numpy(), origin="lower", aspect="auto", extent=(0, seconds, 0, 64), cmap="magma")
    spec_ax.set(ylabel="mel band", title="log-mel")
    first = next(iter(curves.values()))
    att_ax.plot(first["seconds"], first["teacher"], color="black", lw=2, label="teacher (rollout target)")
    for label, curve in curves.items():
        att_ax.plot(curve["seconds"], curve["student"], label=f"student {label}")
    att_ax.set(xlabel="time (s)", ylabel="attention", title="attention over time")
    att_ax.legend(fontsize=8)
    att_ax.grid(alpha=0.3)
    return save_figure(fig, out, dpi=100)


def plot_keyword_attention(tables: dict, out: str | Path) -> Path:
    """Histograms of the share of attention on the keyword, one clip per count: the teacher's target (from the
    first table) and each student's; the dashed line is chance (a flat attention).

    Args:
        tables: label -> :func:`kdzoo.keyword_attention.keyword_attention` table (e.g. ``{"λ=0": ..., "λ=0.5": ...}``).
        out: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    first = next(iter(tables.values()))
    series = {"teacher target": first.teacher} | {f"student {label}": t.student for label, t in tables.items()}
    bins = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for label, values in series.items():
        ax.hist(values, bins=bins, histtype="step", lw=2, label=f"{label} (mean {values.mean():.2f})")
    ax.axvline(first.chance.mean(), color="grey", ls="--", label=f"chance {first.chance.mean():.3f}")
    ax.set(xlabel="share of the attention on the 1 s keyword", ylabel="clips",
           title=f"{len(first)} keyword clips")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, out, dpi=100)


def plot_downstream(table: pd.DataFrame, out: str | Path, metric: str = "micro_auprc") -> Path:
    """``kdzoo downstream``'s per-seed table as one figure: ``metric`` (mean ± std over classifier seeds) against
    the embedding width d (log scale). phi(embedder) rows (``reducer`` not ``none``) are joined per sampling
    strategy, as the paper's Table 4 reads; every plain embedder (a teacher, a student) is a labelled point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = table.groupby("embedder", sort=False).agg(
        d=("dim", "first"), mean=(metric, "mean"), std=(metric, "std"),
        reducer=("reducer", "first") if "reducer" in table else ("dim", lambda _: "none"),
        sampling=("sampling", "first") if "sampling" in table else ("dim", lambda _: ""))
    stats["std"] = stats["std"].fillna(0.0)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for strategy, rows in stats[stats.reducer != "none"].groupby("sampling", sort=False):
        rows = rows.sort_values("d")
        ax.errorbar(rows.d, rows["mean"], yerr=rows["std"], marker="o", capsize=3, label=f"phi: {strategy}")
    for name, row in stats[stats.reducer == "none"].iterrows():
        ax.errorbar(row.d, row["mean"], yerr=row["std"], fmt="s", color="black", capsize=3)
        ax.annotate(_short_label(str(name)), (row.d, row["mean"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=7)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(plt.FixedLocator(sorted(set(stats.d))))  # tick the widths scored, in plain digits
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:.0f}"))
    ax.set(xlabel="embedding width d", ylabel=f"{metric} (mean ± std over classifier seeds)")
    ax.grid(alpha=0.3)
    if (stats.reducer != "none").any():
        ax.legend(fontsize=8)
    return save_figure(fig, out, dpi=120)


def _short_label(embedder: str) -> str:
    """A legend name for an embedder: a registered name as is; a path by its run's folder
    (``checkpoints/runs/sea_s2/version_0`` -> ``sea_s2``, ``…/sea_s2/version_0/student.pt`` -> ``sea_s2``)."""
    path = Path(embedder)
    if len(path.parts) == 1:
        return embedder
    parts = [part for part in path.parts if part != "student.pt" and not part.startswith("version_")]
    return parts[-1] if parts else embedder


def save_figure(fig, out: str | Path, dpi: int) -> Path:
    """Lay out, write and close a figure; the path written."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
