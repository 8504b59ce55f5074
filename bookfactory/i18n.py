"""The 简体中文 edition: one source, two languages, kept in step by catalogues.

Every prose message of the book (paragraphs, headings, list items, captions,
admonitions, table cells) is extracted by Sphinx's gettext builder; the
translations live in ``locales/zh_CN/LC_MESSAGES/<page>.po``, one catalogue per
page of ``_toc.yml``. Code is never extracted: it is the same in both languages.

    python -m bookfactory i18n update  # after changing a page: re-extract, merge into the .po files
    python -m bookfactory i18n check   # exit 1 naming every message without a sound translation
    python -m bookfactory i18n build --out _build/x  # the Chinese book only (make book: both)

``update`` reads the sources without executing anything (a few seconds per
page), so translators can run it freely. ``build`` reuses the English build's
execution cache: the code cells are identical, so no chapter runs again.

What ``check`` asks of a translation (``build`` runs it first and refuses to publish on a
problem): every message of the page has an entry; no entry is empty or fuzzy; code, maths,
roles and link targets are copied unchanged; emphasis (``**``, ``*``), ``$``, roles and links
open and close as often as in the English; a msgstr equal to its English is a mistake unless
a translator comment says it is meant (``# same in Chinese: a package's name``); and the key
terms use the glossary's word. The catalogues are written as ``msgfmt -c`` accepts them, with
no obsolete ``#~`` entries and each fuzzy entry's old English kept as ``#| msgid``.
"""
from __future__ import annotations

import argparse
import functools
import re
import shutil
import sys
from pathlib import Path

if __package__:
    from .myst_translate import Translator, load_messages
else:  # run as a script, python bookfactory/i18n.py: this folder is on sys.path
    from myst_translate import Translator, load_messages

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


# Words in display maths that are prose: \text{or}, \text{max:}, \text{(renaming ...)}; not a
# subscript's or superscript's label (K_{\text{true}}, n_\text{in}).
MATHS_WORDS = re.compile(r"(?<![_^])(?<![_^]\{)\\text\{([^{}]*[A-Za-z]{2}[^{}]*)\}")
# Units after a number ("614 MiB"): the same in Chinese.
UNITS = re.compile(r"(?<=\d)[ \u00a0]?(?:[KMGT]i?B|[KMG]?Hz|ms|µs|ns|s|min|h|px)\b")


def is_display_maths(msgid: str) -> bool:
    """Display maths is the one kind of message that keeps its line breaks; a one-line
    equation starts with a LaTeX command."""
    return "\n" in msgid or msgid.lstrip().startswith("\\")


def nothing_to_translate(msgid: str) -> bool:
    """True for messages that hold no words ("d2l's" is one) once code, maths, roles and units
    are taken out,
    and for display maths unless it has prose words in ``\text{...}``."""
    if is_display_maths(msgid):
        return not MATHS_WORDS.search(msgid)
    return not re.search(r"[A-Za-z]'?[A-Za-z]", UNITS.sub("", UNTRANSLATED.sub("", msgid)))


def copy_untranslatable(po_path: Path) -> int:
    """Fill the empty translations of messages such as "`lenet`" or "3×3" with the message.

    Also clears the "fuzzy" mark that sphinx-intl leaves on a new catalogue's header, so that
    ``msgfmt -c`` and the checks see only the messages' own marks.
    """
    cat = read_catalogue(po_path)
    filled = [m for m in cat if m.id and not m.string and nothing_to_translate(m.id)]
    for message in filled:
        message.string = message.id
    write_catalogue(po_path, cat)
    return len(filled)


# Flags babel adds by itself to any message with a "%" or "{...}" in it: no message of the
# book is a format string, and "21 % of" translated as "21% 花" then fails ``msgfmt -c``.
NOT_FORMATS = ("python-format", "python-brace-format")
# Characters a reader cannot see but a search, a copy or a screen reader trips over: zero-width
# spaces and joiners, word joiner, soft hyphen, byte-order mark.
INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# "快 1.6 倍" / "慢了 11 倍" is read both as "1.6 times the speed" and as "2.6 times": say
# "速度是……的 1.6 倍" or "只有……的十一分之一" instead.
AMBIGUOUS_TIMES = re.compile(r"(?:快|慢|领先|落后)了?\s*"
                             r"(?:[\d.,]+|[一二两三四五六七八九十百千几好]+)\s*倍")
# A translator comment that says a translation equal to its English is meant (a name, a unit).
IDENTICAL_MARK = "same in Chinese"


