"""What the teacher-output store buys: seconds per training epoch of ``kd_demo`` against ``scratch_demo``.

Each configuration is built from its recipe exactly as ``kdzoo fit`` builds it, then trained for ``--epochs``
epochs on one quiet Trainer (no validation, no checkpoints, no logger), in turns within this one process, so
every configuration sees the same machine state. The first epoch of a run fills the stores when they are empty
(teacher outputs, student log-mels; later rounds read them) and is reported apart; the steady-state figure is
the median of the later epochs.

Configurations (all with the recipe's ``cache_student_features: true`` unless named otherwise):

* ``scratch``: ``scratch_demo``;
* ``kd store``: ``kd_demo`` as shipped (teacher outputs read from the on-disk store);
* ``kd live``: ``kd_demo`` with ``teacher.cache false`` (the teacher runs on every step);
* ``scratch live front end``: ``scratch_demo`` with ``cache_student_features false``.

    python -m kdzoo.cli.bench_store --epochs 4 -- --data.init_args.root data/synth-ust
"""

from __future__ import annotations

import argparse
import statistics
import time

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from kdzoo.cli.bench import machine
from kdzoo.cli.recipes import expand_recipe
from kdzoo.cli.runner import build_cli

CONFIGS: dict[str, tuple[str, list[str]]] = {
    "scratch": ("scratch_demo", []),
    "kd store": ("kd_demo", []),
    "kd live": ("kd_demo", ["--model.teacher.init_args.cache", "false"]),
    "scratch live front end": ("scratch_demo", ["--model.cache_student_features", "false"]),
}


class EpochTimer(Callback):
    """Wall seconds of every training epoch (``times``), first epoch included."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.times.append(time.perf_counter() - self._start)


def time_epochs(recipe: str, extra: list[str], overrides: list[str], epochs: int) -> list[float]:
    """Seconds per training epoch of ``recipe`` (+ ``extra`` + ``overrides``) over ``epochs`` epochs."""
    cli = build_cli(expand_recipe(["--recipe", recipe, *overrides, *extra]), subcommand=None)
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer], accelerator="cpu", devices=1)
    trainer.fit(cli.model, datamodule=cli.datamodule)
    return timer.times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdzoo.cli.bench_store", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per configuration (the first fills stores)")
    parser.add_argument("--rounds", type=int, default=2, help="times the whole set of configurations is repeated")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("overrides", nargs="*", help="LightningCLI overrides for every run, after `--`")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    steady: dict[str, list[float]] = {name: [] for name in CONFIGS}
    first: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.rounds):
        for name, (recipe, extra) in CONFIGS.items():
            times = time_epochs(recipe, extra, args.overrides, args.epochs)
            first[name].append(times[0])
            steady[name].extend(times[1:])
            print(f"{name}: epochs {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
    base = statistics.median(steady["scratch"])
    print(f"\nmachine: {machine()}; torch threads {torch.get_num_threads()}; {args.rounds} rounds x "
          f"{args.epochs - 1} steady epochs per configuration\n")
    print("| configuration | first epoch (s; fills empty stores) | steady epoch (s, median) | ratio to scratch |")
    print("|---|---|---|---|")
    for name in CONFIGS:
        median = statistics.median(steady[name])
        print(f"| {name} | {statistics.median(first[name]):.2f} | {median:.2f} | {median / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
