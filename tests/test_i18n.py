"""The 简体中文 edition stays in step with the English one.

Fails when an English message has no sound translation (missing, empty, fuzzy, markup
changed), when a catalogue uses another word than the glossary's for a key term, when the
Chinese notebooks are stale or their code differs from the English, and when the Chinese book
does not build (smoke budget, warnings as errors) from the English build's execution cache.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jupytext
import pytest

from cnncourse import messages
import i18n
import lang_switch
import myst_translate
import sync_notebooks

ROOT = Path(__file__).resolve().parents[1]
SMOKE = Path("_build") / "test-smoke"  # the smoke build of tests/test_book.py
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


# ------------------------------------------------------------------------------ catalogues
@pytest.mark.parametrize("page", i18n.pages())
def test_every_message_of_the_page_is_translated(page):
    problems = i18n.check([str(i18n.CATALOGUES / f"{page}.po")])
    assert not problems, (f"{len(problems)} message(s) of {page} need a translation "
                          "(python tools/i18n.py check; /tmp/team/TRANSLATE.md):\n"
                          + "\n".join(problems[:20]))


def test_catalogues_match_the_sources(tmp_path):
    """Re-extracting the messages adds or removes none: the catalogues follow the sources."""
    from sphinx_intl import catalog

    assert i18n.sphinx_build(tmp_path / "pot", "gettext", i18n.GETTEXT_OVERRIDES,
                             doctrees=tmp_path / "doctrees", force_all=True) == 0
    for page in i18n.pages():
        pot = {m.id for m in catalog.load_po(str(tmp_path / "pot" / f"{page}.pot")) if m.id}
        po = {m.id for m in catalog.load_po(str(i18n.CATALOGUES / f"{page}.po")) if m.id}
        assert pot == po, (f"{page}: run python tools/i18n.py update "
                           f"(new: {sorted(pot - po)[:3]}, gone: {sorted(po - pot)[:3]})")


def test_a_fuzzy_or_changed_translation_is_reported(tmp_path):
    po = tmp_path / "page.po"
    po.write_text(textwrap.dedent('''\
        msgid ""
        msgstr "Content-Type: text/plain; charset=utf-8\\n"

        #, fuzzy
        msgid "The `lenet` model."
        msgstr "`lenet` 模型。"

        msgid "See {cite}`lecun1998gradient` and $n$."
        msgstr "见文献，以及 $n$。"

        msgid "Not yet."
        msgstr ""
        '''))
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        problems = i18n.catalogue_problems(po)
    assert len(problems) == 3
    assert "fuzzy" in problems[0] and "lecun1998gradient" in problems[1]
    assert "not translated" in problems[2]


def test_code_and_maths_only_messages_are_filled_with_themselves():
    assert i18n.nothing_to_translate("`lenet_gluon`")
    assert i18n.nothing_to_translate("3×3, $k_h$")
    assert i18n.nothing_to_translate("\nY = X * K\n")  # display maths keeps its line breaks
    assert not i18n.nothing_to_translate("from")


# -------------------------------------------------------------------------------- glossary
def test_glossary_lists_each_term_once_with_the_notes_words():
    terms = i18n.glossary()  # raises on a term listed twice
    # the source notes' words, d2l-zh's where it differs
    assert terms["pooling"] == ("池化", "汇聚")
    for english, chinese in [("kernel", "卷积核"), ("stride", "步幅"), ("padding", "填充"),
                             ("channel", "通道"), ("fully connected layer", "全连接层"),
                             ("cross-entropy", "交叉熵")]:
        assert terms[english][0] == chinese
    for term, (stem, _avoid) in i18n.CHECKED_TERMS.items():
        assert stem in terms[term][0], term


def test_catalogues_use_the_glossary_terms():
    problems = [p for po in sorted(i18n.CATALOGUES.rglob("*.po")) for p in i18n.term_problems(po)]
    assert not problems, "\n".join(problems[:20])


def test_a_term_translated_the_d2l_way_is_caught(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Max pooling halves the width."\nmsgstr "最大汇聚层把宽度减半。"\n\n'
                  'msgid "A stride of 2."\nmsgstr "步幅为 2。"\n')
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        problems = i18n.term_problems(po)
    assert len(problems) == 1 and "池化" in problems[0] and "汇聚" in problems[0]


# -------------------------------------------------------------------- the Chinese notebooks
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chinese_notebook_is_up_to_date(md):
    edition = i18n.ChineseEdition(md)
    assert edition.target.exists() and \
        edition.target.read_text() == sync_notebooks.expected_ipynb(md, edition), \
        f"{edition.target.relative_to(ROOT)} is stale: run python tools/sync_notebooks.py"


def _code(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    # a hidden check's Colab form title is words, not code
    return [re.sub(r"^#@title .*\n", "", "".join(c["source"]))
            for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chinese_notebook_has_the_english_code(md):
    english, chinese = _code(md.with_suffix(".ipynb")), _code(i18n.ChineseEdition(md).target)
    assert len(english) == len(chinese)
    assert chinese[0] == i18n.SETUP_BEFORE + english[0] + i18n.SETUP_AFTER
    assert chinese[1:] == english[1:]


def test_every_message_is_found_in_the_myst_source():
    """Each msgid of a chapter stands somewhere in its MyST as a block of its own, so every
    translated paragraph reaches the notebook (checked with stand-in translations)."""
    from sphinx_intl import catalog

    for md in CHAPTERS:
        po = i18n.CATALOGUES / "chapters" / f"{md.stem}.po"
        if not po.exists():
            continue  # a chapter not in the book yet (test_every_message_... names a missing one)
        ids = [m.id for m in catalog.load_po(str(po))
               if m.id and "\n" not in m.id and not i18n.nothing_to_translate(m.id)]
        translate = myst_translate.Translator({i: f"«{n}»" for n, i in enumerate(ids)})
        for cell in jupytext.read(md).cells:
            if cell.cell_type == "markdown":
                translate(cell.source)
        missed = [m for m in translate.missed() if not m.lstrip().startswith("\\")]  # $$ maths
        assert not missed, f"{md.name}: not found in the MyST source: {missed[:3]}"


def test_myst_translation_keeps_markers_and_leaves_code_alone():
    translate = myst_translate.Translator({
        "A paragraph over two lines.": "两行的段落。", "budget": "预算", "Solution": "答案",
        "An item": "一项"})
    source = ("A paragraph\nover two lines.\n\n| budget | x |\n\n* An item\n\n"
              "```{admonition} Solution\n:class: dropdown\n\n```python\nbudget\n```\n```")
    assert translate(source) == ("两行的段落。\n\n| 预算 | x |\n\n* 一项\n\n"
                                 "```{admonition} 答案\n:class: dropdown\n\n```python\nbudget\n"
                                 "```\n```")


def test_chinese_setup_cell_goes_to_chapters_and_prints_in_chinese(tmp_path):
    """Run the zh setup cell's additions as Jupyter would, from chapters/zh_CN/ of a clone."""
    md = CHAPTERS[0]
    setup = _code(i18n.ChineseEdition(md).target)[0]
    english = _code(md.with_suffix(".ipynb"))[0]
    script = (i18n.SETUP_BEFORE + i18n.SETUP_AFTER + "\nimport os\n"
              "print('training on cpu (budget: smoke)')\nprint(os.getcwd())\n")
    assert setup == i18n.SETUP_BEFORE + english + i18n.SETUP_AFTER
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT / "chapters" / "zh_CN",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["在 cpu 上训练（预算：smoke）", str(ROOT / "chapters")]