def write_catalogue(po_path: Path, cat) -> None:
    """Write a catalogue as the standard gettext tools expect it: no obsolete ``#~`` entries,
    no format flags, ``#| msgid`` (the English before it changed) on each fuzzy entry only,
    a header without fuzzy mark or template placeholders. One writer for every change, so
    lines are wrapped the same way each time and diffs show only what changed: what
    :func:`read_catalogue` reads back, this writes again byte for byte.

    Babel (2.19) writes a long previous msgid as a wrapped comment (``#| msgid "" "The
    loss ...`` broken mid-string), which its own reader then takes for a translator comment
    and msgfmt for garbage; so the ``#|`` lines are written here, as msgmerge writes them."""
    import io

    from babel.messages import pofile

    cat.fuzzy = False
    cat.obsolete.clear()
    if not cat.last_translator or "FULL NAME" in cat.last_translator:
        cat.last_translator = "cnncourse translators"
    if not isinstance(cat.revision_date, __import__("datetime").datetime):
        cat.revision_date = cat.creation_date
    messages = list(cat)
    for m in messages:
        for flag in NOT_FORMATS:
            m.flags.discard(flag)
        if "fuzzy" not in m.flags:
            m.previous_id = []
    buffer = io.BytesIO()
    pofile.write_po(buffer, cat, width=LINE_WIDTH, include_previous=False, ignore_obsolete=True)
    blocks = buffer.getvalue().decode(cat.charset or "utf-8").split("\n\n")
    if len(blocks) < len(messages):
        raise RuntimeError(f"{po_path}: {len(messages)} messages, but babel wrote "
                           f"{len(blocks)} entries")
    for i, m in enumerate(messages):
        if m.previous_id and m.id:
            blocks[i] = _with_previous(blocks[i], m.previous_id)
    po_path.parent.mkdir(parents=True, exist_ok=True)
    po_path.write_bytes("\n\n".join(blocks).encode(cat.charset or "utf-8"))


# A fuzzy entry's previous English, as msgmerge writes it: "#| msgid ..." then "#| ..." lines.
PREVIOUS = "#|"


def _with_previous(block: str, previous_id) -> str:
    """An entry (as babel wrote it) with ``#| msgid`` lines just before its msgctxt/msgid."""
    from babel.messages.pofile import normalize

    ids = [previous_id] if isinstance(previous_id, str) else list(previous_id)
    lines = []
    for keyword, text in zip(("msgid", "msgid_plural"), ids):
        quoted = normalize(text, width=LINE_WIDTH - len(PREVIOUS) - 1).split("\n")
        lines += [f"{PREVIOUS} {keyword} {quoted[0]}"] + [f"{PREVIOUS} {q}" for q in quoted[1:]]
    entry = block.split("\n")
    at = next(i for i, line in enumerate(entry) if line.startswith(("msgctxt ", "msgid ")))
    return "\n".join(entry[:at] + lines + entry[at:])


def read_catalogue(po_path: Path):
    """A catalogue as babel reads it, plus each fuzzy entry's ``#| msgid`` (babel 2.19 reads
    those lines as translator comments "| msgid ...": they would be written back as
    "# | msgid ..." comments and the old English lost)."""
    from babel.messages.pofile import denormalize
    from sphinx_intl import catalog

    cat = catalog.load_po(str(po_path))
    for m in cat:
        previous = [c[1:].strip() for c in m.user_comments if c.startswith("|")]
        if not previous:
            continue
        m.user_comments = [c for c in m.user_comments if not c.startswith("|")]
        ids: list[list[str]] = []
        for line in previous:
            keyword, _, rest = line.partition(" ")
            if keyword in ("msgid", "msgid_plural"):
                ids.append([rest])
            elif ids:
                ids[-1].append(line)
        m.previous_id = [denormalize("\n".join(parts)) for parts in ids]
    return cat


# What a translation must carry over unchanged: roles with their target, inline code, maths,
# link targets.
KEPT_MARKUP = re.compile(r"\{[a-z:-]+\}`[^`]*`|``[^`]+``|`[^`]+`|\$\$.+?\$\$|\$[^$]+\$"
                         r"|\]\([^)\s]+\)", re.S)
_CODE = re.compile(r"``[^`]+``|`[^`]*`")
_INLINE_MATHS = re.compile(r"\$[^$]*\$")


def kept_markup(text: str) -> list[str]:
    """The pieces of a message that its translation must contain, sorted."""
    return sorted(m.group(0) for m in KEPT_MARKUP.finditer(text))


