"""A generated stand-in for SONYC-UST v1 (DCASE 2019 Task 5), written in the real corpus's exact layout.

Why: no real corpus can be downloaded here, yet the SONYC loader, the official metric and every recipe need data.
:func:`synth_ust` writes procedural urban scenes (traffic background, 0-4 labelled events from the 8 coarse
classes, unlabelled confusers) together with crowd-style annotations (3 noisy volunteers per clip, a verified
ground-truth row and sometimes a SONYC-team row on validate), so the real loader reads it unchanged::

    root/annotations.csv                  v1 columns (see :func:`annotation_columns`)
    root/dcase-ust-taxonomy.yaml          the official taxonomy (8 coarse, 23 fine + 6 X)
    root/audio-dev/{train,validate,test}/SS_NNNNNN.wav   16-bit PCM mono, SS = sensor id (test: only
                                          with ``test_clips`` > 0, truth rows only)
    root/.synth.json                      version, seed and parameters; written last, so it marks completeness

Modules: :mod:`.taxonomy`, :mod:`.difficulty` (the knobs), :mod:`.scenes` (labels), :mod:`.annotations`
(annotators), :mod:`.plan` (splits and sensors), one module per sound family (:mod:`.engines`, :mod:`.impacts`,
:mod:`.saws`, :mod:`.alerts`, :mod:`.music`, :mod:`.voices`, :mod:`.dogs`, :mod:`.background` with the confusers)
on the shared :mod:`.dsp` helpers, :mod:`.mixer` (one clip), :mod:`.corpus` (the writer) and :mod:`.report`.

Every random draw comes from a generator keyed by ``(seed, clip index, stream)``: the corpus is identical for any
worker count, and the labels never depend on how the audio was rendered. The difficulty knobs are the fields of
:class:`Difficulty`; :func:`synth_ust` takes each as a keyword argument.
"""

from kdzoo.data.synth.alerts import synth_alert
from kdzoo.data.synth.annotations import (
    annotate_team,
    annotate_volunteer,
    annotation_row,
    false_probability,
    miss_probability,
    truth_marks,
)
from kdzoo.data.synth.background import DISTRACTORS, SensorProfile, background, distractor, sensor_profile
from kdzoo.data.synth.corpus import (
    ANNOTATIONS_NAME,
    MARKER_NAME,
    SYNTH_VERSION,
    corpus_matches,
    read_marker,
    resolve_speech,
    synth_ust,
)
from kdzoo.data.synth.difficulty import Difficulty
from kdzoo.data.synth.dogs import synth_dog
from kdzoo.data.synth.dsp import active_rms
from kdzoo.data.synth.engines import synth_engine
from kdzoo.data.synth.impacts import synth_impact, synth_machinery
from kdzoo.data.synth.mixer import SYNTHESISERS, render_clip
from kdzoo.data.synth.music import synth_music
from kdzoo.data.synth.plan import ClipPlan, clip_rows, plan_corpus
from kdzoo.data.synth.report import describe
from kdzoo.data.synth.saws import synth_saw
from kdzoo.data.synth.scenes import Event, Scene, clip_scene, coarse_presence, sample_presence, sample_scene
from kdzoo.data.synth.taxonomy import COARSE, COARSE_TAGS, FINE, FINE_TAGS, annotation_columns, fine_tag
from kdzoo.data.synth.voices import synth_voice

__all__ = [
    "ANNOTATIONS_NAME", "COARSE", "COARSE_TAGS", "DISTRACTORS", "FINE", "FINE_TAGS", "MARKER_NAME", "SYNTHESISERS",
    "SYNTH_VERSION", "ClipPlan", "Difficulty", "Event", "Scene", "SensorProfile", "active_rms", "annotate_team",
    "annotate_volunteer", "annotation_columns", "annotation_row", "background", "clip_rows", "clip_scene",
    "coarse_presence", "corpus_matches", "describe", "distractor", "false_probability", "fine_tag",
    "miss_probability", "plan_corpus", "read_marker", "render_clip", "resolve_speech", "sample_presence",
    "sample_scene", "sensor_profile", "synth_alert", "synth_dog", "synth_engine", "synth_impact", "synth_machinery",
    "synth_music", "synth_saw", "synth_ust", "synth_voice", "truth_marks",
]
