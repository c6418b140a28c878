"""kdzoo.data.sonyc: taxonomy, annotation parsing (v1 and v2), label aggregation, and the data module end to end.

The annotation files are written by hand here (volunteer rows, SONYC-team rows with -1 cells, ground-truth rows)
and every expected target is stated from the rules, not from the code's output.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from kdzoo.data.audio import load_audio
from kdzoo.data.cache import WaveformCache
from kdzoo.data.sonyc import (
    DCASE2019_TAXONOMY,
    SonycUSTDataModule,
    aggregate_targets,
    annotation_version,
    load_annotations,
    load_targets,
    load_taxonomy,
    write_taxonomy,
)
from kdzoo.types import Batch

TAXONOMY = load_taxonomy()
STC = {
    "year": 2019,
    "week": 10,
    "day": 2,
    "hour": 14,
    "borough": 1,
    "block": 547,
    "latitude": 40.73,
    "longitude": -74.0,
}


# --- hand-written annotations -------------------------------------------------------------------------------


def fine_code(name: str) -> str:
    return name.split("_", 1)[0]  # "1-1_small-sounding-engine" -> "1-1"


def row(split, filename, annotator, positives=(), groups=None, floats=False, version=1, sensor=7):
    """One annotation row. ``positives``: fine codes marked present; ``groups``: the coarse ids this annotator
    tagged (SONYC-team rows tag one group, every other cell is -1); None = all groups (volunteers, truth)."""
    record = {"split": split, "sensor_id": sensor, "audio_filename": filename, "annotator_id": annotator}
    if version == 2:
        record.update(STC)
    coarse_values = {}
    for name in TAXONOMY.fine:
        group = int(fine_code(name).split("-")[0])
        value = (1 if fine_code(name) in positives else 0) if groups is None or group in groups else -1
        record[f"{name}_presence"] = value
        coarse_values[group] = max(coarse_values.get(group, -1), value)
    for name in TAXONOMY.fine:
        near = annotator > 0 and fine_code(name) in positives
        record[f"{name}_proximity"] = "near" if near else "-1"
    for index, name in enumerate(TAXONOMY.coarse):
        record[f"{name}_presence"] = coarse_values[index + 1]
    if floats:  # the real files mix "1" and "1.0"
        record = {k: (f"{v:.1f}" if k.endswith("_presence") else v) for k, v in record.items()}
    return record


def scenario_rows(version=1):
    v = {"version": version}
    return [
        # c.wav (validate, no ground truth): only team -3 tagged music (6-1); team -4 tagged group 4 and left
        # group 6 at -1. A literal sum (1 - 1 + 0 = 0) would lose the vote; -1 counts as missing -> music = 1.
        row("validate", "c.wav", 11, **v),
        row("validate", "c.wav", -3, {"6-1"}, groups={6}, **v),
        row("validate", "c.wav", -4, groups={4}, floats=True, **v),
        # a.wav (train): three volunteers, at least one vote makes a tag positive: 1-1 (engine), 7-1 (voice).
        row("train", "a.wav", 1, {"1-1"}, floats=True, **v),
        row("train", "a.wav", 2, **v),
        row("train", "a.wav", 3, {"7-1"}, **v),
        # b.wav (validate): volunteers say siren and jackhammer, but the ground-truth row (0) wins: 1-2 and dog.
        row("validate", "b.wav", 4, {"5-3"}, **v),
        row("validate", "b.wav", 5, {"2-2"}, **v),
        row("validate", "b.wav", -1, {"1-2"}, groups={1}, **v),
        row("validate", "b.wav", 0, {"1-2", "8-1"}, floats=True, **v),
        # d.wav (train): volunteers tag 1-X and 4-2, an all-zero ground-truth row overrides them -> nothing.
        row("train", "d.wav", 6, {"1-X"}, **v),
        row("train", "d.wav", 0, **v),
        row("train", "d.wav", 7, {"1-X", "4-2"}, **v),
        # e.wav (train): a single vote for an incomplete "X" tag -> 1-X and coarse engine.
        row("train", "e.wav", 9, {"1-X"}, **v),
        row("train", "e.wav", 10, **v),
    ]


EXPECTED_COARSE = {  # engine, machinery-impact, non-machinery-impact, powered-saw, alert, music, voice, dog
    "a.wav": [1, 0, 0, 0, 0, 0, 1, 0],
    "b.wav": [1, 0, 0, 0, 0, 0, 0, 1],
    "c.wav": [0, 0, 0, 0, 0, 1, 0, 0],
    "d.wav": [0, 0, 0, 0, 0, 0, 0, 0],
    "e.wav": [1, 0, 0, 0, 0, 0, 0, 0],
    "f.wav": [0, 0, 0, 0, 1, 0, 0, 0],
}
EXPECTED_FINE = {"a.wav": {"1-1", "7-1"}, "b.wav": {"1-2", "8-1"}, "c.wav": {"6-1"}, "d.wav": set(), "e.wav": {"1-X"}}


def fine_vector(codes: set[str]) -> list[float]:
    return [1.0 if fine_code(name) in codes else 0.0 for name in TAXONOMY.fine]


def write_annotations(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def v1_csv(tmp_path) -> Path:
    return write_annotations(tmp_path / "annotations.csv", scenario_rows(version=1))


@pytest.fixture
def v2_csv(tmp_path) -> Path:
    rows = scenario_rows(version=2) + [row("test", "f.wav", 0, {"5-3"}, version=2), row("test", "f.wav", 12, version=2)]
    return write_annotations(tmp_path / "annotations.csv", rows)


# --- taxonomy -----------------------------------------------------------------------------------------------


def test_builtin_taxonomy_matches_the_official_class_lists():
    assert len(TAXONOMY.coarse) == 8 and len(TAXONOMY.fine) == 29
    assert TAXONOMY.coarse[0] == "1_engine" and TAXONOMY.coarse[-1] == "8_dog"
    assert TAXONOMY.fine[:4] == [
        "1-1_small-sounding-engine",
        "1-2_medium-sounding-engine",
        "1-3_large-sounding-engine",
        "1-X_engine-of-uncertain-size",
    ]
    assert TAXONOMY.fine[-1] == "8-1_dog-barking-whining"
    assert sum(TAXONOMY.incomplete) == 6  # 23 complete tags + 6 X tags; coarse 3 and 8 have no X
    assert [TAXONOMY.coarse_of_fine.count(i) for i in range(8)] == [4, 5, 1, 4, 5, 4, 5, 1]
    assert TAXONOMY.coarse_of_fine[TAXONOMY.fine.index("7-3_large-crowd")] == 6


def test_written_taxonomy_has_int_keys_and_reads_back(tmp_path):
    path = write_taxonomy(tmp_path / "dcase-ust-taxonomy.yaml")
    raw = yaml.safe_load(path.read_text())
    assert list(raw["coarse"]) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert list(raw["fine"][1]) == [1, 2, 3, "X"]
    assert raw == DCASE2019_TAXONOMY
    assert load_taxonomy(path) == TAXONOMY


def test_taxonomy_yaml_written_by_hand_keeps_file_order(tmp_path):
    path = tmp_path / "tax.yaml"
    path.write_text("coarse:\n  2: b\n  1: a\nfine:\n  2:\n    X: other-b\n    1: b-one\n  1:\n    1: a-one\n")
    taxonomy = load_taxonomy(path)
    assert taxonomy.coarse == ["2_b", "1_a"]
    assert taxonomy.fine == ["2-X_other-b", "2-1_b-one", "1-1_a-one"]
    assert taxonomy.coarse_of_fine == [0, 0, 1]


def test_bad_taxonomy_files_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_taxonomy(tmp_path / "nope.yaml")
    path = tmp_path / "bad.yaml"
    path.write_text("coarse:\n  1: a\n")
    with pytest.raises(ValueError, match=r"missing the mapping\(s\) \['fine'\]"):
        load_taxonomy(path)
    path.write_text("coarse:\n  1: a\nfine:\n  1: {1: x}\n  9: {1: y}\n")
    with pytest.raises(ValueError, match=r"fine groups \[9\] have no coarse class"):
        load_taxonomy(path)


# --- annotations and aggregation ----------------------------------------------------------------------------


def test_v1_coarse_targets_follow_the_aggregation_rules(v1_csv):
    names, targets = load_targets(v1_csv, "train", "coarse")
    assert names == ["a.wav", "d.wav", "e.wav"]
    assert targets.dtype == np.float32 and targets.shape == (3, 8)
    assert targets.tolist() == [EXPECTED_COARSE[n] for n in names]
    names, targets = load_targets(v1_csv, "validate", "coarse")
    assert names == ["b.wav", "c.wav"]
    assert targets.tolist() == [EXPECTED_COARSE[n] for n in names]


def test_v1_fine_targets_include_x_tags(v1_csv):
    for split, expected_names in (("train", ["a.wav", "d.wav", "e.wav"]), ("validate", ["b.wav", "c.wav"])):
        names, targets = load_targets(v1_csv, split, "fine")
        assert names == expected_names
        assert targets.shape == (len(names), 29)
        assert targets.tolist() == [fine_vector(EXPECTED_FINE[n]) for n in names]


def test_v2_columns_and_test_split(v2_csv):
    frame = load_annotations(v2_csv)
    assert annotation_version(frame) == 2
    assert list(frame.columns[4:12]) == ["year", "week", "day", "hour", "borough", "block", "latitude", "longitude"]
    names, targets = load_targets(v2_csv, "test", "coarse")
    assert names == ["f.wav"]
    assert targets.tolist() == [EXPECTED_COARSE["f.wav"]]
    names, targets = load_targets(v2_csv, "validate", "fine", aggregation="ust19")  # the STC columns change nothing
    assert names == ["b.wav", "c.wav"]
    assert targets.tolist() == [fine_vector(EXPECTED_FINE[n]) for n in names]


# The UST19 and UST20 rules side by side on one hand-written v2 file. Fine codes per annotator; coarse
# columns: engine, machinery-impact, non-machinery-impact, powered-saw, alert, music, voice, dog.
RULES_ROWS = [
    # t1 (train): volunteers vote 1-1 and 7-1; a ground-truth row says dog; a team row tags group 2.
    ("train", "t1.wav", 21, {"1-1"}, None),
    ("train", "t1.wav", 22, set(), None),
    ("train", "t1.wav", 23, {"7-1"}, None),
    ("train", "t1.wav", 0, {"8-1"}, None),
    ("train", "t1.wav", -2, {"2-2"}, {2}),
    # t2 (train): volunteers only: 5-3, and 5-3 + 6-1.
    ("train", "t2.wav", 24, {"5-3"}, None),
    ("train", "t2.wav", 25, {"5-3", "6-1"}, None),
    # t3 (train): no volunteer row, only a ground-truth and a team row for powered saw.
    ("train", "t3.wav", 0, {"4-1"}, None),
    ("train", "t3.wav", -1, {"4-1"}, {4}),
    # v1 (validate): volunteers say engine; team and ground truth say non-machinery impact.
    ("validate", "v1.wav", 26, {"1-1"}, None),
    ("validate", "v1.wav", 27, set(), None),
    ("validate", "v1.wav", -3, {"3-1"}, {3}),
    ("validate", "v1.wav", 0, {"3-1"}, None),
    # v2 (validate): unverified: one volunteer says music, a team member voice; no ground-truth row.
    ("validate", "v2.wav", 28, {"6-1"}, None),
    ("validate", "v2.wav", -4, {"7-2"}, {7}),
    # x1 (test): ground truth dog, a volunteer engine.  x2 (test): one volunteer, engine, no ground truth.
    ("test", "x1.wav", 0, {"8-1"}, None),
    ("test", "x1.wav", 29, {"1-1"}, None),
    ("test", "x2.wav", 30, {"1-2"}, None),
]
UST20_COARSE = {  # train: volunteer votes only, files without one dropped; validate/test: annotator 0 only
    "train": {"t1.wav": [1, 0, 0, 0, 0, 0, 1, 0], "t2.wav": [0, 0, 0, 0, 1, 1, 0, 0]},
    "validate": {"v1.wav": [0, 0, 1, 0, 0, 0, 0, 0]},
    "test": {"x1.wav": [0, 0, 0, 0, 0, 0, 0, 1]},
}
UST19_COARSE = {  # every split: the ground-truth row if any, else at least one vote from anybody
    "train": {"t1.wav": [0, 0, 0, 0, 0, 0, 0, 1], "t2.wav": [0, 0, 0, 0, 1, 1, 0, 0],
              "t3.wav": [0, 0, 0, 1, 0, 0, 0, 0]},
    "validate": {"v1.wav": [0, 0, 1, 0, 0, 0, 0, 0], "v2.wav": [0, 0, 0, 0, 0, 1, 1, 0]},
    "test": {"x1.wav": [0, 0, 0, 0, 0, 0, 0, 1], "x2.wav": [1, 0, 0, 0, 0, 0, 0, 0]},
}


@pytest.fixture
def rules_csv(tmp_path) -> Path:
    rows = [row(split, name, annotator, positives, groups=groups, version=2)
            for split, name, annotator, positives, groups in RULES_ROWS]
    return write_annotations(tmp_path / "rules.csv", rows)


@pytest.mark.parametrize("aggregation", [None, "ust20"])
def test_ust20_rule_trains_on_volunteers_and_scores_verified_rows_only(rules_csv, aggregation):
    for split, expected in UST20_COARSE.items():
        names, targets = load_targets(rules_csv, split, "coarse", aggregation=aggregation)  # None: v2 -> ust20
        assert {n: t for n, t in zip(names, targets.tolist(), strict=True)} == expected, split
        assert names == sorted(names)
    names, targets = load_targets(rules_csv, "train", "fine")
    assert names == ["t1.wav", "t2.wav"]
    assert targets.tolist() == [fine_vector({"1-1", "7-1"}), fine_vector({"5-3", "6-1"})]


def test_ust19_rule_stays_available_for_v2_and_is_the_v1_default(rules_csv, v1_csv):
    for split, expected in UST19_COARSE.items():
        names, targets = load_targets(rules_csv, split, "coarse", aggregation="ust19")
        assert {n: t for n, t in zip(names, targets.tolist(), strict=True)} == expected, split
    for split in ("train", "validate"):
        default, explicit = load_targets(v1_csv, split), load_targets(v1_csv, split, aggregation="ust19")
        assert default[0] == explicit[0] and np.array_equal(default[1], explicit[1])


def test_ust20_rule_with_nothing_verified_says_what_to_do(tmp_path, caplog):
    rows = [row("validate", "u.wav", 3, {"1-1"}, version=2), row("train", "t.wav", 4, version=2)]
    path = write_annotations(tmp_path / "annotations.csv", rows)
    with pytest.raises(ValueError, match=r"no 'validate' file has a verified \(annotator_id == 0\) row.*"
                       r"aggregation='ust19'"):
        load_targets(path, "validate")
    with pytest.raises(ValueError, match=r"aggregation must be one of \('ust19', 'ust20'\), got 'vote'"):
        load_targets(path, "train", aggregation="vote")


def test_presence_values_are_parsed_from_int_and_float_strings(v1_csv):
    text = v1_csv.read_text()
    assert ",1.0," in text and ",-1.0," in text and ",-1," in text  # the file really mixes both spellings
    frame = load_annotations(v1_csv)
    assert annotation_version(frame) == 1
    column = "6-1_stationary-music_presence"
    assert frame[column].dtype == np.float64
    assert sorted(frame.loc[frame["audio_filename"] == "c.wav", column].tolist()) == [-1.0, 0.0, 1.0]


def test_aggregate_targets_on_a_minimal_frame():
    frame = pd.DataFrame(
        {
            "audio_filename": ["z.wav", "y.wav", "y.wav", "z.wav", "z.wav"],
            "annotator_id": [-2, 3, 0, -5, 4],
            "t_presence": [-1.0, 1.0, 0.0, 1.0, 0.0],
        }
    )
    names, targets = aggregate_targets(frame, ["t_presence"])
    assert names == ["y.wav", "z.wav"]
    assert targets.tolist() == [[0.0], [1.0]]  # y: ground truth 0 beats a vote; z: one team vote of 1


def test_unknown_split_lists_the_available_ones(v1_csv):
    with pytest.raises(
        ValueError, match=r"no rows with split == 'test'; the splits present are \['train', 'validate'\]"
    ):
        load_targets(v1_csv, "test")


def test_missing_columns_are_all_listed(tmp_path, v1_csv):
    frame = pd.read_csv(v1_csv).drop(columns=["annotator_id", "8_dog_presence"])
    path = write_annotations(tmp_path / "broken.csv", frame.to_dict("records"))
    with pytest.raises(ValueError, match=r"2 required column\(s\) missing: \['annotator_id', '8_dog_presence'\]"):
        load_annotations(path)


def test_presence_values_outside_minus_one_zero_one_are_rejected(tmp_path, v1_csv):
    frame = pd.read_csv(v1_csv)
    frame.loc[2, "3-1_non-machinery-impact_presence"] = 2
    path = write_annotations(tmp_path / "two.csv", frame.to_dict("records"))
    with pytest.raises(ValueError, match=r"'3-1_non-machinery-impact_presence' must hold -1, 0 or 1, found \[2.0\]"):
        load_annotations(path)
    frame["3-1_non-machinery-impact_presence"] = frame["3-1_non-machinery-impact_presence"].astype(object)
    frame.loc[2, "3-1_non-machinery-impact_presence"] = "yes"
    path = write_annotations(tmp_path / "text.csv", frame.to_dict("records"))
    with pytest.raises(ValueError, match=r"non-numeric or empty values \['yes'\] \(lines \[4\]\)"):
        load_annotations(path)


def test_missing_annotations_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotations file not found: .*nothing.csv"):
        load_targets(tmp_path / "nothing.csv", "train")


# --- data module on a tiny generated corpus -----------------------------------------------------------------

RATE_ON_DISK = 16000
INT16_STEP = 1 / 32768
CLIP_SECONDS = {"a.wav": 1.5, "b.wav": 1.0, "c.wav": 0.75, "d.wav": 1.25, "e.wav": 0.6, "f.wav": 1.0}
TONE_HZ = {"a.wav": 500.0, "b.wav": 700.0, "c.wav": 900.0, "d.wav": 300.0, "e.wav": 1100.0, "f.wav": 1300.0}


def write_clip(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(CLIP_SECONDS[name] * RATE_ON_DISK)) / RATE_ON_DISK
    sf.write(path, (0.3 * np.sin(2 * np.pi * TONE_HZ[name] * t)).astype(np.float32), RATE_ON_DISK)


def make_corpus(root: Path, version: int = 1) -> Path:
    """v1: root/<split>/*.wav (Zenodo 2590742 layout); v2: root/audio/*.wav; plus annotations and taxonomy."""
    rows = scenario_rows(version)
    if version == 2:
        rows += [row("test", "f.wav", 0, {"5-3"}, version=2)]
    root.mkdir(parents=True, exist_ok=True)
    write_annotations(root / "annotations.csv", rows)
    write_taxonomy(root / "dcase-ust-taxonomy.yaml")
    for record in rows:
        folder = root / ("audio" if version == 2 else record["split"])
        write_clip(folder / record["audio_filename"], record["audio_filename"])
    return root


def datamodule(root: Path, **kwargs) -> SonycUSTDataModule:
    options = {"sample_rate": 8000, "clip_seconds": 1.0, "batch_size": 2, "min_seconds": 0.5} | kwargs
    return SonycUSTDataModule(str(root), **options)


def all_batches(loader) -> list[Batch]:
    return list(loader)


def test_datamodule_yields_batches_of_resampled_fixed_length_clips(tmp_path):
    root = make_corpus(tmp_path / "ust")
    dm = datamodule(root)
    assert (dm.num_classes, dm.task, dm.class_names[0]) == (8, "multilabel", "1_engine")
    dm.setup("fit")
    batches = all_batches(dm.val_dataloader())
    assert [b.clip_id for b in batches] == [["b.wav", "c.wav"]]
    batch = batches[0]
    assert isinstance(batch, Batch)
    assert batch.waveform.shape == (2, 8000) and batch.waveform.dtype == torch.float32
    assert batch.target.shape == (2, 8) and batch.target.dtype == torch.float32
    assert batch.sample_rate == 8000
    assert batch.target.tolist() == [EXPECTED_COARSE["b.wav"], EXPECTED_COARSE["c.wav"]]
    # c.wav lasts 0.75 s: 6000 samples at 8 kHz, then zero padding; the samples are load_audio's.
    expected, _ = load_audio(root / "validate" / "c.wav", sample_rate=8000)
    assert expected.shape == (6000,)
    torch.testing.assert_close(batch.waveform[1, :6000], expected, rtol=0, atol=INT16_STEP / 2 + 1e-6)  # int16 cache
    assert torch.count_nonzero(batch.waveform[1, 6000:]) == 0
    assert torch.fft.rfft(batch.waveform[0]).abs().argmax().item() == TONE_HZ["b.wav"]  # 1 s: 1 Hz per bin


def test_train_shuffle_is_seeded_and_covers_every_clip(tmp_path):
    root = make_corpus(tmp_path / "ust")

    def order(seed):
        dm = datamodule(root, seed=seed, batch_size=1)
        dm.setup("fit")
        return [batch.clip_id[0] for batch in dm.train_dataloader()]

    first = order(0)
    assert sorted(first) == ["a.wav", "d.wav", "e.wav"]
    assert order(0) == first
    dm = datamodule(root, batch_size=3)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    expected = {name: EXPECTED_COARSE[name] for name in ("a.wav", "d.wav", "e.wav")}
    assert {name: target for name, target in zip(batch.clip_id, batch.target.tolist(), strict=True)} == expected


def test_v1_tests_on_validate_and_logs_it(tmp_path, caplog):
    root = make_corpus(tmp_path / "ust")
    dm = datamodule(root)
    with caplog.at_level(logging.INFO, logger="kdzoo.data.sonyc"):
        test_ids = [name for batch in dm.test_dataloader() for name in batch.clip_id]
    assert dm.test_split == "validate"
    assert test_ids == ["b.wav", "c.wav"]
    assert "no 'test' rows: testing on 'validate'" in caplog.text
    assert [name for batch in dm.predict_dataloader() for name in batch.clip_id] == test_ids
    fresh = datamodule(root)
    fresh.setup("predict")
    assert sorted(fresh.datasets) == ["validate"]  # predict builds only the test split, not train


def test_v2_layout_fine_level_and_real_test_split(tmp_path):
    root = make_corpus(tmp_path / "ust2", version=2)
    dm = datamodule(root, version=2, level="fine")
    assert dm.num_classes == 29
    dm.setup("test")
    assert dm.test_split == "test"
    (batch,) = all_batches(dm.test_dataloader())
    assert batch.clip_id == ["f.wav"]
    assert batch.target.tolist() == [fine_vector({"5-3"})]


def test_preload_off_gives_the_same_items(tmp_path):
    root = make_corpus(tmp_path / "ust")
    loaded, lazy = datamodule(root), datamodule(root, preload=False)
    for dm in (loaded, lazy):
        dm.setup("fit")
    assert lazy.datasets["validate"].waveforms is None
    for a, b in zip(loaded.val_dataloader(), lazy.val_dataloader(), strict=True):
        assert a.clip_id == b.clip_id
        torch.testing.assert_close(a.waveform, b.waveform, rtol=0, atol=INT16_STEP / 2 + 1e-6)
        assert torch.equal(a.target, b.target)


def test_preload_resamples_mixed_rates_in_batches(tmp_path, monkeypatch):
    root = make_corpus(tmp_path / "ust")
    tones = {"a.wav": (24000, 500.0), "d.wav": (24000, 300.0), "e.wav": (12000, 1100.0)}
    for name, (rate, freq) in tones.items():
        t = np.arange(rate) / rate  # 1 s each
        sf.write(root / "train" / name, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    monkeypatch.setattr("kdzoo.data.sonyc.RESAMPLE_BATCH", 2)  # the two 24 kHz clips fill one batch
    dm = datamodule(root, preload="memory")
    dm.setup("fit")
    clips = dm.datasets["train"]
    for index, name in enumerate(["a.wav", "d.wav", "e.wav"]):
        item = clips[index]
        assert item["clip_id"] == name
        expected, _ = load_audio(root / "train" / name, sample_rate=8000)
        torch.testing.assert_close(item["waveform"], expected, rtol=0, atol=1e-6)
        assert torch.fft.rfft(item["waveform"]).abs().argmax().item() == tones[name][1]


def test_missing_root_and_annotations_say_what_to_download(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"does not exist; download it with `kdzoo data download sonyc-ust "
        r"--version 1 --root .*`, or generate .* `kdzoo data synth-ust --root ",
    ):
        datamodule(tmp_path / "absent").setup("fit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no annotations.csv or annotations-dev.csv in .*empty; download it"):
        datamodule(tmp_path / "empty", version=2).setup("fit")


def test_missing_audio_names_the_file_and_the_folders_searched(tmp_path):
    root = make_corpus(tmp_path / "ust")
    (root / "train" / "d.wav").unlink()
    with pytest.raises(FileNotFoundError) as info:
        datamodule(root).setup("fit")
    message = str(info.value)
    assert "1 of 3 'train' audio file(s) not found: d.wav;" in message
    for folder in ("audio", "audio-dev/train", "train", "audio-eval"):
        assert str(root / folder) in message


def test_bad_audio_files_are_reported_together(tmp_path):
    root = make_corpus(tmp_path / "ust")
    nan = np.zeros(16000, np.float32)
    nan[5] = np.nan
    sf.write(root / "train" / "a.wav", nan, RATE_ON_DISK, subtype="FLOAT")
    (root / "train" / "e.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(ValueError) as info:
        datamodule(root).setup("fit")
    message = str(info.value)
    assert message.startswith("2 bad 'train' audio file(s):")
    assert "a.wav: 1 of 16000 samples are NaN or inf" in message
    assert "e.wav: not a readable audio file" in message


def test_too_short_clips_fail_setup_with_the_default_minimum(tmp_path):
    root = make_corpus(tmp_path / "ust")
    with pytest.raises(ValueError, match=r"1 bad 'train' audio file\(s\): .*e.wav: audio is 0.600 s long"):
        datamodule(root, min_seconds=1.0, preload=False).setup("fit")


def test_version_mismatch_is_explained(tmp_path):
    root = make_corpus(tmp_path / "ust")
    with pytest.raises(ValueError, match="has SONYC-UST v1 columns .* built with version=2; pass version=1"):
        datamodule(root, version=2).setup("fit")


def test_constructor_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="version must be 1"):
        SonycUSTDataModule(str(tmp_path), version=3)
    with pytest.raises(ValueError, match="level must be 'coarse' or 'fine', got 'mid'"):
        SonycUSTDataModule(str(tmp_path), level="mid")


def test_v2_datamodule_validates_on_verified_files_unless_told_otherwise(tmp_path):
    root = make_corpus(tmp_path / "ust2", version=2)  # validate: b.wav verified, c.wav crowd only
    ids = {}
    for aggregation in (None, "ust19"):
        dm = datamodule(root, version=2, aggregation=aggregation)
        dm.setup("validate")
        ids[aggregation] = [name for batch in dm.val_dataloader() for name in batch.clip_id]
    assert ids == {None: ["b.wav"], "ust19": ["b.wav", "c.wav"]}
    dm = datamodule(root, version=2)
    dm.setup("fit")  # train: volunteer votes only, so d.wav's all-zero ground-truth row no longer wins
    targets = {n: t for b in dm.train_dataloader() for n, t in zip(b.clip_id, b.target.tolist(), strict=True)}
    assert targets["d.wav"] == [1, 0, 0, 1, 0, 0, 0, 0]  # 1-X (engine) and 4-2 (powered saw) from volunteers
    assert targets["a.wav"] == EXPECTED_COARSE["a.wav"]
    with pytest.raises(ValueError, match="aggregation must be one of"):
        datamodule(root, aggregation="majority")


# --- the unannotated eval split -----------------------------------------------------------------------------


def write_eval_clips(root: Path, names: list[str], seconds: float = 1.0) -> None:
    (root / "audio-eval").mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        t = np.arange(round(seconds * RATE_ON_DISK)) / RATE_ON_DISK
        sf.write(root / "audio-eval" / name, 0.2 * np.sin(2 * np.pi * 400 * (index + 1) * t), RATE_ON_DISK)


def test_predict_split_eval_reads_every_clip_of_audio_eval(tmp_path):
    root = make_corpus(tmp_path / "ust")
    write_eval_clips(root, ["00_000002.wav", "00_000001.wav", "07_000009.flac"])
    (root / "audio-eval" / "README.txt").write_text("not audio")
    dm = datamodule(root, predict_split="eval")
    dm.setup("predict")
    assert sorted(dm.datasets) == ["eval"]
    (batch, rest) = all_batches(dm.predict_dataloader())
    assert batch.clip_id + rest.clip_id == ["00_000001.wav", "00_000002.wav", "07_000009.flac"]
    assert batch.waveform.shape == (2, 8000) and torch.isnan(batch.target).all()  # no labels: NaN, never scored
    assert torch.fft.rfft(batch.waveform[0]).abs().argmax().item() == 800  # 00_000001.wav was written second
    assert [n for b in datamodule(root, predict_split="train").predict_dataloader() for n in b.clip_id] == [
        "a.wav", "d.wav", "e.wav"]


def test_eval_split_errors_name_the_folder_and_the_bad_files(tmp_path):
    root = make_corpus(tmp_path / "ust")
    with pytest.raises(FileNotFoundError, match=r"no eval folder .*audio-eval: .*\(Zenodo 3338310"):
        datamodule(root, predict_split="eval").setup("predict")
    write_eval_clips(root, ["ok.wav"])
    (root / "audio-eval" / "bad.wav").write_bytes(b"RIFF not really a wav")
    write_eval_clips(root, ["short.wav"], seconds=0.2)
    with pytest.raises(ValueError) as info:
        datamodule(root, predict_split="eval").setup("predict")
    message = str(info.value)
    assert message.startswith("2 bad 'eval' audio file(s):")
    assert "bad.wav: not a readable audio file" in message and "short.wav: audio is 0.200 s long" in message


# --- the decoded-audio cache (preload="cache", the default) -------------------------------------------------


def cache_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".kdzoo-cache").iterdir())


def count_decodes(monkeypatch) -> list[str]:
    decoded = []

    def counting(path, *args, **kwargs):
        decoded.append(Path(path).name)
        return load_audio(path, *args, **kwargs)

    monkeypatch.setattr("kdzoo.data.sonyc.load_audio", counting)
    return decoded


def test_cache_matches_a_fresh_decode_within_int16_quantisation(tmp_path):
    root = make_corpus(tmp_path / "ust")
    resampled = datamodule(root)  # 16 kHz files -> 8 kHz: rounding to int16 moves a sample by <= half a step
    resampled.setup("fit")
    assert isinstance(resampled.datasets["train"].waveforms, WaveformCache)
    same_rate = datamodule(root, sample_rate=16000)  # 16-bit files at their own rate: stored bit-exactly
    same_rate.setup("fit")
    for split in ("train", "validate"):
        for item, exact in zip(resampled.datasets[split], same_rate.datasets[split], strict=True):
            path = next(root.glob(f"*/{item['clip_id']}"))
            fresh, _ = load_audio(path, 8000, 8000)
            error = (item["waveform"] - fresh).abs().max().item()
            assert 0 < error <= INT16_STEP / 2 + 1e-7
            assert torch.equal(exact["waveform"], load_audio(path, 16000, 16000)[0])
    assert len(cache_files(root)) == 4 and all(name.endswith(".npy") for name in cache_files(root))


