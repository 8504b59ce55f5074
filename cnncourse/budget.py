"""Run budgets: one place decides how big every training run in the course is.

The same chapter runs in three places with very different amounts of compute:

* ``smoke`` -- CI and ``pytest --nbval``: seconds per chapter, small subsets.
* ``cpu``   -- a reader's laptop and the CPU book build: the published settings
  where a CPU can afford them, honest, labelled reductions where it cannot.
* ``full``  -- a GPU: the published settings everywhere.

Set ``CNNCOURSE_BUDGET`` to choose; otherwise ``full`` when CUDA is present and
``cpu`` when it is not. Chapters ask ``budget().pick(smoke=..., cpu=..., full=...)``
so every size lives next to the cell that uses it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch

__all__ = ["BUDGETS", "Budget", "budget"]

BUDGETS = ("smoke", "cpu", "full")
ENV_VAR = "CNNCOURSE_BUDGET"
T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    """The active run budget; ``pick`` returns the value meant for it."""

    name: str

    def pick(self, *, smoke: T, cpu: T, full: T) -> T:
        """Return the argument named after this budget."""
        return {"smoke": smoke, "cpu": cpu, "full": full}[self.name]

    @property
    def is_smoke(self) -> bool:
        return self.name == "smoke"

    def __str__(self) -> str:
        return self.name


def budget() -> Budget:
    """The budget chosen by ``CNNCOURSE_BUDGET``, defaulting from the hardware."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name:
        name = "full" if torch.cuda.is_available() else "cpu"
    if name not in BUDGETS:
        raise ValueError(
            f"{ENV_VAR}={os.environ.get(ENV_VAR)!r} is not a budget; "
            f"use one of {', '.join(BUDGETS)} (or unset it to pick from the hardware)."
        )
    return Budget(name)
