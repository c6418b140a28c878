"""The ``kdzoo`` command.

``kdzoo fit|validate|test|predict --recipe NAME [--key value ...]`` runs LightningCLI on ``recipes/NAME.yaml``
(``--recipe NAME`` is sugar for ``--config <recipes dir>/NAME.yaml``; any LightningCLI option still works,
``--print_config`` included). The other subcommands are small tools: ``recipes``, ``models``, ``data``.
"""

from __future__ import annotations

import argparse
import sys

from kdzoo.cli.recipes import expand_recipe, find_recipe, recipe_description, recipe_names

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

HELP = """usage: kdzoo <command> [options]

Knowledge distillation for small on-device audio models.

commands:
  fit        train a student (or a teacher) from a recipe:  kdzoo fit --recipe kd_demo
             resume a killed run from its last epoch:         kdzoo fit --resume checkpoints/runs/kd_demo/version_0
  validate   score a checkpoint on the validation split:     kdzoo validate --recipe kd_demo --ckpt_path X
  test       score a checkpoint on the test split
  predict    write predictions with a checkpoint, or tag audio files with an exported student:
             kdzoo predict --student student.pt a.wav b.flac [--out tags.csv]
  recipes    list the recipes with a one-line description
  models     list registered students and teachers with parameter counts
  data       data tools: `kdzoo data synth-ust` (offline corpus), `kdzoo data download sonyc-ust`
  bench      fit recipes over seeds; mean ± std and paired Δ to --baseline:  kdzoo bench kd_demo --seeds 0 1 2
  publish    copy a finished run's student into checkpoints/teachers/ and record it in the manifest
  cache-teacher  fill a recipe's teacher-output store once (resumable):  kdzoo cache-teacher --recipe kd_demo

`kdzoo <command> --help` shows the options of each command."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(HELP)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "predict" and "--student" in rest:
        return _predict_student_command(rest)
    if command in LIGHTNING_COMMANDS:
        from kdzoo.cli.resume import resume_args
        from kdzoo.cli.runner import run_lightning

        run_lightning(command, expand_recipe(resume_args(rest) if command == "fit" else rest))
        return 0
    tools = {"recipes": _recipes_command, "models": _models_command, "data": _data_command,
             "publish": _publish_command, "bench": _bench_command, "cache-teacher": _cache_teacher_command}
    if command not in tools:
        print(f"kdzoo: unknown command {command!r}\n\n{HELP}", file=sys.stderr)
        return 2
    return tools[command](rest)


def _recipes_command(args: list[str]) -> int:
    argparse.ArgumentParser(prog="kdzoo recipes", description="List the recipes.").parse_args(args)
    for name in recipe_names():
        print(f"{name:24s} {recipe_description(find_recipe(name))}")
    return 0


def _models_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kdzoo models", description="List students and teachers.")
    parser.add_argument("pattern", nargs="?", default="*", help="glob over model names, e.g. 'cnn*'")
    pattern = parser.parse_args(args).pattern
    import kdzoo

    for kind, names in (("student", kdzoo.list_students(pattern)), ("teacher", kdzoo.list_teachers(pattern))):
        for name in names:
            info = kdzoo.model_info(name)
            print(f"{kind:8s} {name:24s} {info.num_params:>12,d}  {info.description}")
    return 0


def _bench_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kdzoo bench",
        description="Fit recipes over seeds (finished runs are reused); print and save mean ± std of the test "
                    "scores and, with --baseline, each recipe's paired difference to it with a 95 %% t interval.",
        epilog="Arguments after `--` go to every fit, e.g. `-- --trainer.max_epochs 5`.")
    parser.add_argument("recipes", nargs="+", help="recipe names (see `kdzoo recipes`)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--baseline", default=None, help="recipe the others are compared to, seed by seed")
    parser.add_argument("--metric", default="test/micro_auprc", help="metric of the comparison and the plot "
                        "(default: %(default)s)")
    parser.add_argument("--out", default="checkpoints/runs/bench",
                        help="where runs.csv, results.csv, results.md and results.png go (default: %(default)s)")
    own, overrides = _split_at_dashes(args)
    opts = parser.parse_args(own)
    from kdzoo.cli.bench import markdown, run_bench

    table = run_bench(opts.recipes, opts.seeds, overrides, opts.out, baseline=opts.baseline, metric=opts.metric)
    print(markdown(table, opts.metric, opts.baseline))
    return 0


def _predict_student_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kdzoo predict --student", description="Tag audio files with an exported student (no recipe needed).")
    parser.add_argument("--student", required=True, help="a student.pt written by `kdzoo fit` (or save_student)")
    parser.add_argument("files", nargs="+", help="audio files (anything libsndfile reads: WAV, FLAC, OGG, ...)")
    parser.add_argument("--out", default=None, help="CSV to write (default: print the CSV)")
    opts = parser.parse_args(args)
    from kdzoo.cli.tag import tag_files, write_csv

    try:
        names, rows = tag_files(opts.student, opts.files)
    except (FileNotFoundError, ValueError) as error:
        print(f"kdzoo predict: {error}", file=sys.stderr)
        return 2
    write_csv(names, rows, opts.out or sys.stdout)
    if opts.out:
        print(f"{len(rows)} files tagged -> {opts.out}")
    return 0


def _split_at_dashes(args: list[str]) -> tuple[list[str], list[str]]:
    """``a b -- c d`` -> ``([a, b], [c, d])``."""
    if "--" not in args:
        return args, []
    i = args.index("--")
    return args[:i], args[i + 1 :]


def _publish_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kdzoo publish", description="Ship a run's student as named weights.")
    parser.add_argument("run_dir", help="a finished run, e.g. checkpoints/runs/teacher_demo/version_0")
    parser.add_argument("--name", required=True, help="published name, e.g. teacher_demo")
    parser.add_argument("--command", required=True, help="the command that produced the run (recorded)")
    opts = parser.parse_args(args)
    from kdzoo.cli.publish import publish

    entry = publish(opts.run_dir, opts.name, opts.command)
    print(f"{opts.name}: {entry['file']} sha256 {entry['sha256']}")
    return 0


CACHE_TEACHER_HELP = """usage: kdzoo cache-teacher --recipe NAME [--key value ...]