def markup_counts(text: str) -> dict[str, int]:
    """How many of each markup delimiter a message has outside inline code (and, for
    emphasis, outside maths, where ``*`` is an operator). A translation must have as many:
    one ``**`` or ``$`` too few or too many turns the rest of the paragraph bold or into maths,
    and a lost ``{role}`` or ``[link](...)`` shows its raw text."""
    plain = _CODE.sub("", text)
    words = _INLINE_MATHS.sub("", plain) if "\n" not in text else ""  # display maths: no emphasis
    return {
        "**": words.count("**"),
        "*": len(re.findall(r"(?<!\*)\*(?!\*)", words)),
        "$": plain.count("$"),
        "{role}": len(re.findall(r"\{[a-z:-]+\}`", text)),
        "[link](...)": len(re.findall(r"\]\(", plain)),
    }


def markup_problem(english: str, chinese: str) -> str:
    """Why ``chinese`` does not keep the markup of ``english`` ('' when it does).

    One exception: an italic title (*Dive into Deep Learning*) may become a Chinese title in
    book-title marks (《动手学深度学习》), the Chinese convention for titles."""
    en, zh = markup_counts(english), markup_counts(chinese)
    titles = chinese.count("《") - english.count("《")
    if zh["*"] < en["*"] and zh["*"] % 2 == 0 and (en["*"] - zh["*"]) // 2 <= titles:
        zh["*"] = en["*"]
    differ = [f"{k} {en[k]} in the English, {zh[k]} here" for k in en if en[k] != zh[k]]
    return "; ".join(differ)


def marked_identical(message) -> bool:
    """The translator said that this message's Chinese is its English (a translator comment
    ``# same in Chinese: why``)."""
    return any(c.strip().lower().startswith(IDENTICAL_MARK.lower()) for c in message.user_comments)


def _name(po_path: Path) -> str:
    """How the problems name a catalogue: its path under LC_MESSAGES (or under locales/)."""
    for folder in (CATALOGUES, LOCALES):
        if po_path.is_relative_to(folder):
            return po_path.relative_to(folder).as_posix()
    return po_path.as_posix()


@functools.lru_cache(maxsize=1)
def printed_phrases() -> dict[str, str]:
    """English phrase of a printed line or a table's header or row label (two or more words,
    cnncourse/messages.py) -> what the Chinese edition prints instead: the words the Chinese
    text must quote."""
    import string

    from cnncourse.messages import CATALOGUE, TABLE_CATALOGUE, TABLE_WORDS

    phrases: dict[str, str] = {}
    for english, chinese in TABLE_WORDS.items():  # d2l.Table's headers and row labels
        if english != chinese and len(re.findall(r"[A-Za-z]{2,}", english)) >= 2:
            phrases[english] = chinese
    for message in CATALOGUE + TABLE_CATALOGUE:
        lines_en = message.en.split("\n")
        lines_zh = re.sub(r"\{\w+\}", "…", message.zh).split("\n")
        for i, line in enumerate(lines_en):
            shown = (lines_zh[i] if len(lines_zh) == len(lines_en) else " ".join(lines_zh)).strip()
            for literal, *_ in string.Formatter().parse(line):
                words = literal.strip(" :;,.()")
                if len(re.findall(r"[A-Za-z]{2,}", words)) >= 2:
                    phrases.setdefault(words, shown)
    return phrases


def quoted_output_problems(english: str, chinese: str) -> list[str]:
    """A translation that quotes a printed line's English ("test acc by epoch"), which the
    Chinese edition prints in Chinese: the reader looks for words that are not there."""
    problems = []
    for quoted in re.findall(r"“([^”]+)”", chinese):
        found = sorted((p for p in printed_phrases() if p in quoted), key=len)
        if found:
            problems.append(f"quotes the printed {quoted!r}, which the Chinese edition prints "
                            f"as {printed_phrases()[found[-1]]!r}")
    return problems


