"""The generated SONYC-UST v1 stand-in: layout, annotation semantics, audio format, determinism, label statistics,
annotator noise and the spectro-temporal signature of each event synthesiser."""

from __future__ import annotations

import math
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from kdzoo.data import synth
from kdzoo.data.synth import Difficulty, Event

SR = 16000
SMALL = {"clips": 12, "clip_seconds": 2.0, "speech": "formant", "progress": False}

# The official DCASE 2019 Task 5 taxonomy, typed in from the dataset README (independent of the module).
OFFICIAL = {
    1: ("engine", ["small-sounding-engine", "medium-sounding-engine", "large-sounding-engine"],
        "engine-of-uncertain-size"),
    2: ("machinery-impact", ["rock-drill", "jackhammer", "hoe-ram", "pile-driver"], "other-unknown-impact-machinery"),
    3: ("non-machinery-impact", ["non-machinery-impact"], None),
    4: ("powered-saw", ["chainsaw", "small-medium-rotating-saw", "large-rotating-saw"], "other-unknown-powered-saw"),
    5: ("alert-signal", ["car-horn", "car-alarm", "siren", "reverse-beeper"], "other-unknown-alert-signal"),
    6: ("music", ["stationary-music", "mobile-music", "ice-cream-truck"], "music-from-uncertain-source"),
    7: ("human-voice", ["person-or-small-group-talking", "person-or-small-group-shouting", "large-crowd",
                        "amplified-speech"], "other-unknown-human-voice"),
    8: ("dog", ["dog-barking-whining"], None),
}


def columns_from_yaml(tax: dict) -> list[str]:
    """The v1 header rebuilt from a loaded taxonomy, the way a loader would."""
    fine = [f"{c}-{k}_{name}" for c, group in tax["fine"].items() for k, name in group.items()]
    coarse = [f"{c}_{name}" for c, name in tax["coarse"].items()]
    return (["split", "sensor_id", "audio_filename", "annotator_id"] + [f + "_presence" for f in fine]
            + [f + "_proximity" for f in fine] + [c + "_presence" for c in coarse])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ust")
    return root, synth.synth_ust(root, seed=3, workers=1, team_prob=1.0, **SMALL)


@pytest.fixture(scope="module")
def table(corpus) -> pd.DataFrame:
    return pd.read_csv(corpus[0] / "annotations.csv")


def presence_cols(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    fine = [c for c in df.columns if c.endswith("_presence") and "-" in c.split("_")[0]]
    coarse = [c for c in df.columns if c.endswith("_presence") and c not in fine]
    return fine, coarse


# ---------------------------------------------------------------------------------------------------------------
# Layout


def test_taxonomy_yaml_is_the_official_one(corpus):
    tax = yaml.safe_load((corpus[0] / "dcase-ust-taxonomy.yaml").read_text())
    assert tax["coarse"] == {c: name for c, (name, _, _) in OFFICIAL.items()}
    for c, (_, fines, x) in OFFICIAL.items():
        expected = {i + 1: f for i, f in enumerate(fines)} | ({"X": x} if x else {})
        assert tax["fine"][c] == expected
        assert list(tax["fine"][c]) == list(expected)  # order: 1..k, then X
    assert sum(k != "X" for g in tax["fine"].values() for k in g) == 23
    assert sum(k == "X" for g in tax["fine"].values() for k in g) == 6


def test_csv_header_is_v1_column_order(corpus, table):
    tax = yaml.safe_load((corpus[0] / "dcase-ust-taxonomy.yaml").read_text())
    expected = columns_from_yaml(tax)
    assert len(expected) == 4 + 29 + 29 + 8
    assert list(table.columns) == expected
    assert expected[4] == "1-1_small-sounding-engine_presence" and expected[-1] == "8_dog_presence"


def test_audio_files_match_csv_and_splits(corpus, table):
    root, summary = corpus
    for split in ("train", "validate"):
        on_disk = {p.name for p in (root / "audio-dev" / split).iterdir()}
        assert on_disk == set(table[table.split == split].audio_filename)
    assert summary["clips"] == {"train": 10, "validate": 2, "test": 0}  # round(12 * 0.2) = 2; no test split asked
    names = table.drop_duplicates("audio_filename")
    pairs = zip(names.sensor_id, names.audio_filename, strict=True)
    assert all(f"{s:02d}_" == f[:3] and f.endswith(".wav") for s, f in pairs)


def test_sensors_are_disjoint_between_splits(corpus, table):
    train = set(table[table.split == "train"].sensor_id)
    val = set(table[table.split == "validate"].sensor_id)
    assert train and val and not train & val
    big = synth.plan_corpus(600, 0, 0.2, 10.0, Difficulty())
    assert len({p.sensor for p in big if p.split == "train"}) == 35
    assert len({p.sensor for p in big if p.split == "validate"}) == 8
    assert not {p.sensor for p in big if p.split == "train"} & {p.sensor for p in big if p.split == "validate"}


def test_wav_format(corpus, table):
    for split, name in table[["split", "audio_filename"]].drop_duplicates().itertuples(index=False):
        info = sf.info(corpus[0] / "audio-dev" / split / name)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 32000)
        assert (info.format, info.subtype) == ("WAV", "PCM_16")
        pcm, _ = sf.read(corpus[0] / "audio-dev" / split / name, dtype="int16")
        assert pcm.std() > 10  # not silent


