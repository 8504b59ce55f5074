"""bookfactory: what builds, checks and records the book, apart from what a learner imports.

``cnncourse`` is the library the chapters and learners call (on Colab with nothing
else); this package is the maintainers' side, run from a checkout with one command,
``python -m bookfactory COMMAND`` (``--help`` lists them): the book build (``build_book``,
with its Sphinx extensions ``lang_switch`` and ``kernel_ipc``), the notebooks
(``sync_notebooks``, ``myst_markdown``), the 简体中文 edition (``i18n``, ``myst_translate``),
the claims survey (``claims``), the speed page (``make_speed_page``) and the GPU check
(``gpu_check``). What they share: the one reader of ``_toc.yml`` (``toc``), the one way to
execute a chapter outside the book (``execute``) and where a result came from
(``provenance``). The learner's package never imports from here.
"""
__all__: list[str] = []
