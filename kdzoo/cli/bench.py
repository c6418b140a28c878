"""``kdzoo bench``: run recipes over several seeds and tabulate the test scores as mean ± std.

Each run is an ordinary ``kdzoo fit`` (its folder is ``checkpoints/runs/<recipe>-seed<S>/version_N``); the
table records the exact command, so a reported number can be re-made.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from kdzoo.cli.recipes import find_recipe

METRICS = ("test/micro_auprc", "test/macro_auprc", "test/micro_f1", "test/mAP")


def run_one(recipe: str, seed: int, overrides: list[str]) -> dict:
    """Fit ``recipe`` with ``seed_everything=seed``; return its summary plus the wall time."""
    from kdzoo.cli.runner import run_lightning

    started = time.perf_counter()
    cli = run_lightning("fit", ["--config", str(find_recipe(recipe)), "--seed_everything", str(seed),
                                "--name", f"{recipe}-seed{seed}", *overrides])
    summary = json.loads((Path(cli.trainer.log_dir) / "summary.json").read_text())
    return {"recipe": recipe, "seed": seed, "student_params": summary["student_params"],
            "wall_s": round(time.perf_counter() - started, 1), "run_dir": cli.trainer.log_dir,
            **{m: summary["scores"].get(m) for m in METRICS}}


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per recipe: ``mean ± std`` (sample std over seeds) of each metric, and the seed count."""
    rows = []
    for recipe, group in runs.groupby("recipe", sort=False):
        row = {"recipe": recipe, "seeds": len(group), "student_params": int(group.student_params.iloc[0])}
        for metric in METRICS:
            values = group[metric].astype(float)
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            row[metric.removeprefix("test/")] = f"{values.mean():.3f} ± {std:.3f}"
        row["wall_s (mean)"] = round(group.wall_s.mean())
        rows.append(row)
    return pd.DataFrame(rows)


def machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.platform()}"


def run_bench(recipes: list[str], seeds: list[int], overrides: list[str], out_dir: str | Path) -> pd.DataFrame:
    """Run every recipe x seed, write ``runs.csv`` and ``results.md`` to ``out_dir``, return the aggregate."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for recipe in recipes:
        for seed in seeds:
            runs.append(run_one(recipe, seed, overrides))
            pd.DataFrame(runs).to_csv(out_dir / "runs.csv", index=False)  # kept up to date: a crash loses nothing
    table = aggregate(pd.DataFrame(runs))
    extra = ["--", *overrides] if overrides else []
    command = " ".join(["kdzoo bench", *recipes, "--seeds", *map(str, seeds), *extra])
    (out_dir / "results.md").write_text(f"`{command}` on {machine()}\n\n{markdown(table)}\n")
    return table


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no extra dependency)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
