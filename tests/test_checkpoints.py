"""Shipped weights match their manifest, load into their architecture, and publishing works."""

import json
from pathlib import Path

import pytest
import torch
import yaml

import kdzoo
from kdzoo.cli.publish import publish, read_manifest
from kdzoo.files import sha256_of

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = read_manifest(ROOT / "checkpoints" / "manifest.json")


def test_demo_teacher_is_shipped():
    assert "teacher_demo" in SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_file_matches_manifest_and_loads(name):
    entry = SHIPPED[name]
    path = ROOT / entry["file"]
    assert sha256_of(path) == entry["sha256"]
    assert path.stat().st_size < 5_000_000  # small enough for git
    assert "kdzoo fit --recipe" in entry["command"] and entry["scores"]["test/micro_auprc"] > 0
    architecture = entry["architecture"]
    module, _, cls = architecture["class_path"].rpartition(".")
    init_args = {k: v for k, v in architecture.get("init_args", {}).items() if k != "weights"}
    model = getattr(__import__(module, fromlist=[cls]), cls)(**init_args)
    teacher = kdzoo.models.FrozenTeacher(model, checkpoint=str(path))  # strict load: raises on any mismatch
    assert teacher(torch.zeros(1, 16000), 16000).logits.shape == (1, 8)


def test_publish_copies_and_records(tmp_path):
    run = tmp_path / "runs" / "some_recipe" / "version_0"
    run.mkdir(parents=True)
    model = kdzoo.create_student("cnn_xs")
    torch.save({"state_dict": model.state_dict()}, run / "student.pt")
    (run / "summary.json").write_text(json.dumps({"scores": {"test/micro_auprc": 0.5}}))
    config = {"seed_everything": 3, "model": {"student": {"class_path": "kdzoo.models.cnn.CNN"}},
              "data": {"class_path": "x"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    entry = publish(run, "tiny", "kdzoo fit --recipe x", dest_dir=tmp_path / "teachers",
                    manifest=tmp_path / "manifest.json")
    assert entry["sha256"] == sha256_of(tmp_path / "teachers" / "tiny.pt") == sha256_of(run / "student.pt")
    recorded = read_manifest(tmp_path / "manifest.json")["tiny"]
    assert recorded["seed"] == 3 and recorded["recipe"] == "some_recipe"


def test_publish_rejects_unfinished_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="finished `kdzoo fit` run"):
        publish(tmp_path, "x", "cmd", manifest=tmp_path / "m.json")