def test_second_setup_reads_the_cache_without_decoding(tmp_path, monkeypatch):
    root = make_corpus(tmp_path / "ust")
    first = datamodule(root)
    first.setup("fit")
    decoded = count_decodes(monkeypatch)
    again = datamodule(root)
    again.setup("fit")
    assert decoded == []
    for a, b in zip(first.val_dataloader(), again.val_dataloader(), strict=True):
        assert a.clip_id == b.clip_id and torch.equal(a.waveform, b.waveform)
    elsewhere = datamodule(root, cache_dir=str(tmp_path / "cache"))  # another folder: decoded there once
    elsewhere.setup("validate")
    assert sorted(decoded) == ["b.wav", "c.wav"] and len(list((tmp_path / "cache").glob("validate-*.npy"))) == 1


def test_a_changed_file_or_rate_rebuilds_the_cache(tmp_path, monkeypatch):
    root = make_corpus(tmp_path / "ust")
    datamodule(root).setup("fit")
    before = cache_files(root)
    clip = root / "train" / "a.wav"
    stat = clip.stat()
    t = np.arange(round(CLIP_SECONDS["a.wav"] * RATE_ON_DISK)) / RATE_ON_DISK
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 1500 * t)).astype(np.float32), RATE_ON_DISK)  # same size, new tone
    assert clip.stat().st_size == stat.st_size
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later write, as a copy tool leaves
    decoded = count_decodes(monkeypatch)
    dm = datamodule(root)
    dm.setup("fit")
    assert sorted(decoded) == ["a.wav", "d.wav", "e.wav"]  # train rebuilt, validate reused
    item = dm.datasets["train"][0]
    assert item["clip_id"] == "a.wav" and torch.fft.rfft(item["waveform"]).abs().argmax().item() == 1500
    decoded.clear()
    datamodule(root, sample_rate=4000).setup("validate")
    assert sorted(decoded) == ["b.wav", "c.wav"]
    assert len(set(cache_files(root)) - set(before)) == 2  # the new train cache and the 4 kHz validate cache


