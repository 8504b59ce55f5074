"""The ``slow`` marks are honest: the list in conftest.py names tests that exist, and
``make unit`` (-m "not slow") leaves out what it says it leaves out."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import SLOW, is_listed_slow

TESTS = Path(__file__).resolve().parent


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_listed_as_slow_still_exists():
    stale = []
    for file_name, names in SLOW.items():
        path = TESTS / file_name
        if not path.is_file():
            stale.append(file_name)
            continue
        stale += [f"{file_name}::{n}" for n in names if n != "*" and n not in functions_in(path)]
    assert not stale, f"tests/conftest.py's SLOW names tests that are gone: {stale}"


def test_the_list_marks_what_it_names_and_nothing_else():
    assert is_listed_slow("test_book.py", "test_anything")
    assert is_listed_slow("test_interpret.py", "test_occlusion_is_captum_occlusion")
    assert not is_listed_slow("test_interpret.py", "test_a_new_quick_test")
    assert not is_listed_slow("test_budget.py", "test_the_budget_module_is_reachable_and_callable")
