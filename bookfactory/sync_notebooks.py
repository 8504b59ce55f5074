"""Regenerate each chapter's .ipynb from its MyST .md (the .md is the source).

    python -m bookfactory notebooks            # rewrite chapters/*.ipynb
    python -m bookfactory notebooks --check    # exit 1 and name the stale ones
    python -m bookfactory notebooks --force    # also overwrite notebooks edited by hand

Generation goes one way. The notebooks carry no jupytext pairing (and the .md
pairs with nothing: see chapters/jupytext.toml), so neither Jupyter nor
``jupytext --sync`` can write a notebook back over its source. A notebook whose
cells were edited by hand is not overwritten without ``--force``: its cell ids,
derived from the generated cells, tell. The notebooks carry no outputs: they are
what Colab opens and what nbval runs. On the way, three things make them work
outside the book:

* the markdown's MyST markup becomes what Jupyter and Colab render
  (``bookfactory/myst_markdown.py``: included code, citations, solutions, figures);
* the chapter's first code cell, a one-line marker in the .md, becomes the
  setup cell below, with the repository read from ``_config.yml`` -- the one
  place its URL lives;
* the checks the book hides (code cells tagged ``remove-cell``) are collapsed:
  a titled form on Colab, a hidden input in Jupyter, one click to open.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

if __package__:
    from . import i18n, myst_markdown
else:  # run as a script, python bookfactory/sync_notebooks.py: this folder is on sys.path
    import i18n
    import myst_markdown

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
CONFIG = ROOT / "_config.yml"

# What the first code cell of every chapter's .md holds; the notebook gets SETUP_CELL instead.
SETUP_MARKER = ("# Setup: `python -m bookfactory notebooks` puts the Colab setup cell here in "
                "the .ipynb; the book needs none.")

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
        raise ModuleNotFoundError("cnncourse is not installed for this kernel: run `pip install "
                                  "-e .` in the repository root (README.md), then restart it")
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


# The title of a collapsed check when its cell does not open with a comment that says what it is.
CHECK_TITLE = "the text's claims, asserted on this run"


def check_title(source: str) -> str:
    """A one-line title for a hidden check: its opening comment, else ``CHECK_TITLE``."""
    first = source.strip().splitlines()[0] if source.strip() else ""
    words = first.lstrip("#").strip() if first.startswith("#") else ""
    words = re.sub(r"[{}]", "", words).rstrip(":")  # Colab reads {...} after a title as options
    if len(words) > 90:
        words = words[:90].rsplit(" ", 1)[0] + " …"
    return f"Check: {words or CHECK_TITLE}"


def collapse_check(cell: nbformat.NotebookNode) -> None:
    """Fold a cell the book hides: Colab shows its #@title as a form, Jupyter hides its input."""
    cell.source = f"#@title {check_title(cell.source)}\n{cell.source}"
    cell.metadata["cellView"] = "form"
    cell.metadata["jupyter"] = {"source_hidden": True}


def _cell_lines(text: str, sources: list[str]) -> list[int | None]:
    """The 1-based line of the .md where each markdown cell starts (None if not found)."""
    lines, pos = [], 0
    for source in sources:
        at = text.find(source, pos) if source else -1
        lines.append(text.count("\n", 0, at) + 1 if at >= 0 else None)
        pos = at + len(source) if at >= 0 else pos
    return lines


def _cell_id(i: int, source: str) -> str:
    # nbformat draws random cell ids; derive them from the cell so output is stable.
    return hashlib.sha1(f"{i}:{source}".encode()).hexdigest()[:8]


def expected_ipynb(md: Path, edition: i18n.ChineseEdition | None = None) -> str:
    """The notebook of chapter ``md``; with ``edition``, its translation (bookfactory/i18n.py)."""
    text = md.read_text()
    nb = jupytext.reads(text, fmt="md:myst")
    for cell in nb.cells if edition else []:
        if cell.cell_type == "markdown":
            cell.source = edition.markdown(cell.source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source.strip() != SETUP_MARKER:
        raise SystemExit(f"{md.name}: the first code cell must be exactly the setup marker\n"
                         f"  {SETUP_MARKER}\n(tagged remove-cell; see bookfactory.sync_notebooks)")
    code[0].source = edition.setup(setup_cell()) if edition else setup_cell()
    for cell in code[1:]:
        if "remove-cell" in cell.metadata.get("tags", []):
            collapse_check(cell)
    ctx = myst_markdown.Context(source=md, bib=myst_markdown.load_bibliography())
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    myst_markdown.scan([c.source for c in markdown], ctx)
    for cell, line in zip(markdown, _cell_lines(text, [c.source for c in markdown])):
        ctx.cell_line = line
        cell.source = myst_markdown.convert(cell.source, ctx)
    references = myst_markdown.references_cell(ctx)
    if references:
        nb.cells.append(nbformat.v4.new_markdown_cell(references))
    for i, cell in enumerate(nb.cells):
        cell.source = edition.finish(cell.source) if edition else cell.source
        cell.id = _cell_id(i, cell.source)
    # No jupytext pairing in the notebook: jupytext --sync (or Jupyter saving it) must not
    # write this generated text back into the .md.
    nb.metadata.pop("jupytext", None)
    return jupytext.writes(nb, fmt="ipynb")


def edited_cells(ipynb: Path) -> list[int]:
    """Numbers (1-based) of the cells of a generated notebook that were changed, added or moved
    by hand: their id is no longer the one derived from their place and source."""
    cells = json.loads(ipynb.read_text()).get("cells", [])
    return [i + 1 for i, c in enumerate(cells)
            if c.get("id") != _cell_id(i, "".join(c.get("source", "")))]


def editions() -> list[tuple[Path, i18n.ChineseEdition | None]]:
    """Every notebook to generate: each chapter's, then its Chinese edition's (chapters/zh_CN/)."""
    chapters = [(md, None) for md in sorted(CHAPTERS.glob("*.md"))]
    return chapters + [(md, i18n.ChineseEdition(md)) for md, _ in chapters]


def main(argv: list[str]) -> int:
    check, force = "--check" in argv, "--force" in argv
    stale, refused = [], []
    for md, edition in editions():
        target = edition.target if edition else md.with_suffix(".ipynb")
        text = expected_ipynb(md, edition)
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target)
        edited = edited_cells(target) if target.exists() else []
        if edited and not force:
            refused.append((target, md, edited))
        elif not check:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
    for target, md, edited in refused:
        print(f"{target.name}: cell(s) {', '.join(map(str, edited[:10]))} were edited in the "
              f"notebook itself, which is generated from {md.name}; regenerating would lose the "
              f"edits. Make them in {md.name} (it opens in Jupyter as a notebook too), then run "
              "python -m bookfactory notebooks again; --force overwrites the notebook anyway.")
    if check and stale:
        print("out of sync with their .md (run: python -m bookfactory notebooks):")
        print("\n".join(f"  {p}" for p in stale))
        return 1
    if not check:
        print(f"regenerated {len(stale) - len(refused)} notebook(s)")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
