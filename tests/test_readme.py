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


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("+-", "-")


def test_temporal_kd_tables_match_the_shipped_runs():
    """Every cell of the README's Temporal KD tables (mean ± std, paired Δ with its interval, pooled Δ) is what
    `kdzoo bench-report` computes from the runs.csv files shipped in checkpoints/benchmarks (seeds 0-2)."""
    from kdzoo.cli.bench import read_runs, report_runs

    section = README.split("### Temporal KD on generated keywords", 1)[1].split("\n### ", 1)[0]
    checked = 0
    for clip in ("2", "8"):
        files = sorted((ROOT / "checkpoints" / "benchmarks").glob(f"tkd_kws{clip}s*_runs.csv"))
        table, pooled = report_runs(read_runs(files, seeds=[0, 1, 2]), "test/accuracy", "weight=0")
        table = table.set_index("recipe")
        students = {re.search(r"name=(\w+)", label).group(1) for label in table.index}
        for student in students:
            row = re.search(rf"^\| {clip} s \| `{student}` \|(.*)$", section, re.M)
            assert row, f"README has no {clip} s row for {student}"
            cells = [c.strip() for c in row.group(1).split("|")]
            params = table[table.index.str.contains(f"name={student},")].student_params.iloc[0]
            assert cells[0] == f"{params:,}", f"{clip} s {student}: parameter count"
            for col, weight in zip(cells[1:5], ("0", "0.1", "0.25", "0.5"), strict=True):
                label = f"tkd_kws_demo_{clip}s[name={student}, weight={weight}]"
                if label not in table.index:
                    assert col == "not run", f"{label}: README says {col!r} but no run is shipped"
                    continue
                r = table.loc[label]
                expected = f"{r['test/accuracy_mean']:.3f} ± {r['test/accuracy_std']:.3f}"
                if weight != "0":
                    expected += f", Δ {_signed(r['diff'])} [{_signed(r.diff_low)}, {_signed(r.diff_high)}]"
                assert col == expected, label
                checked += 1
        for p in pooled.itertuples():
            weight = p.group.removeprefix("weight=")
            line = (f"| {clip} s | {weight} | {p.rows} | {p.pairs} | {_signed(p.diff)} [{_signed(p.diff_low)}, "
                    f"{_signed(p.diff_high)}] |")
            assert line in section, f"README pooled row should read {line}"
            checked += 1
    assert checked >= 46  # 2 s and 8 s: 5 students x 4 weights + 3 pooled each
