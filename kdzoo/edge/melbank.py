"""A mel filter bank stored by its two slopes: the same numbers as the dense matrix in ~10 % of the bytes.

A triangular mel bank is a (n_freqs, n_mels) matrix, 513 x 64 float32 = 131 KB for a 1024-point FFT: eight times
the whole int8 ``cnn_xs`` network. Yet each frequency bin lies under at most two triangles, and they are
neighbours: the falling edge of band m and the rising edge of band m + 1. So the bank is fully described per bin
by the lower band's index ``m_k`` and two weights::

    mel[b, m, t] = sum_k  [m_k == m] * w_lo[k] * P[b, k, t]  +  [m_k + 1 == m] * w_hi[k] * P[b, k, t]

which is one ``scatter_add`` (ONNX ``ScatterElements``, reduction ``add``, opset 16) of 2 x n_freqs products.
Stored: two int64 band indices and two float32 weights per bin (24 B x 513 = 12.3 KB), against 4 B x n_mels per
bin for the matrix. Any bank that is not of this form (a bin under more than two bands, or two bands that are not
neighbours) is kept as the dense matrix, so the result is always the training front end's bank.

The sums run in another order than a matrix product, so the two differ by float rounding only (relative ~1e-7;
the export tests hold the exported log-mel to the training one within 1e-4 dB).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def two_slope_tables(filterbank: Tensor) -> tuple[Tensor, Tensor] | None:
    """(n_freqs, n_mels) bank -> (band index (2 n_freqs,) int64, weight (2 n_freqs,)), or None if not two-slope.

    Entry k holds bin k's lower band and weight, entry n_freqs + k its upper band (lower + 1) and weight. A bin
    under no band gets band 0 and weight 0. An upper band equal to n_mels (the last band's falling edge has no
    neighbour) gets weight 0 and lands in a spare row the caller drops.
    """
    bank = filterbank.detach().to(torch.float32)
    n_freqs, n_mels = bank.shape
    lower = torch.zeros(n_freqs, dtype=torch.int64)
    w_lo, w_hi = torch.zeros(n_freqs), torch.zeros(n_freqs)
    for k in range(n_freqs):
        bands = torch.nonzero(bank[k]).flatten()
        if len(bands) > 2 or (len(bands) == 2 and bands[1] != bands[0] + 1):
            return None
        if len(bands) == 0:
            continue
        m = int(bands[0])
        lower[k], w_lo[k] = m, bank[k, m]
        if m + 1 < n_mels:
            w_hi[k] = bank[k, m + 1]
    return torch.cat([lower, lower + 1]), torch.cat([w_lo, w_hi])


class CompactMelBank(nn.Module):
    """Power spectrogram (B, n_freqs, F) -> mel power (B, n_mels, F), with the bank stored by its two slopes.

    Args:
        filterbank: (n_freqs, n_mels) the training front end's bank; kept dense if it is not two-slope
            (:func:`two_slope_tables`), so the output is always this bank applied to the power.
    """

    def __init__(self, filterbank: Tensor) -> None:
        super().__init__()
        self.n_freqs, self.n_mels = filterbank.shape
        tables = two_slope_tables(filterbank)
        self.compact = tables is not None
        if self.compact:
            index, weight = tables
            self.register_buffer("band_index", index)  # (2 n_freqs,)
            self.register_buffer("band_weight", weight.unsqueeze(-1))  # (2 n_freqs, 1)
        else:
            self.register_buffer("filterbank", filterbank.detach().clone())

    def forward(self, power: Tensor) -> Tensor:
        """(B, n_freqs, F) -> (B, n_mels, F)."""
        if not self.compact:
            return torch.matmul(power.transpose(1, 2), self.filterbank).transpose(1, 2)
        updates = torch.cat([power, power], dim=1) * self.band_weight  # (B, 2 n_freqs, F)
        index = self.band_index.view(1, -1, 1).expand_as(updates)
        mel = power.new_zeros((power.shape[0], self.n_mels + 1, power.shape[2]))  # + 1: the spare row
        return mel.scatter_add(1, index, updates)[:, : self.n_mels]
