"""Hugging Face ``transformers`` audio classifiers as teachers, with their attention weights (optional extra ``hf``).

Temporal KD's teacher is wav2vec 2.0 fine-tuned per task (``shared/reference/methods.md`` 2.1); AST is the other
common one. :class:`HFAudioTeacher` loads either from a *local* model directory (``save_pretrained`` output:
``config.json``, weights, ``preprocessor_config.json``); nothing is downloaded. Use it as a teacher in a recipe::

    teacher:
      class_path: kdzoo.models.FrozenTeacher
      init_args:
        model: {class_path: kdzoo.models.hf.HFAudioTeacher, init_args: {path: models/wav2vec2-ks}}

Every attention layer runs in eager mode (fused kernels return no weights). Where each token sits in time
(``token_time_s``) follows from the architecture:

* wav2vec 2.0 (and HuBERT-like models with a conv feature encoder): token i is the i-th encoder frame, centred at
  ``(i * stride + receptive_field / 2) / rate`` (stride 320 and field 400 samples at 16 kHz: 20 ms frames). The
  first frame is the token Temporal KD reads (Fig. 1: "c1 -> FC"), although HF's classification head mean-pools.
* AST: tokens 0 and 1 ([CLS], [DIST]) have no time; patch (f, t) is token ``2 + f * T' + t`` and covers fbank
  frames ``t * time_stride ...`` + ``patch_size`` (10 ms frames), centred at
  ``(t * time_stride + (patch_size - 1) / 2) * 0.01 + 0.0125`` s (25 ms windows).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from kdzoo.models.base import AudioModel
from kdzoo.types import ModelOutput

AST_FRAME_SHIFT_S = 0.01
AST_WINDOW_S = 0.025


class HFAudioTeacher(AudioModel):
    """A ``transformers`` audio-classification model: waveform in, :class:`ModelOutput` with attentions out.

    Args:
        path: local directory of a ``save_pretrained`` model and its feature extractor.

    Output: ``logits`` (B, num_labels); ``embedding`` = the mean of the last hidden states over time tokens
    (AST: the mean of [CLS] and [DIST], as its head reads); ``frames`` = last hidden states over time (AST:
    patch tokens averaged over frequency); ``attentions`` = one (B, H, N, N) per layer; ``token_time_s`` (N,).
    """

    provides = frozenset({"logits", "embedding", "frames", "attentions"})

    def __init__(self, path: str) -> None:
        super().__init__()
        try:
            from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
        except ImportError as error:
            raise ImportError("HFAudioTeacher needs `transformers`: pip install 'kdzoo[hf]'") from error
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder / 'config.json'} does not exist: HFAudioTeacher(path=...) needs a local "
                                    f"model directory written by save_pretrained (nothing is downloaded)")
        self.path = str(folder)
        self.extractor = AutoFeatureExtractor.from_pretrained(folder)
        self.model = AutoModelForAudioClassification.from_pretrained(folder, attn_implementation="eager")
        config = self.model.config
        self.kind = config.model_type
        self.sample_rate = int(self.extractor.sampling_rate)
        self.num_classes = int(config.num_labels)
        self.embed_dim = int(config.hidden_size)
        self.frontend = nn.Identity()  # the feature extractor runs in forward (it works on numpy, per clip)

    def forward(self, waveform: Tensor, sample_rate: int | None = None) -> ModelOutput:
        self.check_sample_rate(sample_rate)
        clips = [clip.detach().float().cpu().numpy() for clip in waveform]
        inputs = self.extractor(clips, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(waveform.device) for k, v in inputs.items() if k in ("input_values", "attention_mask")}
        out = self.model(**inputs, output_attentions=True, output_hidden_states=True)
        hidden = out.hidden_states[-1]  # (B, N, D)
        if self.kind == "audio-spectrogram-transformer":
            return self._ast_output(out.logits, hidden, out.attentions)
        frames = hidden
        times = encoder_frame_times(self.model.config, frames.shape[1], self.sample_rate).to(frames.device)
        return ModelOutput(logits=out.logits, embedding=frames.mean(dim=1), frames=frames,
                           frame_hop_s=float(times[1] - times[0]) if len(times) > 1 else None,
                           attentions=tuple(out.attentions), token_time_s=times)

    def _ast_output(self, logits: Tensor, hidden: Tensor, attentions: tuple[Tensor, ...]) -> ModelOutput:
        config = self.model.config
        freq_patches, time_patches = ast_patch_grid(config)
        patches = hidden[:, 2:].reshape(hidden.shape[0], freq_patches, time_patches, -1)
        starts = torch.arange(time_patches, dtype=torch.float64) * config.time_stride
        centres = (starts + (config.patch_size - 1) / 2) * AST_FRAME_SHIFT_S + AST_WINDOW_S / 2
        times = torch.cat([torch.full((2,), math.nan, dtype=torch.float64), centres.repeat(freq_patches)]).float()
        return ModelOutput(logits=logits, embedding=(hidden[:, 0] + hidden[:, 1]) / 2, frames=patches.mean(dim=1),
                           frame_hop_s=config.time_stride * AST_FRAME_SHIFT_S, attentions=tuple(attentions),
                           token_time_s=times.to(hidden.device))


def ast_patch_grid(config) -> tuple[int, int]:
    """(frequency patches, time patches) of an HF ``ASTConfig``, as its patch embedding computes them."""
    freq = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
    time = (config.max_length - config.patch_size) // config.time_stride + 1
    return freq, time


def encoder_frame_times(config, frames: int, sample_rate: int) -> Tensor:
    """(frames,) centre times in seconds of a conv feature encoder's output frames (wav2vec 2.0 style)."""
    stride, field = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride, strict=True):
        field += (kernel - 1) * stride
        stride *= step
    return (torch.arange(frames, dtype=torch.float64) * stride + field / 2) / sample_rate
