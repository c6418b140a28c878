"""LightningCLI for kdzoo: recipes map onto ``Distiller`` and data-module signatures.

Linked (never repeated in recipes): ``data.num_classes`` -> ``model.num_classes`` and the student's
``num_classes``; ``data.task`` -> ``model.task``. After ``fit`` the best checkpoint is tested, the student
alone is exported next to it (``student.pt``), and a summary is printed.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from kdzoo.callbacks import PredictionCSVWriter
from kdzoo.distill.distiller import Distiller
from kdzoo.files import sha256_of
from kdzoo.plots import plot_run

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

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        name = config.get("name") or _recipe_name(config) or "run"
        trainer = config["trainer"]
        if trainer.get("logger") in (None, True):
            trainer["logger"] = {"class_path": "lightning.pytorch.loggers.CSVLogger",
                                 "init_args": {"save_dir": str(RUNS_DIR), "name": name}}
        trainer["default_root_dir"] = trainer.get("default_root_dir") or str(RUNS_DIR / name)

    def after_fit(self) -> None:
        best = self.trainer.checkpoint_callback.best_model_path if self.trainer.checkpoint_callback else ""
        results = self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
        scores = {k: float(v) for k, v in (results[0] if results else {}).items()}
        run_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)
        student_path = self.model.save_student(run_dir / "student.pt", scores=scores, best_checkpoint=best)
        info = _summary(self.model, scores, best, student_path)
        (run_dir / "summary.json").write_text(json.dumps(info, indent=2))
        curves = plot_run(run_dir) if (run_dir / "metrics.csv").is_file() else None
        print_summary(info, curves)


def _recipe_name(config) -> str | None:
    paths = config.get("config") or []
    return Path(str(paths[-1])).stem if paths else None


def _summary(model: Distiller, scores: dict, best: str, student_path: Path) -> dict:
    params = sum(p.numel() for p in model.student.parameters())
    return {
        "student": type(model.student).__name__,
        "student_params": params,
        "student_size_kb_fp32": round(params * 4 / 1024, 1),
        "method": type(model.method).__name__,
        "teacher": None if model.teacher is None else type(model.teacher.model).__name__,
        "scores": scores,
        "best_checkpoint": best,
        "student_weights": str(student_path),
        "student_sha256": sha256_of(student_path),
    }


def print_summary(info: dict, curves: Path | None = None) -> None:
    """A table a person reads at the end of a run (``info`` from :func:`_summary`): scores, size, files."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{info['method']} -> {info['student']}, {info['student_params']:,} params")
    table.add_column("test metric")
    table.add_column("value", justify="right")
    for key, value in sorted(info["scores"].items()):
        table.add_row(key, f"{value:.4f}")
    console = Console()
    console.print(table)
    console.print(f"best checkpoint: {info['best_checkpoint'] or '(none)'}\nstudent weights: {info['student_weights']}")
    if curves is not None:
        console.print(f"curves: {curves}")


def run_lightning(subcommand: str, args: list[str]) -> KDZooCLI:
    """Run ``kdzoo <subcommand>`` (fit/validate/test/predict) with LightningCLI arguments ``args``."""
    return build_cli(args, subcommand)


def build_cli(args: list[str], subcommand: str | None = None) -> KDZooCLI:
    """The CLI for ``args`` (recipe already expanded); runs ``subcommand``, or only builds model and data if None."""
    sys.argv = sys.argv[:1]  # the arguments come from ``args`` (recipe already expanded), not the shell
    return KDZooCLI(
        Distiller,
        pl.LightningDataModule,
        subclass_mode_data=True,
        run=subcommand is not None,
        args=[subcommand, *args] if subcommand else args,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "callbacks": [
                ModelCheckpoint(monitor="val/score", mode="max", save_last=True, filename="best-{epoch}"),
                PredictionCSVWriter(),
            ],
            "log_every_n_steps": 5,
            "deterministic": "warn",
        },
    )
