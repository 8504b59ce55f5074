"""The chapters as files: paired notebooks in sync, the same setup cell, listed in the TOC."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import sync_notebooks  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_ipynb_matches_its_md(md):
    nb = md.with_suffix(".ipynb")
    assert nb.exists(), f"{nb.name} is missing: run python tools/sync_notebooks.py"
    assert nb.read_text() == sync_notebooks.expected_ipynb(md), (
        f"{nb.name} is out of sync with {md.name}: run python tools/sync_notebooks.py")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(md):
    cells = json.loads(md.with_suffix(".ipynb").read_text())["cells"]
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")


def _setup_cell(md: Path) -> str:
    nb = json.loads(md.with_suffix(".ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return "".join(code[0]["source"])


def test_every_chapter_starts_with_the_same_setup_cell():
    reference = _setup_cell(ROOT / "chapters" / "data.md")
    assert "google.colab" in reference
    for md in CHAPTERS:
        assert _setup_cell(md) == reference, f"{md.name}: first code cell differs from data.md's"


def test_setup_cell_installs_from_the_configured_repository():
    config = (ROOT / "_config.yml").read_text()
    url = re.search(r"^\s*url:\s*(\S+)", config, re.M).group(1)
    assert f"git+{url}" in _setup_cell(ROOT / "chapters" / "data.md")


def test_every_chapter_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for md in CHAPTERS:
        assert f"chapters/{md.stem}" in toc, f"{md.name} is not listed in _toc.yml"
