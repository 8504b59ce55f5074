"""The 简体中文 edition: one source, two languages, kept in step by catalogues.

Every prose message of the book (paragraphs, headings, list items, captions,
admonitions, table cells) is extracted by Sphinx's gettext builder; the
translations live in ``locales/zh_CN/LC_MESSAGES/<page>.po``, one catalogue per
page of ``_toc.yml``. Code is never extracted: it is the same in both languages.

    python tools/i18n.py update     # after changing a page: re-extract, merge into the .po files
    python tools/i18n.py check      # exit 1 naming every empty, fuzzy or missing translation
    python tools/i18n.py build --out _build/x   # the Chinese book only (make book builds both)

``update`` reads the sources without executing anything (a few seconds per
page), so translators can run it freely. ``build`` reuses the English build's
execution cache: the code cells are identical, so no chapter runs again.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = "zh_CN"
LOCALES = ROOT / "locales"
CATALOGUES = LOCALES / LANGUAGE / "LC_MESSAGES"
CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"
LINE_WIDTH = 100

# Per-page catalogues (not one per folder), no location comments or uuids: a .po changes only
# where its page's prose changed, so translators' diffs stay small and reviewable.
GETTEXT_OVERRIDES = {
    "gettext_compact": False,
    "gettext_location": False,
    "gettext_uuid": False,
    "nb_execution_mode": "off",
    "project": "cnncourse",
}

# Inline code, maths and MyST roles: copied into a translation unchanged, never translated.
UNTRANSLATED = re.compile(r"`[^`]*`|\$[^$]*\$|\{[a-z:-]+\}`[^`]*`")


def sphinx_build(out: Path, builder: str, overrides: dict, toc: Path = TOC,
                 doctrees: Path | None = None, warnings_are_errors: bool = False,
                 force_all: bool = False) -> int:
    """Run Sphinx in-process with jupyter-book's configuration plus ``overrides``.

    The jupyter-book CLI cannot override a single Sphinx option (no ``-D``), so this does what
    ``jupyter-book build`` does -- ``_config.yml`` and ``_toc.yml`` turned into Sphinx settings --
    and adds ours on top.
    """
    from jupyter_book.sphinx import build_sphinx

    import yaml

    # sphinx-external-toc's "only_build_toc_files" globs past hidden folders, so a .venv/ in the
    # checkout would be read as pages: exclude hidden folders and the catalogues explicitly.
    excluded = yaml.safe_load(CONFIG.read_text()).get("exclude_patterns", [])
    confoverrides = {"external_toc_path": toc.as_posix(), "latex_individualpages": False,
                     "exclude_patterns": [*excluded, ".*", "locales"], **overrides}
    result = build_sphinx(ROOT, out, noconfig=True, path_config=str(CONFIG),
                          confoverrides=confoverrides, builder=builder, doctreedir=doctrees,
                          warningiserror=warnings_are_errors, keep_going=warnings_are_errors,
                          force_all=force_all, quiet=True)
    if isinstance(result, Exception):
        raise result
    return int(result or 0)


def nothing_to_translate(msgid: str) -> bool:
    """True when a message holds no words once code, maths and roles are taken out."""
    return not re.search(r"[A-Za-z]{2}", UNTRANSLATED.sub("", msgid))


def copy_untranslatable(po_path: Path) -> int:
    """Fill the empty translations of messages such as "`lenet`" or "3×3" with the message.

    Also clears the "fuzzy" mark that sphinx-intl leaves on a new catalogue's header, so that
    ``msgfmt -c`` and the checks see only the messages' own marks. Written with babel, as
    sphinx-intl writes, so the two never re-wrap each other's lines.
    """
    from sphinx_intl import catalog

    cat = catalog.load_po(str(po_path))
    filled = [m for m in cat if m.id and not m.string and nothing_to_translate(m.id)]
    for message in filled:
        message.string = message.id
    if filled or cat.fuzzy:
        cat.fuzzy = False
        catalog.dump_po(str(po_path), cat, width=LINE_WIDTH)
    return len(filled)


def update(out: Path) -> int:
    """Extract the messages of every page and merge them into the catalogues."""
    from sphinx_intl import basic

    pot = out / "gettext"
    if pot.exists():
        shutil.rmtree(pot)  # a page removed from the book must not leave its template behind
    rc = sphinx_build(pot, "gettext", GETTEXT_OVERRIDES, doctrees=out / ".doctrees-gettext",
                      force_all=True)
    if rc:
        return rc
    CATALOGUES.mkdir(parents=True, exist_ok=True)
    basic.update(str(LOCALES), str(pot), (LANGUAGE,), line_width=LINE_WIDTH, ignore_obsolete=False)
    copied = sum(copy_untranslatable(po) for po in sorted(CATALOGUES.rglob("*.po")))
    if copied:
        print(f"{copied} message(s) with nothing to translate (code, maths, numbers) copied")
    print(f"catalogues: {CATALOGUES.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_update = sub.add_parser("update", help="re-extract messages and merge them into the .po files")
    p_update.add_argument("--out", default="_build", help="folder for the templates (default: _build)")
    args = parser.parse_args(argv)
    if args.command == "update":
        return update(ROOT / args.out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
