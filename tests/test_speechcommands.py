"""Speech Commands: the real layout, the 12-label task, the noisy variant, the download, and synth-kws."""

from __future__ import annotations

import hashlib
import io
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import RATE, tone, write_speech_commands
from test_download import Release, no_remote_hosts, server  # noqa: F401 (fixtures)

from kdzoo.data import speechcommands as sc
from kdzoo.data.speechcommands import SpeechCommandsDataModule, place_in_noise, prepare_speech_commands


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_speech_commands(tmp_path / "sc")


def test_splits_follow_the_lists_and_the_12_label_task(corpus):
    splits = prepare_speech_commands(corpus, task="12", silence_fraction=0.5, unknown_fraction=0.5)
    names = sc.class_names("12")
    assert names[:10] == list(sc.COMMANDS) and names[10:] == ["_silence_", "_unknown_"]
    by_split = {s: [c.clip_id for c in clips] for s, clips in splits.items()}
    # train: speakers 1 and 4 say yes/no (4 command clips), val and test: one speaker each (2 command clips)
    assert sorted(i for i in by_split["train"] if i.split("/")[0] in ("yes", "no")) == [
        "no/aaaa0001_nohash_0.wav", "no/dddd0004_nohash_0.wav",
        "yes/aaaa0001_nohash_0.wav", "yes/dddd0004_nohash_0.wav"]
    assert {i.split("/")[1] for i in by_split["val"] if not i.startswith("_")} == {"bbbb0002_nohash_0.wav"}
    labels = {c.clip_id: names[c.label] for c in splits["train"]}
    assert labels["yes/aaaa0001_nohash_0.wav"] == "yes"
    # unknown: ceil(0.5 * 4) = 2 of the 2 train cat/dog clips (speaker 4 says neither); silence ceil(0.5 * 4) = 2
    assert sum(v == "_unknown_" for v in labels.values()) == 2
    assert sum(v == "_silence_" for v in labels.values()) == 2
    assert all(k.startswith(("cat/", "dog/")) for k, v in labels.items() if v == "_unknown_")
    val_labels = [names[c.label] for c in splits["val"]]
    assert val_labels.count("_silence_") == 1 and val_labels.count("_unknown_") == 1  # ceil(0.5 * 2)


def test_35_labels_need_v2_and_a_corpus_folder(corpus, tmp_path):
    with pytest.raises(ValueError, match="v2"):
        sc.class_names("35", version=1)
    assert len(sc.class_names("35")) == 35
    with pytest.raises(FileNotFoundError, match="validation_list.txt is missing"):
        prepare_speech_commands(tmp_path / "empty")


def test_one_second_task_gives_the_clips_as_they_are(corpus):
    data = SpeechCommandsDataModule(root=str(corpus), clip_seconds=1, batch_size=64)
    batch = next(iter(data.val_dataloader()))
    assert batch.waveform.shape[1] == RATE and batch.target.dtype == torch.long
    yes = batch.clip_id.index("yes/bbbb0002_nohash_0.wav")
    np.testing.assert_allclose(batch.waveform[yes].numpy(), tone(300), atol=1e-4)
    assert data.num_classes == 12 and data.task == "multiclass"


def test_noisy_variant_places_the_keyword_deterministically(corpus):
    def clips(**kwargs):
        data = SpeechCommandsDataModule(root=str(corpus), clip_seconds=4, batch_size=64, **kwargs)
        return next(iter(data.val_dataloader()))

    quiet = clips(noise_snr_db=None)  # no noise: only the keyword's 1 s is non-zero
    yes = quiet.clip_id.index("yes/bbbb0002_nohash_0.wav")
    wave = quiet.waveform[yes].numpy()
    assert wave.shape == (4 * RATE,)
    start = int(np.flatnonzero(np.abs(wave) > 1e-6)[0])
    np.testing.assert_allclose(wave[start : start + RATE], tone(300), atol=1e-4)
    assert np.abs(wave[:start]).max() == 0 and np.abs(wave[start + RATE :]).max() == 0
    starts = {np.flatnonzero(np.abs(w.numpy()) > 1e-6)[0] for w, c in zip(quiet.waveform, quiet.clip_id, strict=True)
              if not c.startswith("_")}
    assert len(starts) > 1  # offsets differ between clips
    # the same clip gets the same offset and noise in a fresh data module (val/test are fixed per clip)
    noisy, again = clips(noise_snr_db=0.0), clips(noise_snr_db=0.0)
    torch.testing.assert_close(noisy.waveform, again.waveform, rtol=0, atol=0)
    keyword_part = noisy.waveform[yes, start : start + RATE].numpy() - tone(300)
    measured = 10 * np.log10(np.mean(tone(300) ** 2) / np.mean(keyword_part**2))
    assert measured == pytest.approx(0.0, abs=0.6)  # 0 dB over the keyword's own second
    # another seed moves the keyword
    other = SpeechCommandsDataModule(root=str(corpus), clip_seconds=4, batch_size=64, noise_snr_db=None, seed=1)
    other_wave = next(iter(other.val_dataloader())).waveform[yes].numpy()
    assert int(np.flatnonzero(np.abs(other_wave) > 1e-6)[0]) != start


