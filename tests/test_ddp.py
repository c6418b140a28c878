"""Several processes: ``kdzoo fit --trainer.strategy ddp`` runs the same fit on every rank, and a dying rank ends it.

The DDP runs go through the real command line in a subprocess: two CPU processes (gloo), rank 1 started by
Lightning's launcher re-running the command. Each run has a timeout, so a hang fails the test instead of
blocking CI. ``tests/ddp_probe.py`` (put on the path of the run) records what each rank did, or kills one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.machinery import ModuleSpec
from pathlib import Path

import pandas as pd
import pytest
from lightning.fabric.strategies.launchers.subprocess_script import _basic_subprocess_cmd

import __main__
from kdzoo.cli import main, runner
from kdzoo.cli.recipes import find_recipe
from kdzoo.data.synth import synth_ust

SOURCE_ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 420  # a run takes ~20 s on 2 idle cores, minutes on overloaded ones; a hang must still end
FAIL_FAST_S = 60  # from the failure to the end of every rank: seconds (a hang would be the 30 min PG timeout)
DDP_FIT = ["fit", "--recipe", "scratch_demo", "--data.init_args.clips", "15", "--data.init_args.test_clips", "0",
           "--data.init_args.clip_seconds", "2.0",
           "--data.init_args.batch_size", "2", "--trainer.max_epochs", "1", "--trainer.limit_test_batches", "1",
           "--trainer.enable_progress_bar", "false",
           "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
           "--trainer.strategy", "ddp", "--trainer.callbacks+=ddp_probe.RankProbe"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "synth-ust"
    synth_ust(root, clips=15, clip_seconds=2.0, speech="formant", workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def ddp_run(corpus, tmp_path_factory) -> tuple[Path, str]:
    """One two-process fit shared by the tests that read what it left: (its folder, its output)."""
    folder = tmp_path_factory.mktemp("ddp")
    code, output, _ = kdzoo_fit_ddp(corpus, folder)
    assert code == 0, output[-4000:]
    return folder, output


def kdzoo_fit_ddp(corpus: Path, run_dir: Path, fail_rank: int | None = None) -> tuple[int, str, float]:
    """Run ``python -m kdzoo fit ... --trainer.devices 2 --trainer.strategy ddp`` in ``run_dir``.

    Returns (exit code, stdout and stderr of all ranks, time it ended). The run gets its own process group, so
    whatever is left of it after the timeout (or after the test) is killed rather than left on the machine.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in {"LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
           and not k.startswith(("SLURM_", "TORCHELASTIC_", "KDZOO_PROBE_"))}
    env |= {"PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), str(SOURCE_ROOT / "tests")]),
            "KDZOO_PROBE_DIR": str(run_dir)}
    if fail_rank is not None:
        env["KDZOO_PROBE_FAIL_RANK"] = str(fail_rank)
    command = [sys.executable, "-m", "kdzoo", *DDP_FIT, "--data.init_args.root", str(corpus)]
    proc = subprocess.Popen(command, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT_S)  # returns once every rank has closed the pipe
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"kdzoo fit with DDP hung for {RUN_TIMEOUT_S} s:\n{proc.communicate()[0][-4000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode, output, time.time()


