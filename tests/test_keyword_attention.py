"""Share of an attention over time on the keyword: the window mass by hand, where the noisy keyword task puts the
word, and the `kdzoo plot keyword-attention` measurement on a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_speech_commands
from hypothesis import given, settings
from hypothesis import strategies as st

import kdzoo
from kdzoo import functional as KF
from kdzoo.data.speechcommands import SpeechCommandsDataModule
from kdzoo.distill import Distiller
from kdzoo.distill.temporal import TemporalKD
from kdzoo.keyword_attention import keyword_attention, summary
from kdzoo.models import FrozenTeacher
from kdzoo.models.ast import AST

# -- mass_in_window ----------------------------------------------------------------------------------------


def test_mass_in_window_by_hand():
    one_hot = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # frame 0 covers [0, 0.25) of the clip
    window = lambda a, b: KF.mass_in_window(one_hot, torch.tensor([a]), torch.tensor([b]))  # noqa: E731
    assert float(window(0.0, 0.25)) == pytest.approx(1.0)
    assert float(window(0.125, 0.5)) == pytest.approx(0.5)  # half of frame 0 inside
    assert float(window(0.25, 1.0)) == pytest.approx(0.0)
    assert float(window(0.1, 0.1)) == pytest.approx(0.0)  # an empty window holds nothing
    two = torch.tensor([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(KF.mass_in_window(two, torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.5])).numpy(),
                               [1.0, 0.2 + 0.3 / 2], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(frames=st.integers(1, 300), start=st.floats(0, 1), length=st.floats(0, 1))
def test_a_flat_attention_puts_the_windows_length_on_it(frames, start, length):
    """Chance level: the uniform distribution's share is the window's length, whatever the frame count."""
    end = min(1.0, start + length)
    as64 = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
    mass = KF.mass_in_window(torch.full((1, frames), 1 / frames, dtype=torch.float64), as64(start), as64(end))
    assert float(mass) == pytest.approx(end - start, abs=1e-9)


def test_mass_in_window_refuses_bad_windows():
    flat = torch.full((2, 4), 0.25)
    with pytest.raises(ValueError, match="0 <= start <= end <= 1"):
        KF.mass_in_window(flat, torch.tensor([0.5, 0.5]), torch.tensor([0.25, 1.0]))
    with pytest.raises(ValueError, match="2 rows"):
        KF.mass_in_window(flat, torch.tensor([0.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"expects \(B, T\)"):
        KF.mass_in_window(torch.ones(4), torch.tensor([0.0]), torch.tensor([1.0]))


# -- where the keyword is ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kws_root(tmp_path_factory):
    return write_speech_commands(tmp_path_factory.mktemp("kws") / "speech-commands")


def test_keyword_span_is_where_the_word_was_placed(kws_root):
    """With no noise around it (snr None) the clip is zero outside the word: its non-zero samples lie in the span."""
    data = SpeechCommandsDataModule(root=str(kws_root), clip_seconds=4, noise_snr_db=None, batch_size=4)
    clips = data.dataset("test")
    spans = [clips.keyword_span(i) for i in range(len(clips))]
    words = [i for i, span in enumerate(spans) if span is not None]
    assert words and len(words) < len(clips)  # the split has both words and silence
    starts = set()
    for i in words:
        start, end = spans[i]
        assert end - start == pytest.approx(1.0) and 0 <= start and end <= 4
        loud = np.flatnonzero(clips[i]["waveform"].numpy())
        assert loud.min() >= round(start * 16000) and loud.max() < round(end * 16000)
        starts.add(start)
    assert len(starts) > 1  # offsets differ from clip to clip
    assert [clips.keyword_span(i) for i in range(len(clips))] == spans  # fixed: the same on every call


def test_keyword_span_refused_when_offsets_change_every_read(kws_root):
    data = SpeechCommandsDataModule(root=str(kws_root), clip_seconds=4, train_offsets="random", batch_size=4)
    with pytest.raises(ValueError, match="redraws its offsets"):
        data.dataset("train").keyword_span(0)
    with pytest.raises(KeyError, match="no split 'dev'"):
        data.dataset("dev")


# -- the measurement on a model ----------------------------------------------------------------------------

AST_ARGS = {"dim": 32, "depth": 2, "heads": 2, "n_mels": 32, "num_classes": 12, "max_seconds": 2.0, "dropout": 0.0}


def _model(query_seed: int | None, classes: int = 12, student: str = "cnn_xs") -> Distiller:
    torch.manual_seed(0)
    student, teacher = kdzoo.create_student(student, num_classes=classes), FrozenTeacher(AST(**AST_ARGS))
    method = TemporalKD(0.5)
    model = Distiller(student, teacher=teacher, method=method, task="multiclass", num_classes=classes)
    method.setup(student, teacher, None, "multiclass")
    if query_seed is not None:
        torch.manual_seed(query_seed)
        with torch.no_grad():
            method.query.normal_()
    return model


def test_keyword_attention_table(kws_root):
    """One row per word clip; an untrained head (zero query) is flat, so it sits exactly at chance; each share
    equals mass_in_window of the target the method itself trains on."""
    data = SpeechCommandsDataModule(root=str(kws_root), clip_seconds=2, noise_snr_db=5.0, batch_size=3)
    clips = data.dataset("test")
    table = keyword_attention(_model(None), clips, batch_size=3)
    assert len(table) == sum(clips.keyword_span(i) is not None for i in range(len(clips)))
    np.testing.assert_allclose(table.chance, 0.5)
    np.testing.assert_allclose(table.student, table.chance, rtol=1e-5)
    assert ((table.teacher >= 0) & (table.teacher <= 1 + 1e-6)).all()
    first = clips[0] if clips.keyword_span(0) is not None else clips[1]
    row = table[table.clip_id == first["clip_id"]].iloc[0]
    model = _model(None)
    t_out = model.teacher(first["waveform"][None], 16000)
    frames = model.student(first["waveform"][None]).frames.shape[1]
    target = KF.temporal_attention_target(t_out.attentions, t_out.token_time_s, frames)
    expected = KF.mass_in_window(target, torch.tensor([row.start_s / 2]), torch.tensor([row.end_s / 2]))
    assert row.teacher == pytest.approx(float(expected), rel=1e-5)
    numbers = summary(table)
    assert numbers["clips"] == len(table) and numbers["student_above_chance"] == 0.0


def test_summary_counts_clips_above_chance_with_a_margin():
    """A flat head a rounding error above chance is not 'above chance'; a real lead is."""
    import pandas as pd

    table = pd.DataFrame({"teacher": [0.42, 0.125000001, 0.1], "student": [0.125 + 1e-7] * 3, "chance": [0.125] * 3})
    numbers = summary(table)
    assert numbers["teacher_above_chance"] == pytest.approx(1 / 3) and numbers["student_above_chance"] == 0.0
    assert numbers["teacher"] == pytest.approx((0.42 + 0.125000001 + 0.1) / 3)


def _write_run(run: Path, data: dict, model: Distiller, student: str = "cnn_xs") -> Path:
    """A run folder as `kdzoo fit` leaves it, for a tiny TemporalKD model on ``data``: config.yaml + a checkpoint."""
    import yaml

    config = {
        "model": {"student": {"class_path": "kdzoo.models.create_student",
                              "init_args": {"name": student, "num_classes": 12}},
                  "teacher": {"class_path": "kdzoo.models.FrozenTeacher",
                              "init_args": {"model": {"class_path": "kdzoo.models.ast.AST", "init_args": AST_ARGS}}},
                  "method": {"class_path": "kdzoo.distill.temporal.TemporalKD", "init_args": {"weight": 0.5}}},
        "data": data,
        "ckpt_path": None,  # a key only `fit` accepts, as in a real run's config.yaml
    }
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"state_dict": model.state_dict()}, run / "checkpoints" / "last.ckpt")
    return run / "checkpoints" / "last.ckpt"


def test_plot_keyword_attention_command(kws_root, tmp_path, capsys):
    """`kdzoo plot keyword-attention CKPT --before CKPT0 --out FIG.png` prints both, writes the figure and table."""
    import pandas as pd

    from kdzoo.cli import main

    data = {"class_path": "kdzoo.data.speechcommands.SpeechCommandsDataModule",
            "init_args": {"root": str(kws_root), "clip_seconds": 2, "batch_size": 4}}
    checkpoints = {name: _write_run(tmp_path / name, data, _model(seed)) for name, seed in (("flat", None),
                                                                                            ("peaked", 3))}
    out = tmp_path / "share.png"
    assert main(["plot", "keyword-attention", str(checkpoints["peaked"]), "--before", str(checkpoints["flat"]),
                 "--out", str(out), "--split", "val"]) == 0
    printed = capsys.readouterr().out
    assert "before" in printed and "after" in printed and "chance 0.500" in printed
    assert out.read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(out.with_suffix(".csv"))
    assert set(table.checkpoint) == {"before, weight 0.5", "after, weight 0.5"}
    before, after = (table[table.checkpoint == f"{c}, weight 0.5"] for c in ("before", "after"))
    np.testing.assert_allclose(before.student, 0.5, rtol=1e-5)  # the flat head
    assert not np.allclose(after.student, 0.5)  # a random query is not flat
    np.testing.assert_allclose(before.teacher.to_numpy(), after.teacher.to_numpy(), rtol=1e-5)  # one teacher


def test_plot_keyword_attention_refuses_a_missing_checkpoint_and_data_without_a_keyword(tmp_path):
    from kdzoo.cli import main

    with pytest.raises(SystemExit, match="no checkpoint at"):
        main(["plot", "keyword-attention", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "f.png")])
    data = {"class_path": "kdzoo.data.demo.SynthUSTDataModule",
            "init_args": {"root": str(tmp_path / "corpus"), "clips": 12}}
    ckpt = _write_run(tmp_path / "run", data, _model(None, classes=8))  # the 8 classes of SynthUST
    with pytest.raises(SystemExit, match="trained on SynthUSTDataModule; the keyword's position is known only"):
        main(["plot", "keyword-attention", str(ckpt), "--out", str(tmp_path / "f.png")])


def test_plot_keyword_attention_native_reads_the_students_own_attention(kws_root, tmp_path, capsys):
    """--native measures an attention student's own attention (heads averaged), not the KD head; a student
    without one is refused by name."""
    import pandas as pd

    from kdzoo.cli import main
    from kdzoo.data.speechcommands import SpeechCommandsDataModule

    data = {"class_path": "kdzoo.data.speechcommands.SpeechCommandsDataModule",
            "init_args": {"root": str(kws_root), "clip_seconds": 2, "batch_size": 4}}
    model = _model(None, student="mhatt_rnn")
    ckpt = _write_run(tmp_path / "mh", data, model, student="mhatt_rnn")
    out = tmp_path / "own.png"
    assert main(["plot", "keyword-attention", str(ckpt), "--native", "--out", str(out), "--split", "val"]) == 0
    assert "run, weight 0.5, own attention" in capsys.readouterr().out
    table = pd.read_csv(out.with_suffix(".csv"))
    clips = SpeechCommandsDataModule(root=str(kws_root), clip_seconds=2, batch_size=4).dataset("val")
    index = next(i for i in range(len(clips)) if clips.keyword_span(i) is not None)
    row = table[table.clip_id == clips[index]["clip_id"]].iloc[0]
    model.eval()
    with torch.no_grad():
        scores = model.student(clips[index]["waveform"][None]).extras["time_attention"]  # (1, heads, T')
    own = torch.softmax(scores, dim=-1).mean(dim=1)
    expected = KF.mass_in_window(own, torch.tensor([row.start_s / 2]), torch.tensor([row.end_s / 2]))
    assert row.student == pytest.approx(float(expected), rel=1e-4)
    assert not np.allclose(table.student, 0.5)  # the untrained KD head would sit exactly at chance
    flat = _write_run(tmp_path / "cnn", data, _model(None))
    with pytest.raises(SystemExit, match="--native reads the student's own attention over time, which"):
        main(["plot", "keyword-attention", str(flat), "--native", "--out", str(tmp_path / "f.png")])
