"""``kdzoo bench``: fit recipes over seeds; report mean ± std per recipe and paired differences to a baseline.

Each run is an ordinary ``kdzoo fit`` named ``<recipe>-seed<S>-<key>`` (``key`` hashes the recipe file's text and
the extra overrides), so its folder is ``checkpoints/runs/<name>/version_N``. A run whose ``summary.json``
already exists is read back, not redone: an interrupted bench resumes where it stopped, and editing a recipe
(or the overrides) starts fresh runs.

Statistics (one number per run, the test score of the checkpoint chosen on ``validate``):

* per recipe: the mean and the sample standard deviation (``ddof=1``) over its seeds;
* per recipe against ``--baseline``: the mean of the paired differences ``d_s = score(recipe, s) -
  score(baseline, s)`` over the seeds both ran, with a 95 % Student-t interval ``mean(d) ± t_{0.975, n-1} *
  sd(d) / sqrt(n)``. Pairing by seed removes what the seed does to both runs alike (initialisation, batch order);
  the interval assumes the differences are roughly normal. One seed gives a difference but no interval;
* per run, whether training reached a plateau (:func:`late_rise`): the rise of the validation curve over its
  last 10 epochs against its scatter.

Edge columns (per recipe, from the ``student.pt`` of its first seed; :mod:`kdzoo.edge.profile`, 1 s of audio):
network MACs, peak activation memory and flash of the static int8 network, and the median 1-thread ONNX Runtime
latency of the whole student in fp32 and int8. Latency is measured on the bench machine as it is, so under load
it is an upper bound. ``--no-edge`` leaves them out.

Grids (``--vary KEY=V1,V2,...``, repeatable): every recipe runs at every combination of the values, each a row
labelled ``recipe[key=value, ...]`` (the last part of KEY); ``--baseline key=value`` then compares each row, seed
by seed, with the row that differs from it only in that key (e.g. every student at lambda 0.1, 0.25, 0.5 against
the same student at lambda 0: ``--vary model.method.init_args.weight=0,0.1,0.25,0.5
--vary model.student.init_args.name=tc_resnet,crnn_kws --baseline weight=0``).

Outputs in ``--out``: ``runs.csv`` (one row per run), ``results.csv`` and ``results.md`` (one row per recipe, the
exact command and the machine), ``results.png`` (the metric against the student's parameter count, ± std; with
``--vary``, against the last varied key, and the paired differences), ``val_curves.png`` (every run's val/score
per epoch); with ``--baseline key=value`` over a grid, ``pooled.csv`` (and a table in ``results.md``): every
paired difference of the rows at each other value of that key pooled into one interval (e.g. every student at
lambda 0.1 against itself at 0).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from kdzoo.cli.recipes import find_recipe
from kdzoo.plots import save_figure

log = logging.getLogger(__name__)
METRICS = ("test/micro_auprc", "test/macro_auprc", "test/micro_f1", "test/mAP")
"""Tagging's headline scores, first in every table when present. Every other ``test/`` score of the runs follows
(scene classification: ``accuracy``, ``macro_accuracy``); scores per clip group (``acc_*``: per recording device,
seen / unseen devices) get a table of their own. Losses and the selection alias ``test/score`` are left out."""
NOT_METRICS = ("test/task_loss", "test/loss", "test/score")
GROUP_PREFIX = "test/acc_"
RUNS_DIR = Path("checkpoints/runs")
CONFIDENCE = 0.95


class BenchArgumentError(ValueError):
    """A bench argument (``--vary``, ``--baseline``, ``--metric``, ``--no-fit``) that cannot be honoured: the CLI
    prints it as one line, while an error raised inside a fit keeps its traceback."""


# --- statistics (pure) ----------------------------------------------------------------------------------------


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of ``values``; the std is NaN for a single value."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_std needs at least one value")
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else math.nan


@dataclass(frozen=True)
class PairedDifference:
    """``mean`` of n paired differences and its Student-t interval ``(low, high)`` (None when n < 2)."""

    mean: float
    low: float | None
    high: float | None
    n: int


def t_interval(differences: list[float], confidence: float = CONFIDENCE) -> PairedDifference:
    """Mean of ``differences`` with the two-sided Student-t interval ``mean ± t_{(1+c)/2, n-1} sd / sqrt(n)``.

    Example: [0.01, 0.03, 0.02] -> mean 0.02, sd 0.01, t_{0.975, 2} = 4.303 -> 0.02 ± 0.02484.
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        raise ValueError("t_interval needs at least one difference (no seed ran for both recipes)")
    mean = float(d.mean())
    if d.size < 2:
        return PairedDifference(mean, None, None, 1)
    half = float(stats.t.ppf((1 + confidence) / 2, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return PairedDifference(mean, mean - half, mean + half, int(d.size))


def paired_difference(scores: dict[int, float], baseline: dict[int, float]) -> PairedDifference:
    """``scores - baseline`` over the seeds in both (``{seed: score}``), as :func:`t_interval`."""
    seeds = sorted(set(scores) & set(baseline))
    if not seeds:
        raise ValueError(f"no common seed: recipe ran {sorted(scores)}, baseline ran {sorted(baseline)}")
    return t_interval([scores[s] - baseline[s] for s in seeds])


DEFAULT_METRIC = "test/micro_auprc"
"""What ``--metric`` compares unless told otherwise (the tagging tasks' headline score)."""

PLATEAU_EPOCHS = 10


def late_rise(curve: list[float], window: int = PLATEAU_EPOCHS) -> tuple[float, float]:
    """How much a validation curve still climbs at the end: ``(rise, noise)`` over its last ``window`` epochs.

    ``rise`` is the least-squares line's change across the window (slope x (window - 1)); ``noise`` the standard
    deviation of the points about that line (``ddof=2``). The run trained to a plateau when ``|rise| <= 2 noise``:
    the trend over the window is within the epoch-to-epoch scatter. NaNs when the curve is shorter than 3 epochs.
    """
    y = np.asarray(curve[-window:], dtype=float)
    if y.size < 3:
        return math.nan, math.nan
    x = np.arange(y.size, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (slope * x + intercept)
    return float(slope * (y.size - 1)), float(np.sqrt((residuals**2).sum() / (y.size - 2)))


def takeoff_epoch(curve: list[float], threshold: float) -> int | None:
    """The first epoch (counted from 1) whose validation score reaches ``threshold``, or None if none did: when a
    run started to learn, e.g. ``threshold`` 3x chance. Example: ([0.1, 0.2, 0.3, 0.2], 0.25) -> 3."""
    return next((epoch for epoch, score in enumerate(curve, start=1) if score >= threshold), None)


def encode_curve(curve: list[float]) -> str:
    """A validation curve as one ``runs.csv`` cell: scores per epoch, space-separated (6 significant digits)."""
    return " ".join(f"{v:.6g}" for v in curve)


def decode_curve(cell) -> list[float]:
    """The inverse of :func:`encode_curve`; an empty or missing cell (an older ``runs.csv``) gives []. A one-epoch
    curve may come back from ``pd.read_csv`` as a number, not a string."""
    if isinstance(cell, int | float) and not math.isnan(cell):
        return [float(cell)]
    return [] if not isinstance(cell, str) or not cell.strip() else [float(v) for v in cell.split()]


def _val_curve(run_dir: Path) -> list[float]:
    from kdzoo.plots import epoch_table

    path = run_dir / "metrics.csv"
    table = epoch_table(path) if path.is_file() else None
    return [] if table is None or "val/score" not in table else table["val/score"].dropna().tolist()


# --- runs -----------------------------------------------------------------------------------------------------


def run_key(recipe: str, overrides: list[str]) -> str:
    """8 hex digits of sha256(recipe file text + overrides): a changed recipe or override never reuses a run."""
    text = find_recipe(recipe).read_text(encoding="utf-8") + "\0" + "\0".join(overrides)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_name(recipe: str, seed: int, overrides: list[str]) -> str:
    """``<recipe>-seed<S>-<key>`` (a recipe given as a YAML path contributes its file stem)."""
    return f"{Path(recipe).stem}-seed{seed}-{run_key(recipe, overrides)}"


def finished_run(name: str, runs_dir: Path = RUNS_DIR) -> Path | None:
    """The newest ``runs_dir/name/version_N`` holding a ``summary.json`` (written last by ``fit``), or None."""
    done = [p.parent for p in (runs_dir / name).glob("version_*/summary.json")]
    return max(done, key=lambda p: int(p.name.removeprefix("version_"))) if done else None


@dataclass(frozen=True)
class Variant:
    """One row of a bench: a recipe with the overrides of one point of the ``--vary`` grid.

    Attributes:
        label: ``recipe`` or ``recipe[key=value, ...]`` (key: the last dotted part of the override's name).
        recipe: the recipe's name.
        values: ((KEY, value), ...) of the grid point, KEY as given to ``--vary``.
    """

    label: str
    recipe: str
    values: tuple[tuple[str, str], ...] = ()

    @property
    def overrides(self) -> list[str]:
        return [part for key, value in self.values for part in (f"--{key}", value)]


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def parse_vary(spec: str) -> tuple[str, list[str]]:
    """``"model.method.init_args.weight=0,0.1"`` -> ``("model.method.init_args.weight", ["0", "0.1"])``."""
    key, _, values = spec.partition("=")
    key = key.strip().removeprefix("--")
    choices = [v.strip() for v in values.split(",") if v.strip()]
    if not key or not choices:
        raise BenchArgumentError(f"--vary {spec!r}: give KEY=V1,V2,..., e.g. "
                                 "model.method.init_args.weight=0,0.1,0.25")
    return key, choices


def variants(recipes: list[str], vary: list[str] = ()) -> list[Variant]:
    """Every recipe at every point of the grid (recipe-major, then the grid in the order given)."""
    grid = [parse_vary(spec) for spec in vary]
    if len({_short(key) for key, _ in grid}) < len(grid):
        raise BenchArgumentError(f"--vary keys must end in different names, got {[key for key, _ in grid]}")
    rows = []
    for recipe in recipes:
        for point in itertools.product(*[[(key, value) for value in values] for key, values in grid]):
            label = recipe if not point else f"{recipe}[{', '.join(f'{_short(k)}={v}' for k, v in point)}]"
            rows.append(Variant(label, recipe, tuple(point)))
    return rows


def baseline_labels(rows: list[Variant], baseline: str | None) -> dict[str, str]:
    """Each row's label -> the label of the row it is compared with ({} without a baseline).

    ``baseline`` is a row's label (a recipe when nothing varies), compared with every row, or ``key=value``:
    each row against the row with the same recipe and grid point except ``key`` set to ``value``.
    """
    if baseline is None:
        return {}
    labels = [row.label for row in rows]
    if baseline in labels:
        return {label: baseline for label in labels}
    key, eq, value = baseline.partition("=")
    if not eq or not any(_short(k) == key for row in rows for k, _ in row.values):
        raise BenchArgumentError(f"--baseline {baseline!r} must be one of the recipes benchmarked {labels}, or "
                                 "key=value of a --vary key")
    out = {}
    for row in rows:
        point = {k: (value if _short(k) == key else v) for k, v in row.values}
        match = [r.label for r in rows if r.recipe == row.recipe and dict(r.values) == point]
        if not match:
            raise BenchArgumentError(f"--baseline {baseline!r}: {value!r} is not among the --vary values of {key}")
        out[row.label] = match[0]
    return out


def run_one(recipe: str, seed: int, overrides: list[str]) -> dict:
    """Fit ``recipe`` with ``seed_everything=seed`` unless that run already finished; return its row."""
    name = run_name(recipe, seed, overrides)
    run_dir = finished_run(name)
    if run_dir is None:
        from kdzoo.cli.runner import run_lightning

        cli = run_lightning("fit", ["--config", str(find_recipe(recipe)), "--seed_everything", str(seed),
                                    "--name", name, *overrides])
        run_dir = Path(cli.trainer.log_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    curve = _val_curve(run_dir)
    rise, noise = late_rise(curve)
    return {"recipe": recipe, "seed": seed, "student_params": summary["student_params"],
            "wall_s": run_wall_s(run_dir), "run_dir": str(run_dir),
            "test_split": summary.get("test_split"),
            "last_epoch_val_score": summary.get("last_epoch_val_scores", {}).get("val/score"),
            "val_rise_last10": rise, "val_noise_last10": noise, "val_curve": encode_curve(curve),
            **{k: v for k, v in summary["scores"].items() if k.startswith("test/") and k not in NOT_METRICS}}


def run_wall_s(run_dir: Path) -> float | None:
    """Wall seconds of a run's fit and test, from its own files: ``environment.json`` is written when ``fit``
    starts and ``summary.json`` after the test, so a reused run reports the time it took when it ran."""
    start, end = run_dir / "environment.json", run_dir / "summary.json"
    if not (start.is_file() and end.is_file()):
        return None
    return round(end.stat().st_mtime - start.stat().st_mtime, 1)


# --- edge columns ---------------------------------------------------------------------------------------------

EDGE_COLUMNS = {"edge_macs": "MACs / s", "edge_activation_kb_int8": "act. KB int8", "edge_flash_kb_int8":
                "flash KB int8", "edge_latency_ms_fp32": "ms fp32", "edge_latency_ms_int8": "ms int8"}
"""Edge columns of a results row and their markdown headers (latency: per 1 s of audio, one thread)."""


def edge_row(run_dir: str | Path) -> dict:
    """The :class:`~kdzoo.edge.profile.EdgeProfile` of a run's ``student.pt``, as ``edge_*`` columns ({} if none)."""
    path = Path(run_dir) / "student.pt"
    if not path.is_file():
        return {}
    from kdzoo.edge.profile import profile_student
    from kdzoo.models import load_student

    try:
        student = load_student(path)
    except ValueError as error:  # e.g. a student built from its class, not the registry: no edge cells
        log.warning("no edge columns for %s: %s", path, error)
        return {}
    return {f"edge_{k}": v for k, v in profile_student(student).row().items()}


def add_edge_columns(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the edge columns of each recipe's first run (all its seeds share one student)."""
    rows = [edge_row(runs[runs.recipe == recipe].run_dir.iloc[0]) for recipe in table.recipe]
    return table.join(pd.DataFrame(rows, index=table.index)) if any(rows) else table


# --- tables ---------------------------------------------------------------------------------------------------


def metric_columns(columns) -> list[str]:
    """The runs' test scores in table order: :data:`METRICS` present, then the others as they come (group scores
    included: ``acc_*``)."""
    scores = [c for c in columns if c.startswith("test/") and c not in NOT_METRICS]
    return [m for m in METRICS if m in scores] + [c for c in scores if c not in METRICS]


def _table_metrics(table: pd.DataFrame) -> list[str]:
    """The metrics an aggregated table holds (``<metric>_mean`` columns), in table order."""
    return [c.removesuffix("_mean") for c in table.columns if c.startswith("test/") and c.endswith("_mean")]


def aggregate(runs: pd.DataFrame, metric: str, baseline: str | dict[str, str] | None,
              takeoff: float | None = None) -> pd.DataFrame:
    """One row per recipe: seeds, student size, mean and std of each metric, and the paired difference of
    ``metric`` to ``baseline`` with its interval (NaN where there is none). ``baseline``: one recipe for all,
    or each recipe's own (:func:`baseline_labels`). ``takeoff``: also a ``val_takeoff`` cell, each seed's
    :func:`takeoff_epoch` at that threshold in seed order ("never" for a run that did not reach it)."""
    if isinstance(baseline, str):
        baseline = {recipe: baseline for recipe in runs.recipe.unique()}
    baseline = baseline or {}
    rows = []
    for recipe, group in runs.groupby("recipe", sort=False):
        row = {"recipe": recipe, "seeds": len(group), "student_params": int(group.student_params.iloc[0])}
        for m in metric_columns(runs.columns):
            values = group[m].dropna().astype(float).tolist()
            row[f"{m}_mean"], row[f"{m}_std"] = mean_std(values) if values else (math.nan, math.nan)
        walls = group.wall_s.dropna().astype(float) if "wall_s" in group else pd.Series(dtype=float)
        row["wall_min_mean"] = float(walls.mean() / 60) if len(walls) else math.nan
        row["val_rise_last10"] = float(group.val_rise_last10.mean())
        row["val_noise_last10"] = float(group.val_noise_last10.mean())
        if takeoff is not None:
            row["val_takeoff"] = _takeoff_cell(group, takeoff)
        if recipe in baseline:
            row["baseline"] = baseline[recipe]
        if recipe in baseline and baseline[recipe] != recipe:
            diff = paired_difference(_by_seed(runs, recipe, metric), _by_seed(runs, baseline[recipe], metric))
            row |= {"diff": diff.mean, "diff_low": diff.low, "diff_high": diff.high, "pairs": diff.n}
        rows.append(row)
    return pd.DataFrame(rows)


def pooling_groups(rows: list[Variant], baseline: str | None) -> dict[str, str]:
    """Each compared row's label -> ``key=value``, its value of the ``--baseline key=value`` key ({} unless the
    baseline is such a key and some value of it has more than one row, i.e. there is something to pool)."""
    key, eq, value = (baseline or "").partition("=")
    if not eq or baseline in {row.label for row in rows}:
        return {}
    groups = {row.label: f"{key}={v}" for row in rows for k, v in row.values if _short(k) == key and v != value}
    sizes = pd.Series(list(groups.values())).value_counts()
    return groups if len(sizes) and sizes.max() > 1 else {}


def pooled_differences(runs: pd.DataFrame, baselines: dict[str, str], groups: dict[str, str],
                       metric: str) -> pd.DataFrame:
    """One row per group (e.g. ``weight=0.1``): every paired difference ``score(row, s) - score(baseline of row,
    s)`` of the group's rows (e.g. every student at lambda 0.1 against itself at 0) over their common seeds, with
    one Student-t interval over them all. The interval treats the pairs as independent draws: right for rows that
    train separately, an approximation since rows sharing a seed also share its batch order."""
    out = []
    for group in sorted(dict.fromkeys(groups.values()), key=_numeric_value):
        labels = [label for label, g in groups.items() if g == group]
        diffs = []
        for label in labels:
            scores, base = _by_seed(runs, label, metric), _by_seed(runs, baselines[label], metric)
            diffs += [scores[s] - base[s] for s in sorted(set(scores) & set(base))]
        d = t_interval(diffs)
        out.append({"group": group, "rows": len(labels), "pairs": d.n, "diff": d.mean, "diff_low": d.low,
                    "diff_high": d.high})
    return pd.DataFrame(out, columns=["group", "rows", "pairs", "diff", "diff_low", "diff_high"])


def _numeric_value(group: str) -> tuple[int, float]:
    """Sort key of ``key=value`` groups: numeric values in numeric order first, the others after (stable)."""
    try:
        return 0, float(group.partition("=")[2])
    except ValueError:
        return 1, 0.0


def pooled_markdown(pooled: pd.DataFrame | None, metric: str, baseline: str) -> str:
    """The pooled differences as a markdown table ("" when there are none)."""
    if pooled is None or pooled.empty:
        return ""
    header = ["rows at", "rows", "pairs", f"pooled Δ {metric.removeprefix('test/')} vs {baseline} (95 % t interval)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in pooled.iterrows():
        lines.append(f"| {row.group} | {row.rows} | {row.pairs} | {_difference_cell(row)} |")
    return "\n".join(lines)


def _takeoff_cell(group: pd.DataFrame, threshold: float) -> str:
    """Seed order ``"6, 8, never"``; "?" for a run whose curve is not kept (a ``runs.csv`` from before it was)."""
    cells = []
    for run in group.sort_values("seed").itertuples():
        curve = decode_curve(getattr(run, "val_curve", None))
        epoch = takeoff_epoch(curve, threshold)
        cells.append("?" if not curve else "never" if epoch is None else str(epoch))
    return ", ".join(cells)


def _by_seed(runs: pd.DataFrame, recipe: str, metric: str) -> dict[int, float]:
    rows = runs[runs.recipe == recipe]
    if rows.empty:
        raise BenchArgumentError(f"--baseline {recipe!r} is not among the benchmarked recipes "
                                 f"{sorted(set(runs.recipe))}")
    return dict(zip(rows.seed.astype(int), rows[metric].astype(float), strict=True))


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _difference_cell(row: pd.Series) -> str:
    if "diff" not in row or pd.isna(row["diff"]):
        return "(baseline)" if "diff" in row or row.get("baseline") == row.recipe else ""
    if row["diff_low"] is None or pd.isna(row["diff_low"]):
        return f"{row['diff']:+.3f} (1 seed: no interval)"
    return f"{row['diff']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]"


def _plateau_cell(row: pd.Series) -> str:
    rise, noise = row.get("val_rise_last10", math.nan), row.get("val_noise_last10", math.nan)
    if pd.isna(rise):
        return "(too few epochs)"
    return f"{rise:+.3f} ± {noise:.3f} ({'plateau' if abs(rise) <= 2 * noise else 'still moving'})"


def _wall_cell(minutes: float) -> str:
    return "" if pd.isna(minutes) else f"{minutes:.1f}"


def _edge_cell(value: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def markdown(table: pd.DataFrame, metric: str, baseline: str | None) -> str:
    """A GitHub markdown table: mean ± std per metric (group scores apart: :func:`group_markdown`), and the
    paired difference column when a baseline is set."""
    metrics = [m for m in _table_metrics(table) if not m.startswith(GROUP_PREFIX)]
    header = ["recipe", "seeds", "student params", *(m.removeprefix("test/") for m in metrics),
              f"val rise, last {PLATEAU_EPOCHS} epochs (± scatter)", "wall min (mean)"]
    if baseline:
        header.append(f"Δ {metric.removeprefix('test/')} vs {baseline} (95 % t interval)")
    takeoff = "val_takeoff" in table.columns
    if takeoff:
        header.append(f"first epoch val ≥ {table.attrs.get('takeoff', '?')} (per seed)")
    edge = [c for c in EDGE_COLUMNS if c in table.columns]
    header += [EDGE_COLUMNS[c] for c in edge]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [row.recipe, str(row.seeds), f"{row.student_params:,}",
                 *(_pm(row[f"{m}_mean"], row[f"{m}_std"]) for m in metrics), _plateau_cell(row),
                 _wall_cell(row.get("wall_min_mean", math.nan))]
        if baseline:
            cells.append(_difference_cell(row))
        if takeoff:
            cells.append(row.val_takeoff)
        cells += [_edge_cell(row[c]) for c in edge]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def group_markdown(table: pd.DataFrame) -> str:
    """Scores per clip group (``acc_*``, e.g. per recording device), mean ± std per recipe; "" when none."""
    groups = [m for m in _table_metrics(table) if m.startswith(GROUP_PREFIX)]
    if not groups:
        return ""
    header = ["recipe", *(m.removeprefix("test/") for m in groups)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join([row.recipe, *(_pm(row[f"{m}_mean"], row[f"{m}_std"]) for m in groups)]) + " |")
    return "\n".join(lines)


def plot(table: pd.DataFrame, metric: str, out: Path) -> Path:
    """``metric`` mean ± std against the student's parameter count (log axis), one labelled point per recipe.
    Recipes sharing a student are nudged apart by 4 % along x so that both error bars stay visible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    seen: dict[int, int] = {}
    for _, row in table.iterrows():
        k = seen[row.student_params] = seen.get(row.student_params, -1) + 1
        x, std = row.student_params * 1.04**k, row[f"{metric}_std"]
        ax.errorbar(x, row[f"{metric}_mean"], yerr=None if math.isnan(std) else std, fmt="o", capsize=4)
        ax.annotate(row.recipe, (x, row[f"{metric}_mean"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    sizes = sorted(set(table.student_params))
    ax.xaxis.set_major_locator(plt.FixedLocator(sizes))  # tick only the student sizes benchmarked, in plain digits
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.set_xlim(min(sizes) / 1.1, max(sizes) * 1.04 ** len(table) * 1.1)
    ax.set(xlabel="student parameters", ylabel=f"{metric} (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    return save_figure(fig, out, dpi=120)


def grid_series(table: pd.DataFrame, rows: list[Variant], metric: str) -> dict[str, pd.DataFrame]:
    """A ``--vary`` grid as lines to draw: the last varied key along x, one line per recipe and setting of the
    other keys. Each line: columns ``x`` (the value, a float when every value reads as one, else its position),
    ``value`` (as given), ``mean``, ``std``, ``diff``, ``diff_low``, ``diff_high`` (NaN without a baseline)."""
    key = rows[0].values[-1][0]
    values = list(dict.fromkeys(dict(row.values)[key] for row in rows))
    try:
        position = {value: float(value) for value in values}
    except ValueError:
        position = {value: float(i) for i, value in enumerate(values)}
    stats = table.set_index("recipe")
    lines: dict[str, list[dict]] = {}
    for row in rows:
        rest = [f"{_short(k)}={v}" for k, v in row.values if k != key]
        name = row.recipe if not rest else f"{row.recipe} [{', '.join(rest)}]"
        cells = stats.loc[row.label]
        value = dict(row.values)[key]
        lines.setdefault(name, []).append({
            "x": position[value], "value": value, "mean": cells[f"{metric}_mean"], "std": cells[f"{metric}_std"],
            **{c: cells[c] if c in cells else math.nan for c in ("diff", "diff_low", "diff_high")}})
    return {name: pd.DataFrame(points) for name, points in lines.items()}


def plot_grid(table: pd.DataFrame, rows: list[Variant], metric: str, out: Path) -> Path:
    """``metric`` mean ± std against the last ``--vary`` key, one line per setting of the rest (left); with a
    baseline, the paired difference and its 95 % interval (right). Lines are nudged apart along x a little."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = grid_series(table, rows, metric)
    with_diff = any(line["diff"].notna().any() for line in lines.values())
    fig, axes = plt.subplots(1, 2 if with_diff else 1, figsize=(11 if with_diff else 6, 4), squeeze=False)
    first = next(iter(lines.values()))
    span = (first.x.max() - first.x.min()) or 1.0
    for i, (name, line) in enumerate(lines.items()):
        x = line.x + (i - (len(lines) - 1) / 2) * 0.012 * span
        axes[0, 0].errorbar(x, line["mean"], yerr=line["std"].fillna(0), marker="o", capsize=3, label=name)
        if with_diff:
            low, high = (line["diff"] - line.diff_low).fillna(0), (line.diff_high - line["diff"]).fillna(0)
            axes[0, 1].errorbar(x, line["diff"], yerr=[low, high], marker="o", capsize=3, label=name)
    key = _short(rows[0].values[-1][0])
    axes[0, 0].set(xlabel=key, ylabel=f"{metric} (mean ± std over seeds)")
    if with_diff:
        axes[0, 1].axhline(0, color="grey", lw=1)
        axes[0, 1].set(xlabel=key, ylabel="paired Δ to the baseline (95 % t interval)")
    for ax in axes[0]:
        ax.set_xticks(first.x, first.value)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, out, dpi=120)


def val_curves(runs: pd.DataFrame) -> dict[str, dict[int, list[float]]]:
    """Each row's label -> {seed: its val/score per epoch} in seed order: the ``val_curve`` cell of ``runs.csv``, or
    else the run's own ``metrics.csv`` (a run with neither, or without val/score, gives an empty list)."""
    curves: dict[str, dict[int, list[float]]] = {}
    for run in runs.sort_values("seed", kind="stable").itertuples():
        kept = decode_curve(getattr(run, "val_curve", None))
        curves.setdefault(run.recipe, {})[int(run.seed)] = kept or _val_curve(Path(run.run_dir))
    return curves


def plot_val_curves(runs: pd.DataFrame, out: Path) -> Path | None:
    """val/score per epoch of every run, one colour per row and one line per seed: when training took off and
    whether the budget had converged, which a table of final scores hides. None when no run logged val/score."""
    curves = val_curves(runs)
    if not any(curve for seeds in curves.values() for curve in seeds.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for colour, (label, seeds) in zip(itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"]),
                                      curves.items()):
        for i, curve in enumerate(seeds.values()):
            ax.plot(range(1, len(curve) + 1), curve, color=colour, alpha=0.8, lw=1.2, marker=".",
                    label=label if i == 0 else None)
    ax.set(xlabel="epoch", ylabel="val/score (one line per seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, out, dpi=120)


def parse_label(label: str) -> Variant:
    """A bench row's label back to its :class:`Variant`: ``"r[name=s1, weight=0.1]"`` -> recipe ``r`` with values
    ``(("name", "s1"), ("weight", "0.1"))`` (the short keys the label holds; a value may not contain ", ")."""
    recipe, bracket, point = label.partition("[")
    if not bracket:
        return Variant(label, label)
    if not point.endswith("]"):
        raise BenchArgumentError(f"row label {label!r} is not recipe[key=value, ...]")
    values = tuple(tuple(part.split("=", 1)) for part in point[:-1].split(", "))
    if any(len(v) != 2 for v in values):
        raise BenchArgumentError(f"row label {label!r} is not recipe[key=value, ...]")
    return Variant(label, recipe, values)


def read_runs(paths: list[str | Path], seeds: list[int] | None = None) -> pd.DataFrame:
    """The rows of several benches' ``runs.csv`` (e.g. one per student), restricted to ``seeds`` when given.

    A run listed in two files (same row label and seed) is kept once; listed with two different scores it is an
    error naming both files, since the tables would otherwise silently pick one."""
    frames = []
    for path in map(Path, paths):
        if not path.is_file():
            raise BenchArgumentError(f"{path}: no such runs.csv")
        frame = pd.read_csv(path)
        if not {"recipe", "seed", "student_params"} <= set(frame.columns):
            raise BenchArgumentError(f"{path}: not a kdzoo bench runs.csv (needs recipe, seed, student_params)")
        frames.append(frame.assign(source=str(path)))
    runs = pd.concat(frames, ignore_index=True)
    if seeds is not None:
        runs = runs[runs.seed.isin(seeds)]
    scores = metric_columns(runs.columns)
    for (label, seed), group in runs.groupby(["recipe", "seed"]):
        if len(group) > 1 and (group[scores].nunique(dropna=False) > 1).any():
            raise BenchArgumentError(f"{label} seed {seed} has different scores in {', '.join(group.source)}")
    return runs.drop_duplicates(["recipe", "seed"], keep="first").reset_index(drop=True)


def report_runs(runs: pd.DataFrame, metric: str, baseline: str | None,
                takeoff: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results table and the pooled differences (:func:`pooled_differences`) of finished runs read back
    from ``runs.csv`` files: the tables of a grid whose runs were benched in parts, without their run folders."""
    grid = [parse_label(label) for label in dict.fromkeys(runs.recipe)]
    if metric not in metric_columns(runs.columns):
        raise BenchArgumentError(f"--metric {metric!r} is not among the runs' test scores "
                                 f"{metric_columns(runs.columns)}")
    baselines = baseline_labels(grid, baseline)
    table = aggregate(runs, metric, baselines, takeoff)
    table.attrs["takeoff"] = takeoff
    return table, pooled_differences(runs, baselines, pooling_groups(grid, baseline), metric)


def machine() -> str:
    threads = torch.get_num_threads()
    return (f"{platform.machine()}, {threads} thread{'' if threads == 1 else 's'}, torch {torch.__version__}, "
            f"{platform.platform()}")


def missing_runs(grid: list[Variant], seeds: list[int], overrides: list[str]) -> list[str]:
    """Names of the runs of ``grid`` x ``seeds`` that have not finished (no ``summary.json`` under RUNS_DIR)."""
    names = [run_name(row.recipe, seed, overrides + row.overrides) for row in grid for seed in seeds]
    return [name for name in names if finished_run(name) is None]


def run_bench(recipes: list[str], seeds: list[int], overrides: list[str], out_dir: str | Path,
              baseline: str | None = None, metric: str = DEFAULT_METRIC, edge: bool = True,
              vary: list[str] = (), fit: bool = True, takeoff: float | None = None) -> pd.DataFrame:
    """Run (or reuse) every recipe x grid point (``vary``) x seed; write runs.csv, results.csv, results.md,
    results.png and val_curves.png to ``out_dir`` (``edge``: with the edge columns).

    ``fit=False`` only gathers: a grid split over several processes is tabled once every part has finished, and
    a run still missing is an error naming it, never a fit started by accident. ``takeoff``: add each seed's first
    epoch whose val/score reaches it (:func:`takeoff_epoch`)."""
    grid = variants(recipes, list(vary))
    baselines = baseline_labels(grid, baseline)  # refuses a baseline the bench does not run, before any fit
    if not metric.startswith("test/"):
        raise BenchArgumentError(f"--metric {metric!r}: give a test score, e.g. test/micro_auprc or test/accuracy")
    if not fit and (missing := missing_runs(grid, seeds, overrides)):
        raise BenchArgumentError(f"--no-fit: {len(missing)} of {len(grid) * len(seeds)} runs have not finished "
                                 f"under {RUNS_DIR}: {', '.join(missing)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for row in grid:
        for seed in seeds:
            runs.append(run_one(row.recipe, seed, overrides + row.overrides) | {"recipe": row.label})
            pd.DataFrame(runs).to_csv(out_dir / "runs.csv", index=False)  # kept up to date: a crash loses nothing
    scored = metric_columns(pd.DataFrame(runs).columns)
    if metric not in scored:
        raise BenchArgumentError(f"--metric {metric!r} is not among the runs' test scores {scored}")
    table = aggregate(pd.DataFrame(runs), metric, baselines, takeoff)
    if edge:
        table = add_edge_columns(table, pd.DataFrame(runs))
    table.attrs["takeoff"] = takeoff
    table.to_csv(out_dir / "results.csv", index=False)
    pooled = pooled_differences(pd.DataFrame(runs), baselines, pooling_groups(grid, baseline), metric)
    if not pooled.empty:
        pooled.to_csv(out_dir / "pooled.csv", index=False)
    table.attrs["pooled"] = pooled
    if vary:
        plot_grid(table, grid, metric, out_dir / "results.png")
    else:
        plot(table, metric, out_dir / "results.png")
    plot_val_curves(pd.DataFrame(runs), out_dir / "val_curves.png")
    (out_dir / "results.md").write_text(_report(recipes, seeds, overrides, baseline, metric, table, list(vary),
                                                edge, pooled, takeoff))
    return table


def _report(recipes: list[str], seeds: list[int], overrides: list[str], baseline: str | None, metric: str,
            table: pd.DataFrame, vary: list[str] = (), edge: bool = True, pooled: pd.DataFrame | None = None,
            takeoff: float | None = None) -> str:
    extra = ["--", *overrides] if overrides else []
    base = ["--baseline", baseline] if baseline else []
    grid = [part for spec in vary for part in ("--vary", spec)]
    scored = [] if metric == DEFAULT_METRIC else ["--metric", metric]
    no_edge = [] if edge else ["--no-edge"]
    first = [] if takeoff is None else ["--takeoff", f"{takeoff:g}"]
    command = " ".join(["kdzoo bench", *recipes, "--seeds", *map(str, seeds), *grid, *base, *scored, *no_edge,
                        *first, *extra])
    note = ("Scores: the test split, scored with the checkpoint chosen on `validate`; mean ± sample std over seeds. "
            "Δ: mean of the per-seed paired differences to the baseline, with a 95 % Student-t interval "
            "(t_{0.975, n-1} · sd / √n over the n common seeds). Val rise: change of the least-squares line through "
            f"the last {PLATEAU_EPOCHS} epochs' val/score (seed mean), ± the scatter about it; 'plateau' when "
            "|rise| <= 2 scatter.")
    if "edge_macs" in table.columns:
        note += (" Edge (kdzoo profile, 1 s of audio): network MACs; peak activation memory and flash of the static "
                 "int8 network; median ONNX Runtime latency of the whole student on one thread (an upper bound if "
                 "the machine was busy).")
    groups = group_markdown(table)
    groups = f"\nScores per clip group (mean ± std over seeds):\n\n{groups}\n" if groups else ""
    pooled = pooled_markdown(pooled, metric, baseline)
    pooled = (f"\nPooled over the rows at each value of `{baseline.partition('=')[0]}`: every paired (row, seed) "
              f"difference, one t interval over them all (pairs taken as independent):\n\n{pooled}\n") if pooled else ""
    return f"`{command}` on {machine()}\n\n{note}\n\n{markdown(table, metric, baseline)}\n{groups}{pooled}"
