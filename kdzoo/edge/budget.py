"""A recipe's deployment budget, checked against the student before any training.

A recipe may declare::

    budget: {max_params: 20000, max_param_kb: 128, param_bits: 8, max_macs: 5000000, max_activation_kb: 64,
             max_flash_kb: 32}

and ``kdzoo fit`` measures the student (:mod:`kdzoo.edge.profile`, 1 s of audio) and stops at once, naming
every number over budget, before any data is loaded. Units: ``max_params`` trainable parameters;
``max_param_kb`` parameter memory the way DCASE Task 1 counts it: every parameter of the student (front end
included, trainable or not) at the precision it is stored in, ``param_bits`` (8: int8, 1 byte; 16: fp16, 2 bytes;
32: fp32, 4 bytes), in kB of 1000 bytes (``param_kb = params * param_bits / 8 / 1000``);
``max_macs`` MACs of the network per 1 s of audio (front end not included, it is counted apart);
``max_activation_kb`` peak activation memory of the static int8 network; ``max_flash_kb`` stored bytes of the
static int8 network (int8 weights, int32 biases, scales; KiB of 1024 bytes, as :mod:`kdzoo.edge.profile`).
``param_kb`` is the challenge's rule (what a submission declares), ``flash_kb`` what the exported int8 graph
really stores: batch norm folded into the convolutions removes parameters, and int32 biases and scales add
bytes (cpm_s: 87,754 parameters = 87.8 kB at int8; its int8 graph stores 111.8 KiB). Both memory figures of the
profile are int8 because int8 is what is deployed; a limit left out (or null) is not checked, and only what a
limit needs is measured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import nn


@dataclass
class Budget:
    """Upper limits for a student (None: not checked); see the module docstring for units."""

    max_params: int | None = None
    max_param_kb: float | None = None
    param_bits: int = 8
    max_macs: int | None = None
    max_activation_kb: float | None = None
    max_flash_kb: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value <= 0:
                raise ValueError(f"budget.{f.name} must be > 0, got {value}")
        if self.param_bits not in PARAM_BITS:
            raise ValueError(f"budget.param_bits must be one of {PARAM_BITS} (int8, fp16, fp32), got {self.param_bits}")


PARAM_BITS = (8, 16, 32)


class OverBudget(ValueError):
    """The student exceeds one or more limits of its recipe's ``budget``."""


def measure(student: nn.Module, budget: Budget) -> dict[str, float]:
    """The numbers ``budget`` limits, for the student alone (only those it sets are measured)."""
    from kdzoo.edge.export import StudentGraph, example_input, student_of
    from kdzoo.edge.profile import count_macs, profile_student

    student = student_of(student)
    measured: dict[str, float] = {}
    if budget.max_params is not None:
        measured["params"] = sum(p.numel() for p in student.parameters() if p.requires_grad)
    if budget.max_param_kb is not None:
        measured["param_kb"] = param_kb(student, budget.param_bits)
    if budget.max_macs is not None:
        was_training = student.training
        measured["macs"] = count_macs(StudentGraph(student, "network"), example_input(student, "network"))
        student.train(was_training)
    if budget.max_activation_kb is not None or budget.max_flash_kb is not None:
        was_training = student.training
        report = profile_student(student, latency=False)
        student.train(was_training)
        measured["activation_kb"] = report.activation_kb_int8
        measured["flash_kb"] = report.flash_kb_int8
    return measured


def check_budget(student: nn.Module, budget: Budget | dict | None, name: str = "the student") -> dict[str, float]:
    """Measure ``student`` and raise :class:`OverBudget` naming each number over ``budget``; return the numbers.

    Args:
        student: a student or a Distiller.
        budget: the recipe's ``budget`` (a :class:`Budget` or a dict of its fields); None checks nothing.
        name: how the message names the student (e.g. its registry name).
    """
    if budget is None:
        return {}
    budget = budget if isinstance(budget, Budget) else Budget(**dict(budget))
    measured = measure(student, budget)
    limits = (("params", budget.max_params), ("param_kb", budget.max_param_kb), ("macs", budget.max_macs),
              ("activation_kb", budget.max_activation_kb), ("flash_kb", budget.max_flash_kb))
    over = [f"{key} {_fmt(measured[key])}{_bits(key, budget)} > budget.max_{key} {_fmt(limit)}"
            for key, limit in limits if limit is not None and measured[key] > limit]
    if over:
        raise OverBudget(f"{name} is over the recipe's budget: " + "; ".join(over)
                         + " (MACs per 1 s of audio; param_kb: all parameters at param_bits, 1 kB = 1000 B; "
                         "activation and flash KiB of the static int8 network)")
    return measured


def param_kb(student: nn.Module, bits: int = 8) -> float:
    """Parameter memory in kB (1000 bytes) of every parameter of ``student`` stored at ``bits`` each (DCASE's count)."""
    return sum(p.numel() for p in student.parameters()) * bits / 8 / 1000


def _bits(key: str, budget: Budget) -> str:
    return f" kB at {budget.param_bits}-bit" if key == "param_kb" else ""


def _fmt(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:,.1f}"
