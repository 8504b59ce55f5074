"""bookfactory: what builds, checks and records the book, apart from what a learner imports.

``cnncourse`` is the library the chapters and learners call (on Colab with nothing
else); this package is the maintainers' side: where recorded results came from
(``provenance``), which pages the book has (``toc``), and one command that runs every
tool of the repository (``python -m bookfactory --help``). The learner's package never
imports from here.

The tools themselves still live where they were written (``tools/``, ``scripts/``,
``benchmarks/``); ``python -m bookfactory NAME`` runs them, and CONTRIBUTING.md says which
of them move here next.
"""
__all__: list[str] = []
