"""The kdzoo command: help, recipe listing, and every recipe running a few steps on generated audio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import write_fsd50k, write_speech_commands

from kdzoo.cli import main
from kdzoo.cli.recipes import expand_recipe, find_recipe, recipe_names
from kdzoo.data.synth import synth_ust

RECIPES = [r for r in recipe_names() if "_asc" not in r]
"""Recipes run a few steps here. The scene (TAU-layout) recipes cost ~10-30 s each (cpm_s at 32 kHz, a 30 MMAC
budget check, a corpus in their layout): their demo path runs once in test_tau.py (kd_asc_ensemble_demo) and every
scene recipe parses in test_recipe_prints_config."""
TINY = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.limit_test_batches", "1", "--trainer.enable_progress_bar", "false",
        "--data.init_args.clip_seconds", "2", "--data.init_args.batch_size", "4"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "synth-ust"
    synth_ust(root, clips=12, seed=0, clip_seconds=2.0, speech="formant", workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def kws_corpus(tmp_path_factory) -> Path:
    return write_speech_commands(tmp_path_factory.mktemp("kws") / "speech-commands")


@pytest.fixture(scope="module")
def fsd50k_corpus(tmp_path_factory) -> Path:
    return write_fsd50k(tmp_path_factory.mktemp("fsd50k") / "fsd50k")


# each recipe's data module -> the tiny corpus (a fixture above) in its layout, and the test scores its task logs
CORPORA = {"SynthUSTDataModule": "corpus", "SonycUSTDataModule": "corpus", "SpeechCommandsDataModule": "kws_corpus",
           "FSD50KDataModule": "fsd50k_corpus"}
MULTILABEL_SCORES = {"test/micro_auprc", "test/macro_auprc", "test/micro_f1", "test/mAP"}
SCORES = {"SpeechCommandsDataModule": {"test/accuracy", "test/macro_accuracy"}}


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "validate", "test", "predict", "recipes", "models", "data"):
        assert f"\n  {command} " in out


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "kdzoo", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "kdzoo <command>" in done.stdout


def test_unknown_command_fails(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_recipes_listing(capsys):
    assert {"teacher_demo", "scratch_demo", "kd_demo", "teacher_dcase", "scratch_dcase", "kd_dcase"} <= set(RECIPES)
    main(["recipes"])
    out = capsys.readouterr().out
    for name in RECIPES:
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 20, f"recipe {name} needs a one-line description"


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(SystemExit, match=r"no recipe named 'nope' \(looked in .*recipes\); available: .*kd_demo"):
        find_recipe("nope")


def test_expand_recipe_keeps_other_arguments():
    args = expand_recipe(["--recipe", "kd_demo", "--trainer.max_epochs", "3"])
    assert args[0] == "--config" and args[1].endswith("recipes/kd_demo.yaml")
    assert args[2:] == ["--trainer.max_epochs", "3"]


def test_models_listing(capsys):
    main(["models", "cnn*"])
    out = capsys.readouterr().out
    assert "student  cnn_xs" in out and "15,490" in out and "teacher  cnn_teacher_s" in out


@pytest.mark.parametrize("recipe", recipe_names())  # every recipe, the scene ones included
def test_recipe_prints_config(recipe, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--recipe", recipe, "--print_config"])
    assert exit_info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["student"]["class_path"].startswith("kdzoo.")
    assert config["data"]["class_path"].startswith("kdzoo.data.")


def _tiny_overrides(config: dict, request) -> tuple[str, list[str]]:
    """The recipe's data module class and the overrides that point it at its tiny corpus, a few steps long."""
    data_class = config["data"]["class_path"].rsplit(".", 1)[-1]
    assert data_class in CORPORA, f"no tiny corpus for {data_class}; add one to CORPORA"
    overrides = [*TINY, "--data.init_args.root", str(request.getfixturevalue(CORPORA[data_class]))]
    if config["data"]["class_path"].endswith("SynthUSTDataModule"):
        overrides += ["--data.init_args.clips", "12", "--data.init_args.test_clips", "0"]
    return data_class, overrides


