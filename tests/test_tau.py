"""TAU Urban Acoustic Scenes 2022 Mobile data module on a tiny corpus the test writes in the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from pandas import DataFrame

from kdzoo.data.tau import DEVICE_GROUPS, SCENES, TAUUrbanAcousticScenesDataModule, device_of, prepare_tau
from kdzoo.metrics import ClipMetrics, group_accuracy, grouped_accuracy
from kdzoo.types import ClipGroups


def write_tau(root: Path, devices_train=("a", "b", "s1"), devices_test=("a", "s4")) -> None:
    """2 recordings per scene for training (one clip per device), 1 for test; clip value = scene index."""
    (root / "audio").mkdir(parents=True)
    (root / "evaluation_setup").mkdir()
    meta, train, test = [], [], []
    for s, scene in enumerate(SCENES):
        for rec, (devices, rows) in enumerate(((devices_train, train), (devices_train, train), (devices_test, test))):
            for device in devices:
                name = f"audio/{scene}-lyon-{s}{rec}-{rec}0-0-{device}.wav"
                sf.write(root / name, np.full(44100, (s + 1) / 20, dtype=np.float32), 44100)
                meta.append(f"{name}\t{scene}\tlyon-{s}{rec}\t{device}")
                rows.append(f"{name}\t{scene}")
    (root / "meta.csv").write_text("filename\tscene_label\tidentifier\tsource_label\n" + "\n".join(meta) + "\n")
    header = "filename\tscene_label\n"
    (root / "evaluation_setup/fold1_train.csv").write_text(header + "\n".join(train) + "\n")
    (root / "evaluation_setup/fold1_evaluate.csv").write_text(header + "\n".join(test) + "\n")
    (root / "split25.csv").write_text(header + "\n".join(train[:: 4]) + "\n")


def test_splits_labels_and_batches(tmp_path: Path) -> None:
    write_tau(tmp_path)
    dm = TAUUrbanAcousticScenesDataModule(str(tmp_path), val_fraction=0.25, sample_rate=16000, batch_size=7)
    assert dm.task == "multiclass" and dm.num_classes == 10
    train, val, test = (dm.clips(s) for s in ("train", "val", "test"))
    assert len(train) + len(val) == 60 and len(test) == 20
    # whole recordings are held out: 20 training recordings, 5 go to validation, with all their devices
    assert len(val) == 15
    ident = lambda c: c.clip_id.split("-")[2]  # noqa: E731
    assert not {ident(c) for c in val} & {ident(c) for c in train}
    batch = next(iter(dm.test_dataloader()))
    assert batch.waveform.shape == (7, 16000) and batch.sample_rate == 16000 and batch.target.dtype == torch.long
    # the clip's constant value encodes its scene: the label matches the audio
    for w, t in zip(batch.waveform, batch.target, strict=True):
        assert w[8000].item() == pytest.approx((t.item() + 1) / 20, abs=1e-3)
    assert {c.device for c in test} == {"a", "s4"}


def test_subset_and_val_on_test(tmp_path: Path) -> None:
    write_tau(tmp_path)
    splits = prepare_tau(tmp_path, subset=25, val_fraction=0)
    assert len(splits["train"]) == 15 and splits["val"] is splits["test"]
    with pytest.raises(ValueError, match="subset"):
        prepare_tau(tmp_path, subset=30)
    with pytest.raises(FileNotFoundError, match="split50.csv"):
        prepare_tau(tmp_path, subset=50)


def test_bad_tables_name_the_file(tmp_path: Path) -> None:
    write_tau(tmp_path)
    table = tmp_path / "evaluation_setup/fold1_evaluate.csv"
    rows = table.read_text().splitlines()
    table.write_text("\n".join([rows[0], rows[1].replace("\tairport", "\tbus")]) + "\n")
    with pytest.raises(ValueError, match="fold1_evaluate.csv line 2.*meta.csv"):
        prepare_tau(tmp_path)
    (tmp_path / "meta.csv").write_text("filename,scene_label\n")
    with pytest.raises(ValueError, match="meta.csv.*columns"):
        prepare_tau(tmp_path)


def test_device_accuracy_hand_computed() -> None:
    ids = ["audio/bus-x-1-1-0-a.wav", "audio/bus-x-1-2-0-a.wav", "audio/bus-x-1-1-0-s4.wav",
           "audio/park-x-1-1-0-s5.wav", "audio/park-x-1-1-0-b.wav"]
    assert device_of(ids[2]) == "s4"
    preds = torch.tensor([1, 2, 1, 4, 0])
    target = torch.tensor([1, 1, 1, 0, 0])
    scores = group_accuracy(ids, preds, target, DEVICE_GROUPS)
    # a: 1/2, b: 1/1 -> seen mean 0.75 (unweighted over devices, not 2/3 over clips); s4: 1, s5: 0 -> unseen 0.5
    assert scores == pytest.approx({"acc_device_a": 0.5, "acc_device_b": 1.0, "acc_device_s4": 1.0,
                                    "acc_device_s5": 0.0, "acc_seen_devices": 0.75, "acc_unseen_devices": 0.5,
                                    "acc_device_mean": 0.625})
    logits = torch.nn.functional.one_hot(preds, 10).float()
    assert group_accuracy(ids, logits, target, DEVICE_GROUPS) == scores
    with pytest.raises(ValueError, match="audio/bus-x-1-1-0-zz.wav.*'zz'"):
        DEVICE_GROUPS.index(["audio/bus-x-1-1-0-zz.wav"])


def test_grouped_accuracy_counts_and_clip_metrics_count_each_clip_once() -> None:
    correct, total = grouped_accuracy(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 0, 1, 2]),
                                      torch.tensor([2, 2, 0, 0]), num_groups=3)
    assert correct.tolist() == [2.0, 0.0, 1.0] and total.tolist() == [2.0, 0.0, 2.0]
    groups = ClipGroups(names=("x", "y"), of=lambda clip: clip[0], prefix="g_", means={"both": ("x", "y")})
    metrics = ClipMetrics("multiclass", 3, groups)
    probs = torch.eye(3)[[0, 1, 2, 2]]  # predicts 0, 1, 2, 2
    metrics.update(["x1", "x2", "y1"], probs[:3], torch.tensor([0, 0, 2]))
    metrics.update(["y2", "x1"], probs[[3, 0]], torch.tensor([1, 0]))  # x1 again, as DDP pads a split
    values = {k: float(v) for k, v in metrics.compute().items()}
    # x: x1 right, x2 wrong -> 0.5; y: y1 right, y2 wrong -> 0.5; overall 2/4 (x1 counted once, not 3/5)
    assert values["accuracy"] == pytest.approx(0.5)
    assert {k: values[k] for k in ("acc_g_x", "acc_g_y", "acc_both")} == pytest.approx(
        {"acc_g_x": 0.5, "acc_g_y": 0.5, "acc_both": 0.5})
    with pytest.raises(ValueError, match="multiclass"):
        ClipMetrics("multilabel", 3, groups)


def test_synth_asc_is_read_by_the_data_module(tmp_path: Path) -> None:
    from kdzoo.data.synth.asc import synth_asc

    root = synth_asc(tmp_path / "asc", recordings=2, segments=1, sample_rate=16000, progress=False)
    dm = TAUUrbanAcousticScenesDataModule(str(root), val_fraction=0, sample_rate=16000, batch_size=40)
    train, test = dm.clips("train"), dm.clips("test")
    assert len(train) == len(test) == 20  # 10 scenes x 1 recording x 1 segment x 2 devices each
    assert {c.label for c in train} == set(range(10))
    assert {c.device for c in train} <= {"a", "b", "c", "s1", "s2", "s3"}
    assert {c.device for c in test} & {"s4", "s5", "s6"}
    batch = next(iter(dm.test_dataloader()))
    rms = batch.waveform.pow(2).mean(dim=1).sqrt()
    assert ((rms > 0.005) & (rms < 0.5)).all()
    # the same segment through two devices differs (the device filters act) but stays correlated
    a, other = batch.waveform[0], batch.waveform[1]
    assert not torch.allclose(a, other, atol=1e-3)
    assert torch.corrcoef(torch.stack([a, other]))[0, 1] > 0.2
    assert sorted(p.name for p in root.glob("split*.csv")) == [f"split{n}.csv" for n in (10, 100, 25, 5, 50)]


# kd_asc_ensemble_demo covers kd_asc_demo's path (same data, student, budget, method; its teacher is an ensemble of
# two cpm_teacher, kd_asc_demo's one) and scratch_asc_demo's; all three parse in test_cli's print_config test
@pytest.mark.parametrize("recipe", ["kd_asc_ensemble_demo"])
def test_asc_recipes_fit_inside_the_budget(recipe: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few steps of the scene demo recipe on a tiny generated corpus; the recipe's budget is checked first."""
    import json

    import yaml

    from kdzoo.cli.main import main
    from kdzoo.cli.recipes import find_recipe
    from kdzoo.data.synth.asc import synth_asc
    from kdzoo.models import create_student, save_student

    root = synth_asc(tmp_path / "asc", recordings=3, segments=1, sample_rate=16000, progress=False)
    monkeypatch.chdir(tmp_path)
    overrides = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches",
                 "1", "--trainer.enable_progress_bar", "false", "--data.init_args.root", str(root),
                 "--data.init_args.batch_size", "8"]
    teacher = yaml.safe_load(find_recipe(recipe).read_text())["model"]["teacher"]["init_args"]
    for seed, member in enumerate(teacher.get("members", [{"init_args": teacher}])):  # random teachers stand in
        torch.manual_seed(seed)
        save_student(create_student(member["init_args"]["name"], num_classes=10), member["init_args"]["checkpoint"])
    main(["fit", "--recipe", recipe, *overrides])
    run = tmp_path / "checkpoints/runs" / recipe / "version_0"
    scores = json.loads((run / "summary.json").read_text())["scores"]
    # per-device test accuracy, logged through the Distiller's metrics: the clip-weighted mean over devices is the
    # overall accuracy, and the device means are the unweighted means of the devices present
    devices = DataFrame([c.device for c in TAUUrbanAcousticScenesDataModule(str(root)).clips("test")])[0]
    counts = devices.value_counts()
    per = {d: scores[f"test/acc_device_{d}"] for d in counts.index}
    assert sum(per[d] * n for d, n in counts.items()) / counts.sum() == pytest.approx(scores["test/accuracy"], abs=1e-6)
    unseen = [per[d] for d in per if d in ("s4", "s5", "s6")]
    assert unseen and scores["test/acc_unseen_devices"] == pytest.approx(np.mean(unseen), abs=1e-6)
    assert scores["test/acc_device_mean"] == pytest.approx(np.mean(list(per.values())), abs=1e-6)
    logged = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/acc_device_mean", "val/acc_seen_devices"} <= set(logged)  # val: training devices only