# ---------------------------------------------------------------------- printed results
def test_english_output_is_unchanged():
    text = "training on cpu (budget: smoke)\nloss 0.469, train acc 0.823, test acc 0.779\n"
    assert messages.translate(text, "en") == text


def test_printed_sentences_in_chinese_keep_their_numbers():
    text = ("loss 0.469, train acc 0.823, test acc 0.779\n55296.6 examples/sec on cuda:0\n"
            "square error minus cross-entropy: -0.4 points of test accuracy (behind in this run)\n"
            "a table row that is not a sentence  0.1  0.2\n")
    assert messages.translate(text, "zh_CN") == (
        "损失 0.469，训练准确率 0.823，测试准确率 0.779\n55296.6 样本/秒，设备 cuda:0\n"
        "平方误差减去交叉熵：测试准确率相差 -0.4 个百分点（这次运行中落后）\n"
        "a table row that is not a sentence  0.1  0.2\n")


def test_wrapped_sentences_and_aligned_columns():
    english = textwrap.fill("CNN: 58.5% on the original images, 44.4% on the permuted ones "
                            "(-14.10 points).", width=70)
    assert "\n" in english
    assert messages.translate("before\n" + english + "\n", "zh_CN") == (
        "before\nCNN：原始图像上 58.5%，像素打乱后的图像上 44.4%（变化 -14.10 个百分点）。\n")
    row = "     dress <-> ankle boot   60 test images"
    assert messages.translate(row, "zh_CN") == "    连衣裙 <-> 短靴         60 张测试图像"


