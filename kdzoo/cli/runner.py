"""LightningCLI for kdzoo: recipes map onto ``Distiller`` and data-module signatures.

A recipe's ``budget:`` (:class:`~kdzoo.edge.budget.Budget`) is checked against the student before ``fit``
trains. Linked (never repeated in recipes): ``data.num_classes`` -> ``model.num_classes`` and the student's
``num_classes``; ``data.task`` -> ``model.task``. Every run gets :class:`~kdzoo.callbacks.RunArtifacts`
(after ``fit``: the best checkpoint tested, ``student.pt``, ``summary.json``, ``curves.png``); the CLI then
prints the summary as a table.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO

from kdzoo.callbacks import FlushDenormals, PredictionCSVWriter, RunArtifacts
from kdzoo.checkpoint_io import AtomicCheckpointIO
from kdzoo.distill.distiller import Distiller
from kdzoo.edge.budget import Budget, check_budget

log = logging.getLogger(__name__)
# Lightning 2.6 on torch 2.11 warns about its own use of a deprecated torch API on every fit; not ours to fix.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
RUNS_DIR = Path("checkpoints/runs")


class KDZooCLI(LightningCLI):
    """LightningCLI with kdzoo's links, run directory and after-fit summary."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--name", default=None, help="run name (default: the recipe's file name)")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.student.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.task", "model.task", apply_on="instantiate")
        parser.add_class_arguments(Budget, "budget", help="deployment limits `fit` checks before training "
                                   "(kdzoo.edge.budget); unset limits are not checked")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        name = config.get("name") or _recipe_name(config) or "run"
        trainer = config["trainer"]
        if trainer.get("logger") in (None, True):
            trainer["logger"] = {"class_path": "lightning.pytorch.loggers.CSVLogger",
                                 "init_args": {"save_dir": str(RUNS_DIR), "name": name}}
        trainer["default_root_dir"] = trainer.get("default_root_dir") or str(RUNS_DIR / name)

    def before_fit(self) -> None:
        """Refuse to train a student that is over the recipe's ``budget`` (before any data is loaded)."""
        budget = self.config_init[self.subcommand].get("budget")
        if budget is not None and any(v is not None for v in vars(budget).values()):
            variant = getattr(self.model.student, "variant", None) or {}
            check_budget(self.model.student, budget, variant.get("name", type(self.model.student).__name__))

    def instantiate_trainer(self, **kwargs) -> pl.Trainer:
        """Lightning's Trainer, saving checkpoints with :class:`AtomicCheckpointIO` unless a plugin chose another."""
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer

    def after_fit(self) -> None:
        artifacts = next((c for c in self.trainer.callbacks if isinstance(c, RunArtifacts)), None)
        if artifacts is not None and artifacts.summary is not None:
            print_summary(artifacts.summary, artifacts.curves)


class KDZooArgumentParser(LightningArgumentParser):
    """Lightning's parser, able to link a value into a *function* ``class_path`` (``kdzoo.models.create_student``).

    jsonargparse 4.53 passes its private ``linked_targets`` keyword on to ``add_function_arguments``, which
    does not accept it, so ``link_arguments("data.num_classes", "model.student.init_args.num_classes")``
    fails for a factory function (it works for classes). The keyword only marks linked parameters as not
    required, which jsonargparse also does right after this call; dropping it here is enough.
    """

    def add_function_arguments(self, function: Callable, *args, linked_targets: set[str] | None = None,
                               **kwargs) -> list[str]:
        return super().add_function_arguments(function, *args, **kwargs)


def _recipe_name(config) -> str | None:
    paths = config.get("config") or []
    return Path(str(paths[-1])).stem if paths else None


def print_summary(info: dict, curves: Path | None = None) -> None:
    """A table a person reads at the end of a run (``info``: :func:`kdzoo.callbacks.run_summary`)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{info['method']} -> {info['student']}, {info['student_params']:,} params")
    table.add_column("test metric")
    table.add_column("value", justify="right")
    for key, value in sorted(info["scores"].items()):
        table.add_row(key, f"{value:.4f}")
    console = Console()
    console.print(table)
    if info.get("test_split") == "validate" and "val/score" in info.get("last_epoch_val_scores", {}):
        console.print(f"test = validate (no held-out split): last epoch val/score "
                      f"{info['last_epoch_val_scores']['val/score']:.4f}, unselected, beside the best checkpoint's")
    console.print(f"best checkpoint: {info['best_checkpoint'] or '(none)'}\nstudent weights: {info['student_weights']}")
    if curves is not None:
        console.print(f"curves: {curves}")


def run_lightning(subcommand: str, args: list[str]) -> KDZooCLI:
    """Run ``kdzoo <subcommand>`` (fit/validate/test/predict) with LightningCLI arguments ``args``.

    LightningCLI parses ``sys.argv``, set here to this very command with the recipe already expanded. Lightning's
    DDP launcher starts ranks 1.. by re-running ``sys.argv`` (as ``python -m kdzoo`` or the ``kdzoo`` script), so
    every rank runs the same command, also when it comes from ``kdzoo bench``.
    """
    sys.argv = [sys.argv[0], subcommand, *args]
    return build_cli(None, subcommand)


def build_cli(args: list[str] | None, subcommand: str | None = None) -> KDZooCLI:
    """The CLI for ``args`` (recipe already expanded; None: read ``sys.argv``); runs ``subcommand``, or only
    builds model and data when it is None (``kdzoo cache-teacher``)."""
    return KDZooCLI(
        Distiller,
        pl.LightningDataModule,
        parser_class=KDZooArgumentParser,
        subclass_mode_data=True,
        run=subcommand is not None,
        args=args,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "callbacks": [
                ModelCheckpoint(monitor="val/score", mode="max", save_last=True, filename="best-{epoch}"),
                PredictionCSVWriter(),
                RunArtifacts(),
                FlushDenormals(),
            ],
            "log_every_n_steps": 5,
            "deterministic": "warn",
        },
    )
