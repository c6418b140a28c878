"""Training curves from a run's metrics.csv."""

import pandas as pd
import pytest

from kdzoo.plots import epoch_table, plot_run


def test_epoch_table_averages_and_drops_step_columns(tmp_path):
    rows = [
        {"epoch": 0, "step": 4, "train/loss_step": 0.9, "train/loss_epoch": None, "val/micro_auprc": None},
        {"epoch": 0, "step": 9, "train/loss_step": 0.7, "train/loss_epoch": 0.8, "val/micro_auprc": None},
        {"epoch": 0, "step": 9, "train/loss_step": None, "train/loss_epoch": None, "val/micro_auprc": 0.4},
        {"epoch": 1, "step": 19, "train/loss_step": None, "train/loss_epoch": 0.6, "val/micro_auprc": 0.5},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    table = epoch_table(tmp_path / "metrics.csv")
    assert list(table.columns) == ["train/loss_epoch", "val/micro_auprc"]
    assert table.loc[0, "train/loss_epoch"] == pytest.approx(0.8) and table.loc[1, "val/micro_auprc"] == 0.5
    out = plot_run(tmp_path)
    assert out == tmp_path / "curves.png" and out.read_bytes()[:4] == b"\x89PNG"


def test_downstream_plot_names_a_run_by_its_folder_not_its_version():
    from kdzoo.plots import _short_label

    assert _short_label("sea_student_2") == "sea_student_2"
    assert _short_label("checkpoints/runs/sea_yamnet_demo-seed0-481804c5/version_0") == "sea_yamnet_demo-seed0-481804c5"
    assert _short_label("checkpoints/runs/sea_s2/version_3/student.pt") == "sea_s2"
