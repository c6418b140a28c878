"""A recipe's deployment budget, checked against the student before any training.

A recipe may declare::

    budget: {max_params: 20000, max_macs: 5000000, max_activation_kb: 64, max_flash_kb: 32}

and ``kdzoo fit`` measures the student (:mod:`kdzoo.edge.profile`, 1 s of audio) and stops at once, naming
every number over budget, before any data is loaded. Units: ``max_params`` trainable parameters;
``max_macs`` MACs of the network per 1 s of audio (front end not included, it is counted apart);
``max_activation_kb`` peak activation memory of the static int8 network; ``max_flash_kb`` stored bytes of the
static int8 network (int8 weights, int32 biases, scales). Both memory figures are int8 because int8 is what
is deployed; a limit left out (or null) is not checked, and only what a limit needs is measured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import nn


@dataclass
class Budget:
    """Upper limits for a student (None: not checked); see the module docstring for units."""

    max_params: int | None = None
    max_macs: int | None = None
    max_activation_kb: float | None = None
    max_flash_kb: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value <= 0:
                raise ValueError(f"budget.{f.name} must be > 0, got {value}")


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
    over = [f"{key} {_fmt(measured[key])} > budget.max_{key} {_fmt(limit)}"
            for key, limit in (("params", budget.max_params), ("macs", budget.max_macs),
                               ("activation_kb", budget.max_activation_kb), ("flash_kb", budget.max_flash_kb))
            if limit is not None and measured[key] > limit]
    if over:
        raise OverBudget(f"{name} is over the recipe's budget: " + "; ".join(over)
                         + " (per 1 s of audio; memory and flash of the static int8 network)")
    return measured


def _fmt(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:,.1f}"
