"""Data: audio I/O, SONYC-UST / DCASE 2019 Task 5, the generated offline corpus, downloads.

Data never imports a model: everything here yields waveforms and targets (see :class:`kdzoo.types.Batch`).
"""