class _SceneFromLevel(torch.nn.Module):
    """Waveform (B, T) -> (B, 10) logits: the clip's constant level (scene + 1) / 20 names its scene (write_tau)."""

    def __init__(self, always: int | None = None) -> None:
        super().__init__()
        self.always = always

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        scene = waveform.mean(dim=1, keepdim=True) * 20 - 1  # (B, 1)
        if self.always is not None:
            scene = torch.full_like(scene, float(self.always))
        return -(scene - torch.arange(10, dtype=waveform.dtype)).abs()


def test_exported_scene_graphs_are_scored_by_accuracy_per_device(tmp_path: Path) -> None:
    from kdzoo.cli.edge import score_graphs

    write_tau(tmp_path / "tau")
    dm = TAUUrbanAcousticScenesDataModule(str(tmp_path / "tau"), val_fraction=0.25, sample_rate=16000, batch_size=7)
    graphs = {}
    for name, model in {"fp32": _SceneFromLevel(), "int8": _SceneFromLevel(always=0)}.items():
        graphs[name] = tmp_path / f"{name}.onnx"
        torch.onnx.export(model, (torch.zeros(1, 16000),), str(graphs[name]), dynamo=False, input_names=["waveform"],
                          output_names=["logits"], dynamic_axes={"waveform": {0: "batch"}, "logits": {0: "batch"}})
    right, wrong = score_graphs(graphs, dm)
    # 20 test clips (10 scenes x devices a and s4): the first graph is always right, the second always says scene 0
    assert right == ("test split (20 clips), fp32: accuracy 1.0000, acc_seen_devices 1.0000, "
                     "acc_unseen_devices 1.0000, acc_device_mean 1.0000")
    assert wrong == ("test split (20 clips), int8: accuracy 0.1000, acc_seen_devices 0.1000, "
                     "acc_unseen_devices 0.1000, acc_device_mean 0.1000; accuracy -0.9000 vs fp32, same class as "
                     "fp32 on 0.1000 of the clips")
