"""The ``kdzoo`` command.

``kdzoo fit|validate|test|predict --recipe NAME [--key value ...]`` runs LightningCLI on ``recipes/NAME.yaml``
(``--recipe NAME`` is sugar for ``--config <recipes dir>/NAME.yaml``; any LightningCLI option still works,
``--print_config`` included). The other subcommands are small tools: ``recipes``, ``models``, ``data``,
``export``, ``profile`` (:mod:`kdzoo.cli.edge`), ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
  data       data tools: `kdzoo data synth-ust` / `synth-kws` / `synth-asc` (offline corpora),
             `kdzoo data download sonyc-ust|speech-commands|tau2022`
  bench      fit recipes over seeds; mean ± std and paired Δ to --baseline:  kdzoo bench kd_demo --seeds 0 1 2
  bench-report  the same tables from benches' runs.csv files, e.g. a grid benched in parts, pooled Δ included:
             kdzoo bench-report a/runs.csv b/runs.csv --baseline weight=0 --metric test/accuracy
  publish    copy a finished run's student into checkpoints/teachers/ and record it in the manifest
  cache-teacher  fill a recipe's teacher-output store once (resumable):  kdzoo cache-teacher --recipe kd_demo
  embed      window embeddings of audio files, one .npz each:  kdzoo embed a.wav b.flac --out emb/ --model sea_student_2
  downstream SEA's MIL + AutoPool evaluation of embedders on a SONYC-UST-layout corpus (micro/macro AUPRC):
             kdzoo downstream --embedder RUN_DIR sea_student_2 --data-root data/synth-ust --out DIR
  export     the student alone as ONNX or TorchScript, optionally static int8:
             kdzoo export RUN_DIR --format onnx --int8 --calibration 64 --out student.int8.onnx
  profile    params, MACs, peak activation memory, flash, 1-thread latency:  kdzoo profile STUDENT.pt|RUN_DIR|NAME
  plot       plot attention CKPT AUDIO --out FIG.png [--before CKPT0]: a Temporal KD run's teacher target and
             student attention over a clip (the run's config.yaml is found beside CKPT's checkpoints/ folder);
             plot keyword-attention CKPT --out FIG.png [--before CKPT0] [--native]: their share on the keyword
             over a split (--native: the student's own attention, att_rnn / mhatt_rnn)

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
        from kdzoo.edge.budget import OverBudget

        try:
            run_lightning(command, expand_recipe(resume_args(rest) if command == "fit" else rest))
        except OverBudget as error:  # a recipe's budget: a message, not a traceback
            print(f"kdzoo {command}: {error}", file=sys.stderr)
            return 2
        return 0
    tools = {"recipes": _recipes_command, "models": _models_command, "data": _data_command,
             "publish": _publish_command, "bench": _bench_command, "bench-report": _bench_report_command,
             "cache-teacher": _cache_teacher_command,
             "embed": _embed_command, "downstream": _downstream_command, "export": _export_command,
             "profile": _profile_command, "plot": _plot_command}
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
    from kdzoo.cli.bench import DEFAULT_METRIC

    parser = argparse.ArgumentParser(
        prog="kdzoo bench",
        description="Fit recipes over seeds (finished runs are reused); print and save mean ± std of the test "
                    "scores and, with --baseline, each recipe's paired difference to it with a 95 % t interval.",
        epilog="Arguments after `--` go to every fit, e.g. `-- --trainer.max_epochs 5`.")
    parser.add_argument("recipes", nargs="+", help="recipe names (see `kdzoo recipes`)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--baseline", default=None, help="recipe the others are compared to, seed by seed; with "
                        "--vary also KEY=VALUE: each row against the row differing only in KEY (e.g. weight=0)")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="run every recipe at each value of this override (repeatable: every combination), "
                        "e.g. --vary model.method.init_args.weight=0,0.1,0.25,0.5")
    parser.add_argument("--metric", default=DEFAULT_METRIC, help="metric of the comparison and the plot: any "
                        "test score the runs log, e.g. test/accuracy for scenes (default: %(default)s)")
    parser.add_argument("--out", default="checkpoints/runs/bench",
                        help="where runs.csv, results.csv, results.md, results.png, val_curves.png (every run's "
                        "validation score per epoch) and, for a grid with --baseline KEY=VALUE, pooled.csv (every "
                        "row's paired differences at each other value of KEY in one interval) go "
                        "(default: %(default)s)")
    parser.add_argument("--no-edge", action="store_true", help="leave out the edge columns (kdzoo profile of "
                        "each recipe's student: MACs, int8 memory and flash, 1-thread latency)")
    _add_takeoff(parser)
    parser.add_argument("--no-fit", action="store_true", help="only gather finished runs (e.g. of a grid split "
                        "over processes); fail, naming them, if any run has not finished")
    own, overrides = _split_at_dashes(args)
    opts = parser.parse_args(own)
    from kdzoo.cli.bench import BenchArgumentError, group_markdown, markdown, pooled_markdown, run_bench

    try:
        table = run_bench(opts.recipes, opts.seeds, overrides, opts.out, baseline=opts.baseline,
                          metric=opts.metric, edge=not opts.no_edge, vary=opts.vary, fit=not opts.no_fit,
                          takeoff=opts.takeoff)
    except BenchArgumentError as error:
        print(f"kdzoo bench: {error}", file=sys.stderr)
        return 2
    print(markdown(table, opts.metric, opts.baseline))
    if groups := group_markdown(table):
        print(f"\nScores per clip group:\n{groups}")
    if pooled := pooled_markdown(table.attrs.get("pooled"), opts.metric, opts.baseline or ""):
        print(f"\nPooled over the rows at each value of {opts.baseline.partition('=')[0]}:\n{pooled}")
    return 0


def _add_takeoff(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--takeoff", type=float, default=None, metavar="SCORE", help="add each seed's first "
                        "epoch whose val/score reaches SCORE (e.g. 3x chance): when a run started to learn")


def _bench_report_command(args: list[str]) -> int:
    from kdzoo.cli.bench import DEFAULT_METRIC

    parser = argparse.ArgumentParser(
        prog="kdzoo bench-report",
        description="Tables of finished runs from benches' runs.csv files (e.g. one bench per student, or the "
                    "files under checkpoints/benchmarks): mean ± std per row, each row's paired Δ to --baseline, "
                    "and with --baseline KEY=VALUE the Δ of all rows at each other value of KEY pooled. Fits "
                    "nothing and needs no run folders.")
    parser.add_argument("runs", nargs="+", help="runs.csv files written by kdzoo bench")
    parser.add_argument("--baseline", default=None, help="a row label, or KEY=VALUE (e.g. weight=0): each row "
                        "against the row differing only in KEY")
    parser.add_argument("--metric", default=DEFAULT_METRIC, help="test score compared (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds (default: all)")
    _add_takeoff(parser)
    parser.add_argument("--out", default=None, help="also write results.csv, pooled.csv and val_curves.png here")
    opts = parser.parse_args(args)
    from kdzoo.cli.bench import BenchArgumentError, markdown, plot_val_curves, pooled_markdown, read_runs, report_runs

    try:
        runs = read_runs(opts.runs, opts.seeds)
        table, pooled = report_runs(runs, opts.metric, opts.baseline, opts.takeoff)
    except BenchArgumentError as error:
        print(f"kdzoo bench-report: {error}", file=sys.stderr)
        return 2
    print(markdown(table, opts.metric, opts.baseline))
    if text := pooled_markdown(pooled, opts.metric, opts.baseline or ""):
        print(f"\nPooled over the rows at each value of {opts.baseline.partition('=')[0]}:\n{text}")
    if opts.out:
        Path(opts.out).mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(opts.out) / "results.csv", index=False)
        if not pooled.empty:
            pooled.to_csv(Path(opts.out) / "pooled.csv", index=False)
        plot_val_curves(runs, Path(opts.out) / "val_curves.png")
    return 0


def _export_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kdzoo export",
        description="Export the student alone (front end included; no teacher, no KD-method heads): waveform "
                    "(B, T) in, logits (B, K) out; for SEA's window students (sea_student_*) one 1 s window "
                    "(B, 8000) in, its embedding (B, d) out. Prints the fp32 graph's difference to PyTorch.")
    parser.add_argument("source", help="a student.pt or a run directory holding one")
    parser.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="(default: %(default)s)")
    parser.add_argument("--out", required=True, help="file to write (with --int8: the int8 graph; the fp32 graph "
                        "goes beside it as *.fp32.onnx)")
    parser.add_argument("--int8", action="store_true", help="static int8 (ONNX Runtime QDQ), front end kept float")
    parser.add_argument("--calibration", type=int, default=64,
                        help="train clips that set the int8 activation ranges (default: %(default)s)")
    parser.add_argument("--data", default=None, help="where the calibration data is described: a recipe name, a "
                        "run directory or a config YAML (default: the run directory given as source)")
    parser.add_argument("--data-root", default=None, help="override the data module's root folder")
    parser.add_argument("--score-test", action="store_true",
                        help="score the fp32 graph (and the int8 one, with --int8) on the test split, one clip at "
                        "a time on 1 thread: official AUPRC for tagging, accuracy (and per device) for scenes")
    opts = parser.parse_args(args)
    from kdzoo.cli.edge import export_command

    try:
        lines = export_command(opts.source, opts.format, opts.out, opts.int8, opts.calibration, opts.data,
                               opts.data_root, opts.score_test)
    except (FileNotFoundError, ValueError) as error:
        print(f"kdzoo export: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _profile_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kdzoo profile",
        description="The edge report of a student for 1 s of audio: parameters, MACs (network; front end "
                    "separately), peak activation memory (fp32, int8), flash of int8 weights, median latency "
                    "on one CPU thread (ONNX Runtime, fp32 and int8). See kdzoo.edge.profile for how each is made.")
    parser.add_argument("student", help="a student.pt, a run directory, or a registered name (untrained)")
    parser.add_argument("--runs", type=int, default=50, help="latency runs after warm-up (default: %(default)s)")
    parser.add_argument("--no-latency", action="store_true", help="sizes only")
    parser.add_argument("--json", default=None, help="also write the report to this JSON file")
    opts = parser.parse_args(args)
    import json

    from kdzoo.cli.edge import load_model, profile_lines
    from kdzoo.edge.profile import profile_student

    try:
        report = profile_student(load_model(opts.student), runs=opts.runs, latency=not opts.no_latency).row()
    except (FileNotFoundError, ValueError) as error:
        print(f"kdzoo profile: {error}", file=sys.stderr)
        return 2
    print("\n".join(profile_lines(report)))
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=2))
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


def _downstream_command(args: list[str]) -> int:
    from kdzoo.cli.downstream import main as downstream_main

    return downstream_main(args)


def _embed_command(args: list[str]) -> int:
    from kdzoo.cli.embed import main as embed_main

    return embed_main(args)


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


# -- plot ------------------------------------------------------------------------------------------------
def _plot_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kdzoo plot", description="Plots of a run.")
    sub = parser.add_subparsers(dest="kind", required=True)
    attention = sub.add_parser("attention", help="teacher target and student attention over one clip (Temporal KD)")
    attention.add_argument("ckpt", help="a checkpoint of a TemporalKD run (<run>/checkpoints/*.ckpt)")
    attention.add_argument("audio", help="the clip to plot")
    attention.add_argument("--out", required=True, help="the PNG to write")
    attention.add_argument("--before", default=None, help="a second checkpoint (e.g. an earlier one) drawn too")
    keyword = sub.add_parser(
        "keyword-attention", help="share of the teacher target and student attention on the keyword, over a split "
        "of the noisy keyword task (Temporal KD); prints it and writes FIG.png and FIG.csv")
    keyword.add_argument("ckpt", help="a checkpoint of a TemporalKD run on SpeechCommandsDataModule")
    keyword.add_argument("--out", required=True, help="the PNG to write (the per-clip table goes beside it, .csv)")
    keyword.add_argument("--before", default=None, help="a second checkpoint (e.g. the λ = 0 run) compared too")
    keyword.add_argument("--split", default="test", choices=("val", "test"), help="the split (default: test)")
    keyword.add_argument("--native", action="store_true", help="read the student's own attention over time "
                         "(att_rnn, mhatt_rnn: heads averaged) instead of the KD head: does a student with "
                         "attention find the word by itself, e.g. in a λ = 0 run?")
    opts = parser.parse_args(args)
    if opts.kind == "keyword-attention":
        return _plot_keyword_attention(opts)
    from kdzoo.data.audio import load_audio
    from kdzoo.plots import attention_over_clip, plot_attention

    curves = {}
    for label, ckpt in (("before", opts.before), ("after", opts.ckpt)):
        if ckpt is None:
            continue
        model, _ = _temporal_run("attention", ckpt)
        waveform, rate = load_audio(opts.audio, model.student.sample_rate)
        curves[label] = attention_over_clip(model, waveform, rate)
    print(f"wrote {plot_attention(waveform, rate, curves, opts.out)}")
    return 0


def _plot_keyword_attention(opts: argparse.Namespace) -> int:
    from pathlib import Path

    from kdzoo.keyword_attention import keyword_attention, summary
    from kdzoo.plots import plot_keyword_attention

    tables = {}
    for label, ckpt in (("before", opts.before), ("after" if opts.before else "run", opts.ckpt)):
        if ckpt is None:
            continue
        model, data = _temporal_run("keyword-attention", ckpt)
        clips = data.dataset(opts.split) if hasattr(data, "dataset") else None
        if not hasattr(clips, "keyword_span"):
            raise SystemExit(f"kdzoo plot keyword-attention: {ckpt} was trained on {type(data).__name__}; the "
                             f"keyword's position is known only on SpeechCommandsDataModule")
        if opts.native:
            _read_native_attention(model, ckpt)
        label = f"{label}, weight {model.method.weight:g}" + (", own attention" if opts.native else "")
        tables[label] = keyword_attention(model, clips, batch_size=data.batch_size)
        numbers = summary(tables[label])
        print(f"{label} ({ckpt}), {numbers['clips']} keyword clips of {opts.split}: share on the keyword: teacher "
              f"target {numbers['teacher']:.3f} (above chance on {numbers['teacher_above_chance']:.0%} of clips), "
              f"student {numbers['student']:.3f} ({numbers['student_above_chance']:.0%}); chance "
              f"{numbers['chance']:.3f}")
    out = Path(opts.out)
    csv = out.with_suffix(".csv")
    import pandas as pd

    pd.concat([t.assign(checkpoint=label) for label, t in tables.items()]).to_csv(csv, index=False)
    print(f"wrote {plot_keyword_attention(tables, out)} and {csv}")
    return 0


def _read_native_attention(model, ckpt: str) -> None:
    """Make the run's TemporalKD read the student's own attention (``attention="native"``) for measuring."""
    if not getattr(model.student, "native_time_attention", False):
        raise SystemExit(f"kdzoo plot keyword-attention: --native reads the student's own attention over time, "
                         f"which {type(model.student).__name__} ({ckpt}) has not; it is for att_rnn and mhatt_rnn")
    model.method.attention = "native"


def _temporal_run(command: str, ckpt: str):
    """The Distiller (weights loaded) and data module of the TemporalKD run that wrote ``ckpt``."""
    from pathlib import Path

    import torch

    from kdzoo.cli.runner import build_cli

    if not Path(ckpt).is_file():
        raise SystemExit(f"kdzoo plot {command}: no checkpoint at {ckpt}")
    config = next((p / "config.yaml" for p in Path(ckpt).resolve().parents if (p / "config.yaml").is_file()), None)
    if config is None:
        raise SystemExit(f"kdzoo plot {command}: no config.yaml in the folders above {ckpt}; pass a checkpoint "
                         f"of a kdzoo run")
    model_config = _model_config(config)
    try:
        cli = build_cli(["--config", str(model_config)])
    finally:
        model_config.unlink()
    model = cli.model
    if not hasattr(model.method, "student_log_attention"):
        raise SystemExit(f"kdzoo plot {command}: {config} trains with {type(model.method).__name__}, not "
                         f"TemporalKD; there is no student attention to plot")
    model.method.setup(model.student, model.teacher, None, model.task)
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"])
    return model, cli.datamodule


def _model_config(run_config: Path) -> Path:
    """A run's ``config.yaml`` without the keys only ``fit`` accepts (``ckpt_path``, ``weights_only``, ...), which
    the model-building parser refuses; written to a temporary file whose path is returned (the caller deletes it)."""
    import tempfile

    import yaml

    config = yaml.safe_load(run_config.read_text())
    kept = {key: config[key] for key in ("seed_everything", "trainer", "model", "data", "budget") if key in config}
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    with handle:
        yaml.safe_dump(kept, handle)
    return Path(handle.name)


# -- data ------------------------------------------------------------------------------------------------
def _data_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kdzoo data", description="Data tools.")
    sub = parser.add_subparsers(dest="tool", required=True)
    synth = sub.add_parser("synth-ust", help="write the offline SONYC-UST-format corpus")
    synth.add_argument("--root", default="data/synth-ust", help="output folder (default: %(default)s)")
    synth.add_argument("--clips", type=int, default=600, help="clips to train and validate on (default: %(default)s)")
    synth.add_argument("--clip-seconds", type=float, default=10.0,
                       help="length of every clip; SONYC-UST's is 10, the demo recipes use 4 (default: %(default)s)")
    synth.add_argument("--test-clips", type=int, default=0,
                       help="held-out test clips after them; the demo recipes use 1000 (default: %(default)s)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    synth.add_argument("--workers", type=int, default=2, help="processes (default: %(default)s)")
    synth.add_argument("--speech", choices=["formant", "espeak", "auto"], default="formant",
                       help="voice events: built-in formant voices (same bytes on every machine; what the demo "
                            "recipes use) or espeak-ng (default: %(default)s)")
    kws = sub.add_parser("synth-kws", help="write an espeak-ng keyword corpus in Speech Commands' layout")
    kws.add_argument("--root", default="data/synth-kws", help="output folder (default: %(default)s)")
    kws.add_argument("--speakers", type=int, default=40,
                     help="synthetic speakers, each saying every word once (default: %(default)s)")
    kws.add_argument("--words", nargs="+", default=None, help="words to say (default: the 35 words of v2)")
    kws.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    asc = sub.add_parser("synth-asc", help="write a small acoustic scene corpus in TAU Urban Acoustic Scenes 2022 "
                                           "Mobile's layout (10 scenes, 9 simulated devices)")
    asc.add_argument("--root", default="data/synth-asc", help="output folder (default: %(default)s)")
    asc.add_argument("--recordings", type=int, default=4, help="recordings per scene (default: %(default)s)")
    asc.add_argument("--segments", type=int, default=6, help="1 s segments per recording (default: %(default)s)")
    asc.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    download = sub.add_parser("download", help="download a data set")
    download.add_argument("dataset", choices=["sonyc-ust", "speech-commands", "tau2022"],
                          help="tau2022: TAU Urban Acoustic Scenes 2022 Mobile, development set (DCASE Task 1, ~25 GB)")
    download.add_argument("--version", type=int, choices=[1, 2], default=None,
                          help="sonyc-ust: 1 = DCASE 2019 Task 5 (default), 2 = v2.3; "
                               "speech-commands: 1 or 2 (default)")
    download.add_argument("--root", required=True, help="where to put it")
    download.add_argument("--base-url", default=None, help="mirror to download from instead of the official host")
    opts = parser.parse_args(args)
    if opts.tool == "synth-ust":
        from kdzoo.data.synth import describe, synth_ust

        synth_ust(opts.root, clips=opts.clips, test_clips=opts.test_clips, seed=opts.seed, workers=opts.workers,
                  speech=opts.speech, clip_seconds=opts.clip_seconds)
        print(describe(opts.root))
        return 0
    if opts.tool == "synth-kws":
        from kdzoo.data.speechcommands import WORDS_V2
        from kdzoo.data.synth.speech_commands import synth_kws

        root = synth_kws(opts.root, speakers=opts.speakers, words=tuple(opts.words or WORDS_V2), seed=opts.seed)
        print(f"espeak-ng keyword corpus ready in {root} (Speech Commands layout)")
        return 0
    if opts.tool == "synth-asc":
        from kdzoo.data.synth.asc import synth_asc

        root = synth_asc(opts.root, recordings=opts.recordings, segments=opts.segments, seed=opts.seed)
        print(f"generated acoustic scene corpus ready in {root} (TAU Urban Acoustic Scenes 2022 Mobile layout)")
        return 0
    if opts.dataset == "tau2022":
        from kdzoo.data.tau import download_tau

        path = download_tau(opts.root, base_url=opts.base_url)
        print(f"TAU Urban Acoustic Scenes 2022 Mobile development set ready in {path}")
        return 0
    if opts.dataset == "speech-commands":
        from kdzoo.data.speechcommands import download_speech_commands

        path = download_speech_commands(opts.root, opts.version or 2, base_url=opts.base_url)
        print(f"Speech Commands v{opts.version or 2} ready in {path}")
        return 0
    opts.version = opts.version or 1
    from kdzoo.data.download import download_sonyc_ust

    path = download_sonyc_ust(opts.version, opts.root, base_url=opts.base_url)
    print(f"SONYC-UST v{opts.version} ready in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
