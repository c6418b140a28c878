"""The bundled default data: the generated SONYC-UST-format corpus, created on first use."""

from __future__ import annotations

import logging
from typing import Literal

from kdzoo.data.sonyc import SonycUSTDataModule
from kdzoo.data.synth import corpus_matches, synth_ust

log = logging.getLogger(__name__)


class SynthUSTDataModule(SonycUSTDataModule):
    """:class:`SonycUSTDataModule` over the offline corpus of :func:`kdzoo.data.synth.synth_ust`.

    ``prepare_data`` generates the corpus under ``root`` unless a complete one with the same ``clips``,
    ``test_clips`` and ``corpus_seed`` is already there (the generator writes its marker file last, so a crashed
    generation is redone). Everything else (splits, targets, batches, validation of files) is the real SONYC-UST
    v1 loader's, which is the point: the demo exercises the code path users run on the real data.

    Splits: ``train`` trains, ``validate`` selects the checkpoint (and early-stops), ``test`` scores it. With
    ``test_clips`` > 0 (the demo recipes use 1000) ``test`` is a held-out split of that many clips on sensors of
    its own, labelled by the verified truth only, that no run looks at before testing. With ``test_clips=0``
    there is none and the loader tests on ``validate``, as it must on SONYC-UST v1 (which has no test rows):
    then the test score is the score of the checkpoint chosen on those very clips, optimistic by the selection.

    Args:
        root: where the corpus lives (created if absent).
        clips: number of 10 s train + validate clips (20 % go to ``validate``).
        test_clips: number of held-out 10 s ``test`` clips (0: none, test on ``validate``).
        corpus_seed: generator seed (the data), distinct from the training seed.
        speech: voice events from the built-in formant synthesiser (``"formant"``, the default: identical
            bytes on every machine, which the shipped demo teacher relies on) or espeak-ng (``"espeak"``).
        workers: generator processes.
        level, sample_rate, clip_seconds, batch_size, num_workers, preload, seed: as in
            :class:`SonycUSTDataModule`.
    """

    def __init__(
        self,
        root: str = "data/synth-ust",
        clips: int = 600,
        test_clips: int = 0,
        corpus_seed: int = 0,
        speech: Literal["formant", "espeak", "auto"] = "formant",
        workers: int = 2,
        level: Literal["coarse", "fine"] = "coarse",
        sample_rate: int = 16000,
        clip_seconds: float = 10.0,
        batch_size: int = 32,
        num_workers: int = 0,
        preload: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(root=root, version=1, level=level, sample_rate=sample_rate, clip_seconds=clip_seconds,
                         batch_size=batch_size, num_workers=num_workers, preload=preload, seed=seed)
        self.clips, self.test_clips, self.corpus_seed = clips, test_clips, corpus_seed
        self.speech, self.workers = speech, workers

    def _corpus_args(self) -> dict:
        return {"clips": self.clips, "test_clips": self.test_clips, "seed": self.corpus_seed, "speech": self.speech,
                "clip_seconds": self.clip_seconds}

    def prepare_data(self) -> None:
        if corpus_matches(self.root, **self._corpus_args()):
            return
        log.info("generating the offline corpus: %d + %d test clips, seed %d, in %s", self.clips, self.test_clips,
                 self.corpus_seed, self.root)
        synth_ust(self.root, workers=self.workers, **self._corpus_args())
