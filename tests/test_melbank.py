"""The two-slope mel bank: the same numbers as the dense matrix, a fraction of the bytes, dense when it must be."""

import pytest
import torch

from kdzoo.edge.melbank import CompactMelBank, two_slope_tables
from kdzoo.models.frontend import LogMel

# 5 bins x 3 bands: bin 0 under band 0 only, bins 1-3 each under a band and its upper neighbour, bin 4 under none
BANK = torch.tensor([[1.0, 0.0, 0.0],
                     [0.5, 0.25, 0.0],
                     [0.0, 0.75, 0.5],
                     [0.0, 0.0, 0.3],
                     [0.0, 0.0, 0.0]])


def dense(bank: torch.Tensor, power: torch.Tensor) -> torch.Tensor:
    return torch.matmul(power.transpose(1, 2), bank).transpose(1, 2)


def test_tables_by_hand():
    index, weight = two_slope_tables(BANK)
    # lower bands of bins 0..4, then the upper ones (lower + 1); bin 4 is under no band: band 0, weight 0
    assert index.tolist() == [0, 0, 1, 2, 0, 1, 1, 2, 3, 1]
    assert torch.allclose(weight, torch.tensor([1.0, 0.5, 0.75, 0.3, 0.0, 0.0, 0.25, 0.5, 0.0, 0.0]))


def test_compact_bank_by_hand():
    power = torch.tensor([[[1.0], [2.0], [4.0], [10.0], [100.0]]])  # (1, 5 bins, 1 frame)
    mel = CompactMelBank(BANK)(power)
    # band 0: 1*1 + 0.5*2; band 1: 0.25*2 + 0.75*4; band 2: 0.5*4 + 0.3*10 (bin 4 counts nowhere)
    assert mel.shape == (1, 3, 1)
    assert torch.allclose(mel.flatten(), torch.tensor([2.0, 3.5, 5.0]))


@pytest.mark.parametrize("bank", [
    torch.tensor([[1.0, 0.5, 0.5]]),  # one bin under three bands
    torch.tensor([[1.0, 0.0, 0.5]]),  # two bands that are not neighbours
])
def test_other_banks_stay_dense_and_exact(bank):
    assert two_slope_tables(bank) is None
    module = CompactMelBank(bank)
    power = torch.rand(2, 1, 4)
    assert not module.compact and torch.equal(module(power), dense(bank, power))


@pytest.mark.parametrize("sample_rate,n_fft,n_mels,mel_scale", [(16000, 1024, 64, "slaney"), (16000, 512, 20, "htk"),
                                                                 (32000, 2048, 128, "htk")])
def test_real_banks_are_two_slope_and_equal_the_matrix(sample_rate, n_fft, n_mels, mel_scale):
    torch.manual_seed(0)
    bank = LogMel(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, mel_scale=mel_scale).mel.mel_scale.fb
    module = CompactMelBank(bank)
    power = torch.rand(3, bank.shape[0], 11) * torch.logspace(-6, 2, 11)  # quiet and loud frames
    expected = dense(bank, power)
    assert module.compact
    assert torch.allclose(module(power), expected, rtol=1e-5, atol=1e-12)
    stored = sum(b.numel() * b.element_size() for b in module.buffers())
    assert stored == bank.shape[0] * 2 * (8 + 4)  # two int64 indices and two float32 weights per bin
    assert stored < bank.numel() * 4  # the dense float32 matrix: 4 n_mels bytes per bin (24 B < 80-512 B)
