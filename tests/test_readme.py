"""The README stays true: its set-up commands, CI's command, and its programmatic example (run for real)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kdzoo.data.synth import synth_ust

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_example() -> str:
    return re.search(r"```python\n(.*?)```", README, re.S).group(1)


def test_readme_opens_with_the_two_setup_commands():
    setup = README.split("```", 2)[1].strip().splitlines()[1:]  # after the "bash" tag
    assert len(setup) == 2, "the README's set-up is two commands"
    assert "pip install -c requirements.lock -e . && kdzoo fit --recipe kd_demo" in setup[0]
    assert 'pip install -c requirements.lock -e ".[test]" && python -m pytest -q' in setup[1]


def test_programmatic_example_runs(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    synth_ust(corpus, clips=12, seed=0, clip_seconds=2.0, speech="formant", workers=1, progress=False)
    code = python_example()
    for old, new in [
        ('root="data/synth-ust-4s", clip_seconds=4.0, clips=600, test_clips=1000,\n'
         '                          batch_size=16',
         f'root="{corpus}", clips=12, test_clips=0, clip_seconds=2.0, batch_size=4'),
        ("max_epochs=60", "max_epochs=1, limit_train_batches=2"),
        ('default_root_dir="checkpoints/runs/notebook"', f'default_root_dir="{tmp_path / "runs"}"'),
    ]:
        assert old in code, f"the README example no longer contains {old!r}; update this test"
        code = code.replace(old, new)
    monkeypatch.chdir(ROOT)  # the shipped teacher path in the example is relative to the checkout
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    scores = namespace["scores"]
    assert namespace["model"].teacher.cache is True
    run_dir = Path(namespace["trainer"].log_dir)  # RunArtifacts wrote the run's files there
    assert {"student.pt", "summary.json", "curves.png"} <= {path.name for path in run_dir.iterdir()}
    assert json.loads((run_dir / "summary.json").read_text())["scores"] == scores
    assert scores["test/micro_auprc"] > 0.0
    assert namespace["tagger"].meta["class_names"][0] == "1_engine" and not namespace["tagger"].training
