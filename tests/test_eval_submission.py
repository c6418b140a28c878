"""`kdzoo predict` on the unannotated eval split writes a DCASE submission row for every clip in audio-eval/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from kdzoo.cli import main
from kdzoo.data.sonyc import load_taxonomy
from kdzoo.data.synth import synth_ust

EVAL_CLIPS = ["00_000103.wav", "00_000101.wav", "05_000042.wav", "11_000007.wav"]


def make_corpus_with_eval(root: Path) -> Path:
    synth_ust(root, clips=12, clip_seconds=2.0, speech="formant", workers=1, progress=False)
    rng = np.random.default_rng(0)
    (root / "audio-eval").mkdir()
    for name in EVAL_CLIPS:
        sf.write(root / "audio-eval" / name, 0.1 * rng.standard_normal(2 * 16000), 16000, subtype="PCM_16")
    return root


def test_predict_on_the_eval_split_writes_one_row_per_eval_clip(tmp_path, monkeypatch):
    root = make_corpus_with_eval(tmp_path / "ust")
    monkeypatch.chdir(tmp_path)
    main(["predict", "--recipe", "scratch_dcase", "--data.init_args.root", str(root),
          "--data.init_args.predict_split", "eval", "--data.init_args.clip_seconds", "2",
          "--data.init_args.batch_size", "3", "--name", "submission", "--trainer.enable_progress_bar", "false"])
    (written,) = (tmp_path / "checkpoints" / "runs" / "submission").glob("version_*/predictions.csv")
    table = pd.read_csv(written)
    assert list(table.columns) == ["audio_filename", *load_taxonomy().coarse]  # official coarse column names
    assert list(table.audio_filename) == sorted(EVAL_CLIPS)  # exactly the eval clips, none of train/validate
    probabilities = table.iloc[:, 1:].to_numpy()
    assert probabilities.shape == (4, 8) and ((probabilities > 0) & (probabilities < 1)).all()
    assert len({tuple(row) for row in probabilities}) == 4  # each clip went through the model on its own audio