def catalogue_problems(po_path: Path) -> list[str]:
    """Every reason this catalogue is not a complete, faithful translation of its page."""
    name = _name(po_path)
    text = po_path.read_text(encoding="utf-8")
    fix = "python -m bookfactory i18n update writes the catalogue without them"
    problems = [f"{name}: {what} ({fix})"
                for what, found in (
                    ("obsolete '#~' entries", re.search(r"^#~", text, re.M)),
                    ("format flags, which make msgfmt -c check the translation's '%' as a format",
                     re.search(r"^#,.*python-(?:brace-)?format", text, re.M)))
                if found]
    for m in read_catalogue(po_path):
        if not m.id:
            continue
        where = f"{name}: {m.id[:70]!r}"
        if "fuzzy" in m.flags:
            problems.append(f"{where}: fuzzy (the English changed: check the translation, "
                            "then delete the '#, fuzzy' line)")
        elif not m.string:
            problems.append(f"{where}: not translated")
        elif kept_markup(m.id) != kept_markup(m.string):
            missing = sorted(set(kept_markup(m.id)) - set(kept_markup(m.string)))
            extra = sorted(set(kept_markup(m.string)) - set(kept_markup(m.id)))
            problems.append(f"{where}: code, maths or roles changed (missing {missing}, "
                            f"not in the English {extra}); copy them unchanged")
        elif markup_problem(m.id, m.string):
            problems.append(f"{where}: markup unbalanced ({markup_problem(m.id, m.string)}); "
                            "every emphasis, maths, role and link of the English must open and "
                            "close in the translation too")
        elif INVISIBLE.search(m.string):
            char = INVISIBLE.search(m.string)[0]
            problems.append(f"{where}: invisible characters (U+{ord(char):04X}"
                            ") in the translation; delete them (a line break is the "
                            "stylesheet's business)")
        elif quoted_output_problems(m.id, m.string):
            problems.append(f"{where}: " + "; ".join(quoted_output_problems(m.id, m.string)))
        elif AMBIGUOUS_TIMES.search(m.string):
            problems.append(f"{where}: '{AMBIGUOUS_TIMES.search(m.string)[0]}' is ambiguous (the "
                            "speed, or the speed plus that much?); write '速度是……的 N 倍' or "
                            "'速度只有……的 N 分之一'")
        elif m.string == m.id and not nothing_to_translate(m.id) and not marked_identical(m):
            problems.append(f"{where}: the translation is the English; translate it, or if "
                            f"it is meant to be the same, add the line '# {IDENTICAL_MARK}: "
                            "<why>' above its msgid")
    return problems


def page_titles() -> dict[str, str]:
    """English title of each page of the book -> its Chinese (each catalogue's first entry)."""
    from sphinx_intl import catalog

    titles = {}
    for page in pages():
        po = CATALOGUES / f"{page}.po"
        first = next((m for m in catalog.load_po(str(po)) if m.id), None) if po.exists() else None
        if first is not None and first.string:
            titles[first.id.rstrip("?")] = first.string
    return titles


def citation_problems(po_path: Path) -> list[str]:
    """Translations that cite a page of the book by its English title: the reader of the
    Chinese book sees that page under its Chinese title."""
    from sphinx_intl import catalog

    titles = {en: zh for en, zh in page_titles().items() if len(en.split()) >= 3}
    return [f"{_name(po_path)}: {m.id[:60]!r}: cites {en!r} in English; its Chinese title is "
            f"{zh!r}" for m in catalog.load_po(str(po_path))
            if m.id and isinstance(m.string, str) and m.string != m.id
            for en, zh in titles.items() if en in m.string]


def entry_problems(page: str, template: Path) -> list[str]:
    """Messages of the page (its extracted template) with no entry in its catalogue, and
    entries whose message the page no longer has: both mean the catalogue is out of step."""
    from sphinx_intl import catalog

    po = CATALOGUES / f"{page}.po"
    if not po.exists():
        return [f"{po.relative_to(ROOT)}: missing (run: python -m bookfactory i18n update)"]
    source = [m.id for m in catalog.load_po(str(template)) if m.id]
    entries = {m.id for m in catalog.load_po(str(po)) if m.id}
    name = po.relative_to(CATALOGUES).as_posix()
    return ([f"{name}: {i[:70]!r}: no entry (the page has this message; run: python -m "
             "bookfactory i18n update, then translate it)" for i in source if i not in entries]
            + [f"{name}: {i[:70]!r}: not on the page any more (run: python -m bookfactory i18n "
               "update)" for i in sorted(entries - set(source))])


