"""Claims: a result sentence's check (cnncourse.claim) and the seed a survey sets (run_seed)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import cnncourse as d2l
from cnncourse.claims import CHAPTER_ENV, RECORD_ENV, SEED_ENV

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_survey(monkeypatch):
    for name in (RECORD_ENV, SEED_ENV, CHAPTER_ENV):
        monkeypatch.delenv(name, raising=False)


def test_a_claim_inside_its_bounds_passes_silently(no_survey):
    # nothing returned: a check cell ending with a claim displays no stray number
    assert d2l.claim("t: gap", 0.31, above=0.3) is None
    assert d2l.claim("t: ratio", 2.0, above=1.5, below=3.0) is None


@pytest.mark.parametrize("value, bounds", [(0.3, {"above": 0.3}), (0.5, {"below": 0.4}),
                                           (4.0, {"above": 1.0, "below": 3.0}),
                                           (math.nan, {"above": 0.0})])
def test_a_claim_outside_its_bounds_names_claim_value_and_bound(no_survey, value, bounds):
    with pytest.raises(d2l.ClaimError) as err:
        d2l.claim("t: batch norm ahead", value, says="BN is ahead after one epoch", **bounds)
    text = str(err.value)
    assert "t: batch norm ahead" in text and "BN is ahead" in text
    assert f"{value:.4g}" in text
    for side, limit in bounds.items():
        assert f"{'>' if side == 'above' else '<'} {limit:g}" in text


def test_a_claim_without_a_bound_is_refused(no_survey):
    with pytest.raises(ValueError, match="needs a bound"):
        d2l.claim("t: nothing", 1.0)


@pytest.mark.parametrize("value, match", [
    (None, r"claim 't: gap': the measured value must be one number .*not NoneType None"),
    ("0.4", r"claim 't: gap': the measured value must be one number .*not str '0.4'"),
    ("tensor2", r"claim 't: gap': .*one element.*not a Tensor of shape \(2,\)"),
])
def test_a_claim_of_something_that_is_not_one_number_is_named(no_survey, value, match):
    import torch

    value = torch.tensor([0.4, 0.5]) if value == "tensor2" else value
    with pytest.raises(TypeError, match=match):
        d2l.claim("t: gap", value, above=0.3)
    d2l.claim("t: gap", torch.tensor([0.4]), above=0.3)  # one element: a number


@pytest.mark.parametrize("above, below", [(0.5, 0.2), (0.3, 0.3)])
def test_bounds_that_no_value_could_meet_are_refused(no_survey, monkeypatch, tmp_path,
                                                     above, below):
    for survey in (False, True):  # in a survey too: such a row would never hold
        if survey:
            monkeypatch.setenv(RECORD_ENV, str(tmp_path / "r.jsonl"))
        with pytest.raises(ValueError, match=rf"claim 't: gap': above={above:g} is not less "
                                             rf"than below={below:g}"):
            d2l.claim("t: gap", 0.4, above=above, below=below)
    with pytest.raises(TypeError, match="claim 't: gap': below must be one number"):
        d2l.claim("t: gap", 0.4, above=0.3, below="high")


def test_in_a_survey_a_claim_records_instead_of_stopping(monkeypatch, tmp_path):
    record = tmp_path / "claims.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(record))
    monkeypatch.setenv(SEED_ENV, "3")
    monkeypatch.setenv(CHAPTER_ENV, "modern")
    d2l.claim("modern: ahead", 0.1, above=0.5)  # out of bounds, no error
    d2l.claim("modern: small", 0.1, below=0.5)
    seen = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(e["name"], e["held"], e["seed"], e["chapter"]) for e in seen] == [
        ("modern: ahead", False, 3, "modern"), ("modern: small", True, 3, "modern")]


def test_run_seed_is_zero_unless_the_survey_sets_one(monkeypatch):
    monkeypatch.delenv(SEED_ENV, raising=False)
    assert d2l.run_seed() == 0 and d2l.run_seed(7) == 7
    monkeypatch.setenv(SEED_ENV, "4")
    assert d2l.run_seed() == 4
    monkeypatch.setenv(SEED_ENV, "four")
    with pytest.raises(ValueError, match="CNNCOURSE_SEED='four'"):
        d2l.run_seed()


def test_the_data_order_follows_the_run_seed_unless_one_is_given(monkeypatch):
    def first_labels(**kw):
        train_iter, _ = d2l.load_data_fashion_mnist(64, subset=512, **kw)
        return next(iter(train_iter))[1].tolist()

    monkeypatch.delenv(SEED_ENV, raising=False)
    book = first_labels()
    assert book == first_labels(seed=0)  # the book's runs: seed 0, as before
    monkeypatch.setenv(SEED_ENV, "3")
    assert first_labels() == first_labels(seed=3) != book
    assert first_labels(seed=0) == book  # an explicit seed wins


# The survey script (bookfactory/claims.py): tests/test_claims_survey.py