def _teacher_recipe(checkpoint: str) -> str | None:
    """``checkpoints/runs/<recipe>/version_0/student.pt`` -> ``<recipe>`` when that is a recipe, else None."""
    parts = Path(checkpoint).parts
    if len(parts) == 5 and parts[:2] == ("checkpoints", "runs") and parts[2] in recipe_names():
        return parts[2]
    return None


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_a_few_steps(recipe, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(find_recipe(recipe).read_text())
    data_class, overrides = _tiny_overrides(config, request)
    corpus = overrides[overrides.index("--data.init_args.root") + 1]
    teacher = config["model"].get("teacher")
    weights = (teacher or {}).get("init_args", {}).get("model", {}).get("init_args", {}).get("weights")
    if isinstance(weights, str) and weights.endswith(".h5"):
        # a teacher whose weights the user must supply (L3: none can be downloaded) fails at once, naming the file;
        # the L3 pipeline itself is tested on a small .h5 in test_sea_models.py
        refusal = rf"{weights} not found; no L3 weights can be downloaded"
        with pytest.raises((FileNotFoundError, ValueError), match=refusal):
            main(["fit", "--recipe", recipe, *overrides])
        return
    checkpoint = (teacher or {}).get("init_args", {}).get("checkpoint")  # SEA's window teachers have none
    if checkpoint and not Path(checkpoint).is_absolute():
        shipped = Path(__file__).resolve().parents[1] / teacher["init_args"]["checkpoint"]
        if shipped.is_file():  # shipped teachers are loaded for real
            overrides += ["--model.teacher.init_args.checkpoint", str(shipped)]
        elif (first := _teacher_recipe(checkpoint)) is not None:
            # a teacher the user trains first: train it as its recipe says (a few steps), then load it from the
            # path the student recipe names, as on a fresh clone (this caught a 12-keyword teacher built with 8)
            main(["fit", "--recipe", first, *_tiny_overrides(yaml.safe_load(find_recipe(first).read_text()),
                                                              request)[1]])
            assert (tmp_path / checkpoint).is_file(), f"{first} did not write the {checkpoint} that {recipe} loads"
        else:
            overrides += ["--model.teacher.init_args.checkpoint", "null"]
    main(["fit", "--recipe", recipe, *overrides])
    run_dir = tmp_path / "checkpoints" / "runs" / recipe / "version_0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert SCORES.get(data_class, MULTILABEL_SCORES) <= set(summary["scores"])
    exported = torch.load(run_dir / "student.pt", weights_only=False)
    assert exported["meta"]["scores"] == summary["scores"]  # the file records the scores of the run it came from
    best = torch.load(summary["best_checkpoint"], weights_only=False)["state_dict"]
    for key, value in exported["state_dict"].items():  # student.pt holds the best checkpoint's student, alone
        assert torch.equal(value, best[f"student.{key}"]), key
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "curves.png").stat().st_size > 10_000
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["limit_train_batches"] == 2 and saved["data"]["init_args"]["root"] == corpus
    assert summary["best_checkpoint"].endswith(".ckpt")  # validation ran and selected a checkpoint


def test_predict_writes_the_official_submission_format(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["fit", "--recipe", "scratch_demo", *TINY, "--data.init_args.root", str(corpus),
          "--data.init_args.clips", "12", "--data.init_args.test_clips", "0", "--name", "p"])
    ckpt = tmp_path / "checkpoints" / "runs" / "p" / "version_0" / "checkpoints" / "last.ckpt"
    main(["predict", "--recipe", "scratch_demo", "--data.init_args.root", str(corpus), "--data.init_args.clips", "12",
          "--data.init_args.test_clips", "0", "--data.init_args.clip_seconds", "2", "--ckpt_path", str(ckpt),
          "--name", "p", "--trainer.enable_progress_bar", "false"])
    written = list((tmp_path / "checkpoints" / "runs" / "p").glob("version_*/predictions.csv"))
    import pandas as pd

    table = pd.read_csv(written[0])
    assert list(table.columns) == ["audio_filename", "1_engine", "2_machinery-impact", "3_non-machinery-impact",
                                   "4_powered-saw", "5_alert-signal", "6_music", "7_human-voice", "8_dog"]
    truth = pd.read_csv(corpus / "annotations.csv").query("split == 'validate'").audio_filename.unique()
    assert sorted(table.audio_filename) == sorted(truth)  # one row per clip of the test (= validate) split
    assert table.iloc[:, 1:].stack().between(0, 1).all()


def test_data_synth_ust_command_writes_what_the_demo_module_expects(tmp_path, capsys):
    import soundfile as sf

    from kdzoo.data.synth import corpus_matches

    assert main(["data", "synth-ust", "--root", str(tmp_path / "c"), "--clips", "10", "--workers", "1",
                 "--clip-seconds", "2"]) == 0
    # a data module with the same arguments (formant speech, 2 s clips) accepts it without regenerating it
    assert corpus_matches(tmp_path / "c", clips=10, seed=0, speech="formant", clip_seconds=2.0)
    assert not corpus_matches(tmp_path / "c", clips=10, seed=0, speech="formant", clip_seconds=10.0)
    assert {sf.info(str(f)).duration for f in (tmp_path / "c").rglob("*.wav")} == {2.0}
    assert "1_engine" in capsys.readouterr().out


def test_recipe_student_by_registry_name_gets_num_classes_from_the_data(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["fit", "--recipe", "scratch_demo", *TINY, "--data.init_args.root", str(corpus),
          "--data.init_args.clips", "12", "--data.init_args.test_clips", "0", "--data.init_args.level", "fine",
          "--name", "fine"])
    import kdzoo

    student = kdzoo.load_student(tmp_path / "checkpoints" / "runs" / "fine" / "version_0" / "student.pt")
    assert student.meta["variant"]["name"] == "cnn_xs"  # the recipe names the variant, not its channels
    assert student.num_classes == len(student.meta["class_names"]) == 29  # fine labels (23 + 6 "X"), linked


@pytest.mark.parametrize("command", ["bench", "bench-report", "publish", "cache-teacher", "embed", "downstream",
                                     "export", "profile", "plot"])
def test_subcommand_help_is_rendered(command, capsys):
    """Each command's --help exits 0 and shows a literal '%' as one '%' (argparse does not expand descriptions)."""
    try:
        code = main([command, "--help"])
    except SystemExit as done:  # argparse exits; commands with their own help return
        code = done.code
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: kdzoo") or f"kdzoo {command}" in out
    assert "%%" not in out
