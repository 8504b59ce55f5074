"""Claims: a sentence's measured result, checked where it is printed and surveyed over seeds.

A chapter that says "batch norm is ahead after one epoch" guards the sentence with
``claim("modern: BN ahead after epoch 1", gap, above=0.05)``. In a normal run that is an
assert with a message naming the claim, the value and the bound. ``bookfactory/claims.py``
runs every chapter again with other seeds (``CNNCOURSE_SEED``) and a record file
(``CNNCOURSE_CLAIMS``): then ``claim`` writes what it saw instead of stopping, so one run
of a chapter surveys all of its claims, and the appendix "How robust is each claim"
shows, per claim, the values over the seeds and the margin to its bound.

``run_seed()`` is the seed a chapter's experiments start from: 0 unless the survey sets
another, so the book always shows seed 0 and the survey varies everything seeded by it.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

__all__ = ["ClaimError", "claim", "run_seed"]

SEED_ENV = "CNNCOURSE_SEED"
RECORD_ENV = "CNNCOURSE_CLAIMS"      # a JSON-lines file: survey mode when set
CHAPTER_ENV = "CNNCOURSE_CHAPTER"    # which chapter the survey is running (for the record)


class ClaimError(AssertionError):
    """A measured value outside the bound its sentence needs."""


def run_seed(default: int = 0) -> int:
    """The seed this run's experiments start from: ``CNNCOURSE_SEED``, else ``default``."""
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={text!r} is not a whole number; "
                         f"unset it or give a seed such as 1") from None


def _number(name: str, what: str, x, hint: str) -> float:
    """``x`` as a float, or a TypeError naming the claim and what was wrong with ``x``."""
    try:
        if isinstance(x, (bool, str, bytes)) or x is None:
            raise TypeError
        return float(x)  # a Python or numpy number, or a tensor with exactly one element
    except (TypeError, ValueError, RuntimeError):
        shape = getattr(x, "shape", None)
        got = (f"a {type(x).__name__} of shape {tuple(shape)}" if shape is not None
               else f"{type(x).__name__} {x!r}")
        raise TypeError(f"claim {name!r}: {what} must be one number{hint}, not {got}") from None


def _checked(name: str, value, above, below) -> tuple[float, float | None, float | None]:
    """Refuse what cannot be a claim: no bound, a non-number, or bounds nothing can lie in."""
    if above is None and below is None:
        raise ValueError(f"claim {name!r} needs a bound: above=..., below=... or both")
    value = _number(name, "the measured value", value,
                    " (a float, or a tensor with one element: take .item() or .mean())")
    if above is not None:
        above = _number(name, "above", above, "")
    if below is not None:
        below = _number(name, "below", below, "")
    if above is not None and below is not None and not above < below:
        raise ValueError(f"claim {name!r}: above={above:g} is not less than below={below:g}, "
                         "so no value could hold; the bounds are swapped or equal")
    return value, above, below


def claim(name: str, value: float, *, above: float | None = None,
          below: float | None = None, says: str = "") -> None:
    """Check ``above < value < below`` for the claim ``name``.

    ``says`` is the sentence (or its gist) the bound protects. Outside a survey a
    value out of bounds raises ``ClaimError``; in a survey (``CNNCOURSE_CLAIMS`` set)
    the value is recorded and the run goes on, so every claim of the chapter is seen.
    Nothing is returned, so a check cell that ends with a claim shows no stray number.
    """
    value, above, below = _checked(name, value, above, below)
    held = (not math.isnan(value) and (above is None or value > above)
            and (below is None or value < below))
    record = os.environ.get(RECORD_ENV)
    if record:
        entry = {"chapter": os.environ.get(CHAPTER_ENV, ""), "name": name, "value": value,
                 "above": above, "below": below, "held": held, "says": says,
                 "seed": run_seed()}
        with Path(record).open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        return
    if not held:
        bound = " and ".join(part for part in (
            f"> {above:g}" if above is not None else "",
            f"< {below:g}" if below is not None else "") if part)
        raise ClaimError(f"claim {name!r}: measured {value:.4g}, but the text needs {bound}"
                         + (f" ({says})" if says else "")
                         + ". If the run is right, the sentence is not: change both.")
