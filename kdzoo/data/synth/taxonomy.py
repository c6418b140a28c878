"""The DCASE 2019 Task 5 taxonomy (``dcase-ust-taxonomy.yaml``; keys are ints except the incomplete "X"
tags) and the v1 ``annotations.csv`` header built from it."""

from __future__ import annotations

import yaml

COARSE: dict[int, str] = {
    1: "engine", 2: "machinery-impact", 3: "non-machinery-impact", 4: "powered-saw",
    5: "alert-signal", 6: "music", 7: "human-voice", 8: "dog",
}
FINE: dict[int, dict[int | str, str]] = {
    1: {1: "small-sounding-engine", 2: "medium-sounding-engine", 3: "large-sounding-engine",
        "X": "engine-of-uncertain-size"},
    2: {1: "rock-drill", 2: "jackhammer", 3: "hoe-ram", 4: "pile-driver", "X": "other-unknown-impact-machinery"},
    3: {1: "non-machinery-impact"},
    4: {1: "chainsaw", 2: "small-medium-rotating-saw", 3: "large-rotating-saw", "X": "other-unknown-powered-saw"},
    5: {1: "car-horn", 2: "car-alarm", 3: "siren", 4: "reverse-beeper", "X": "other-unknown-alert-signal"},
    6: {1: "stationary-music", 2: "mobile-music", 3: "ice-cream-truck", "X": "music-from-uncertain-source"},
    7: {1: "person-or-small-group-talking", 2: "person-or-small-group-shouting", 3: "large-crowd",
        4: "amplified-speech", "X": "other-unknown-human-voice"},
    8: {1: "dog-barking-whining"},
}


def fine_tag(coarse: int, key: int | str) -> str:
    """``fine_tag(1, "X") == "1-X_engine-of-uncertain-size"`` (the column stem used by the CSV and the metric)."""
    return f"{coarse}-{key}_{FINE[coarse][key]}"


def coarse_tag(coarse: int) -> str:
    """``coarse_tag(5) == "5_alert-signal"``."""
    return f"{coarse}_{COARSE[coarse]}"


FINE_TAGS: tuple[str, ...] = tuple(fine_tag(c, k) for c, keys in FINE.items() for k in keys)
COARSE_TAGS: tuple[str, ...] = tuple(coarse_tag(c) for c in COARSE)
FINE_COARSE: tuple[int, ...] = tuple(c for c, keys in FINE.items() for _ in keys)


def annotation_columns() -> list[str]:
    """The v1 ``annotations.csv`` header: ids, 29 fine presences, 29 fine proximities, 8 coarse presences."""
    return [
        "split", "sensor_id", "audio_filename", "annotator_id",
        *(f"{t}_presence" for t in FINE_TAGS), *(f"{t}_proximity" for t in FINE_TAGS),
        *(f"{t}_presence" for t in COARSE_TAGS),
    ]


def taxonomy_yaml() -> str:
    """The taxonomy file's text: ``coarse: {1: engine, ...}`` then ``fine: {1: {1: ..., X: ...}, ...}``."""
    return yaml.safe_dump({"coarse": COARSE, "fine": FINE}, sort_keys=False, default_flow_style=False)