def test_random_train_offsets_redraw_each_access(corpus):
    data = SpeechCommandsDataModule(root=str(corpus), clip_seconds=2, noise_snr_db=None, train_offsets="random")
    data.setup()
    dataset = data._datasets["train"]
    first = [dataset[0]["waveform"] for _ in range(4)]
    assert any(not torch.equal(first[0], w) for w in first[1:])
    fixed = SpeechCommandsDataModule(root=str(corpus), clip_seconds=2, noise_snr_db=None)
    fixed.setup()
    assert torch.equal(fixed._datasets["train"][0]["waveform"], fixed._datasets["train"][0]["waveform"])


def test_place_in_noise_by_hand():
    keyword, noise = torch.ones(4), torch.full((10,), 2.0)
    # 10 dB: noise power must be keyword power / 10 = 0.1, so the noise (power 4) is scaled by sqrt(0.1 / 4)
    out = place_in_noise(keyword, noise, 3, snr_db=10.0)
    gain = math.sqrt(0.1 / 4)
    expected = torch.full((10,), 2.0 * gain)
    expected[3:7] += 1.0
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="outside"):
        place_in_noise(keyword, noise, 7, 0.0)


def test_download_checks_the_official_sha256_on_a_loopback_server(corpus, tmp_path, server, monkeypatch):  # noqa: F811
    from torchaudio.datasets import speechcommands as torchaudio_sc  # an independent record of URLs and sha256s

    assert {url: sha for url, sha in sc.ARCHIVES.values()} == torchaudio_sc._CHECKSUMS
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in sorted(corpus.rglob("*")):
            tar.add(path, arcname=f"./{path.relative_to(corpus)}", recursive=False)
    body = archive.getvalue()
    base_url = server(Release({"speech_commands_v0.02.tar.gz": body}))
    # the official checksum does not match this stand-in archive: refused, nothing left behind
    with pytest.raises(ValueError, match="sha256 .* differs from the published af14739e"):
        sc.download_speech_commands(tmp_path / "got", 2, base_url=base_url)
    assert not list((tmp_path / "got").glob("*.tar.gz*"))
    # with the stand-in's own checksum, the archive unpacks into the layout the data module reads
    monkeypatch.setitem(sc.ARCHIVES, 2, (sc.ARCHIVES[2][0], hashlib.sha256(body).hexdigest()))
    root = sc.download_speech_commands(tmp_path / "got", 2, base_url=base_url)
    assert (root / "testing_list.txt").read_text() == (corpus / "testing_list.txt").read_text()
    assert prepare_speech_commands(root)["train"]
    sc.download_speech_commands(tmp_path / "got", 2, base_url="http://127.0.0.1:9/unused")  # marker: no refetch


def test_synth_kws_writes_the_official_layout(tmp_path):
    from kdzoo.data.synth.speech_commands import synth_kws

    root = synth_kws(tmp_path / "kws", speakers=3, words=("yes", "cat"), progress=False)
    data = SpeechCommandsDataModule(root=str(root), clip_seconds=2, batch_size=16)
    data.setup()
    sizes = {split: len(d) for split, d in data._datasets.items()}
    assert sizes == {"train": 3, "val": 3, "test": 3}  # per split: yes + ceil(0.1) silence + ceil(0.1) unknown
    val_speakers = {p.split("/")[1] for p in (root / "validation_list.txt").read_text().split()}
    train_speakers = {p.name for p in (root / "yes").glob("*.wav")} - val_speakers
    assert val_speakers and train_speakers and not val_speakers & train_speakers
    audio, rate = sf.read(root / "yes" / sorted(train_speakers)[0])
    assert rate == RATE and audio.shape == (RATE,) and np.abs(audio).max() > 0.1
    assert sorted(p.name for p in (root / sc.NOISE_DIR).glob("*.wav")) == [
        "brown_noise.wav", "mains_hum.wav", "pink_noise.wav", "white_noise.wav"]
    with pytest.raises(FileExistsError, match="did not write"):
        (root / ".synth-kws.json").unlink()
        synth_kws(root, speakers=3, words=("yes",), progress=False)


def test_cli_synth_kws_and_download_commands(tmp_path, corpus, server, monkeypatch, capsys):  # noqa: F811
    from kdzoo.cli import main

    assert main(["data", "synth-kws", "--root", str(tmp_path / "k"), "--speakers", "3", "--words", "no"]) == 0
    assert sorted(p.name for p in (tmp_path / "k").iterdir() if p.is_dir()) == ["_background_noise_", "no"]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(corpus, arcname=".")
    monkeypatch.setitem(sc.ARCHIVES, 1, (sc.ARCHIVES[1][0], hashlib.sha256(archive.getvalue()).hexdigest()))
    base_url = server(Release({"speech_commands_v0.01.tar.gz": archive.getvalue()}))
    assert main(["data", "download", "speech-commands", "--version", "1", "--root", str(tmp_path / "d"),
                 "--base-url", base_url]) == 0
    assert (tmp_path / "d" / "yes" / "aaaa0001_nohash_0.wav").is_file()
    assert "Speech Commands v1 ready" in capsys.readouterr().out