def test_every_rank_runs_the_same_fit_and_rank_zero_writes_the_run(corpus, ddp_run):
    tmp_path, output = ddp_run
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"]) for r in ranks] == [(0, 2), (1, 2)]
    assert ranks[1]["local_rank_env"] == "1"  # rank 1 is the process Lightning started
    recipe = str(find_recipe("scratch_demo"))
    assert ranks[0]["argv"] == ranks[1]["argv"] == ["fit", "--config", recipe, *DDP_FIT[3:],
                                                     "--data.init_args.root", str(corpus)]
    # the distributed sampler gave each rank half of the 12 training clips: no clip dropped or seen twice
    annotations = pd.read_csv(corpus / "annotations.csv")
    train = set(annotations.query("split == 'train'").audio_filename)
    assert len(train) == 12 and len(ranks[0]["clips"]) == len(ranks[1]["clips"]) == 6
    assert set(ranks[0]["clips"]) | set(ranks[1]["clips"]) == train
    run = tmp_path / "checkpoints" / "runs" / "scratch_demo" / "version_0"
    summary = json.loads((run / "summary.json").read_text())
    assert 0.0 <= summary["scores"]["test/micro_auprc"] <= 1.0
    assert Path(summary["student_weights"]) == Path("checkpoints/runs/scratch_demo/version_0/student.pt")
    assert (run / "student.pt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert output.count("student weights:") == 1  # rank 0 alone writes and prints the summary


def test_the_validation_score_equals_one_process_scoring_the_same_weights(corpus, ddp_run, monkeypatch):
    """3 validation clips on 2 ranks: the sampler pads them to 4 (one clip twice); the score counts each once."""
    folder, _ = ddp_run
    ranks = [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]
    seen = ranks[0]["val_clips"] + ranks[1]["val_clips"]
    assert len(seen) == 4 and len(set(seen)) == 3  # a duplicate was really there to be removed
    # logged with sync_dist: both ranks hold the mean over all ranks, not each its own clips' value
    for key in ("train/task_loss_epoch", "train/loss_epoch", "val/task_loss", "val/micro_auprc"):
        assert ranks[0]["metrics"][key] == ranks[1]["metrics"][key], key
    run = folder / "checkpoints" / "runs" / "scratch_demo" / "version_0"
    ddp_scores = json.loads((run / "summary.json").read_text())["last_epoch_val_scores"]
    monkeypatch.chdir(folder)
    monkeypatch.setenv("KDZOO_PROBE_DIR", str(folder))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    single = runner.run_lightning("validate", [
        "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
        "--trainer.devices", "1", "--trainer.strategy", "auto", "--name", "single"])
    one = {k: float(v) for k, v in single.trainer.callback_metrics.items()}
    for key in ("val/micro_auprc", "val/macro_auprc", "val/micro_f1", "val/mAP"):
        assert ddp_scores[key] == pytest.approx(one[key], abs=1e-6), key


@pytest.mark.parametrize("fail_rank", [1, 0])
def test_a_rank_that_dies_ends_the_run_quickly_with_its_error(corpus, tmp_path, fail_rank):
    code, output, ended = kdzoo_fit_ddp(corpus, tmp_path, fail_rank=fail_rank)
    assert code != 0
    assert f"RuntimeError: probe: injected failure on rank {fail_rank}" in output
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert failed["rank"] == fail_rank and ended - failed["time"] < FAIL_FAST_S, output[-4000:]
    assert not (tmp_path / "checkpoints" / "runs" / "scratch_demo" / "version_0" / "summary.json").exists()


@pytest.mark.parametrize(("argv0", "main_module", "relaunch"), [
    ("/venv/bin/kdzoo", None, ["/venv/bin/kdzoo"]),  # the console script: run again as a file
    ("/src/kdzoo/__main__.py", "kdzoo.__main__", ["-m", "kdzoo.__main__"]),  # python -m kdzoo
])
def test_lightning_relaunches_the_kdzoo_command_with_the_recipe_expanded(argv0, main_module, relaunch, monkeypatch):
    """The command Lightning's DDP launcher builds for ranks 1.. (from ``sys.argv`` and ``__main__``)."""
    relaunched = []
    monkeypatch.setattr(runner, "KDZooCLI", lambda *a, **k: relaunched.append(_basic_subprocess_cmd()))
    monkeypatch.setattr(__main__, "__spec__", main_module and ModuleSpec(main_module, None))
    monkeypatch.setattr(sys, "argv", [argv0, "fit", "--recipe", "scratch_demo", "--trainer.devices", "2"])
    main()
    assert relaunched == [[sys.executable, *relaunch, "fit", "--config", str(find_recipe("scratch_demo")),
                           "--trainer.devices", "2"]]
