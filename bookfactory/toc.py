"""The book's table of contents, ``_toc.yml``, read in one place.

Every program that needs the book's pages or chapters in reading order asks here,
so the format is parsed once. The reader needs no YAML library (``bookfactory/gpu_check.py``
runs on a GPU machine's bare ``python3``): jupyter-book's ``jb-book`` format names each
page on its own line, as ``root: PATH`` or ``- file: PATH``, in reading order, and that
is all it reads. ``tests/test_toc.py`` checks it against a YAML parse of the real file.
"""
from __future__ import annotations

import re
from pathlib import Path

__all__ = ["TOC", "chapters", "pages"]

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
_ENTRY = re.compile(r"^\s*(?:-\s+)?(root|file):\s*(\S+?)\s*(?:#.*)?$")


def pages(toc: Path = TOC) -> list[str]:
    """Every page of the book, root first, as written there (``book/intro``, ``chapters/data``)."""
    found = [m.group(2) for line in Path(toc).read_text().splitlines()
             if (m := _ENTRY.match(line))]
    if not found:
        raise ValueError(f"{toc} names no pages: expected lines 'root: PATH' and '- file: PATH'")
    return [str(Path(p).with_suffix("")) for p in found]


def chapters(toc: Path = TOC) -> list[str]:
    """The chapters (pages under ``chapters/``) in reading order, by name: ``data``, ``lenet``..."""
    return [p.split("/", 1)[1] for p in pages(toc) if p.startswith("chapters/")]
