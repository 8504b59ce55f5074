"""cnncourse.budget.resolve_budget: the one rule every program uses to choose its run budget."""
from __future__ import annotations

import sys

import pytest
import torch

import cnncourse
from cnncourse.budget import Budget, BudgetError, resolve_budget


@pytest.fixture(autouse=True)
def no_budget_variable(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_BUDGET", raising=False)


def test_a_command_line_choice_beats_the_variable_which_beats_the_hardware(monkeypatch):
    assert resolve_budget(None, cuda=False).name == "cpu"
    assert resolve_budget("", cuda=True).name == "full"
    monkeypatch.setenv("CNNCOURSE_BUDGET", " Smoke ")
    assert resolve_budget(None, cuda=True).name == "smoke"
    assert resolve_budget("FULL", cuda=False).name == "full"


def test_a_program_asks_for_its_own_default(monkeypatch):
    check = {"cpu": "smoke"}  # bookfactory/gpu_check.py: a check, not a book, on a CPU
    assert resolve_budget(default_for=check, cuda=False).name == "smoke"
    assert resolve_budget(default_for=check, cuda=True).name == "full"
    monkeypatch.setenv("CNNCOURSE_BUDGET", "cpu")
    assert resolve_budget(default_for=check, cuda=False).name == "cpu"
    with pytest.raises(ValueError, match="keys are 'cuda' and 'cpu'"):
        resolve_budget(default_for={"gpu": "full"}, cuda=False)
    monkeypatch.delenv("CNNCOURSE_BUDGET")
    with pytest.raises(ValueError, match="values one of smoke, cpu, full"):
        resolve_budget(default_for={"cpu": "tiny"}, cuda=False)


def test_a_bad_name_is_blamed_on_where_it_came_from(monkeypatch):
    with pytest.raises(BudgetError, match=r"^--budget 'huge' is not a budget; use one of smoke, "):
        resolve_budget("huge")
    with pytest.raises(BudgetError, match=r"^--size 'huge'"):
        resolve_budget("huge", option="--size")
    monkeypatch.setenv("CNNCOURSE_BUDGET", "huge")
    with pytest.raises(BudgetError, match=r"^CNNCOURSE_BUDGET='huge' is not a budget.*unset it"):
        resolve_budget(None)
    assert resolve_budget("smoke").name == "smoke"  # an explicit choice never reads it
    with pytest.raises(ValueError):
        cnncourse.budget()


def test_d2l_budget_follows_the_variable_then_the_hardware(monkeypatch):
    """What a chapter's ``d2l.budget()`` returns, on a machine with and without CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cnncourse.budget().name == "full"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cnncourse.budget().name == "cpu"
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    assert cnncourse.budget().pick(smoke="small", cpu="medium", full="large") == "small"


def test_the_budget_module_is_reachable_and_callable(monkeypatch):
    """``cnncourse.budget`` is the module (``import cnncourse.budget`` style works) and can be
    called as d2l's ``budget()`` is."""
    monkeypatch.setenv("CNNCOURSE_BUDGET", "cpu")
    import cnncourse.budget as module
    assert module is sys.modules["cnncourse.budget"] is cnncourse.budget
    assert module.resolve_budget("full").name == "full"
    assert module() == module.budget() == Budget("cpu")
    from cnncourse import budget
    assert budget().name == "cpu"


def test_a_budget_is_one_of_three_and_picks_its_value():
    assert [Budget(n).pick(smoke=1, cpu=2, full=3) for n in ("smoke", "cpu", "full")] == [1, 2, 3]
    with pytest.raises(BudgetError, match="'gpu' is not a budget"):
        Budget("gpu")
