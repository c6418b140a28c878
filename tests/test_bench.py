"""``kdzoo bench``: the statistics on hand-computed cases, and a tiny end-to-end bench (resumable, all outputs)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from kdzoo.cli import bench, main
from kdzoo.data.synth import synth_ust

# --- statistics -----------------------------------------------------------------------------------------------


def test_mean_std_uses_the_sample_std():
    mean, std = bench.mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and std == pytest.approx(math.sqrt(5.0 / 3.0))  # sum of squares 5, n - 1 = 3
    assert math.isnan(bench.mean_std([0.7])[1])


def test_t_interval_by_hand():
    # d = [0.01, 0.03, 0.02]: mean 0.02, sd 0.01, t_{0.975, 2} = 4.303 -> half width 4.303 * 0.01 / sqrt(3)
    diff = bench.t_interval([0.01, 0.03, 0.02])
    half = 4.303 * 0.01 / math.sqrt(3)
    assert diff.n == 3 and diff.mean == pytest.approx(0.02)
    assert diff.low == pytest.approx(0.02 - half, abs=1e-5) and diff.high == pytest.approx(0.02 + half, abs=1e-5)


def test_paired_difference_pairs_by_seed_and_ignores_unpaired_seeds():
    # common seeds 1, 2: d = [0.05, 0.10], mean 0.075, sd 0.05 / sqrt(2), t_{0.975, 1} = 12.706
    diff = bench.paired_difference({0: 0.5, 1: 0.6, 2: 0.7}, {1: 0.55, 2: 0.6, 3: 0.9})
    half = 12.706 * (0.05 / math.sqrt(2)) / math.sqrt(2)
    assert diff.n == 2 and diff.mean == pytest.approx(0.075)
    assert diff.high - diff.mean == pytest.approx(half, abs=1e-3)


def test_one_seed_gives_a_difference_without_interval_and_no_common_seed_is_an_error():
    diff = bench.paired_difference({0: 0.62}, {0: 0.60})
    assert diff.mean == pytest.approx(0.02) and diff.low is None and diff.high is None and diff.n == 1
    with pytest.raises(ValueError, match="no common seed"):
        bench.paired_difference({0: 0.6}, {1: 0.5})


def test_late_rise_by_hand():
    rise, noise = bench.late_rise([0.1 + 0.01 * e for e in range(30)])  # a straight climb: 0.01 per epoch
    assert rise == pytest.approx(0.09) and noise == pytest.approx(0.0, abs=1e-9)  # 9 steps in the last 10
    # flat but noisy, alternating 0.50 / 0.52: Sxy = 0.05, Sxx = 82.5 -> slope 0.05 / 82.5, rise = 9 x slope
    rise, noise = bench.late_rise([0.50, 0.52] * 5)
    assert rise == pytest.approx(9 * 0.05 / 82.5) and abs(rise) <= 2 * noise
    assert all(math.isnan(v) for v in bench.late_rise([0.5, 0.6]))


def test_markdown_cells_for_baseline_interval_and_single_seed():
    table = pd.DataFrame([
        {"recipe": "base", "seeds": 3, "student_params": 15000, **_metric_cells(0.5, 0.01)},
        {"recipe": "kd", "seeds": 3, "student_params": 15000, **_metric_cells(0.52, 0.02), "diff": 0.02,
         "diff_low": -0.004843, "diff_high": 0.044843, "pairs": 3},
        {"recipe": "one", "seeds": 1, "student_params": 900, **_metric_cells(0.4, math.nan), "diff": -0.1,
         "diff_low": None, "diff_high": None, "pairs": 1},
    ])
    lines = bench.markdown(table, "test/micro_auprc", "base").splitlines()
    assert lines[0].endswith("| Δ micro_auprc vs base (95 % t interval) |") and "| wall min (mean) |" in lines[0]
    assert "| 0.500 ± 0.010 |" in lines[2] and lines[2].endswith("| (baseline) |")
    assert lines[3].endswith("| +0.020 [-0.005, +0.045] |") and "| 15,000 |" in lines[3]
    assert "| (too few epochs) |" in lines[3]
    assert "| 0.400 |" in lines[4] and lines[4].endswith("| -0.100 (1 seed: no interval) |")


def _metric_cells(mean: float, std: float) -> dict:
    return {f"{m}_{k}": v for m in bench.METRICS for k, v in (("mean", mean), ("std", std))}


# --- end to end -----------------------------------------------------------------------------------------------

TINY_RECIPE = """# tiny {name}
seed_everything: 0
trainer: {{max_epochs: 1, enable_progress_bar: false, enable_model_summary: false}}
model:
  student:
    class_path: kdzoo.models.cnn.CNN
    init_args: {{channels: [4, 8]}}
  optimizer:
    class_path: torch.optim.Adam
    init_args: {{lr: {lr}}}