# ----------------------------------------------------------------------------- glossary
GLOSSARY_FILE = ROOT / "book" / "zh_CN" / "glossary.md"
# Terms every catalogue must translate with the glossary's word (at least the stem given here,
# which the glossary's term contains) and never with the words listed (d2l-zh's, or other usual
# ones): the terms a reader meets on every page.
CHECKED_TERMS = {
    "pooling": ("池化", ["汇聚"]),
    "stride": ("步幅", ["步长"]),
    "padding": ("填充", []),
    "channel": ("通道", []),
    "fully connected": ("全连接", []),
    "cross-entropy": ("交叉熵", []),
    "dropout": ("丢弃", ["暂退"]),
    "batch normalisation": ("批量归一化", ["规范化"]),
    "epoch": ("轮", ["周期", "时期"]),
    # Fashion-MNIST's classes as cnncourse.messages prints them
    "t-shirt": ("T恤", ["T 恤"]),
    "pullover": ("套衫", ["套头衫"]),
    # words a native reader found translated two or three ways (issue 27)
    "shortcut": ("残差连接", ["捷径"]),
    "block": ("块", ["模块"]),
    "linear layer": ("全连接层", ["Linear 层", "线性层"]),
    "published settings": ("公布的设置", ["发表的设置", "论文", "原文设置"]),
    "recipe": ("方案", ["配方"]),
    "verdict line": ("结论行", ["判断行"]),
    "sanity test": ("检验", ["测试"]),
    "notebook": ("Jupyter 笔记本", []),
    "laptop": ("笔记本电脑", []),
}
# An avoided word that is right where the English has its own sense too: "module" is 模块.
AVOID_UNLESS = {"模块": re.compile(r"\bmodules?\b", re.I)}


def glossary() -> dict[str, tuple[str, str]]:
    """English term (each of a row's variants) -> (Chinese, d2l-zh's term or '')."""
    terms: dict[str, tuple[str, str]] = {}
    for line in GLOSSARY_FILE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("英文", "---"):
            continue
        for english in cells[0].split(", "):
            english = re.sub(r"\s*\(.*\)$", "", english)  # "... (CNN)": the words only
            if english in terms:
                raise ValueError(f"{GLOSSARY_FILE.name}: {english!r} is listed twice")
            terms[english] = (cells[1], cells[2])
    return terms


def _english_term(term: str) -> re.Pattern:
    words = re.escape(term).replace("is", "i[sz]").replace(r"\ ", r"[\s-]")
    return re.compile(rf"\b{words}s?\b", re.I)


def term_problems(po_path: Path) -> list[str]:
    """Messages that translate a checked glossary term with another word."""
    terms = glossary()
    name = _name(po_path)
    problems = []
    for m in read_catalogue(po_path):
        if not m.id or not m.string or "fuzzy" in m.flags:
            continue
        english = UNTRANSLATED.sub("", m.id)
        chinese = UNTRANSLATED.sub("", m.string)
        for term, (stem, avoid) in CHECKED_TERMS.items():
            variants = [t for t, (zh, _) in terms.items() if zh == terms[term][0]]
            if not any(_english_term(t).search(english) for t in variants):
                continue
            wrong = [w for w in [terms[term][1], *avoid] if w and w in chinese
                     and not (w in AVOID_UNLESS and AVOID_UNLESS[w].search(english))]
            if stem not in chinese or wrong:
                problems.append(f"{name}: {m.id[:60]!r}: '{term}' is {terms[term][0]} (glossary)"
                                + (f", not {'/'.join(wrong)}" if wrong else ""))
    return problems


def pages() -> list[str]:
    """Every page of the English book, from ``_toc.yml`` (root first): the one TOC reader's."""
    from bookfactory.toc import pages as toc_pages

    return toc_pages(TOC)


@functools.lru_cache(maxsize=1)
def templates() -> Path:
    """The pages' messages as extracted now (once per process, into a temporary folder)."""
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cnncourse-i18n-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return extract(folder)


def check(only: list[str] | None = None, sources: bool = True) -> list[str]:
    """Problems of every catalogue (or of the ``only`` ones): no entry for a message of the
    page, empty, fuzzy, identical to the English, markup changed or unbalanced, another word
    than the glossary's. ``sources=False`` skips extracting the pages' messages (the entry
    check), for catalogues that are not the book's."""
    problems = []
    wanted = [CATALOGUES / f"{page}.po" for page in pages()]
    if only:
        wanted = [Path(p).resolve() for p in only]
    for po in wanted:
        page = po.relative_to(CATALOGUES).with_suffix("").as_posix() \
            if po.is_relative_to(CATALOGUES) else None
        if sources and page in pages():
            problems += entry_problems(page, templates() / f"{page}.pot")
        if not po.exists():
            if page not in pages():
                problems.append(f"{po}: missing")
            continue
        problems += catalogue_problems(po) + term_problems(po) + citation_problems(po)
    if not only:
        problems += title_problems()
    return problems


