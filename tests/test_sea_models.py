"""SEA's models: the paper's students (exact parameter counts), the L3 teacher, the kapre front end, the OpenL3
framing, the Keras .h5 loader and the YAMNet window teacher."""

from __future__ import annotations

import h5py
import librosa
import numpy as np
import pytest
import torch

import kdzoo
from kdzoo.models.l3 import KapreMel, L3Audio, SEAStudent, mel_filterbank, same_padding
from kdzoo.models.l3.h5 import load_l3_weights
from kdzoo.models.window import frame_windows, num_windows, window_timestamps

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py

PAPER_PARAMS = {0: 4_688_066, 1: 1_173_602, 2: 583_010, 3: 398_306}  # shared/reference/methods.md 1.3


@pytest.mark.parametrize("size", sorted(PAPER_PARAMS))
def test_sea_student_trainable_parameters_match_the_paper(size: int) -> None:
    assert kdzoo.model_info(f"sea_student_{size}").num_params == PAPER_PARAMS[size]
    model = SEAStudent(size=size)
    assert model.embed_dim == (512, 256, 128, 64)[size]
    assert sum(p.numel() for p in model.network.parameters()) == PAPER_PARAMS[size]  # all of it is the network


def test_l3_teacher_is_student_0_without_the_last_batch_norm() -> None:
    # Same conv stack as student 0 (4,684,224 conv + 3,842 BN); OpenL3 has no BN after audio_embedding_layer.
    assert kdzoo.model_info("l3_audio").num_params == PAPER_PARAMS[0] - 2 * 512


@pytest.mark.parametrize(("rate", "n_fft", "hop", "mels", "frames"), [(8000, 1024, 160, 64, 50),
                                                                      (48000, 2048, 242, 256, 199)])
def test_kapre_front_end_shape_and_range(rate: int, n_fft: int, hop: int, mels: int, frames: int) -> None:
    mel = KapreMel(rate, n_fft, hop, mels)
    out = mel(0.1 * torch.randn(3, rate))
    assert out.shape == (3, 1, mels, frames)
    assert torch.allclose(out.amax(dim=(1, 2, 3)), torch.zeros(3)) and out.min() >= -80.0


def test_same_padding_is_keras_same() -> None:
    assert same_padding(8000, 1024, 160) == (432, 432)  # 8000 % 160 == 0: pad n_fft - hop
    assert same_padding(48000, 2048, 242) == (982, 982)  # 48000 % 242 == 84: pad n_fft - 84