# ---------------------------------------------------------------------------------------------------------------
# Held-out test split


@pytest.fixture(scope="module")
def tested(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ust_test")
    return root, synth.synth_ust(root, seed=3, workers=1, team_prob=1.0, test_clips=5, **SMALL)


def test_test_split_is_held_out_truth_only_on_its_own_sensors(tested):
    root, summary = tested
    df = pd.read_csv(root / "annotations.csv")
    test = df[df.split == "test"]
    assert summary["clips"] == {"train": 10, "validate": 2, "test": 5}
    assert len(test) == 5 and set(test.annotator_id) == {0}  # one verified-truth row per clip, no volunteers
    assert {p.name for p in (root / "audio-dev" / "test").iterdir()} == set(test.audio_filename)
    assert not set(test.sensor_id) & set(df[df.split != "test"].sensor_id)
    # truth rows are the scenes' true labels, clips numbered after the 12 train/validate clips
    coarse = [c for c in df.columns if c.endswith("_presence") and "-" not in c.split("_")[0]]
    for name, labels in zip(test.audio_filename, test[coarse].to_numpy(), strict=True):
        index = int(name[3:9])
        assert index >= 12
        assert labels.tolist() == synth.coarse_presence(synth.clip_scene(3, index, 2.0)).tolist()


def test_adding_a_test_split_leaves_train_and_validate_unchanged(corpus, tested):
    a, b = read_all(corpus[0]), read_all(tested[0])
    assert {k for k in b if "/test/" not in k} == set(a)
    assert all(a[k] == b[k] for k in a if k.endswith(".wav"))
    rows_a = a["annotations.csv"].decode().splitlines()
    rows_b = [r for r in b["annotations.csv"].decode().splitlines() if not r.startswith("test,")]
    assert rows_a == rows_b


def test_big_test_split_sensors_are_disjoint_and_capped():
    plans = synth.plan_corpus(600, 0, 0.2, 10.0, Difficulty(), test_clips=1000)
    sensors = {s: {p.sensor for p in plans if p.split == s} for s in ("train", "validate", "test")}
    assert [sum(p.split == s for p in plans) for s in sensors] == [480, 120, 1000]
    assert len(sensors["test"]) == 20 and not sensors["test"] & (sensors["train"] | sensors["validate"])


def test_test_clips_enter_the_marker_only_when_asked(corpus, tested):
    assert "test_clips" not in synth.read_marker(corpus[0])["params"]  # corpora from before the split still match
    assert synth.corpus_matches(corpus[0], seed=3, team_prob=1.0, test_clips=0, **SMALL)
    assert not synth.corpus_matches(corpus[0], seed=3, team_prob=1.0, test_clips=5, **SMALL)
    assert synth.corpus_matches(tested[0], seed=3, team_prob=1.0, test_clips=5, **SMALL)
    assert not synth.corpus_matches(tested[0], seed=3, team_prob=1.0, test_clips=4, **SMALL)


def test_demo_module_tests_on_the_held_out_split_and_validates_on_validate(tmp_path):
    from kdzoo.data.demo import SynthUSTDataModule

    dm = SynthUSTDataModule(root=str(tmp_path), clips=12, test_clips=5, clip_seconds=2.0, batch_size=4,
                            speech="formant", workers=1)
    dm.prepare_data()
    written = synth.read_marker(tmp_path)
    dm.prepare_data()  # a matching corpus is kept, not regenerated
    assert synth.read_marker(tmp_path) == written and written["params"]["test_clips"] == 5
    dm.setup("fit")
    assert len(dm.val_dataloader().dataset) == 2
    assert len(dm.test_dataloader().dataset) == 5 and dm.test_split == "test"
    test_names = {p.name for p in dm.datasets["test"].paths}
    assert not test_names & {p.name for p in dm.datasets["validate"].paths}
    assert not test_names & {p.name for p in dm.datasets["train"].paths}


def test_without_test_clips_the_demo_module_tests_on_validate(corpus):
    from kdzoo.data.demo import SynthUSTDataModule

    dm = SynthUSTDataModule(root=str(corpus[0]), clips=12, clip_seconds=2.0, batch_size=4, speech="formant")
    dm.setup("test")
    assert dm.test_split == "validate" and len(dm.test_dataloader().dataset) == 2


# ---------------------------------------------------------------------------------------------------------------
# Annotation semantics


def test_train_clips_have_exactly_three_distinct_volunteers(table):
    train = table[table.split == "train"]
    for _, rows in train.groupby("audio_filename"):
        assert len(rows) == 3 and (rows.annotator_id > 0).all() and rows.annotator_id.nunique() == 3


def test_volunteer_rows_are_consistent(table):
    fine, coarse = presence_cols(table)
    vol = table[table.annotator_id > 0]
    assert set(np.unique(vol[fine + coarse].values)) <= {0, 1}
    for c, col in enumerate(coarse, start=1):
        group = [f for f in fine if f.startswith(f"{c}-")]
        assert (vol[col].values == vol[group].max(axis=1).values).all()
    for f in fine:
        prox = vol[f.replace("_presence", "_proximity")].astype(str)
        assert ((prox != "-1") == (vol[f] == 1)).all()
        assert set(prox) <= {"-1", "near", "far", "notsure"}


def expected_truth_row(scene: tuple[Event, ...]) -> dict[str, int]:
    """Ground-truth presences computed by hand from the scene: the event's label key, coarse = any."""
    row = {}
    for c, (cname, fines, x) in OFFICIAL.items():
        keys = [(str(i + 1), f) for i, f in enumerate(fines)] + ([("X", x)] if x else [])
        for key, name in keys:
            row[f"{c}-{key}_{name}_presence"] = int(any(e.coarse == c and str(e.label) == key for e in scene))
        row[f"{c}_{cname}_presence"] = int(any(e.coarse == c for e in scene))
    return row


def test_validate_truth_rows_equal_true_labels(table):
    val = table[table.split == "validate"]
    for name, rows in val.groupby("audio_filename"):
        assert (rows.annotator_id == 0).sum() == 1 and (rows.annotator_id > 0).sum() == 3
        truth = rows[rows.annotator_id == 0].iloc[0]
        scene = synth.clip_scene(3, int(name[3:9]), 2.0, Difficulty(team_prob=1.0))
        for col, value in expected_truth_row(scene).items():
            assert truth[col] == value, (name, col)
        assert all(str(truth[c]) == "-1" for c in table.columns if c.endswith("_proximity"))


def test_team_rows_leave_unannotated_groups_at_minus_one(table):
    fine, coarse = presence_cols(table)
    team = table[table.annotator_id < 0]
    assert len(team) == 2  # team_prob=1.0: one per validate clip
    for _, row in team.iterrows():
        truth = table[(table.audio_filename == row.audio_filename) & (table.annotator_id == 0)].iloc[0]
        annotated = [c for c, col in enumerate(coarse, start=1) if row[col] != -1]
        assert 1 <= len(annotated) <= 3
        for c, col in enumerate(coarse, start=1):
            group = [f for f in fine if f.startswith(f"{c}-")]
            if c in annotated:
                assert (row[group + [col]].values == truth[group + [col]].values).all()
            else:
                assert (row[group].values == -1).all()


# ---------------------------------------------------------------------------------------------------------------
# Marker, determinism, atomicity


def test_marker_records_version_seed_and_params(corpus):
    root, _ = corpus
    marker = synth.read_marker(root)
    assert marker["version"] == synth.SYNTH_VERSION
    assert marker["params"]["seed"] == 3 and marker["params"]["speech_source"] == "formant"
    assert marker["params"]["snr_db"] == list(Difficulty().snr_db)
    assert synth.corpus_matches(root, seed=3, workers=2, team_prob=1.0, **SMALL)  # workers do not matter
    assert not synth.corpus_matches(root, seed=4, team_prob=1.0, **SMALL)
    assert not synth.corpus_matches(root, seed=3, **SMALL)  # team_prob differs


def read_all(root: Path) -> dict[str, bytes]:
    """Every generated file's bytes (not the marker, nor a decode cache a data module left in the corpus)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".synth.json" and ".kdzoo-cache" not in p.parts}


def test_same_seed_same_bytes_for_any_worker_count(tmp_path, corpus):
    synth.synth_ust(tmp_path / "w2", seed=3, workers=2, team_prob=1.0, **SMALL)
    a, b = read_all(corpus[0]), read_all(tmp_path / "w2")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


def test_different_seed_changes_audio_and_labels(tmp_path, corpus):
    synth.synth_ust(tmp_path / "s4", seed=4, workers=1, team_prob=1.0, **SMALL)
    a, b = read_all(corpus[0]), read_all(tmp_path / "s4")
    assert a["annotations.csv"] != b["annotations.csv"]
    wav_a = sorted(v for k, v in a.items() if k.endswith(".wav"))
    wav_b = sorted(v for k, v in b.items() if k.endswith(".wav"))
    assert not set(wav_a) & set(wav_b)


def test_crash_leaves_no_complete_looking_corpus(tmp_path, monkeypatch):
    root = tmp_path / "c"
    synth.synth_ust(root, seed=1, workers=1, **SMALL)
    calls = []

    def failing(job):
        calls.append(job)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        real(job)

    real = synth.corpus._render_job
    monkeypatch.setattr(synth.corpus, "_render_job", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        synth.synth_ust(root, seed=2, workers=1, **SMALL)
    assert synth.read_marker(root) is None and (root / ".synth.partial").exists()
    assert not synth.corpus_matches(root, seed=1, **SMALL) and not synth.corpus_matches(root, seed=2, **SMALL)
    assert not [p for p in root.rglob("*.tmp")]
    synth.synth_ust(root, seed=2, workers=1, **SMALL)  # a rerun may overwrite its own unfinished output
    assert synth.corpus_matches(root, seed=2, **SMALL) and not (root / ".synth.partial").exists()


def test_refuses_to_overwrite_a_corpus_it_did_not_write(tmp_path):
    (tmp_path / "annotations.csv").write_text("split,sensor_id\n")
    with pytest.raises(FileExistsError, match="real corpus"):
        synth.synth_ust(tmp_path, seed=1, workers=1, **SMALL)
    assert (tmp_path / "annotations.csv").read_text() == "split,sensor_id\n"


def test_regenerating_smaller_corpus_removes_stale_audio(tmp_path):
    root = tmp_path / "c"
    synth.synth_ust(root, seed=1, workers=1, **SMALL)
    synth.synth_ust(root, seed=1, workers=1, **(SMALL | {"clips": 5}))
    assert len(list((root / "audio-dev").rglob("*.wav"))) == 5
    assert pd.read_csv(root / "annotations.csv").audio_filename.nunique() == 5


def test_describe_reports_counts_and_classes(corpus):
    text = synth.describe(corpus[0])
    assert "10 train clips / " in text and "2 validate clips / " in text
    assert all(tag in text for tag in ("1_engine", "5_alert-signal", "8_dog"))


def test_bad_arguments_raise_actionable_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="validate_fraction"):
        synth.synth_ust(tmp_path, validate_fraction=1.0, **SMALL)
    with pytest.raises(ValueError, match="miss_rate"):
        synth.synth_ust(tmp_path, miss_rate=1.5, **SMALL)
    with pytest.raises(ValueError, match="test_clips=-1"):
        synth.synth_ust(tmp_path, test_clips=-1, **SMALL)
    with pytest.raises(ValueError, match="snr_db"):
        Difficulty(snr_db=(10.0, 0.0))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="espeak-ng"):
        synth.synth_ust(tmp_path, **(SMALL | {"speech": "espeak"}))
    assert synth.resolve_speech("auto") == "formant"
    with pytest.raises(FileNotFoundError, match="synth_ust"):
        synth.describe(tmp_path / "nothing")


# ---------------------------------------------------------------------------------------------------------------
# Label statistics and annotator noise (no audio)


def test_label_prevalence_and_cooccurrence():
    presence = np.array([synth.coarse_presence(synth.clip_scene(0, i)) for i in range(5000)])
    target = np.array([0.50, 0.20, 0.11, 0.06, 0.22, 0.09, 0.45, 0.06])  # engine .. dog, as specified
    assert np.abs(presence.mean(axis=0) - target).max() < 0.03
    machinery, saw = presence[:, 1] == 1, presence[:, 3] == 1
    assert saw[machinery].mean() > 2 * saw[~machinery].mean()  # construction sounds co-occur
    counts = [len(synth.clip_scene(0, i)) for i in range(2000)]
    assert max(counts) <= 4 and min(counts) == 0


def test_scene_events_fit_the_clip_and_levels_follow_knobs():
    d = Difficulty(snr_db=(0.0, 10.0), far_prob=0.5, far_drop_db=6.0)
    events = [e for i in range(1000) for e in synth.sample_scene(np.random.default_rng(i), 2.0, d)]
    assert all(0.0 <= e.onset and e.onset + e.duration <= 2.0 + 1e-9 for e in events)
    near = np.array([e.snr_db for e in events if not e.far])
    far = np.array([e.snr_db for e in events if e.far])
    assert near.min() >= 0.0 and near.max() <= 10.0 and far.min() >= -6.0 and far.max() <= 4.0
    assert abs(len(far) / len(events) - 0.5) < 0.05


def volunteer_rates(scene, d: Difficulty, draws: int = 20000) -> dict[str, float]:
    rng = np.random.default_rng(0)
    counts = Counter(tag for _ in range(draws) for tag in synth.annotate_volunteer(rng, scene, d))
    return {tag: counts[tag] / draws for tag in synth.FINE_TAGS}


@pytest.mark.parametrize("miss_rate", [0.2, 0.4])
def test_volunteer_miss_rate_at_mid_snr(miss_rate):
    d = Difficulty(miss_rate=miss_rate, snr_db=(-6.0, 20.0), fine_accuracy=1.0, false_rate=0.0)
    scene = (Event(1, 2, 2, 0.0, 1.0, snr_db=7.0, far=False),)  # 7 dB = middle of (-6, 20)
    rates = volunteer_rates(scene, d)
    assert abs((1 - rates["1-2_medium-sounding-engine"]) - miss_rate) < 0.015


def test_volunteer_miss_rate_falls_with_snr():
    # logistic: logit(0.2) - (19 - 7) / 6 = ln(0.25) - 2 = -3.386 -> p = 1 / (1 + e^3.386) = 0.0327
    assert synth.miss_probability(19.0, Difficulty()) == pytest.approx(0.0327, abs=1e-3)
    assert synth.miss_probability(-5.0, Difficulty()) == pytest.approx(1 / (1 + math.exp(-(math.log(0.25) + 2))))
    scene = (Event(8, 1, 1, 0.0, 1.0, snr_db=19.0, far=False),)
    rates = volunteer_rates(scene, Difficulty(false_rate=0.0))
    assert abs((1 - rates["8-1_dog-barking-whining"]) - 0.0327) < 0.006


def test_volunteer_false_tags_and_fine_confusion():
    d = Difficulty(false_rate=0.02, fine_accuracy=0.7)
    empty = volunteer_rates((), d)
    per_class = [sum(v for t, v in empty.items() if t.startswith(f"{c}-")) for c in range(1, 9)]
    assert abs(np.mean(per_class) - 0.02) < 0.002
    assert per_class[0] > 4 * per_class[7]  # imagined engines far more often than imagined dogs
    scene = (Event(5, 3, 3, 0.0, 1.0, snr_db=40.0, far=False),)  # siren, loud: almost never missed
    rates = volunteer_rates(scene, Difficulty(false_rate=0.0, fine_accuracy=0.7))
    heard = sum(v for t, v in rates.items() if t.startswith("5-"))
    assert abs(rates["5-3_siren"] / heard - 0.7) < 0.015
    assert abs(rates["5-X_other-unknown-alert-signal"] / heard - 0.3 * 0.6) < 0.015


def test_volunteer_proximity_follows_distance():
    rng = np.random.default_rng(0)
    d = Difficulty(miss_rate=0.0, false_rate=0.0, fine_accuracy=1.0)
    near = [synth.annotate_volunteer(rng, (Event(8, 1, 1, 0, 1, 7.0, False),), d) for _ in range(4000)]
    far = [synth.annotate_volunteer(rng, (Event(8, 1, 1, 0, 1, 7.0, True),), d) for _ in range(4000)]
    share = [np.mean([m["8-1_dog-barking-whining"] == "near" for m in x]) for x in (near, far)]
    assert share[0] > 0.6 and share[1] < 0.25


# ---------------------------------------------------------------------------------------------------------------
# Event synthesisers: energy where each class should have it


def spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(len(x), 1 / SR), np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2


def frame_db(x: np.ndarray, hop: int = 160) -> np.ndarray:
    p = (x[: len(x) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1)
    return 10 * np.log10(p / p.max() + 1e-12)


@pytest.mark.parametrize("subtype,limit_hz,share", [(1, 1000, 0.85), (2, 500, 0.85), (3, 500, 0.9)])
def test_engine_energy_is_low_frequency(subtype, limit_hz, share):
    for i in range(5):
        f, p = spectrum(synth.synth_engine(np.random.default_rng(i), 3 * SR, SR, subtype)[0])
        assert p[f < limit_hz].sum() / p.sum() > share


def test_engine_size_orders_firing_rate():
    f0 = {s: np.mean([synth.synth_engine(np.random.default_rng(i), SR, SR, s)[1]["f0_hz"] for i in range(40)])
          for s in (1, 2, 3)}
    assert f0[1] > f0[2] > f0[3]


def test_reverse_beeper_peaks_at_its_tone_and_switches():
    for i in range(5):
        x, info = synth.synth_alert(np.random.default_rng(i), 4 * SR, SR, 4)
        f, p = spectrum(x)
        assert abs(f[p.argmax()] - info["tone_hz"]) < 2.0
        off = (frame_db(x) < -30).mean()
        assert abs(off - (1 - info["duty"])) < 0.1


def test_car_horn_is_a_two_tone_chord():
    x, info = synth.synth_alert(np.random.default_rng(0), 3 * SR, SR, 1)
    f, p = spectrum(x)
    f1, f2 = info["tones_hz"]
    on_harmonic = np.zeros_like(f, dtype=bool)
    for tone in (f1, f2):
        ratio = f / tone
        on_harmonic |= (np.abs(ratio - np.round(ratio)) * tone < 6.0) & (ratio > 0.5)
    assert p[on_harmonic].sum() / p.sum() > 0.95
    top = f[np.argsort(p)[-400:]]
    assert np.any(np.abs(top - f1) < 3) and np.any(np.abs(top - f2) < 3)


def test_siren_sweeps_through_its_frequency_track():
    x, info = synth.synth_alert(np.random.default_rng(1), 4 * SR, SR, 3)
    hop, track = 800, info["freq_track"]
    hits, peaks = 0, []
    for a in range(0, len(x) - 1024, hop):
        f, p = spectrum(x[a:a + 1024])
        peaks.append(f[p.argmax()])
        hits += abs(peaks[-1] - track[a + 512]) < 0.05 * track[a + 512]
    assert hits / len(peaks) > 0.8
    assert np.ptp(peaks) > 100  # it moves


def test_dog_barks_are_short_bursts():
    for i in range(5):
        x, info = synth.synth_dog(np.random.default_rng(i), 4 * SR, SR, whine=False)
        active = np.concatenate([[False], frame_db(x) > -25, [False]])
        edges = np.flatnonzero(np.diff(active.astype(int)))
        runs = (edges[1::2] - edges[::2]) * 0.01
        assert len(runs) >= 1 and runs.max() < 0.3
        assert len(runs) <= len(info["barks"])  # silence separates barks (merged barks would be one run)


@pytest.mark.parametrize("subtype", [2, 4])
def test_machinery_impacts_repeat_at_the_tool_rate(subtype):
    x, info = synth.synth_machinery(np.random.default_rng(0), 6 * SR, SR, subtype)
    env = np.abs(x[: len(x) // 32 * 32]).reshape(-1, 32).max(axis=1)  # 2 ms frames
    env = env - env.mean()
    ac = np.correlate(env, env, "full")[len(env) - 1:]
    period = 1.0 / info["rate_hz"] / 0.002
    lo, hi = int(0.6 * period), int(1.4 * period)
    assert abs(lo + ac[lo:hi].argmax() - period) < 0.1 * period


def test_non_machinery_impact_energy_sits_at_its_hits():
    for i in range(5):
        x, info = synth.synth_impact(np.random.default_rng(i), 3 * SR, SR)
        assert 1 <= len(info["times"]) <= 3
        near = np.zeros(len(x), dtype=bool)
        for t in info["times"]:
            near[int(t * SR):int((t + 0.5) * SR)] = True
        assert (x[near] ** 2).sum() / (x**2).sum() > 0.97  # decaying: the tails after 0.5 s are faint
        assert not x[: int(info["times"][0] * SR)].any()  # nothing before the first hit


def test_rotating_saw_whine_is_harmonic():
    x, info = synth.synth_saw(np.random.default_rng(2), 4 * SR, SR, 2)
    track = info["f0_track"]
    a = int(np.argmax(track[: len(track) - SR // 4]))
    f, p = spectrum(x[a:a + SR // 4])
    f0 = float(track[a + SR // 8])
    low = f < 3000
    peaks = f[low][np.argsort(p[low])[-5:]]
    assert all(abs(q / f0 - round(q / f0)) < 0.08 for q in peaks)
    assert track.min() < (1 - 0.5 * info["drop"]) * track.max()  # pitch sags under load


def test_ice_cream_jingle_energy_is_on_its_notes():
    x, info = synth.synth_music(np.random.default_rng(0), 4 * SR, SR, 3)
    f, p = spectrum(x)
    on = np.zeros_like(f, dtype=bool)
    for note in info["notes_hz"]:
        for k in range(1, 5):
            on |= np.abs(f - k * note) < 0.015 * k * note
    assert p[on].sum() / p.sum() > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_formant_voice_is_syllabic_and_speech_band(seed):
    x, _ = synth.synth_voice(np.random.default_rng(seed), 6 * SR, SR, 1, "formant")
    f, p = spectrum(x)
    assert p[(f > 80) & (f < 4000)].sum() / p.sum() > 0.85
    env = np.sqrt((x[: len(x) // 160 * 160].reshape(-1, 160) ** 2).mean(axis=1))  # 100 Hz envelope
    mod_f, mod_p = np.fft.rfftfreq(len(env), 0.01), np.abs(np.fft.rfft(env - env.mean())) ** 2
    syllabic, fast = (mod_f >= 2) & (mod_f <= 8), (mod_f > 1.5) & (mod_f < 20)
    assert mod_p[syllabic].sum() / mod_p[(mod_f > 0.5) & (mod_f < 20)].sum() > 0.45  # syllables, 2-8 per second
    assert 2.0 <= mod_f[fast][mod_p[fast].argmax()] <= 8.0


# .ci/run installs espeak-ng, so under CI this always runs (a broken install fails it); elsewhere it is optional.
@pytest.mark.skipif(
    shutil.which("espeak-ng") is None and not os.environ.get("CI"),
    reason="espeak-ng is not installed (optional; `apt-get install espeak-ng`, as .ci/run does)",
)
def test_espeak_speech_renders_when_available():
    assert synth.resolve_speech("auto") == "espeak"
    x, info = synth.synth_voice(np.random.default_rng(0), 3 * SR, SR, 1, "espeak")
    f, p = spectrum(x)
    assert info["source"] == "espeak" and x.std() > 1e-3
    assert p[(f > 80) & (f < 5000)].sum() / p.sum() > 0.8


def test_active_rms_ignores_silence():
    t = np.arange(2 * SR) / SR
    x = np.where(t < 1.0, np.sin(2 * np.pi * 1000 * t), 0.0)  # 1 s of unit sine, 1 s of silence
    assert synth.active_rms(x, SR) == pytest.approx(1 / math.sqrt(2), rel=1e-3)


def test_speech_falls_back_to_formant_without_espeak(monkeypatch):
    monkeypatch.setattr(synth.corpus.shutil, "which", lambda name: None)
    assert synth.resolve_speech("auto") == "formant"
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        synth.resolve_speech("espeak")


def test_describe_reports_the_test_split(tested):
    text = synth.describe(tested[0])
    assert "5 test clips / " in text and "test clips (truth)" in text