def test_a_bad_clip_names_the_file_and_leaves_no_cache(tmp_path):
    root = make_corpus(tmp_path / "ust")
    (root / "train" / "e.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(ValueError, match=r"1 bad 'train' audio file\(s\): .*e.wav: not a readable audio file"):
        datamodule(root).setup("fit")
    assert [name for name in cache_files(root) if name.startswith(("train", ".train"))] == []


def test_cached_split_pickles_without_its_samples(tmp_path):
    root = make_corpus(tmp_path / "ust")
    dm = datamodule(root, sample_rate=16000, clip_seconds=10.0)  # 5 x 160000 int16 = 1.6 MB on disk
    dm.setup("fit")
    clips = dm.datasets["train"]
    clips[0]  # opens the memory map in this process
    blob = pickle.dumps(clips)
    assert len(blob) < 20_000
    copy = pickle.loads(blob)
    assert torch.equal(copy[2]["waveform"], clips[2]["waveform"])


@pytest.mark.parametrize("folder", ["audio-dev/test", "test"])
def test_a_v1_corpus_with_test_rows_tests_on_them(tmp_path, folder):
    root = make_corpus(tmp_path / "ust")
    rows = scenario_rows(1) + [row("test", "f.wav", 13, {"5-3"}), row("test", "f.wav", 14)]
    write_annotations(root / "annotations.csv", rows)
    write_clip(root / folder / "f.wav", "f.wav")
    dm = datamodule(root)
    (batch,) = all_batches(dm.test_dataloader())
    assert dm.test_split == "test" and batch.clip_id == ["f.wav"]
    assert batch.target.tolist() == [EXPECTED_COARSE["f.wav"]]  # v1 rule: one volunteer vote for a siren
