"""Claims: a result sentence's check (cnncourse.claim) and the survey over seeds (scripts/claims.py)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

import cnncourse as d2l
from cnncourse.claims import CHAPTER_ENV, RECORD_ENV, SEED_ENV

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("claims_script", ROOT / "scripts" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_the_summary_keeps_each_seeds_worst_value_and_the_worst_margin():
    script = load_script()
    entries = [
        {"chapter": "c", "name": "c: ahead", "says": "", "above": 0.5, "below": None,
         "value": v, "seed": s} for s, v in ((0, 0.9), (0, 0.6), (1, 0.8), (2, 0.4))]
    [row] = script.summarise(entries, [0, 1, 2])
    assert row["values"] == {"0": 0.6, "1": 0.8, "2": 0.4}  # seed 0 checked twice: 0.6 counts
    assert (row["min"], row["median"], row["max"]) == (0.4, 0.6, 0.8)
    assert row["held"] == 2 and row["seeds"] == 3
    assert row["margin"] == pytest.approx(-0.1)


CHAPTER = """\
---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# A chapter

```{code-cell} ipython3
import cnncourse as d2l
SEED = d2l.run_seed()
d2l.claim("tiny: the seed is small", SEED, below=0.5, says="the seed is 0")
if SEED == 1:
    raise RuntimeError("no data")
```
"""


def test_the_survey_runs_a_chapter_per_seed_and_summarises(tmp_path, monkeypatch, no_survey):
    script = load_script()
    (tmp_path / "tiny.md").write_text(CHAPTER)
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    out = tmp_path / "claims.json"
    rc = script.main(["--budget", "smoke", "--seeds", "0", "1", "--chapters", "tiny",
                      "--out", str(out), "--keep", str(tmp_path / "kept")])
    result = json.loads(out.read_text())
    assert rc == 1  # the run of seed 1 failed after its claim
    [row] = result["claims"]
    assert (row["name"], row["held"], row["seeds"], row["margin"]) == (
        "tiny: the seed is small", 1, 2, -0.5)
    assert [(r["seed"], r["claims"], r["error"] is None) for r in result["runs"]] == [
        (0, 1, True), (1, 1, False)]
    assert "no data" in result["runs"][1]["error"]
    assert result["complete"] is True
    kept = tmp_path / "kept" / "tiny-s1.ipynb"  # the executed notebook, error output included
    assert "no data" in kept.read_text()
    assert result["budget"] == "smoke" and result["seeds"] == [0, 1]


def test_the_survey_refuses_an_unknown_chapter(capsys):
    with pytest.raises(SystemExit):
        load_script().main(["--budget", "smoke", "--chapters", "lenett"])
    assert "no chapter lenett" in capsys.readouterr().err


def test_update_replaces_only_the_chapters_it_ran(tmp_path, monkeypatch, no_survey):
    script = load_script()
    for name in ("data", "lenet"):
        (tmp_path / f"{name}.md").write_text(CHAPTER)
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    monkeypatch.setattr(script, "chapters_in_toc", lambda: ["data", "lenet"])

    def fake_run(value):
        def run(name, seed, budget, record, timeout, keep=None):
            record.write_text(json.dumps({"chapter": name, "name": f"{name}: x", "says": "",
                                          "above": 0.0, "below": None, "value": value,
                                          "seed": seed}) + "\n")
        return run

    out = tmp_path / "claims.json"
    monkeypatch.setattr(script, "run_chapter", fake_run(1.0))
    script.main(["--budget", "smoke", "--seeds", "0", "1", "--out", str(out)])
    monkeypatch.setattr(script, "run_chapter", fake_run(2.0))
    script.main(["--budget", "smoke", "--seeds", "0", "1", "--chapters", "lenet", "--update",
                 "--out", str(out)])
    result = json.loads(out.read_text())
    assert [(r["chapter"], r["max"]) for r in result["claims"]] == [("data", 1.0), ("lenet", 2.0)]
    assert [(r["chapter"], r["seed"]) for r in result["runs"]] == [
        ("data", 0), ("data", 1), ("lenet", 0), ("lenet", 1)]
    with pytest.raises(SystemExit):  # other seeds: the table would mix two surveys
        script.main(["--budget", "smoke", "--seeds", "0", "--chapters", "lenet", "--update",
                     "--out", str(out)])


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


def test_the_page_names_the_surveys_it_shows_in_its_code(tmp_path):
    script = load_script()
    page, results = tmp_path / "claims.md", tmp_path / "results"
    results.mkdir()
    page.write_text("```{code-cell} ipython3\n# surveys shown: none yet\nimport json\n```\n")
    assert script.stamp_page(page, results) == "# surveys shown: none yet"
    (results / "claims-cpu.json").write_text('{"a": 1}')
    first = script.stamp_page(page, results)
    (results / "claims-cpu.json").write_text('{"a": 2}')
    second = script.stamp_page(page, results)
    assert first != second and second.startswith("# surveys shown: claims-cpu ")
    assert page.read_text().count("# surveys shown:") == 1 and second in page.read_text()
    page.write_text("no stamp here")
    with pytest.raises(ValueError, match="surveys shown"):
        script.stamp_page(page, results)


def test_the_real_page_has_its_stamp_line():
    assert "\n# surveys shown: " in (ROOT / "book" / "claims.md").read_text()