# The Chinese book's own settings; everything else comes from _config.yml.
ZH_TITLE = "cnncourse：可执行的卷积神经网络课程"
ZH_FOOTER = ("本书每一页上的结果，都是构建本书时由同一页上的代码计算出来的；"
             "引用的已发表图表和记录下来的运行除外，后者注明了在什么机器上、何时、如何运行。")
GLOSSARY = "book/zh_CN/glossary"


def chinese_toc(folder: Path) -> Path:
    """``_toc.yml`` plus the glossary at the end of the last part (the appendix)."""
    import yaml

    toc = yaml.safe_load(TOC.read_text())
    last = toc["parts"][-1] if "parts" in toc else toc
    last.setdefault("chapters", []).append({"file": GLOSSARY})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "_toc.yml"
    path.write_text(yaml.safe_dump(toc, allow_unicode=True, sort_keys=False))
    return path


def private_locales(folder: Path) -> Path:
    """The catalogues, copied for one build: Sphinx compiles .mo files beside the .po files,
    and those belong to the build, not to the source tree. Only changed .po files are copied
    (times kept), so Sphinx re-reads only the pages whose translation changed."""
    target = folder / "locales"
    wanted = {p.relative_to(LOCALES) for p in LOCALES.rglob("*.po")}
    for old in target.rglob("*.po") if target.exists() else []:
        if old.relative_to(target) not in wanted:
            old.unlink()
    for rel in wanted:
        dest = target / rel
        if not dest.exists() or dest.read_bytes() != (LOCALES / rel).read_bytes():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(LOCALES / rel, dest)
    return target


def build(out: Path, execute: bool = True, force_all: bool = False,
          warnings_are_errors: bool = True, checked: bool = True) -> int:
    """Build the Chinese book into ``out/_build/html/zh_CN`` beside the English one.

    First the catalogues are checked (:func:`check`): a message without an entry, an
    unbalanced ``**`` or ``$``, or an English msgstr would otherwise be published as it is,
    and Sphinx warns about none of them. ``checked=False`` (``--no-check``) is for a look at
    a translation in progress; the book build (bookfactory/build_book.py) never passes it.

    ``out/_build/.jupyter_cache`` is the English build's execution cache: the code cells are
    the same, so every chapter's outputs come from there and nothing runs a second time (a
    chapter missing from the cache would run, as in the English build). ``execute=False``
    shows pages without outputs, for a quick look at a translation.
    """
    if checked:
        problems = check()
        if problems:
            print("\n".join(problems) + f"\n{len(problems)} problem(s) in the catalogues: the "
                  "Chinese book is not built (python -m bookfactory i18n check)", file=sys.stderr)
            return 1
    build_dir = out / "_build"
    work = build_dir / ".zh_CN"
    cache = build_dir / ".jupyter_cache"
    before = executed_notebooks(cache)
    overrides = {
        "language": LANGUAGE,
        "locale_dirs": [str(private_locales(work))],
        "gettext_compact": False,  # one catalogue per page, as extracted
        "nb_execution_cache_path": str(cache),
        "nitpicky": True,  # as the English build (jupyter-book build -n)
        "html_title": ZH_TITLE,
        "html_theme_options": {"extra_footer": ZH_FOOTER},
    }
    if not execute:
        overrides["nb_execution_mode"] = "off"
    rc = sphinx_build(build_dir / "html" / LANGUAGE, "html", overrides, toc=chinese_toc(work),
                      doctrees=build_dir / f".doctrees-{LANGUAGE}",
                      warnings_are_errors=warnings_are_errors, force_all=force_all)
    again = executed_notebooks(cache) - before
    if execute and again:
        print(f"the execution cache lacked {len(again)} chapter(s), executed for the Chinese "
              f"book: {', '.join(sorted(again))} (build the English book first)")
    return rc


def executed_notebooks(cache: Path) -> set[str]:
    """(source, cache key) of every notebook in a jupyter-cache folder."""
    if not cache.exists():
        return set()
    from jupyter_cache import get_cache

    records = get_cache(str(cache)).list_cache_records()
    return {f"{Path(r.uri).name}@{r.hashkey[:8]}" for r in records}


# ------------------------------------------------------------------ the Chinese notebooks
NOTEBOOK_FOLDER = "zh_CN"  # chapters/zh_CN/NAME.ipynb, beside chapters/NAME.ipynb

