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


def test_parameter_memory_at_stored_precision() -> None:
    """DCASE counts parameter memory at the precision parameters are stored in: cpm_s, 87,754 parameters, is
    87.754 kB at int8 (inside 128 kB), 175.508 kB at fp16 and 351.016 kB at fp32 (both over)."""
    model = create_student("cpm_s", num_classes=10)
    assert check_budget(model, {"max_param_kb": 128, "param_bits": 8}) == {"param_kb": pytest.approx(87.754)}
    with pytest.raises(OverBudget, match=r"cpm_s is over .*: param_kb 175\.5 kB at 16-bit > budget\.max_param_kb 128"):
        check_budget(model, {"max_param_kb": 128, "param_bits": 16}, "cpm_s")
    with pytest.raises(OverBudget, match=r"param_kb 351\.0 kB at 32-bit > budget\.max_param_kb 128") as error:
        check_budget(model, {"max_param_kb": 128, "param_bits": 32, "max_params": 100_000}, "cpm_s")
    assert "params" not in str(error.value).split(";")[0].split(":")[1].replace("param_kb", "")  # 87,754 <= 100,000
    with pytest.raises(ValueError, match=r"budget.param_bits must be one of \(8, 16, 32\)"):
        check_budget(model, {"max_param_kb": 128, "param_bits": 4})
