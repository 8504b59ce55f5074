"""Regenerate each chapter's .ipynb from its MyST .md (the .md is the source).

    python tools/sync_notebooks.py            # rewrite chapters/*.ipynb
    python tools/sync_notebooks.py --check    # exit 1 and name the stale ones

Unlike ``jupytext --sync`` this never looks at file times, so a fresh checkout
cannot overwrite an edit. The notebooks carry no outputs: they are what Colab
opens and what nbval runs. On the way, two things make them work outside the
book:

* the markdown's MyST markup becomes what Jupyter and Colab render
  (``tools/myst_markdown.py``: included code, citations, solutions, figures);
* the chapter's first code cell, a one-line marker in the .md, becomes the
  setup cell below, with the repository read from ``_config.yml`` -- the one
  place its URL lives.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import myst_markdown  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
CONFIG = ROOT / "_config.yml"

# What the first code cell of every chapter's .md holds; the notebook gets SETUP_CELL instead.
SETUP_MARKER = ("# Setup: tools/sync_notebooks.py puts the Colab setup cell here in the .ipynb; "
                "the book needs none.")

# Installs cnncourse alone (--no-deps): every dependency it declares is preinstalled on Colab
# (tests/test_colab.py checks the list), so Colab's torch, torchvision and matplotlib stay as they
# are -- even a satisfied `pip install` would re-resolve torch's own requirements.
SETUP_CELL = '''\
# Setup. On Colab: install cnncourse from the course repository (Colab's own PyTorch stays),
# fetch Fashion-MNIST once and say which device this chapter trains on. Elsewhere: nothing to do.
import importlib, importlib.util, subprocess, sys
if importlib.util.find_spec("cnncourse") is None:
    if "google.colab" in sys.modules:
        package = "cnncourse @ git+{url}@{branch}"
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", package],
                             capture_output=True, text=True)
        if pip.returncode != 0:
            raise RuntimeError("installing cnncourse failed:\\n" + pip.stdout + pip.stderr)
        importlib.invalidate_caches()
    else:
        sys.path.insert(0, "..")  # a clone of the repository opened without `pip install -e .`
if "google.colab" in sys.modules:
    from cnncourse.colab import prepare
    print(prepare())'''


def repository() -> tuple[str, str]:
    """(url, branch) of the course repository, from ``_config.yml``."""
    repo = yaml.safe_load(CONFIG.read_text())["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def setup_cell() -> str:
    url, branch = repository()
    return SETUP_CELL.replace("{url}", url).replace("{branch}", branch)


def expected_ipynb(md: Path) -> str:
    nb = jupytext.read(md)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source.strip() != SETUP_MARKER:
        raise SystemExit(f"{md.name}: the first code cell must be exactly the setup marker\n"
                         f"  {SETUP_MARKER}\n(tagged remove-cell; see tools/sync_notebooks.py)")
    code[0].source = setup_cell()
    ctx = myst_markdown.Context(source=md, bib=myst_markdown.load_bibliography())
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    myst_markdown.scan([c.source for c in markdown], ctx)
    for cell in markdown:
        cell.source = myst_markdown.convert(cell.source, ctx)
    references = myst_markdown.references_cell(ctx)
    if references:
        nb.cells.append(nbformat.v4.new_markdown_cell(references))
    for i, cell in enumerate(nb.cells):
        # nbformat draws random cell ids; derive them from the cell so output is stable.
        cell.id = hashlib.sha1(f"{i}:{cell.source}".encode()).hexdigest()[:8]
    return jupytext.writes(nb, fmt="ipynb")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for md in sorted(CHAPTERS.glob("*.md")):
        target = md.with_suffix(".ipynb")
        text = expected_ipynb(md)
        if not target.exists() or target.read_text() != text:
            stale.append(target)
            if not check:
                target.write_text(text)
    if check and stale:
        print("out of sync with their .md (run: python tools/sync_notebooks.py):")
        print("\n".join(f"  {p}" for p in stale))
        return 1
    if not check:
        print(f"regenerated {len(stale)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