def test_kapre_front_end_matches_a_numpy_reference() -> None:
    rate, n_fft, hop, mels = 8000, 1024, 160, 64
    audio = np.random.default_rng(0).normal(0, 0.1, rate).astype(np.float64)
    bank = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=mels, fmin=0, fmax=rate / 2, htk=True, norm="slaney")
    assert np.allclose(mel_filterbank(rate, n_fft, mels).numpy(), bank, atol=1e-6)
    padded = np.pad(audio, (432, 432))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = np.stack([padded[i * hop:i * hop + n_fft] * window for i in range(50)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    db = 10 * np.log10(np.maximum(np.sqrt(bank @ power.T), 1e-10))
    expected = np.maximum(db - db.max(), -80.0)
    ours = KapreMel(rate, n_fft, hop, mels)(torch.from_numpy(audio).float()[None])[0, 0].numpy()
    assert np.abs(ours - expected).max() < 1e-3


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_ten_seconds_at_hop_0_1_make_96_windows(rate: int) -> None:
    assert num_windows(10 * rate, rate, 1.0, 0.1) == 96
    windows = frame_windows(torch.zeros(2, 10 * rate), rate, 1.0, 0.1)
    assert windows.shape == (2, 96, rate)
    assert num_windows(10 * rate, rate, 1.0, 0.5) == 20


def test_windows_are_centred_on_their_timestamps() -> None:
    rate = 100
    clip = torch.arange(1, 301, dtype=torch.float32)[None]  # 3 s, sample value = index + 1
    windows = frame_windows(clip, rate, 1.0, 0.5)
    assert windows.shape[1] == 6  # centres 0, 0.5, ..., 2.5 s (3.5 s padded clip)
    assert torch.equal(windows[0, 0, :50], torch.zeros(50)) and windows[0, 0, 50] == 1  # centre of window 0 = t 0
    times = window_timestamps(windows.shape[1], 0.5)
    for i, t in enumerate(times.tolist()):
        centre = windows[0, i, 50]
        assert centre == 0 or centre == round(t * rate) + 1  # zero only in the end padding


def test_short_clip_is_padded_to_one_window() -> None:
    windows = frame_windows(torch.ones(1, 3000), 8000, 1.0, 0.1)
    assert windows.shape == (1, 1, 8000)
    assert windows.sum() == 3000 and torch.equal(windows[0, 0, 4000:7000], torch.ones(3000))


@pytest.mark.parametrize("size", [2, 3])
def test_students_embed_each_window_non_negatively(size: int) -> None:
    torch.manual_seed(0)
    model = SEAStudent(size=size).eval()
    out = model(0.1 * torch.randn(2, 16000), 8000)
    assert out.frames.shape == (2, 4, model.embed_dim) and out.frame_hop_s == 0.5  # 2 s: centres 0-1.5 s
    assert out.frames.min() >= 0 and (out.frames > 0).any()
    assert out.logits.shape == (2, 0)


def test_probe_logits_do_not_train_the_embedding() -> None:
    model = SEAStudent(size=3, num_classes=4)
    model(0.1 * torch.randn(2, 8000), 8000).logits.sum().backward()
    assert model.probe.weight.grad is not None
    assert all(p.grad is None for p in model.network.parameters())


def test_l3_teacher_shapes_and_signed_output() -> None:
    torch.manual_seed(0)
    audio = 0.1 * torch.randn(1, 24000)  # 0.5 s: one window
    model = L3Audio(embedding_size=6144).eval()
    with torch.no_grad():
        spectrogram = model.frontend(audio)  # (1, 1, 1, 256, 199)
        assert spectrogram.shape == (1, 1, 1, 256, 199)
        final_map = model.network.layers(model.network.input_norm(spectrogram[:, 0]))  # (1, 512, 32, 24)
        emb_6144 = model.network.pool(final_map).permute(0, 2, 3, 1).flatten(1)
        model.network.pool = L3Audio(embedding_size=512).network.pool
        emb_512 = model.network(spectrogram[:, 0])
    assert final_map.shape == (1, 512, 32, 24) and emb_6144.shape == (1, 6144) and emb_512.shape == (1, 512)
    # 6144 = max over 4 x 3 cells of 8 x 8, channels last; the max over the cells is the 512-d max over 32 x 24.
    assert torch.equal(emb_6144.view(1, 12, 512).amax(dim=1), emb_512)
    assert (emb_512 < 0).any()  # no ReLU after audio_embedding_layer


def _write_keras_h5(network: torch.nn.Module, path, extra_bn_offset: int = 0) -> None:
    """A Keras-style weight file: one group per layer (default Keras names), kernels (kh, kw, in, out)."""
    convs, norms = network.conv_layers(), network.norm_layers()
    with h5py.File(path, "w") as handle:
        handle.create_group("melspectrogram_1")  # kapre's layer: no trained weights
        for i, bn in enumerate(norms, start=1 + extra_bn_offset):
            group = handle.create_group(f"batch_normalization_{i}/batch_normalization_{i}")
            for keras, ours in (("gamma", bn.weight), ("beta", bn.bias), ("moving_mean", bn.running_mean),
                                ("moving_variance", bn.running_var)):
                group[f"{keras}:0"] = ours.detach().numpy()
        for i, conv in enumerate(convs, start=1):
            name = "audio_embedding_layer" if i == len(convs) else f"conv2d_{i}"
            group = handle.create_group(f"{name}/{name}")
            group["kernel:0"] = conv.weight.detach().permute(2, 3, 1, 0).numpy()
            group["bias:0"] = conv.bias.detach().numpy()


def test_keras_h5_round_trip(tmp_path) -> None:
    torch.manual_seed(1)
    source = SEAStudent(size=3).eval()
    for bn in source.network.norm_layers():  # non-trivial statistics, so a swapped BN field would show
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
    path = tmp_path / "edgel3_student3.h5"
    _write_keras_h5(source.network, path, extra_bn_offset=9)  # numbering need not start at 1
    loaded = kdzoo.create_student("sea_student_3", weights=str(path)).eval()
    audio = 0.1 * torch.randn(2, 8000)
    assert torch.allclose(loaded(audio, 8000).frames, source(audio, 8000).frames, atol=1e-5)


def test_keras_h5_of_another_size_is_refused_naming_the_file(tmp_path) -> None:
    path = tmp_path / "student2.h5"
    _write_keras_h5(SEAStudent(size=2).network, path)
    with pytest.raises(ValueError, match="student2.h5: layer conv2d_7 weight has shape"):
        load_l3_weights(SEAStudent(size=3).network, path)
    with pytest.raises(FileNotFoundError, match="no L3 weights can be downloaded"):
        load_l3_weights(SEAStudent(size=3).network, tmp_path / "missing.h5")


def test_l3_teacher_loads_an_openl3_layout_h5(tmp_path) -> None:
    source = L3Audio()
    path = tmp_path / "openl3_audio_mel256_env.h5"
    _write_keras_h5(source.network, path)
    teacher = kdzoo.create_teacher("l3_audio", weights=str(path))
    for ours, theirs in zip(teacher.model.network.state_dict().values(), source.network.state_dict().values(),
                            strict=True):
        assert torch.equal(ours, theirs)


def test_yamnet_window_embeds_the_first_patch_of_each_window() -> None:
    from kdzoo.models.yamnet import YAMNet, YAMNetWindow

    torch.manual_seed(0)
    reference = YAMNet(weights="random").eval()
    model = YAMNetWindow(weights="random").eval()
    model.network.load_state_dict(reference.backbone.state_dict())
    clip = 0.1 * torch.randn(1, 32000)
    frames = model(clip, 16000).frames  # windows centred on 0, 0.5, 1, 1.5 s
    assert frames.shape == (1, 4, 1024)
    window_2 = torch.nn.functional.pad(clip, (8000, 8000))[:, 16000:32000]  # centred on 1.0 s
    assert torch.allclose(frames[:, 2], reference(window_2, 16000).frames[:, 0], atol=1e-4)
