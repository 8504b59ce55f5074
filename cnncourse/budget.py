"""Run budgets: one place decides how big every training run in the course is.

The same chapter runs in three places with very different amounts of compute:

* ``smoke`` -- CI and the test suite: seconds per chapter, small subsets.
* ``cpu``   -- a reader's laptop and the CPU book build: the published settings
  where a CPU can afford them, honest, labelled reductions where it cannot.
* ``full``  -- a GPU: the published settings everywhere.

Chapters ask ``budget().pick(smoke=..., cpu=..., full=...)`` so every size lives
next to the cell that uses it. Every program of the repository (the book build,
``bookfactory/gpu_check.py``, the scripts) resolves its budget with ``resolve_budget``,
so the rule is written once: a command-line choice wins, then ``CNNCOURSE_BUDGET``,
then the default for the hardware -- ``full`` with CUDA, ``cpu`` without, unless
the program asks for another default (``default_for``).

``cnncourse.budget`` is this module, and the module can be called: ``d2l.budget()``
in a chapter returns the active budget, while ``cnncourse.budget.resolve_budget`` and
``import cnncourse.budget`` still reach the module. (A function named ``budget`` in the
package would hide the module of the same name; a callable module keeps both.)
"""
from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass
from typing import TypeVar
from collections.abc import Mapping

import torch

# ``budget`` is not listed: the package exports this module, which calls it (see the end).
__all__ = ["BUDGETS", "Budget", "BudgetError", "resolve_budget"]

BUDGETS = ("smoke", "cpu", "full")
ENV_VAR = "CNNCOURSE_BUDGET"
DEFAULT_FOR = {"cuda": "full", "cpu": "cpu"}  # hardware -> budget when nothing is chosen
T = TypeVar("T")


class BudgetError(ValueError):
    """A budget name that is not one of ``BUDGETS``; the message names where it came from."""


@dataclass(frozen=True)
class Budget:
    """The active run budget; ``pick`` returns the value meant for it."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in BUDGETS:
            raise BudgetError(f"{self.name!r} is not a budget; use one of {', '.join(BUDGETS)}")

    def pick(self, *, smoke: T, cpu: T, full: T) -> T:
        """Return the argument named after this budget."""
        return {"smoke": smoke, "cpu": cpu, "full": full}[self.name]

    @property
    def is_smoke(self) -> bool:
        return self.name == "smoke"

    def __str__(self) -> str:
        return self.name


def resolve_budget(explicit: str | None = None, *, option: str = "--budget",
                   default_for: Mapping[str, str] | None = None,
                   cuda: bool | None = None) -> Budget:
    """The budget a program runs in: ``explicit``, else ``CNNCOURSE_BUDGET``, else a default.

    ``explicit`` is what the user gave the program (``None`` or ``""``: nothing); ``option``
    is how the program spells it, for the error message. The default comes from
    ``default_for``, a mapping ``{"cuda": ..., "cpu": ...}`` merged over ``DEFAULT_FOR``
    (``bookfactory/gpu_check.py`` asks for ``{"cpu": "smoke"}``: a check, not a book, on a CPU).
    ``cuda`` says whether CUDA is there (default: ``torch.cuda.is_available()``).
    A bad name raises ``BudgetError`` naming the option or the variable it came from.
    """
    choices = ", ".join(BUDGETS)
    defaults = {**DEFAULT_FOR, **(default_for or {})}
    unknown = {k: v for k, v in defaults.items() if k not in DEFAULT_FOR or v not in BUDGETS}
    if unknown:
        raise ValueError(f"default_for={dict(default_for or {})!r}: keys are 'cuda' and 'cpu', "
                         f"values one of {choices}")
    if explicit is not None and explicit.strip():
        name = explicit.strip().lower()
        if name not in BUDGETS:
            raise BudgetError(f"{option} {explicit!r} is not a budget; use one of {choices}")
        return Budget(name)
    raw = os.environ.get(ENV_VAR, "")
    if raw.strip():
        name = raw.strip().lower()
        if name not in BUDGETS:
            raise BudgetError(f"{ENV_VAR}={raw!r} is not a budget; use one of {choices} "
                              "(or unset it to pick from the hardware)")
        return Budget(name)
    if cuda is None:
        cuda = torch.cuda.is_available()
    return Budget(defaults["cuda" if cuda else "cpu"])


def budget() -> Budget:
    """The budget chosen by ``CNNCOURSE_BUDGET``, defaulting from the hardware."""
    return resolve_budget()


class _CallableModule(types.ModuleType):
    """The type of this module: ``cnncourse.budget()`` is ``budget()``."""

    def __call__(self) -> Budget:
        return budget()


sys.modules[__name__].__class__ = _CallableModule
