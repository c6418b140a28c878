"""``kdzoo downstream``: SEA's MIL evaluation of embedders on a tiny generated SONYC-UST-layout corpus."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch import nn

from kdzoo.cli.downstream import run_downstream
from kdzoo.data.synth import synth_ust
from kdzoo.models.frontend import LogMel

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


class _BandEnergy(nn.Module):
    """An informative embedder: each 1 s window's mean log-mel per band (64-d). ``noise=True``: the same shape,
    drawn at random whatever the audio (no information; scores near the class prevalence)."""

    sample_rate = 16000

    def __init__(self, noise: bool = False) -> None:
        super().__init__()
        self.frontend, self.noise = LogMel(n_fft=512, hop_length=256), noise
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, windows: torch.Tensor, sample_rate: int) -> SimpleNamespace:
        if self.noise:
            return SimpleNamespace(embedding=torch.randn(len(windows), 64, generator=self.generator))
        return SimpleNamespace(embedding=self.frontend(windows).mean(-1).flatten(1))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ust") / "corpus"
    synth_ust(root, clips=160, clip_seconds=1.0, seed=0, speech="formant", workers=1, progress=False)
    return root


def test_downstream_scores_an_informative_embedder_above_chance(corpus, tmp_path):
    table = run_downstream({"bands": _BandEnergy(), "noise": _BandEnergy(noise=True)}, corpus, tmp_path,
                           hidden=(32,), seeds=(0, 1), epochs=200, lr=1e-2, hop_s=0.5, clip_seconds=1.0,
                           progress=False)
    written = pd.read_csv(tmp_path / "results.csv")
    assert len(written) == 4 and set(written["embedder"]) == {"bands", "noise"}
    assert written["micro_auprc"].between(0, 1).all() and written["clips_validate"].iloc[0] == 32
    mean = written.groupby("embedder")["micro_auprc"].mean()
    assert mean["bands"] > mean["noise"] + 0.1  # the band energies carry the classes; the noise does not
    assert "| bands | 64 | 2 |" in (tmp_path / "results.md").read_text()
    assert table["embedder"].tolist() == written["embedder"].tolist()  # the returned table is the written one
    assert table["micro_auprc"].tolist() == pytest.approx(written["micro_auprc"].tolist(), abs=1e-12)


def test_downstream_command(corpus, tmp_path, capsys):
    from kdzoo.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["downstream", "--help"])
    assert exit_info.value.code == 0 and "--embedder" in capsys.readouterr().out
    code = main(["downstream", "--embedder", "cnn_xs", "--data-root", str(corpus), "--out", str(tmp_path),
                 "--hidden", "--epochs", "2", "--hop", "1.0", "--clip-seconds", "1.0"])
    assert code == 0 and "| cnn_xs | 32 | 1 |" in capsys.readouterr().out
    first = pd.read_csv(tmp_path / "results.csv")
    main(["downstream", "--embedder", "cnn_xs", "--data-root", str(corpus), "--out", str(tmp_path / "again"),
          "--hidden", "--epochs", "2", "--hop", "1.0", "--clip-seconds", "1.0"])
    again = pd.read_csv(tmp_path / "again" / "results.csv")  # an untrained registered model: the same one each call
    assert again.micro_auprc.tolist() == first.micro_auprc.tolist()
    assert main(["downstream", "--embedder", "no_such_model", "--data-root", str(corpus), "--out",
                 str(tmp_path)]) == 2
    assert "--embedder no_such_model: neither a file" in capsys.readouterr().err


def test_reduce_adds_the_table_4_rows_from_one_embedding_pass(corpus, tmp_path, monkeypatch):
    import kdzoo.downstream as downstream

    passes = []
    real_embed = downstream.embed_split
    monkeypatch.setattr(downstream, "embed_split", lambda *a, **k: passes.append(1) or real_embed(*a, **k))
    table = run_downstream({"bands": _BandEnergy()}, corpus, tmp_path, hidden=(), seeds=(0,), epochs=2, lr=1e-2,
                           hop_s=0.5, clip_seconds=1.0, progress=False, reduce_dims=(8, 64),
                           sampling=("random", "relevance"), sample_size=100)
    assert len(passes) == 2  # train and validate, embedded once for all four rows
    assert table["embedder"].tolist() == ["bands", "bands -> pca8 (random)", "bands -> pca8 (relevance)"]
    assert table["dim"].tolist() == [64, 8, 8]  # 64 is not below the embedder's width: no row
    assert table["sample_rows"].tolist() == [0, 100, 100] and table["reducer"].tolist() == ["none", "pca", "pca"]
    assert "| bands -> pca8 (relevance) | 8 | 1 |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # micro-AUPRC against d