# Around the English setup cell (identical code): from chapters/zh_CN/ in a clone, go up to
# chapters/ so that every relative path of the chapter means what it means in English; then
# print the run's sentences in Chinese (cnncourse/messages.py).
SETUP_BEFORE = """\
# 简体中文版。在仓库的克隆中运行时先回到 chapters/ 目录，相对路径与英文版相同。
import os
if os.path.basename(os.getcwd()) == "zh_CN" and os.path.isdir("../../cnncourse"):
    os.chdir("..")
"""
SETUP_AFTER = """
# 本章运行时打印的结果（训练过程、结论句）显示为中文
from cnncourse.messages import install
install("zh_CN")"""

# What bookfactory/myst_markdown.py writes in English around the translated text.
NOTEBOOK_WORDS = [
    (re.compile(r"^## References$", re.M), "## 参考文献"),
    (re.compile(r"\*\*Fig\. (\d+)\.\*\*"), r"**图 \1**"),
    (re.compile(r"\[Fig\. (\d+)\]\(#"), r"[图 \1](#"),
    (re.compile(r"^#@title Check: the text's claims, asserted on this run$", re.M),
     "#@title 检查：正文的结论，在这次运行上断言"),
    (re.compile(r"^#@title Check: ", re.M), "#@title 检查："),
]


# The titles of the notebooks' hidden check cells (``#@title Check: ...``, the opening comment of
# the check's code, bookfactory.sync_notebooks): words in code, so Sphinx never extracts them. They
# have a catalogue of their own, outside LC_MESSAGES, where the book's build does not look.
TITLES = LOCALES / LANGUAGE / "notebook-titles.po"
TITLE_LINE = re.compile(r"^#@title Check: (?P<words>.+)$", re.M)


def check_titles() -> dict[str, list[str]]:
    """The titles the chapters' hidden checks get, by title: the chapters that use it."""
    import jupytext

    if __package__:
        from .sync_notebooks import CHECK_TITLE, check_title
    else:
        from sync_notebooks import CHECK_TITLE, check_title
    found: dict[str, list[str]] = {}
    for md in sorted((ROOT / "chapters").glob("*.md")):
        code = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
        for cell in code[1:]:  # the first is the setup cell, which is replaced
            if "remove-cell" in cell.metadata.get("tags", []):
                words = check_title(cell.source).removeprefix("Check: ")
                if words != CHECK_TITLE:
                    found.setdefault(words, []).append(md.stem)
    return found


def titles_template():
    """The check titles as a gettext template, each with the chapters it is in."""
    from babel.messages.catalog import Catalog

    template = Catalog(project="cnncourse")
    for words, chapters in check_titles().items():
        template.add(words, auto_comments=[f"check title in chapters/{c}.md" for c in chapters])
    return template


def load_titles() -> dict[str, str]:
    """English check title -> its Chinese (translated, not fuzzy)."""
    from sphinx_intl import catalog

    if not TITLES.exists():
        return {}
    return {m.id: m.string for m in catalog.load_po(str(TITLES))
            if m.id and m.string and "fuzzy" not in m.flags}


def title_problems() -> list[str]:
    """The check-title catalogue's problems, as a page's: entries, translations, terms."""
    if not TITLES.exists():
        return [f"{TITLES.relative_to(ROOT)}: missing (run: python -m bookfactory i18n update)"]
    from sphinx_intl import catalog

    entries = {m.id for m in catalog.load_po(str(TITLES)) if m.id}
    name = _name(TITLES)
    wanted = check_titles()
    return ([f"{name}: {t[:70]!r}: no entry (a check cell's title; run: python -m bookfactory i18n "
             "update, then translate it)" for t in wanted if t not in entries]
            + [f"{name}: {t[:70]!r}: no check has this title any more (run: python -m bookfactory "
               "i18n update)" for t in sorted(entries - set(wanted))]
            + catalogue_problems(TITLES) + term_problems(TITLES))


