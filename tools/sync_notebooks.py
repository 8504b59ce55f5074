"""Regenerate each chapter's .ipynb from its MyST .md (the .md is the source).

    python tools/sync_notebooks.py            # rewrite chapters/*.ipynb
    python tools/sync_notebooks.py --check    # exit 1 and name the stale ones

Unlike ``jupytext --sync`` this never looks at file times, so a fresh checkout
cannot overwrite an edit. The notebooks carry no outputs: they are what Colab
opens and what nbval runs.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import jupytext

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


def expected_ipynb(md: Path) -> str:
    nb = jupytext.read(md)
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
