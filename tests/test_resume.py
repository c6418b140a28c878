"""Kill and resume: ``kdzoo fit`` SIGKILLed mid-epoch and resumed with ``--resume`` ends bit for bit like a run
that was never stopped; a kill during a checkpoint save leaves the previous checkpoint whole.

The killed run is a real subprocess (``python -m kdzoo fit``) stopped by ``tests/ddp_probe.py:HangProbe`` in the
middle of its second epoch and killed with SIGKILL from here; the uninterrupted and the resumed runs run in
this process (one subprocess is the slow part: every Python start compiles torch and Lightning again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kdzoo.cli import main
from kdzoo.data.synth import synth_ust

SOURCE_ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 300
FIT = ["fit", "--recipe", "scratch_demo", "--data.init_args.clips", "12", "--data.init_args.test_clips", "0",
       "--data.init_args.clip_seconds", "1.0", "--data.init_args.batch_size", "4", "--trainer.max_epochs", "3",
       "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
       "--trainer.accelerator", "cpu", "--trainer.callbacks+=ddp_probe.HangProbe"]
RUN = Path("checkpoints/runs/scratch_demo/version_0")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "synth-ust"
    synth_ust(root, clips=12, clip_seconds=1.0, speech="formant", workers=1, progress=False)
    return root


def fit_until_killed(corpus: Path, cwd: Path, hang_at: str) -> dict:
    """Run ``kdzoo fit`` in a subprocess until it reaches ``hang_at`` (``epoch:batch``), then SIGKILL it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KDZOO_PROBE_", "PL_"))}
    env |= {"PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), str(SOURCE_ROOT / "tests")]),
            "KDZOO_PROBE_DIR": str(cwd), "KDZOO_PROBE_HANG_AT": hang_at}
    proc = subprocess.Popen([sys.executable, "-m", "kdzoo", *FIT, "--data.init_args.root", str(corpus)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + RUN_TIMEOUT_S
        while not (cwd / "hang.json").is_file():
            if proc.poll() is not None or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"the run to kill ended or hung before {hang_at}:\n{proc.communicate()[0][-4000:]}")
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return json.loads((cwd / "hang.json").read_text())


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["state_dict"]


def test_a_run_killed_mid_epoch_and_resumed_ends_like_an_uninterrupted_one(corpus, tmp_path, monkeypatch):
    killed, full = tmp_path / "killed", tmp_path / "full"
    killed.mkdir(), full.mkdir()
    where = fit_until_killed(corpus, killed, hang_at="1:1")  # 3 train batches per epoch: the middle of epoch 1
    assert where == {"epoch": 1, "batch": 1, "step": 4}
    saved = torch.load(killed / RUN / "checkpoints" / "last.ckpt", weights_only=False)
    assert (saved["epoch"], saved["global_step"]) == (0, 3)  # the epoch-0 checkpoint survived the kill
    assert not (killed / RUN / "summary.json").exists()

    monkeypatch.chdir(killed)
    assert main(["fit", "--resume", str(RUN)]) == 0
    monkeypatch.chdir(full)
    assert main([*FIT, "--data.init_args.root", str(corpus)]) == 0

    resumed, straight = (json.loads((d / RUN / "summary.json").read_text()) for d in (killed, full))
    assert resumed["scores"] == straight["scores"] and resumed["scores"]
    assert resumed["last_epoch_val_scores"] == straight["last_epoch_val_scores"]
    for name in ("student.pt", "checkpoints/last.ckpt"):
        a, b = weights(killed / RUN / name), weights(full / RUN / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name}: resumed weights differ from the uninterrupted run"
    optimiser = [torch.load(d / RUN / "checkpoints/last.ckpt", weights_only=False)["optimizer_states"][0]["state"]
                 for d in (killed, full)]
    assert all(torch.equal(optimiser[0][p]["exp_avg_sq"], optimiser[1][p]["exp_avg_sq"]) for p in optimiser[0])
    environment = json.loads((killed / RUN / "environment.json").read_text())
    assert environment["seed"] == 0 and environment["argv"][:3] == ["fit", "--config", str(RUN / "config.yaml")]


def test_resume_names_what_is_missing(tmp_path):
    (tmp_path / "config.yaml").write_text("seed_everything: 0\n")
    with pytest.raises(SystemExit, match=r"last\.ckpt does not exist"):
        main(["fit", "--resume", str(tmp_path)])
    with pytest.raises(SystemExit, match="drop --recipe"):
        main(["fit", "--resume", str(tmp_path), "--recipe", "scratch_demo"])


KILL_DURING_SAVE = """
import importlib.util, os, signal, sys
spec = importlib.util.spec_from_file_location("files", sys.argv[2])  # kdzoo/files.py alone: a fast start
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
files.atomic_write_bytes(sys.argv[1], b"old checkpoint")
real_fsync = os.fsync
def fsync_then_die(fd):  # the new bytes are written and synced; die before they are moved into place
    real_fsync(fd)
    os.kill(os.getpid(), signal.SIGKILL)
os.fsync = fsync_then_die
files.atomic_write_bytes(sys.argv[1], b"new checkpoint " * 100000)
"""


def test_a_kill_during_an_atomic_write_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, str(path), str(SOURCE_ROOT / "kdzoo/files.py")],
                          capture_output=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert path.read_bytes() == b"old checkpoint"
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "last.ckpt"]
    assert leftovers and all(name.startswith(".last.ckpt.tmp") for name in leftovers)  # never read under the name


def test_checkpoints_are_saved_through_the_atomic_write(tmp_path, monkeypatch):
    from kdzoo import files
    from kdzoo.checkpoint_io import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 0}, path)

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
    assert io.load_checkpoint(path)["epoch"] == 0 and list(tmp_path.iterdir()) == [path]


def test_resume_drops_the_metric_rows_logged_after_the_checkpoint(tmp_path):
    from kdzoo.cli.resume import trim_metrics

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss_step,val/score\n0,4,0.7,\n0,4,,0.5\n1,9,0.6,\n1,9,,0.55\n2,11,0.4,\n")
    trim_metrics(path, epoch=1)  # rows of epoch 2 were flushed before the kill; the resumed run logs them again
    assert path.read_text() == "epoch,step,train/loss_step,val/score\n0,4,0.7,\n0,4,,0.5\n1,9,0.6,\n1,9,,0.55\n"