class ChineseEdition:
    """What makes a chapter's Chinese notebook differ from its English one; the hooks
    ``bookfactory/sync_notebooks.py`` calls while it converts the chapter's MyST source.

    The Chinese notebook is made like the English one, from the same source, with each
    markdown cell translated first (bookfactory/myst_translate.py): includes, citations and
    admonitions are then converted exactly as in English, and the code cells are the same.
    """

    def __init__(self, md: Path):
        page = md.resolve().relative_to(ROOT).with_suffix("").as_posix()
        self.target = md.parent / NOTEBOOK_FOLDER / md.with_suffix(".ipynb").name
        self.translate = Translator(load_messages(page))
        self.titles = load_titles()

    def markdown(self, source: str) -> str:
        """A markdown cell's MyST, translated (before the conversion to notebook markdown)."""
        return self.translate(source)

    def setup(self, english: str) -> str:
        return SETUP_BEFORE + english + SETUP_AFTER

    def finish(self, source: str) -> str:
        """A converted cell with the converter's own English words in Chinese, and the title
        of a hidden check from the titles' catalogue."""
        titles = self.titles
        source = TITLE_LINE.sub(lambda m: f"#@title 检查：{titles[m['words']]}"
                                if m["words"] in titles else m[0], source)
        for pattern, words in NOTEBOOK_WORDS:
            source = pattern.sub(words, source)
        return source


def extract(out: Path) -> Path:
    """The pages' messages, as gettext templates in ``out/gettext`` (``PAGE.pot``): Sphinx
    reads the sources without executing anything, a few seconds for the whole book."""
    pot = out / "gettext"
    if pot.exists():
        shutil.rmtree(pot)  # a page removed from the book must not leave its template behind
    rc = sphinx_build(pot, "gettext", GETTEXT_OVERRIDES, doctrees=out / ".doctrees-gettext",
                      force_all=True)
    if rc:
        raise RuntimeError(f"extracting the messages failed (sphinx exit status {rc})")
    return pot


def merge(po_path: Path, pot_path) -> None:
    """Bring one catalogue in step with its page's template, as ``msgmerge`` would: new
    messages empty, a changed message fuzzy with its old English kept as ``#| msgid``,
    translator comments kept, removed messages dropped (git has them)."""
    from babel.messages.catalog import Catalog
    from sphinx_intl import catalog

    template = catalog.load_po(str(pot_path)) if isinstance(pot_path, Path) else pot_path
    if po_path.exists():
        cat = read_catalogue(po_path)
    else:
        cat = Catalog(locale=LANGUAGE, project=template.project,
                      creation_date=template.creation_date)
    # The English a fuzzy translation was made for: babel forgets it when the entry merges
    # unchanged, and on a second change would keep only the intermediate English.
    before = {m.id: list(m.previous_id) for m in cat if m.id and "fuzzy" in m.flags
              and m.previous_id}
    cat.update(template, update_creation_date=False)
    for m in cat:
        if "fuzzy" in m.flags:
            old = m.id if m.id in before else (m.previous_id[0] if m.previous_id else None)
            if old in before:
                m.previous_id = before[old]
    write_catalogue(po_path, cat)


def update(out: Path) -> int:
    """Extract the messages of every page and merge them into the catalogues."""
    pot = extract(out)
    for template in sorted(pot.rglob("*.pot")):
        merge(CATALOGUES / template.relative_to(pot).with_suffix(".po"), template)
    merge(TITLES, titles_template())
    copied = sum(copy_untranslatable(po) for po in sorted(CATALOGUES.rglob("*.po")))
    if copied:
        print(f"{copied} message(s) with nothing to translate (code, maths, numbers) copied")
    print(f"catalogues: {CATALOGUES.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_update = sub.add_parser("update",
                              help="re-extract messages and merge them into the .po files")
    p_update.add_argument("--out", default="_build",
                          help="folder for the templates (default: _build)")
    p_check = sub.add_parser("check", help="name every message without a sound translation")
    p_check.add_argument("po", nargs="*", help="only these .po files (default: every page's)")
    p_build = sub.add_parser("build", help="build the Chinese book (after the English one)")
    p_build.add_argument("--out", default="", help="as bookfactory build --out (default: root)")
    p_build.add_argument("--no-execute", action="store_true",
                         help="pages without outputs: nothing runs, the cache is not needed")
    p_build.add_argument("--all", action="store_true", help="read every page again")
    p_build.add_argument("--no-check", action="store_true",
                         help="build without checking the catalogues first (a translation in "
                              "progress; the book build always checks)")
    args = parser.parse_args(argv)
    if args.command == "build":
        out = ROOT / args.out if args.out else ROOT
        rc = build(out, execute=not args.no_execute, force_all=args.all,
                   checked=not args.no_check)
        if rc == 0:
            print(f"book: {out / '_build' / 'html' / LANGUAGE / 'index.html'}")
        return rc
    if args.command == "update":
        return update(ROOT / args.out)
    if args.command == "check":
        problems = check(args.po)
        print("\n".join(problems) or "every message is translated")
        if problems:
            print(f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