Run the recipe's teacher once over the train and validate splits and store the outputs its KD method reads
(default folder checkpoints/cache/teacher-store/<key>/, or the teacher's cache_dir). Resumable: clips already
stored are skipped. The recipe's teacher must have `cache: true`; `kdzoo fit` would fill the same store on
first use. Overrides are LightningCLI options, e.g. --data.init_args.root /path/to/corpus."""


def _cache_teacher_command(args: list[str]) -> int:
    if not args or any(arg in ("-h", "--help") for arg in args):
        print(CACHE_TEACHER_HELP)
        return 0
    import torch

    from kdzoo.cli.runner import build_cli

    cli = build_cli(expand_recipe(args))
    model, data = cli.model, cli.datamodule
    data.prepare_data()
    data.setup("fit")  # before keying: the key holds the data module's settings as fit will see them
    if model.teacher_store(data) is None:
        raise SystemExit("kdzoo cache-teacher: this recipe has no teacher with `cache: true` (or its method reads "
                         "no teacher outputs); nothing to store")
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    store = model.fill_teacher_store(data)
    print(f"teacher-output store complete: {store.path}")
    return 0


# -- data ------------------------------------------------------------------------------------------------
def _data_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kdzoo data", description="Data tools.")
    sub = parser.add_subparsers(dest="tool", required=True)
    synth = sub.add_parser("synth-ust", help="write the offline SONYC-UST-format corpus")
    synth.add_argument("--root", default="data/synth-ust", help="output folder (default: %(default)s)")
    synth.add_argument("--clips", type=int, default=600, help="number of 10 s clips (default: %(default)s)")
    synth.add_argument("--test-clips", type=int, default=0,
                       help="held-out test clips after them; the demo recipes use 1000 (default: %(default)s)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    synth.add_argument("--workers", type=int, default=2, help="processes (default: %(default)s)")
    synth.add_argument("--speech", choices=["formant", "espeak", "auto"], default="formant",
                       help="voice events: built-in formant voices (same bytes on every machine; what the demo "
                            "recipes use) or espeak-ng (default: %(default)s)")
    download = sub.add_parser("download", help="download a data set")
    download.add_argument("dataset", choices=["sonyc-ust"])
    download.add_argument("--version", type=int, choices=[1, 2], default=1, help="1 = DCASE 2019 Task 5, 2 = v2.3")
    download.add_argument("--root", required=True, help="where to put it")
    download.add_argument("--base-url", default=None, help="mirror to download from instead of Zenodo")
    opts = parser.parse_args(args)
    if opts.tool == "synth-ust":
        from kdzoo.data.synth import describe, synth_ust

        synth_ust(opts.root, clips=opts.clips, test_clips=opts.test_clips, seed=opts.seed, workers=opts.workers,
                  speech=opts.speech)
        print(describe(opts.root))
        return 0
    from kdzoo.data.download import download_sonyc_ust

    path = download_sonyc_ust(opts.version, opts.root, base_url=opts.base_url)
    print(f"SONYC-UST v{opts.version} ready in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
