"""The difficulty knobs of the generated corpus (one frozen dataclass, validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difficulty:
    """How hard the corpus is. The defaults aim at a task where a small CNN clearly trails a larger one.

    Attributes:
        snr_db: (low, high) event level over the background RMS in dB, uniform per event, measured over the
            event's active frames. Independent of class, so "loudest = class X" is no cue.
        far_prob: probability that an event is far: low-passed (800-3000 Hz) and ``far_drop_db`` quieter.
        far_drop_db: extra attenuation of far events in dB.
        max_events: the most labelled events in one clip.
        background_noise_db: (low, high) level of the broadband noise floor relative to the traffic rumble, dB;
            higher masks the high-frequency cues of alerts, saws and voices.
        distractor_rate: mean number (Poisson) of unlabelled confusers per clip: HVAC hum, birds, wind, footsteps.
        distractor_snr_db: (low, high) confuser level over the background, dB.
        miss_rate: probability that a volunteer misses a present near event at the middle of ``snr_db``.
        miss_slope_db: dB per unit of miss log-odds; quieter (and far) events are missed more, louder ones less.
        false_rate: mean probability that a volunteer adds a spurious tag for a coarse class absent from the
            clip; common classes get proportionally more (see :func:`false_probability`).
        fine_accuracy: probability that a volunteer who hears an event picks its true fine tag (else X or a
            sibling).
        uncertain_rate: probability that the verified truth knows only the X tag of a near event (doubled if far).
        team_prob: probability that a validate clip also has one SONYC-team row (a few coarse groups, -1 elsewhere).
    """

    snr_db: tuple[float, float] = (-6.0, 20.0)
    far_prob: float = 0.35
    far_drop_db: float = 6.0
    max_events: int = 4
    background_noise_db: tuple[float, float] = (-20.0, 0.0)
    distractor_rate: float = 1.0
    distractor_snr_db: tuple[float, float] = (-10.0, 8.0)
    miss_rate: float = 0.2
    miss_slope_db: float = 6.0
    false_rate: float = 0.02
    fine_accuracy: float = 0.7
    uncertain_rate: float = 0.12
    team_prob: float = 0.5

    def __post_init__(self) -> None:
        for name in ("far_prob", "miss_rate", "false_rate", "fine_accuracy", "uncertain_rate", "team_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Difficulty.{name}={getattr(self, name)} is not a probability; use a value in [0, 1]")
        for name in ("snr_db", "background_noise_db", "distractor_snr_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"Difficulty.{name}=({low}, {high}) has low > high; pass (low, high)")
        if self.max_events < 0 or self.distractor_rate < 0 or self.miss_slope_db <= 0:
            raise ValueError("Difficulty: max_events and distractor_rate must be >= 0 and miss_slope_db > 0")
