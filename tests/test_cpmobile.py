"""CP-Mobile-style students: shapes, and parameters/MACs inside the DCASE Task 1 budget by two independent counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdzoo.edge.budget import OverBudget, check_budget
from kdzoo.edge.export import example_input
from kdzoo.edge.profile import count_macs
from kdzoo.models import create_student
from kdzoo.models.cpmobile import CPMobile

CHALLENGE = {"max_params": 128_000, "max_macs": 30_000_000}
"""128 kB of parameters stored as int8 (1 byte each), 30 MMACs per 1 s clip (front end excluded)."""


def hooked_macs(model: CPMobile) -> int:
    """Conv MACs from output shapes seen by hooks: C_out x (C_in / groups) x k_h x k_w x H_out x W_out."""
    total = 0

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += out.shape[1] * (module.in_channels // module.groups) * kh * kw * out.shape[2] * out.shape[3]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model.forward_spectrogram(example_input(model, "network"))
    for h in handles:
        h.remove()
    return total


def test_largest_size_fits_the_challenge_budget() -> None:
    """cpm_m, the size nearest the limits, through the edge profiler (fvcore is slow: one size here; the
    smaller sizes' MACs are bounded by the hook count in the next test)."""
    name = "cpm_m"
    model = create_student(name, num_classes=10)
    measured = check_budget(model, CHALLENGE, name)  # raises OverBudget if not
    assert measured["macs"] == hooked_macs(model)  # fvcore (edge profiler) agrees with the hand count
    assert measured["params"] == sum(p.numel() for p in model.parameters())
    out = model(torch.randn(3, 32000), sample_rate=32000)
    assert out.logits.shape == (3, 10) and out.embedding.shape == (3, model.embed_dim)
    assert out.frames.shape[0] == 3 and out.frames.shape[2] == model.embed_dim


def test_sizes_are_ordered_and_a_wide_one_is_rejected() -> None:
    counts = [check_budget(create_student(n), {"max_params": 128_000})["params"] for n in ("cpm_xs", "cpm_s", "cpm_m")]
    assert counts[0] < counts[1] < counts[2]
    macs = [hooked_macs(create_student(n)) for n in ("cpm_xs", "cpm_s", "cpm_m")]
    assert macs[0] < macs[1] < macs[2] <= CHALLENGE["max_macs"]
    assert counts == [41_422, 87_754, 117_328]  # the table in kdzoo/models/cpmobile.py
    with pytest.raises(OverBudget, match="params .* > budget.max_params 128,000"):
        check_budget(CPMobile(channels=48), {"max_params": 128_000}, "width 48")


def test_first_conv_hand_count() -> None:
    """Stem conv 1 on a 128-mel x 63-frame map, stride 2: 8 x 1 x 9 x 64 x 32 MACs (cpm_xs, width 16)."""
    model = create_student("cpm_xs")
    spec = example_input(model, "network")
    assert spec.shape == (1, 1, 128, 63)
    stem_conv = model.stem[0][0]
    assert count_macs(stem_conv, spec) == 8 * 1 * 9 * 64 * 32