data:
  class_path: kdzoo.data.demo.SynthUSTDataModule
  init_args: {{root: {root}, clips: 12, test_clips: 4, clip_seconds: 1.0, batch_size: 4, speech: formant}}
"""


@pytest.fixture()
def tiny(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "corpus"
    synth_ust(root, clips=12, test_clips=4, clip_seconds=1.0, seed=0, speech="formant", workers=1, progress=False)
    (tmp_path / "recipes").mkdir()
    for name, lr in (("tiny_a", 0.01), ("tiny_b", 0.03)):
        (tmp_path / "recipes" / f"{name}.yaml").write_text(TINY_RECIPE.format(name=name, lr=lr, root=root))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_bench_end_to_end_is_resumable_and_writes_every_output(tiny, capsys, monkeypatch):
    main(["bench", "tiny_a", "tiny_b", "--seeds", "0", "--baseline", "tiny_a", "--out", "b"])  # two real fits
    runs = pd.read_csv(tiny / "b" / "runs.csv")
    assert list(zip(runs.recipe, runs.seed, strict=True)) == [("tiny_a", 0), ("tiny_b", 0)]
    assert runs["test/micro_auprc"].between(0, 1).all() and (runs.wall_s > 0).all()
    assert (runs.test_split == "test").all()  # scored on the 4 held-out clips, not on validate
    assert runs.last_epoch_val_score.between(0, 1).all()  # the unselected last-epoch score rides along
    assert runs.val_rise_last10.isna().all()  # one epoch: no plateau verdict
    for run in runs.itertuples():  # the val curve rides along in runs.csv, equal to the run's own metrics.csv
        assert bench.decode_curve(run.val_curve) == pytest.approx(bench._val_curve(Path(run.run_dir)), rel=1e-5)
        assert len(bench.decode_curve(run.val_curve)) == 1
    d = runs["test/micro_auprc"][1] - runs["test/micro_auprc"][0]
    results = pd.read_csv(tiny / "b" / "results.csv").set_index("recipe")
    assert results.loc["tiny_b", "diff"] == pytest.approx(d) and pd.isna(results.loc["tiny_b", "diff_low"])
    text = (tiny / "b" / "results.md").read_text()
    assert text.startswith("`kdzoo bench tiny_a tiny_b --seeds 0 --baseline tiny_a` on ")
    assert f"{d:+.3f} (1 seed: no interval)" in text and "(baseline)" in text
    assert (tiny / "b" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = bench.val_curves(runs)  # one epoch each, kept in runs.csv (6 significant digits)
    assert {label: list(seeds) for label, seeds in curves.items()} == {"tiny_a": [0], "tiny_b": [0]}
    assert [len(seeds[0]) for seeds in curves.values()] == [1, 1]
    assert curves["tiny_b"][0][0] == pytest.approx(runs.last_epoch_val_score[1], rel=1e-5)
    assert (tiny / "b" / "val_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{d:+.3f} (1 seed: no interval)" in capsys.readouterr().out

    def no_fit(*args, **kwargs):
        raise AssertionError("a finished run was fitted again")

    monkeypatch.setattr("kdzoo.cli.runner.run_lightning", no_fit)
    main(["bench", "tiny_a", "tiny_b", "--seeds", "0", "--baseline", "tiny_a", "--out", "c"])
    again = pd.read_csv(tiny / "c" / "runs.csv")
    assert again["test/micro_auprc"].tolist() == runs["test/micro_auprc"].tolist()
    assert again.wall_s.tolist() == runs.wall_s.tolist()  # a reused run reports the time it took when it ran
    walls = pd.read_csv(tiny / "c" / "results.csv").set_index("recipe").wall_min_mean
    assert walls.tolist() == pytest.approx((runs.wall_s / 60).tolist())


SCORES = {"tiny_a": [0.50, 0.52, 0.51], "tiny_b": [0.51, 0.55, 0.53]}  # b - a = [0.01, 0.03, 0.02]


def fake_fit(subcommand: str, args: list[str]) -> SimpleNamespace:
    """Stands in for ``run_lightning``: writes the summary.json a fit would, with the score from SCORES."""
    recipe, seed, name = Path(args[1]).stem, int(args[3]), args[5]
    run_dir = bench.RUNS_DIR / name / "version_0"
    run_dir.mkdir(parents=True)
    scores = {m: SCORES[recipe][seed] for m in bench.METRICS}
    (run_dir / "summary.json").write_text(json.dumps({"student_params": 1234, "scores": scores}))
    return SimpleNamespace(trainer=SimpleNamespace(log_dir=str(run_dir)))


def test_bench_paired_interval_over_three_seeds_by_hand(tiny, monkeypatch):
    monkeypatch.setattr("kdzoo.cli.runner.run_lightning", fake_fit)
    table = bench.run_bench(["tiny_a", "tiny_b"], [0, 1, 2], [], tiny / "b", baseline="tiny_a").set_index("recipe")
    half = 4.303 * 0.01 / math.sqrt(3)  # mean 0.02, sd 0.01, t_{0.975, 2} = 4.303
    assert table.loc["tiny_b", "diff"] == pytest.approx(0.02)
    assert table.loc["tiny_b", "diff_low"] == pytest.approx(0.02 - half, abs=1e-5)
    assert table.loc["tiny_b", "diff_high"] == pytest.approx(0.02 + half, abs=1e-5)
    assert table.loc["tiny_a", "test/micro_auprc_mean"] == pytest.approx(0.51)
    assert table.loc["tiny_a", "test/micro_auprc_std"] == pytest.approx(0.01)
    assert "| +0.020 [-0.005, +0.045] |" in (tiny / "b" / "results.md").read_text()


def test_no_fit_gathers_finished_runs_and_names_the_missing_ones_without_fitting(tiny, monkeypatch, capsys):
    monkeypatch.setattr("kdzoo.cli.runner.run_lightning", fake_fit)
    bench.run_bench(["tiny_a", "tiny_b"], [0, 1], [], tiny / "part")  # one process ran seeds 0 and 1

    def no_fit(*args, **kwargs):
        raise AssertionError("--no-fit started a fit")

    monkeypatch.setattr("kdzoo.cli.runner.run_lightning", no_fit)
    missing = [bench.run_name(r, 2, []) for r in ("tiny_a", "tiny_b")]
    assert main(["bench", "tiny_a", "tiny_b", "--seeds", "0", "1", "2", "--no-fit", "--no-edge", "--out", "all"]) == 2
    message = capsys.readouterr().err  # one line, no traceback
    assert message.startswith("kdzoo bench: --no-fit: 2 of 6 runs have not finished under checkpoints/runs: ")
    assert message.rstrip().endswith(f"{missing[0]}, {missing[1]}") and message.count("\n") == 1
    assert not (tiny / "all" / "runs.csv").exists()
    main(["bench", "tiny_a", "tiny_b", "--seeds", "0", "1", "--baseline", "tiny_a", "--no-fit", "--no-edge",
          "--out", "all"])
    table = pd.read_csv(tiny / "all" / "results.csv").set_index("recipe")
    assert table.loc["tiny_b", "diff"] == pytest.approx(0.02)  # seeds 0, 1 of SCORES: b - a = 0.01, 0.03
    assert "--no-fit" not in (tiny / "all" / "results.md").read_text()  # the command that reproduces the table


def test_val_curves_group_each_rows_seeds_in_seed_order_and_tolerate_a_run_without_metrics(tmp_path):
    def run(name, scores):
        run_dir = tmp_path / name
        run_dir.mkdir()
        if scores is not None:  # one val row per epoch, interleaved with train rows as Lightning writes them
            rows = ["epoch,step,train/loss_step,val/score"]
            rows += [line for e, v in enumerate(scores) for line in (f"{e},{e * 4},1.0,", f"{e},{e * 4 + 3},,{v}")]
            (run_dir / "metrics.csv").write_text("\n".join(rows) + "\n")
        return str(run_dir)

    runs = pd.DataFrame({"recipe": ["a", "a", "b"], "seed": [1, 0, 0],
                         "run_dir": [run("a1", [0.1, 0.5]), run("a0", [0.2, 0.3, 0.4]), run("b0", None)]})
    curves = bench.val_curves(runs)
    assert curves == {"a": {0: [0.2, 0.3, 0.4], 1: [0.1, 0.5]}, "b": {0: []}}
    assert list(curves["a"]) == [0, 1]
    assert bench.plot_val_curves(runs, tmp_path / "c.png") == tmp_path / "c.png"
    assert bench.plot_val_curves(runs[runs.recipe == "b"], tmp_path / "none.png") is None  # nothing to draw
    assert not (tmp_path / "none.png").exists()


def test_bench_reruns_when_the_overrides_or_the_recipe_change(tiny):
    names = {bench.run_name("tiny_a", 0, []), bench.run_name("tiny_a", 0, ["--trainer.max_epochs", "2"]),
             bench.run_name("tiny_a", 1, [])}
    assert len(names) == 3
    before = bench.run_name("tiny_a", 0, [])
    (tiny / "recipes" / "tiny_a.yaml").write_text((tiny / "recipes" / "tiny_a.yaml").read_text() + "# edited\n")
    assert bench.run_name("tiny_a", 0, []) != before


def test_bench_refuses_a_baseline_it_does_not_run(tiny, capsys):
    with pytest.raises(ValueError, match="--baseline 'tiny_c' must be one of"):
        bench.run_bench(["tiny_a"], [0], [], tiny / "b", baseline="tiny_c")
    assert main(["bench", "tiny_a", "--seeds", "0", "--baseline", "tiny_c", "--out", "b"]) == 2  # before any fit
    err = capsys.readouterr().err
    assert err.startswith("kdzoo bench: --baseline 'tiny_c' must be one of the recipes benchmarked ['tiny_a']")


SCENE_SCORES = {"tiny_a": [0.40, 0.50], "tiny_b": [0.60, 0.60]}  # b - a = [0.20, 0.10]


def fake_scene_fit(subcommand: str, args: list[str]) -> SimpleNamespace:
    """A fit of a scene classifier: accuracy, and per recording device (seen a, unseen s4) as GroupedAccuracy logs."""
    recipe, seed, name = Path(args[1]).stem, int(args[3]), args[5]
    run_dir = bench.RUNS_DIR / name / "version_0"
    run_dir.mkdir(parents=True)
    acc = SCENE_SCORES[recipe][seed]
    scores = {"test/task_loss": 1.5, "test/accuracy": acc, "test/macro_accuracy": acc - 0.1, "test/acc_device_a": acc,
              "test/acc_device_s4": acc / 2, "test/acc_unseen_devices": acc / 2, "test/score": acc}
    (run_dir / "summary.json").write_text(json.dumps({"student_params": 87754, "scores": scores}))
    return SimpleNamespace(trainer=SimpleNamespace(log_dir=str(run_dir)))


def test_bench_of_scene_classifiers_reports_accuracy_and_a_table_per_device(tiny, monkeypatch):
    monkeypatch.setattr("kdzoo.cli.runner.run_lightning", fake_scene_fit)
    with pytest.raises(ValueError, match=r"--metric 'test/micro_auprc' is not among the runs' test scores "
                                         r"\['test/accuracy', 'test/macro_accuracy', 'test/acc_device_a'"):
        bench.run_bench(["tiny_a", "tiny_b"], [0, 1], [], tiny / "b", baseline="tiny_a", edge=False)
    table = bench.run_bench(["tiny_a", "tiny_b"], [0, 1], [], tiny / "b", baseline="tiny_a", metric="test/accuracy",
                            edge=False).set_index("recipe")
    assert table.loc["tiny_b", "diff"] == pytest.approx(0.15)  # paired: mean of 0.20 and 0.10
    assert table.loc["tiny_a", "test/acc_device_s4_mean"] == pytest.approx(0.225)  # mean of 0.20 and 0.25
    assert "test/task_loss_mean" not in table and "test/score_mean" not in table
    text = (tiny / "b" / "results.md").read_text()
    main_header, per_device_header = (line for line in text.splitlines() if line.startswith("| recipe"))
    assert "| accuracy | macro_accuracy |" in main_header and "acc_device" not in main_header
    assert per_device_header == "| recipe | acc_device_a | acc_device_s4 | acc_unseen_devices |"
    assert "| tiny_a | 0.450 ± 0.071 | 0.225 ± 0.035 | 0.225 ± 0.035 |" in text
    assert "| Δ accuracy vs tiny_a (95 % t interval) |" in main_header


def test_bench_grid_compares_each_point_with_the_row_differing_only_in_the_baseline_key(tiny, monkeypatch):
    step = {"tiny_a": 0.01, "tiny_b": 0.02}  # per-seed gain of the large rate: a and b get different differences

    def grid_fit(subcommand: str, args: list[str]) -> SimpleNamespace:
        recipe, seed, name = Path(args[1]).stem, int(args[3]), args[5]
        lr = float(args[args.index("--model.optimizer.init_args.lr") + 1])
        score = {"tiny_a": 0.5, "tiny_b": 0.6}[recipe] + lr + (step[recipe] * seed if lr > 0.001 else 0.0)
        run_dir = bench.RUNS_DIR / name / "version_0"
        run_dir.mkdir(parents=True)
        (run_dir / "summary.json").write_text(json.dumps({"student_params": 1234, "scores": {
            m: score for m in bench.METRICS}}))
        return SimpleNamespace(trainer=SimpleNamespace(log_dir=str(run_dir)))

    monkeypatch.setattr("kdzoo.cli.runner.run_lightning", grid_fit)
    vary = ["model.optimizer.init_args.lr=0.001,0.1"]
    table = bench.run_bench(["tiny_a", "tiny_b"], [0, 1, 2], [], tiny / "b", baseline="lr=0.001",
                            vary=vary).set_index("recipe")
    assert table.index.tolist() == ["tiny_a[lr=0.001]", "tiny_a[lr=0.1]", "tiny_b[lr=0.001]", "tiny_b[lr=0.1]"]
    assert len(set(pd.read_csv(tiny / "b" / "runs.csv").run_dir)) == 12  # every point and seed is its own run
    # a: 0.099 + 0.01 * seed -> mean 0.109; b against b (not a): 0.099 + 0.02 * seed -> mean 0.119
    assert table.loc["tiny_a[lr=0.1]", "diff"] == pytest.approx(0.109)
    assert table.loc["tiny_b[lr=0.1]", "diff"] == pytest.approx(0.119)
    half = 4.303 * 0.02 / math.sqrt(3)  # sd of (0.099, 0.119, 0.139) is 0.02
    assert table.loc["tiny_b[lr=0.1]", "diff_low"] == pytest.approx(0.119 - half, abs=1e-5)
    assert table.loc["tiny_b[lr=0.1]", "baseline"] == "tiny_b[lr=0.001]"
    # pooled over both recipes at lr 0.1: (0.099, 0.109, 0.119) and (0.099, 0.119, 0.139) -> mean 0.114
    pooled = pd.read_csv(tiny / "b" / "pooled.csv")
    assert pooled[["group", "rows", "pairs"]].values.tolist() == [["lr=0.1", 2, 6]]
    diffs = [0.099, 0.109, 0.119, 0.099, 0.119, 0.139]
    half = 2.571 * pd.Series(diffs).std() / math.sqrt(6)  # t_{0.975, 5} = 2.571
    assert pooled["diff"][0] == pytest.approx(0.114) and pooled.diff_high[0] == pytest.approx(0.114 + half, abs=1e-4)
    text = (tiny / "b" / "results.md").read_text()
    assert "| lr=0.1 | 2 | 6 | +0.114 [" in text
    assert text.startswith("`kdzoo bench tiny_a tiny_b --seeds 0 1 2 --vary model.optimizer.init_args.lr=0.001,0.1 "
                           "--baseline lr=0.001` on ")
    assert text.count("(baseline)") == 2
    assert (tiny / "b" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = bench.grid_series(table.reset_index(), bench.variants(["tiny_a", "tiny_b"], vary), "test/micro_auprc")
    assert list(lines) == ["tiny_a", "tiny_b"]  # one line per recipe, lr along x
    b = lines["tiny_b"]
    assert b.x.tolist() == [0.001, 0.1] and b.value.tolist() == ["0.001", "0.1"]
    assert b["mean"].tolist() == pytest.approx([0.601, 0.72])  # 0.7 + 0.02 * mean(0, 1, 2)
    assert b["diff"].tolist()[1] == pytest.approx(0.119) and math.isnan(b["diff"].tolist()[0])
    # the report's command line runs the same bench again: a non-default metric and --no-edge are written out
    bench.run_bench(["tiny_a", "tiny_b"], [0, 1, 2], [], tiny / "c", baseline="lr=0.001", vary=vary,
                    metric="test/mAP", edge=False)
    assert (tiny / "c" / "results.md").read_text().startswith(
        "`kdzoo bench tiny_a tiny_b --seeds 0 1 2 --vary model.optimizer.init_args.lr=0.001,0.1 --baseline lr=0.001 "
        "--metric test/mAP --no-edge` on ")
    with pytest.raises(ValueError, match="'0.5' is not among the --vary values of lr"):
        bench.run_bench(["tiny_a"], [0], [], tiny / "b", baseline="lr=0.5", vary=vary)
    with pytest.raises(ValueError, match="give KEY=V1,V2"):
        bench.variants(["tiny_a"], ["model.optimizer.init_args.lr"])


def test_grid_series_puts_the_last_key_along_x_and_one_line_per_setting_of_the_rest():
    rows = bench.variants(["r"], ["model.student.init_args.name=s1,s2", "model.method.init_args.weight=0,0.5,x"])
    table = pd.DataFrame({"recipe": [row.label for row in rows], "m_mean": range(6), "m_std": [0.1] * 6})
    lines = bench.grid_series(table, rows, "m")
    assert list(lines) == ["r [name=s1]", "r [name=s2]"]
    assert lines["r [name=s2]"]["mean"].tolist() == [3, 4, 5]
    assert lines["r [name=s1]"].x.tolist() == [0.0, 1.0, 2.0]  # 'x' is not a number: positions instead
    assert lines["r [name=s1]"]["diff"].isna().all()  # no baseline column: nothing to draw on the right


def test_pooling_groups_only_when_a_value_of_the_baseline_key_has_several_rows():
    grid = bench.variants(["r"], ["model.student.init_args.name=s1,s2", "model.method.init_args.weight=0,0.1,0.5"])
    assert bench.pooling_groups(grid, "weight=0") == {
        "r[name=s1, weight=0.1]": "weight=0.1", "r[name=s2, weight=0.1]": "weight=0.1",
        "r[name=s1, weight=0.5]": "weight=0.5", "r[name=s2, weight=0.5]": "weight=0.5"}
    one_student = bench.variants(["r"], ["model.method.init_args.weight=0,0.1,0.5"])
    assert bench.pooling_groups(one_student, "weight=0") == {}  # one row per value: the rows' own Δ say it all
    assert bench.pooling_groups(grid, "r[name=s1, weight=0]") == {}  # a single baseline row: nothing to pool by
    assert bench.pooling_groups(grid, None) == {}


def test_pooled_differences_pool_every_pair_and_skip_unpaired_seeds():
    runs = pd.DataFrame({"recipe": ["a0", "a0", "a1", "a1", "b0", "b0", "b1"], "seed": [0, 1, 0, 1, 0, 1, 1],
                         "m": [0.5, 0.6, 0.7, 0.6, 0.2, 0.3, 0.5]})
    pooled = bench.pooled_differences(runs, {"a1": "a0", "b1": "b0"}, {"a1": "w=1", "b1": "w=1"}, "m")
    row = pooled.iloc[0]
    assert (row.group, row.rows, row.pairs) == ("w=1", 2, 3)  # b ran seed 1 only: 0.2, 0.0 and 0.2
    assert row["diff"] == pytest.approx(0.4 / 3)
    half = 4.303 * pd.Series([0.2, 0.0, 0.2]).std() / math.sqrt(3)
    assert (row.diff_low, row.diff_high) == pytest.approx((0.4 / 3 - half, 0.4 / 3 + half), abs=1e-4)
    assert bench.pooled_markdown(pooled, "test/m", "w=0").splitlines()[2].startswith("| w=1 | 2 | 3 | +0.133 [")
    assert bench.pooled_markdown(pooled.iloc[:0], "test/m", "w=0") == bench.pooled_markdown(None, "m", "w=0") == ""
    runs = pd.concat([runs, runs.assign(recipe=runs.recipe.str.replace("1", "x"))])  # rows at w=0.25 listed first
    order = bench.pooled_differences(runs, {"ax": "a0", "a1": "a0"}, {"ax": "w=0.25", "a1": "w=0.1"}, "m").group
    assert order.tolist() == ["w=0.1", "w=0.25"]  # numeric order, whatever the order of the files


def test_parse_label_inverts_the_grid_labels():
    for row in bench.variants(["r"], ["model.student.init_args.name=s1,s2", "model.method.init_args.weight=0,0.5"]):
        back = bench.parse_label(row.label)
        assert (back.recipe, back.values) == ("r", tuple((k.rsplit(".", 1)[-1], v) for k, v in row.values))
    assert bench.parse_label("kd_demo") == bench.Variant("kd_demo", "kd_demo")
    with pytest.raises(bench.BenchArgumentError, match="is not recipe"):
        bench.parse_label("r[name=s1")


def _runs_csv(path: Path, student: str, scores: dict[tuple[str, int], float]) -> Path:
    rows = [{"recipe": f"r[name={student}, weight={w}]", "seed": seed, "student_params": 10, "wall_s": 60.0,
             "run_dir": f"gone/{student}-{w}-{seed}", "val_rise_last10": 0.0, "val_noise_last10": 0.01,
             "test/accuracy": score} for (w, seed), score in scores.items()]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_bench_report_pools_benches_run_in_parts_from_their_runs_csv(tmp_path, capsys):
    """Two students benched apart (their run folders gone): the report pairs each with its own lambda 0 and pools
    the pairs by lambda; a run listed twice with one score counts once, with two scores is refused."""
    s1 = _runs_csv(tmp_path / "s1.csv", "s1", {("0", 0): 0.5, ("0", 1): 0.6, ("0.5", 0): 0.7, ("0.5", 1): 0.6})
    s2 = _runs_csv(tmp_path / "s2.csv", "s2", {("0", 1): 0.3, ("0", 3): 0.9, ("0.5", 1): 0.5, ("0.5", 3): 0.9})
    again = _runs_csv(tmp_path / "again.csv", "s1", {("0", 0): 0.5})
    code = main(["bench-report", str(s1), str(s2), str(again), "--baseline", "weight=0", "--metric",
                 "test/accuracy", "--seeds", "0", "1", "--out", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    assert "| r[name=s1, weight=0.5] | 2 | 10 | 0.650 ± 0.071 |" in out
    assert "| r[name=s2, weight=0.5] | 1 | 10 | 0.500 |" in out  # seed 3 is filtered out
    pooled = pd.read_csv(tmp_path / "out" / "pooled.csv").iloc[0]
    assert (pooled.group, pooled.rows, pooled.pairs) == ("weight=0.5", 2, 3)
    assert pooled["diff"] == pytest.approx((0.2 + 0.0 + 0.2) / 3)
    assert "| weight=0.5 | 2 | 3 | +0.133 [" in out
    clash = _runs_csv(tmp_path / "clash.csv", "s1", {("0", 0): 0.55})
    assert main(["bench-report", str(s1), str(clash), "--baseline", "weight=0", "--metric",
                 "test/accuracy"]) == 2
    assert "r[name=s1, weight=0] seed 0 has different scores in" in capsys.readouterr().err
    assert main(["bench-report", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such runs.csv" in capsys.readouterr().err
    assert main(["bench-report", str(s1), "--metric", "test/f1"]) == 2
    assert "--metric 'test/f1' is not among" in capsys.readouterr().err


def test_takeoff_epoch_and_the_curve_cell_by_hand():
    assert bench.takeoff_epoch([0.1, 0.2, 0.3, 0.2], 0.25) == 3
    assert bench.takeoff_epoch([0.25], 0.25) == 1  # reaching the threshold counts
    assert bench.takeoff_epoch([0.1, 0.2], 0.25) is None and bench.takeoff_epoch([], 0.25) is None
    assert bench.encode_curve([0.5, 0.12345678]) == "0.5 0.123457"
    assert bench.decode_curve("0.5 0.123457") == [0.5, 0.123457]
    assert bench.decode_curve(float("nan")) == [] and bench.decode_curve("") == [] and bench.decode_curve(None) == []
    assert bench.decode_curve(0.5) == [0.5]  # pandas reads a one-epoch curve as a number


def test_takeoff_column_lists_each_seeds_first_epoch_from_the_kept_curves(tmp_path, capsys):
    """bench-report reads the curves kept in runs.csv: the take-off per seed in seed order, 'never' for a run
    that did not get there, '?' for a run listed without its curve; the curves are drawn from the file too."""
    runs = pd.DataFrame({"recipe": ["r[w=0]"] * 3 + ["r[w=1]"] * 2, "seed": [2, 0, 1, 0, 1],
                         "student_params": 5, "test/accuracy": [0.2, 0.3, 0.4, 0.5, 0.6],
                         "val_curve": ["0.1 0.1 0.1", "0.1 0.3 0.5", "0.3 0.2 0.4", None, "0.1 0.2 0.26"],
                         "run_dir": "gone", "val_rise_last10": math.nan, "val_noise_last10": math.nan})
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["bench-report", str(tmp_path / "runs.csv"), "--baseline", "w=0", "--metric", "test/accuracy",
                 "--takeoff", "0.25", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "first epoch val ≥ 0.25 (per seed)" in out
    assert out.splitlines()[2].endswith("| 2, 1, never |") and out.splitlines()[3].endswith("| ?, 3 |")
    assert bench.val_curves(runs)["r[w=0]"] == {0: [0.1, 0.3, 0.5], 1: [0.3, 0.2, 0.4], 2: [0.1, 0.1, 0.1]}
    assert (tmp_path / "out" / "val_curves.png").read_bytes()[:4] == b"\x89PNG"
