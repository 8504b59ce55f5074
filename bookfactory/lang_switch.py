"""Sphinx extension: every page links to the same page in the book's other language.

The English book lives at ``_build/html/`` and the 简体中文 book at
``_build/html/zh_CN/`` (``bookfactory/i18n.py``); sphinx-book-theme has no language
switcher, so this puts one link at the top of each article: "简体中文" on an
English page, "English" on a Chinese one. In the Chinese book it also points
the Colab launch button at the Chinese notebook (``chapters/zh_CN/NAME.ipynb``,
written by ``bookfactory/sync_notebooks.py``), so a reader who starts Colab from a
Chinese page gets Chinese text around the same code.

It also shows the runs' printed sentences in Chinese on the Chinese pages: the
outputs come from the English build's execution cache, and each one goes through
``cnncourse.messages.translate`` (see that module for why).

Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""
from __future__ import annotations

import re
from html import escape
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

# (folder of the other edition relative to this one's root, link text, its html lang)
OTHER_EDITION = {
    "en": ("zh_CN/", "简体中文", "zh-CN"),
    "zh_CN": ("../", "English", "en"),
}
# Pages that exist in one edition only (the glossary is written for the Chinese book).
ONLY_IN_CHINESE = ("book/zh_CN/",)


def edition(app: Sphinx) -> str:
    return "zh_CN" if (app.config.language or "en").startswith("zh") else "en"


def chinese_notebook(path: str) -> str:
    """``chapters/lenet.ipynb`` -> ``chapters/zh_CN/lenet.ipynb`` (where sync_notebooks
    writes it)."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/zh_CN/{name}" if folder else f"zh_CN/{name}"


def other_language_link(app: Sphinx, pagename: str) -> str:
    """The HTML of the link to ``pagename`` in the other edition ('' where it has none)."""
    if pagename.startswith(ONLY_IN_CHINESE):
        return ""
    folder, text, lang = OTHER_EDITION[edition(app)]
    href = "../" * pagename.count("/") + folder + pagename + ".html"
    return (f'<p class="cnncourse-lang-switch"><a href="{escape(href)}" hreflang="{lang}" '
            f'lang="{lang}">{escape(text)}</a></p>\n')


def point_launch_at_chinese_notebook(buttons: list[dict[str, Any]], pagename: str) -> None:
    """Rewrite the launch buttons' notebook path, in place, to the Chinese notebook."""
    english = f"/{pagename}.ipynb"
    chinese = "/" + chinese_notebook(f"{pagename}.ipynb")
    for button in buttons:
        if isinstance(button.get("url"), str):
            button["url"] = button["url"].replace(english, chinese)
        point_launch_at_chinese_notebook(button.get("buttons", []), pagename)


def add_link(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
             doctree: Any) -> None:
    if doctree is None or "body" not in context:  # search, genindex: no article
        return
    context["body"] = other_language_link(app, pagename) + context["body"]
    if edition(app) == "zh_CN":
        point_launch_at_chinese_notebook(context.get("header_buttons", []), pagename)


# The labels of the buttons that open a hidden cell: myst-nb's defaults ("Show code cell
# {type}", {type} filled in when the page is written) and the chapters' own (cell metadata
# ``code_prompt_show``). The Chinese says what the button shows, without the {type} word.
PROMPT_PARTS = {"tag_hide-cell": "代码和输出", "tag_hide-input": "代码", "tag_hide-output": "输出"}
PROMPTS = [
    (re.compile(r"^(Show|Hide) code cell \{type\}$"), None),
    (re.compile(r"^(Show|Hide) the code and output of solution (\d+)$"), r"答案 \2 的代码和输出"),
]
VERBS = {"Show": "显示", "Hide": "隐藏"}


def chinese_prompt(prompt: str, classes: list[str] = ()) -> str:
    """A hidden cell's button label in Chinese (``prompt`` itself if it is not a known one)."""
    for pattern, what in PROMPTS:
        m = pattern.match(prompt)
        if m:
            if what is None:  # myst-nb's default: what the hidden part is comes from the tags
                what = next((w for tag, w in PROMPT_PARTS.items() if tag in classes), "代码")
                return VERBS[m[1]] + what
            return VERBS[m[1]] + m.expand(what)
    return prompt


def translate_outputs(app: Sphinx, doctree: nodes.document) -> None:
    """Printed results of the (English) run, its tables' captions, headers and row labels, and
    the buttons of hidden cells, in the page's language."""
    if edition(app) != "zh_CN":
        return
    from cnncourse.messages import translate, translate_table_html

    for raw in doctree.findall(nodes.raw):  # d2l.Table's HTML: caption, headers, row labels
        text = raw.astext()
        if "html" in raw.get("format", "") and '<table class="table"' in text:
            chinese = translate_table_html(text, "zh_CN")
            if chinese != text:
                raw.children = [nodes.Text(chinese)]
                raw.rawsource = chinese
    for cell in doctree.findall(nodes.container):
        for key in ("prompt_show", "prompt_hide"):
            if key in cell.attributes:
                cell[key] = chinese_prompt(cell[key], cell.get("classes", []))
    for block in doctree.findall(nodes.literal_block):
        if "output" not in block["classes"]:
            continue
        text = block.astext()
        chinese = translate(text, "zh_CN")
        if chinese != text:
            block.children = [nodes.Text(chinese)]
            block.rawsource = chinese


def page_catalogue(transform: SphinxTransform):
    """The page's compiled catalogue (a gettext translations object), or None."""
    from os import path

    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain

    dirs = [path.join(transform.env.srcdir, d) for d in transform.config.locale_dirs]
    domain = docname_to_domain(transform.env.docname, transform.config.gettext_compact)
    catalog, found = init_locale(dirs, transform.config.language, domain)
    return catalog if found else None


class TranslateTocCaptions(SphinxTransform):
    """The captions of the parts of the book ("Foundations"...) in the page's language.

    sphinx-external-toc inserts the toctrees (priority 100) after Sphinx has translated the
    page (priority 20), so their captions, extracted into the root page's catalogue, are
    translated here with that same catalogue.
    """
    default_priority = 101

    def apply(self, **kwargs: Any) -> None:
        if edition(self.app) != "zh_CN":
            return
        catalog = page_catalogue(self)
        if catalog is None:
            return
        for toctree in self.document.findall(addnodes.toctree):
            if toctree.get("caption"):
                toctree["caption"] = catalog.gettext(toctree["caption"])


class TranslateDisplayMaths(SphinxTransform):
    """Display maths whose prose words (``\\text{or}``) are translated in the catalogue.

    Sphinx translates a literal-type node by parsing ``"::" + msgstr`` as reStructuredText,
    which MyST pages do not understand: the equation came out as "::". So this puts the msgstr
    in place itself, just before Sphinx's own translation (priority 20), which then finds no
    message for the (now Chinese) equation and leaves it alone.
    """
    default_priority = 19

    def apply(self, **kwargs: Any) -> None:
        if edition(self.app) != "zh_CN":
            return
        catalog = page_catalogue(self)
        if catalog is None:
            return
        for node in self.document.findall(nodes.math_block):
            msgid = node.rawsource or node.astext()
            msgstr = catalog.gettext(msgid)
            if msgstr and msgstr != msgid:
                node.rawsource = msgstr
                node.children = [nodes.Text(msgstr)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_transform(TranslateTocCaptions)
    app.add_transform(TranslateDisplayMaths)
    app.add_css_file("lang-switch.css")
    app.connect("doctree-read", translate_outputs)
    # After sphinx-book-theme (priority 501) has built the launch buttons.
    app.connect("html-page-context", add_link, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