def test_install_translates_what_is_printed(capsys, monkeypatch):
    monkeypatch.setenv(messages.ENV_VAR, "en")  # restored after the test
    try:
        messages.install("zh_CN")
        print("training on cuda:0 (budget: full)")
        print("budget: full, device: cuda:0", end="")
        sys.stdout.flush()
        assert os.environ[messages.ENV_VAR] == "zh_CN"
    finally:
        messages.install("en")  # unwraps sys.stdout again
    assert capsys.readouterr().out == "在 cuda:0 上训练（预算：full）\n预算：full，设备：cuda:0"
    with pytest.raises(ValueError, match="zh_CN"):
        messages.install("fr")


def _literal_fragments(template: str) -> list[str]:
    import string
    # a line break inside a sentence is written "\n" in the f-string that prints it
    return [lit.strip().replace("\n", "\\n") for lit, *_ in string.Formatter().parse(template)
            if len(lit.strip()) > 3]


def test_each_catalogued_sentence_is_still_printed_somewhere():
    """A template whose words no print in the chapters or the package holds any more is stale."""
    sources = [p.read_text() for p in (ROOT / "chapters").glob("*.md")]
    sources += [p.read_text() for p in (ROOT / "cnncourse").rglob("*.py") if p.name != "messages.py"]
    # adjacent string literals ("...  " f"...") printed as one
    code = re.sub(r"\"\s*\n\s*f?\"", "", "\n".join(sources))
    stale = [m.en for m in messages.CATALOGUE
             if not all(fragment in code for fragment in _literal_fragments(m.en))]
    assert not stale, f"no print makes these any more (update cnncourse/messages.py): {stale}"


# ----------------------------------------------------------------------- the Chinese book
def test_language_links_point_at_the_same_page():
    class App:
        class config:
            language = "en"
    assert 'href="../zh_CN/chapters/lenet.html"' in lang_switch.other_language_link(App, "chapters/lenet")
    App.config.language = "zh_CN"
    assert 'href="../../chapters/lenet.html"' in lang_switch.other_language_link(App, "chapters/lenet")
    assert lang_switch.other_language_link(App, i18n.GLOSSARY) == ""
    buttons = [{"buttons": [{"url": "https://colab.research.google.com/github/o/r/blob/main/"
                                    "chapters/lenet.ipynb"}]}]
    lang_switch.point_launch_at_chinese_notebook(buttons, "chapters/lenet")
    assert buttons[0]["buttons"][0]["url"].endswith("/chapters/zh_CN/lenet.ipynb")


@pytest.fixture(scope="module")
def smoke_books():
    """Both editions in the smoke budget. After tests/test_book.py built them (and nothing the
    pages read changed since) only the Chinese build runs again, on that build's cache: seconds."""
    import build_book

    stamp = ROOT / SMOKE / "_build" / build_book.STAMP
    last = json.loads(stamp.read_text()) if stamp.exists() else {}
    same = bool(last) and not build_book.changes(last, build_book.build_inputs("smoke"))
    if same and not last.get("succeeded"):  # tests/test_book.py names the failed chapter
        pytest.skip("the English smoke build failed with these inputs: tests/test_book.py says "
                    "where; building it again here would only repeat that")
    fresh = last.get("succeeded") and same
    cmd = (["tools/i18n.py", "build", "--out", str(SMOKE)] if fresh else
           ["tools/build_book.py", "--budget", "smoke", "--out", str(SMOKE)])
    proc = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, CNNCOURSE_BUDGET="smoke"))
    return proc, ROOT / SMOKE / "_build" / "html"


def test_chinese_book_builds_from_the_english_cache(smoke_books):
    proc, html = smoke_books
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "zh_CN/index.html" in log and "execution cache lacked" not in log, log[-2000:]
    zh = html / "zh_CN"
    intro = (zh / "book" / "intro.html").read_text()
    assert '<html lang="zh-CN"' in intro and "如何使用本书" in intro
    assert (zh / "book" / "zh_CN" / "glossary.html").exists()
    for page in i18n.pages():
        english, chinese = (html / f"{page}.html").read_text(), (zh / f"{page}.html").read_text()
        depth = "../" * page.count("/")
        assert f'href="{depth}zh_CN/{page}.html"' in english, page
        assert f'href="{depth}../{page}.html"' in chinese, page
    lenet = (zh / "chapters" / "lenet.html").read_text()
    assert "chapters/zh_CN/lenet.ipynb" in lenet  # Colab opens the Chinese notebook
    assert "训练准确率" in lenet and not re.search(r"^loss [\d.]+, train acc", lenet, re.M)
