"""The contracts that cross module boundaries: what a batch holds, what a model returns, how clips are grouped.

Data modules yield :class:`Batch`; every student and teacher returns :class:`ModelOutput`. KD methods read
only these fields, so they never reach into a model's internals (the reason the fields are documented with
shapes here and nowhere else).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import torch
from torch import Tensor

Task = Literal["multilabel", "multiclass"]
"""``multilabel``: targets (B, K) in {0, 1}, sigmoid + BCE. ``multiclass``: targets (B,) class ids, softmax + CE."""

OUTPUT_FIELDS = ("logits", "embedding", "frames", "feature_map", "attentions")


@dataclass
class Batch:
    """One mini-batch of clips.

    Attributes:
        waveform: (B, T) mono audio in [-1, 1] at ``sample_rate``.
        target: (B, K) float multi-hot labels (multilabel) or (B,) long class ids (multiclass).
        clip_id: B identifiers (file names), used to key cached teacher outputs.
        sample_rate: the rate of ``waveform`` in Hz; models check it against their own.
    """

    waveform: Tensor
    target: Tensor
    clip_id: list[str]
    sample_rate: int

    def __len__(self) -> int:
        return self.waveform.shape[0]

    @staticmethod
    def collate(items: list[dict]) -> Batch:
        """Stack dataset items ``{"waveform": (T,), "target": (K,) | (), "clip_id": str, "sample_rate": int}``."""
        rates = {item["sample_rate"] for item in items}
        if len(rates) != 1:
            raise ValueError(f"cannot batch clips with different sample rates: {sorted(rates)}")
        return Batch(
            waveform=torch.stack([torch.as_tensor(item["waveform"]) for item in items]),
            target=torch.stack([torch.as_tensor(item["target"]) for item in items]),
            clip_id=[item["clip_id"] for item in items],
            sample_rate=rates.pop(),
        )


@dataclass
class ModelOutput:
    """What every kdzoo model returns for a batch of clips.

    Attributes:
        logits: (B, K) clip-level class scores before sigmoid/softmax.
        embedding: (B, D) clip embedding (the input of the classifier head).
        frames: (B, T, C) per-frame features over time (e.g. a CNN map pooled over frequency, an RNN's
            sequence, a transformer's patch tokens pooled over frequency); ``None`` if the model has no
            time axis. Consumed by IUSP and Temporal KD.
        frame_hop_s: seconds between consecutive ``frames`` (for aligning teacher and student time axes).
        feature_map: (B, C, F, T) the last map before global pooling, for SP-style methods; ``None`` if the
            model has none.
        attentions: one (B, H, N, N) attention-weight tensor per transformer layer; ``None`` for models
            without attention. Rows sum to 1.
        token_time_s: (N,) centre time in seconds of each attention token, ``nan`` for tokens with no
            position in time (class/distillation tokens); maps attention rows onto the clip's time axis.
    """

    logits: Tensor
    embedding: Tensor
    frames: Tensor | None = None
    frame_hop_s: float | None = None
    feature_map: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None
    token_time_s: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)

    def available(self) -> set[str]:
        """Names of the tensor fields this output actually carries."""
        return {f.name for f in fields(self) if f.name in OUTPUT_FIELDS and getattr(self, f.name) is not None}

    def _map(self, fn: Callable[[Tensor], Tensor]) -> ModelOutput:
        """Apply ``fn`` to every tensor (inside tuples and dicts too)."""

        def _apply(value: object) -> object:
            if isinstance(value, Tensor):
                return fn(value)
            if isinstance(value, tuple):
                return tuple(fn(v) for v in value)
            if isinstance(value, dict):
                return {k: fn(v) for k, v in value.items()}
            return value

        return replace(self, **{f.name: _apply(getattr(self, f.name)) for f in fields(self)})

    def detach(self) -> ModelOutput:
        """A copy with every tensor detached (teacher outputs must never carry a graph)."""
        return self._map(Tensor.detach)

    def to_device(self, device: torch.device | str) -> ModelOutput:
        return self._map(lambda t: t.to(device))

    @staticmethod
    def cat(outputs: list[ModelOutput]) -> ModelOutput:
        """Concatenate per-item outputs along the batch axis (``token_time_s`` is shared, taken from the first)."""
        first = outputs[0]

        def _cat(name: str) -> object:
            value = getattr(first, name)
            if value is None or name == "token_time_s" or not isinstance(value, Tensor | tuple | dict):
                return value
            if isinstance(value, Tensor):
                return torch.cat([getattr(o, name) for o in outputs])
            if isinstance(value, tuple):
                return tuple(torch.cat([getattr(o, name)[i] for o in outputs]) for i in range(len(value)))
            return {k: torch.cat([getattr(o, name)[k] for o in outputs]) for k in value}

        return replace(first, **{f.name: _cat(f.name) for f in fields(first)})

    def select(self, index: Tensor | slice | list[int]) -> ModelOutput:
        """The outputs of a subset of the batch items (used by per-clip teacher caches)."""

        def _select(value: object) -> object:
            if isinstance(value, Tensor) and value is not self.token_time_s:
                return value[index]
            if isinstance(value, tuple):
                return tuple(v[index] for v in value)
            if isinstance(value, dict):
                return {k: v[index] for k, v in value.items()}
            return value

        return replace(self, **{f.name: _select(getattr(self, f.name)) for f in fields(self)})


@dataclass(frozen=True)
class ClipGroups:
    """How a data module groups its clips for :class:`GroupedAccuracy` (e.g. TAU: by recording device).

    A data module that has one exposes it as ``clip_groups``; the Distiller then logs ``<stage>/acc_<prefix><name>``
    per group and ``<stage>/acc_<mean>`` per entry of ``means``, without knowing what the groups are.

    Attributes:
        names: the G group names, in logging order.
        of: clip id -> its group name (one of ``names``).
        means: logged name -> the groups whose accuracies it averages (unweighted: a macro mean over groups, each
            group counting once whatever its clip count; groups without clips are left out of the mean).
        prefix: put before each group's name in its key (``device_`` -> ``acc_device_a``).
    """

    names: tuple[str, ...]
    of: Callable[[str], str]
    means: Mapping[str, Sequence[str]] = field(default_factory=dict)
    prefix: str = ""

    def index(self, clip_ids: Sequence[str]) -> Tensor:
        """(B,) long: the position in ``names`` of each clip's group; an unknown group is refused, naming the clip."""
        positions = {name: i for i, name in enumerate(self.names)}
        out = []
        for clip_id in clip_ids:
            group = self.of(clip_id)
            if group not in positions:
                raise ValueError(f"clip {clip_id!r} belongs to group {group!r}, not one of {list(self.names)}")
            out.append(positions[group])
        return torch.tensor(out, dtype=torch.int64)
