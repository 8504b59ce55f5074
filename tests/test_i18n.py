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
                          "(python -m bookfactory i18n check; how: CONTRIBUTING.md):\n"
                          + "\n".join(problems[:20]))


def test_catalogues_match_the_sources(tmp_path):
    """Re-extracting the messages adds or removes none: the catalogues follow the sources."""
    from sphinx_intl import catalog

    assert i18n.sphinx_build(tmp_path / "pot", "gettext", i18n.GETTEXT_OVERRIDES,
                             doctrees=tmp_path / "doctrees", force_all=True) == 0
    for page in i18n.pages():
        pot = {m.id for m in catalog.load_po(str(tmp_path / "pot" / f"{page}.pot")) if m.id}
        po = {m.id for m in catalog.load_po(str(i18n.CATALOGUES / f"{page}.po")) if m.id}
        assert pot == po, (f"{page}: run python -m bookfactory i18n update "
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


def _corrupt(tmp_path, page: str, change) -> list[str]:
    """The check's problems after ``change(catalogue)`` on a copy of a page's catalogue."""
    import shutil
    import unittest.mock as mock

    from sphinx_intl import catalog

    po = tmp_path / f"{page}.po"
    po.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(i18n.CATALOGUES / f"{page}.po", po)
    cat = catalog.load_po(str(po))
    change(cat)
    i18n.write_catalogue(po, cat)
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        return i18n.check([str(po)])


def _entry(cat, start: str):
    return next(m for m in cat if m.id and m.id.startswith(start))


def _edit(start: str, edit):
    def change(cat):
        message = _entry(cat, start)
        message.string = edit(message)
    return change


BOLD = "Every experiment in this course"  # a message with *...* and a role
@pytest.mark.parametrize("corruption, reason", [
    # the rest of the paragraph turns bold: a "**" that is never closed
    (_edit(BOLD, lambda m: m.string.replace("上训练。", "上**训练。")),
     "markup unbalanced (** 0 in the English, 1 here"),
    # an emphasis that is never closed
    (_edit(BOLD, lambda m: m.string.replace("是否正确*", "是否正确")),
     "markup unbalanced (* 2 in the English, 1 here"),
    # a stray "$" after the last sentence ("泛化。$" was published)
    (_edit(BOLD, lambda m: m.string + "$"), "markup unbalanced ($ 0 in the English, 1 here"),
    # the English published as the Chinese
    (_edit(BOLD, lambda m: m.id), "the translation is the English"),
    # a deleted entry: its paragraph would stay English
    (lambda cat: cat.delete(_entry(cat, BOLD).id), "no entry"),
], ids=["bold", "italic", "dollar", "identical", "deleted"])
def test_each_corruption_of_an_entry_is_caught(tmp_path, corruption, reason):
    assert i18n.check([str(i18n.CATALOGUES / "chapters" / "data.po")]) == []
    problems = _corrupt(tmp_path, "chapters/data", corruption)
    assert len(problems) == 1 and reason in problems[0], problems
    assert BOLD[:20] in problems[0]  # names the message


@pytest.mark.parametrize("line, reason", [
    ('#~ msgid "Old text."\n#~ msgstr "旧的。"\n', "obsolete '#~' entries"),
    ('#, python-format\nmsgid "21 % of the time"\nmsgstr "21% 的时间"\n', "format flags"),
], ids=["obsolete", "format-flag"])
def test_a_catalogue_file_msgfmt_or_translators_trip_over_is_caught(tmp_path, line, reason):
    """Written by hand or by another tool: the check names what ``update`` would remove."""
    import shutil
    po = tmp_path / "data.po"
    shutil.copy(i18n.CATALOGUES / "chapters" / "data.po", po)
    po.write_text(po.read_text() + "\n" + line)
    problems = i18n.check([str(po)], sources=False)
    assert any(reason in p for p in problems), problems


def test_markup_balance_rules():
    assert i18n.markup_problem("a **b** and *c* [d](https://e.org)",
                               "甲 **乙** 和 *丙* [丁](https://e.org)") == ""
    assert "**" in i18n.markup_problem("a **b**", "甲 **乙")
    assert "*" in i18n.markup_problem("a *b*", "甲 乙*")
    assert "$" in i18n.markup_problem("$n$ images", "$n$ 张图像$")
    assert "{role}" in i18n.markup_problem("{cite}`x` says", "文献说")
    assert "[link]" in i18n.markup_problem("see [the code](https://e.org)", "见代码")
    # "*" as an operator in maths, and in code, is not emphasis
    assert i18n.markup_problem("$a * b$ and `x*y`", "$a * b$ 和 `x*y`") == ""
    # an italic title may become a title in book-title marks, the Chinese convention
    assert i18n.markup_problem("*Dive into Deep Learning* {cite}`d`",
                               "《动手学深度学习》{cite}`d`") == ""
    assert i18n.markup_problem("*Dive into Deep Learning*", "动手学深度学习") != ""


def test_an_identical_translation_passes_only_when_marked(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  '# same in Chinese: the name of a Python package\n'
                  'msgid "captum"\nmsgstr "captum"\n\n'
                  'msgid "Training curves"\nmsgstr "Training curves"\n\n'
                  'msgid "614 MiB"\nmsgstr "614 MiB"\n')
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        problems = i18n.catalogue_problems(po)
    assert len(problems) == 1 and "'Training curves'" in problems[0]
    assert "# same in Chinese" in problems[0]  # says how to mark it


def test_invisible_characters_in_a_translation_are_caught(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "cnncourse − d2l, points"\n'
                  'msgstr "cnncourse − d2l（百\u2060分\u2060点）"\n')
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        problems = i18n.catalogue_problems(po)
    assert len(problems) == 1 and "U+2060" in problems[0]


def test_chinese_emphasis_is_upright_and_headers_break_between_words():
    """Italic CJK is a slanted, synthesised glyph; Chinese marks emphasis by weight."""
    css = (ROOT / "book" / "_static" / "lang-switch.css").read_text()
    uncommented = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = {sel.strip(): body for sel, body in re.findall(r"([^{}]+)\{([^}]*)\}", uncommented)}
    em = next(body for sel, body in rules.items() if re.search(r'lang="zh-CN"\]\s.*\bem\b', sel))
    assert re.search(r"font-style:\s*normal", em) and re.search(r"font-weight:\s*[6-9]00", em)
    th = next(body for sel, body in rules.items() if re.search(r'lang="zh-CN"\]\s.*\bth\b', sel))
    assert "keep-all" in th


def test_the_chinese_build_runs_the_check_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(i18n, "check", lambda *a, **k: ["chapters/data.po: 'x': not translated"])
    monkeypatch.setattr(i18n, "sphinx_build", lambda *a, **k: pytest.fail("built unchecked"))
    assert i18n.build(tmp_path) == 1
    assert "not translated" in capsys.readouterr().err


# ------------------------------------------------------------- the catalogues as files
def test_catalogues_pass_msgfmt_check():
    """Standard gettext tools accept the catalogues (no spurious python-format flags)."""
    import shutil
    if not shutil.which("msgfmt"):
        pytest.skip("gettext's msgfmt is not installed (apt-get install gettext)")
    for po in sorted(i18n.CATALOGUES.rglob("*.po")):
        proc = subprocess.run(["msgfmt", "-c", "-o", os.devnull, str(po)],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr


def test_catalogues_hold_no_obsolete_entries_or_format_flags():
    for po in sorted(i18n.CATALOGUES.rglob("*.po")):
        text = po.read_text()
        assert not re.search(r"^#~", text, re.M), f"{po.name}: obsolete entries"
        assert not re.search(r"^#,.*python-(brace-)?format", text, re.M), po.name
        assert "FULL NAME" not in text and "YEAR-MO-DA" not in text, po.name


def test_update_marks_a_changed_message_fuzzy_with_its_old_english(tmp_path):
    pot, po = tmp_path / "page.pot", tmp_path / "page.po"
    header = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
    po.write_text(header + '# same in Chinese: a name\nmsgid "captum"\nmsgstr "captum"\n\n'
                  'msgid "The loss falls quickly."\nmsgstr "损失下降很快。"\n\n'
                  'msgid "Zebras, 10 % of them."\nmsgstr "斑马，占 10%。"\n')
    pot.write_text(header + 'msgid "captum"\nmsgstr ""\n\n'
                   'msgid "The loss falls quickly at first."\nmsgstr ""\n\n'
                   'msgid "Accuracy at 10 % of the width."\nmsgstr ""\n')
    i18n.merge(po, pot)
    text = po.read_text()
    assert ('#, fuzzy\n#| msgid "The loss falls quickly."\n'
            'msgid "The loss falls quickly at first."\nmsgstr "损失下降很快。"') in text
    assert '# same in Chinese: a name\nmsgid "captum"' in text  # translator comments kept
    assert "#~" not in text and "Zebras" not in text and "python-format" not in text
    # once the translation is checked again, the entry loses its mark and its old English
    from sphinx_intl import catalog
    cat = catalog.load_po(str(po))
    cat["The loss falls quickly at first."].flags.discard("fuzzy")
    i18n.write_catalogue(po, cat)
    assert "#|" not in po.read_text()


def test_a_long_old_english_round_trips_and_passes_msgfmt(tmp_path):
    """babel 2.19 wrapped a long ``#| msgid`` as a comment ("#| msgid "" "The loss ... a long"
    broken mid-string), read it back as a translator comment and wrote "# | msgid": the old
    English was lost and the catalogue changed at every write."""
    import shutil
    pot, po = tmp_path / "page.pot", tmp_path / "page.po"
    header = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
    old = ("The loss falls quickly at first, then slowly: " + "a sentence with words, " * 8
           + 'a \\"quote\\" and a backslash \\\\ too.')
    po.write_text(header + f'msgid "{old}"\nmsgstr "损失先是下降很快。"\n')
    pot.write_text(header + f'msgid "{old.replace("quickly", "very quickly")}"\nmsgstr ""\n')
    i18n.merge(po, pot)
    first = po.read_text()
    assert "\n#| msgid \"\"\n#| \"The loss falls quickly" in first and "# |" not in first
    cat = i18n.read_catalogue(po)
    (message,) = [m for m in cat if m.id]
    assert message.previous_id == [old.replace('\\"', '"').replace("\\\\", "\\")]
    assert not message.user_comments
    i18n.write_catalogue(po, cat)
    assert po.read_text() == first  # read and written again: unchanged
    i18n.merge(po, pot)
    assert po.read_text() == first  # merged again with the same template: unchanged
    if shutil.which("msgfmt"):
        proc = subprocess.run(["msgfmt", "-c", "-o", os.devnull, str(po)], capture_output=True,
                              text=True)
        assert proc.returncode == 0 and "error" not in proc.stderr, proc.stderr


def test_every_catalogue_round_trips_unchanged(tmp_path):
    for po in sorted(i18n.LOCALES.rglob("*.po")):
        copy = tmp_path / po.name
        i18n.write_catalogue(copy, i18n.read_catalogue(po))
        assert copy.read_text() == po.read_text(), f"{po.name} changes when written again"


def test_no_catalogue_keeps_fragments_of_a_wrapped_old_msgid():
    # babel 2.19 once wrapped a long "#| msgid" and read the pieces back as translator
    # comments ("# of", "# the\""): the only comments a translator writes here are the
    # "same in Chinese:" notes (and gettext's header)
    header = ("SOME DESCRIPTIVE", "Copyright", "This file", "FIRST AUTHOR", "Chinese (Simplified")
    for po in sorted(i18n.LOCALES.rglob("*.po")):
        allowed = ("same in Chinese:",) + header
        stray = [line for line in po.read_text(encoding="utf-8").splitlines()
                 if line.startswith("# ") and not line[2:].startswith(allowed)]
        assert not stray, f"{po.name}: comment fragments {stray[:5]}"


def test_code_and_maths_only_messages_are_filled_with_themselves():
    assert i18n.nothing_to_translate("`lenet_gluon`")
    assert i18n.nothing_to_translate("3×3, $k_h$")
    assert i18n.nothing_to_translate("\nY = X * K\n")  # display maths keeps its line breaks
    assert i18n.nothing_to_translate("\\sum_j W_{:,j}\\, x_j .")  # one-line display maths
    assert i18n.nothing_to_translate("614 MiB")
    assert not i18n.nothing_to_translate("d2l's `train_ch6`")  # a possessive is a word
    assert not i18n.nothing_to_translate("from")


def test_prose_words_in_display_maths_are_offered_for_translation():
    english, chinese = "\nA\n\\qquad\\text{or}\\qquad\nB\n", "\nA\n\\qquad\\text{或}\\qquad\nB\n"
    assert not i18n.nothing_to_translate(english)
    assert not i18n.nothing_to_translate("\n\\text{max:}\\quad\nB\n")
    assert i18n.nothing_to_translate("\nK_{\\text{true}} + n_\\text{in}\n")  # labels stay
    translate = myst_translate.Translator({english: chinese})
    assert translate("$$" + english + "$$") == "$$" + chinese + "$$"


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


@pytest.mark.parametrize("english, chinese, word", [
    ("A T-shirt and a pullover.", "T 恤和套衫。", "T 恤"),
    ("A T-shirt and a pullover.", "T恤和套头衫。", "套头衫"),
    ("The shortcut passes the gradient.", "捷径把梯度传回去。", "捷径"),
    ("Ranks whole recipes, not blocks.", "比较的是整套配方，而不是单个模块。", "配方"),
    ("Ranks whole recipes, not blocks.", "比较的是整套方案，而不是单个模块。", "模块"),
    ("A single Linear layer.", "一个 Linear 层。", "Linear 层"),
    ("One linear layer from 980 features.", "一个线性层。", "线性层"),
    ("Published settings where a CPU can afford them.", "CPU 负担得起的地方使用论文发表的设置。",
     "发表的设置"),
    ("The verdict line above says why.", "上面的判断行说明了原因。", "判断行"),
    ("The sanity test showed it.", "合理性测试表明了这一点。", "测试"),
    ("The deletion test is not neutral.", "删除测试并不中立。", "测试"),
    ("These pages are not notebooks.", "这些页面不是笔记本。", "Jupyter 笔记本"),
])
def test_a_term_translated_another_way_is_caught(tmp_path, english, chinese, word):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  f'msgid "{english}"\nmsgstr "{chinese}"\n')
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        problems = i18n.term_problems(po)
    assert problems and any(word in p for p in problems), problems


def test_module_is_not_mistaken_for_block(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Module indices; inside a residual block, names."\n'
                  'msgstr "模块的序号；在残差块内部，则是名字。"\n')
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        assert i18n.term_problems(po) == []


# Translations a native reader found wrong in meaning (issue 27): (page, English, the corrected
# Chinese, the wrong one).
MEANING_FIXES = [
    ("chapters/alexnet", "ranged over 4 points", "相差达 4 个百分点", "变化超过 4 个百分点"),
    ("chapters/lenet", "one thread was 1.6 times faster", "一个线程的速度反而是两个线程的 1.6 倍",
     "快 1.6 倍"),
    ("chapters/data", "11 times slower", "速度只有原来的十一分之一", "慢了 11 倍"),
    ("chapters/alexnet", "randomly distorted copies of its training digits",
     "把训练集里的数字图像随机扭曲", "在训练数字经过随机扭曲的副本上"),
    ("chapters/alexnet", "*before* Adam divides each weight's step",
     "随后 Adam 才把每个权重的步长除以", "用每个权重梯度大小的滑动估计去除它的步长"),
]


@pytest.mark.parametrize("page, english, right, wrong", MEANING_FIXES, ids=lambda v: v[:25])
def test_meaning_fixes_stay(page, english, right, wrong):
    from sphinx_intl import catalog

    hits = [m for m in catalog.load_po(str(i18n.CATALOGUES / f"{page}.po"))
            if m.id and english in m.id]
    assert len(hits) == 1, f"{page}: the English {english!r} changed: update this test"
    assert right in hits[0].string and wrong not in hits[0].string, hits[0].string


def test_an_ambiguous_multiple_is_caught(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "one thread was 1.6 times faster"\nmsgstr "一个线程快 1.6 倍"\n\n'
                  'msgid "11 times slower"\nmsgstr "慢了 11 倍"\n\n'
                  'msgid "six times faster"\nmsgstr "速度是它的六倍"\n')
    import unittest.mock as mock
    with mock.patch.object(i18n, "CATALOGUES", tmp_path):
        problems = i18n.catalogue_problems(po)
    assert len(problems) == 2 and "快 1.6 倍" in problems[0] and "慢了 11 倍" in problems[1]
    # the printed sentences (cnncourse/messages.py) follow the same rule
    assert not [m.zh for m in messages.CATALOGUE if i18n.AMBIGUOUS_TIMES.search(m.zh)]


# -------------------------------------------------------------------- the Chinese notebooks
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chinese_notebook_is_up_to_date(md):
    edition = i18n.ChineseEdition(md)
    assert edition.target.exists() and \
        edition.target.read_text() == sync_notebooks.expected_ipynb(md, edition), \
        f"{edition.target.relative_to(ROOT)} is stale: run python -m bookfactory notebooks"


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
               if m.id and not i18n.nothing_to_translate(m.id)]
        translate = myst_translate.Translator({i: f"«{n}»" for n, i in enumerate(ids)})
        for cell in jupytext.read(md).cells:
            if cell.cell_type == "markdown":
                translate(cell.source)
        missed = translate.missed()
        assert not missed, f"{md.name}: not found in the MyST source: {missed[:3]}"


def test_every_check_title_of_the_chinese_notebooks_is_chinese():
    titles = set(i18n.load_titles().values())
    for md in CHAPTERS:
        notebook = i18n.ChineseEdition(md).target.read_text()
        for title in re.findall(r"#@title (.*?)\\n", notebook):
            assert title.startswith("检查：") and (title[3:] in titles or title == (
                "检查：正文的结论，在这次运行上断言")), f"{md.stem}: {title}"


def test_a_check_title_without_translation_is_caught(tmp_path, monkeypatch):
    from sphinx_intl import catalog

    cat = catalog.load_po(str(i18n.TITLES))
    dropped = next(m.id for m in cat if m.id)
    cat.delete(dropped)
    i18n.write_catalogue(tmp_path / "notebook-titles.po", cat)
    monkeypatch.setattr(i18n, "TITLES", tmp_path / "notebook-titles.po")
    problems = i18n.title_problems()
    assert len(problems) == 1 and "no entry" in problems[0] and dropped[:30] in problems[0]
    # and the notebook keeps the English title rather than a half-translated one
    edition = i18n.ChineseEdition(CHAPTERS[0])
    assert edition.finish(f"#@title Check: {dropped}\nx = 1") == f"#@title 检查：{dropped}\nx = 1"


def test_hidden_cell_buttons_are_labelled_in_chinese():
    assert lang_switch.chinese_prompt("Show code cell {type}",
                                      ["cell", "tag_hide-input"]) == "显示代码"
    assert lang_switch.chinese_prompt("Hide code cell {type}",
                                      ["tag_hide-cell"]) == "隐藏代码和输出"
    assert lang_switch.chinese_prompt("Show the code and output of solution 4") == \
        "显示答案 4 的代码和输出"
    # the prose that quotes a button quotes its Chinese label
    from sphinx_intl import catalog
    for page in ("chapters/alexnet", "chapters/mlp_limits"):
        for m in catalog.load_po(str(i18n.CATALOGUES / f"{page}.po")):
            for label in re.findall(r'"((?:Show|Hide) the code and output of solution \d+)"',
                                    m.id or ""):
                assert lang_switch.chinese_prompt(label) in m.string, page


def test_a_printed_line_quoted_in_english_is_caught():
    """lenet's text named the label "test acc by epoch", which the Chinese edition prints as
    各轮测试准确率."""
    problems = i18n.quoted_output_problems("", "请比较各行“test acc by epoch”中的第三个数")
    assert len(problems) == 1 and "各轮测试准确率" in problems[0]
    assert i18n.quoted_output_problems("", "请比较各行“各轮测试准确率”中的第三个数") == []


def test_a_page_cited_by_its_english_title_is_caught(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "See the appendix *How robust is each claim*."\n'
                  'msgstr "见附录 *How robust is each claim*。"\n')
    problems = i18n.citation_problems(po)
    assert len(problems) == 1 and "每条论断有多可靠" in problems[0]


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
    english = textwrap.fill("MLP on the original images, initial weights from seed 1 instead of 0: "
                            "71.9% (+0.50 points). Permuting the pixels changed the MLP by +0.70 "
                            "points and the CNN by -14.10.", width=88, break_on_hyphens=False)
    assert "\n" in english
    assert messages.translate("before\n" + english + "\n", "zh_CN") == (
        "before\n原始图像上的 MLP，初始权重取自随机种子 1 而不是 0：71.9%（变化 +0.50 个百分点）。"
        "打乱像素使 MLP 变化了 +0.70 个百分点，使 CNN 变化了 -14.10。\n")
    row = "     dress <-> ankle boot   60 test images"
    assert messages.translate(row, "zh_CN") == "    连衣裙 <-> 短靴         60 张测试图像"


def test_translated_names_keep_their_column():
    """A name printed in a column of 26 keeps the column in Chinese, even the one that filled
    it exactly (alexnet's regularisation rows)."""
    english = ("no dropout                 gap  +0.0 points, train acc  +0.0, test acc  +0.0\n"
               "control: Adam's coupled L2 gap  +0.0 points, train acc  +0.0, test acc  +0.0\n")
    lines = messages.translate(english, "zh_CN").splitlines()
    assert lines[0].startswith("不用丢弃法") and lines[1].startswith("对照：Adam 耦合的 L2")
    assert {messages._width(line[:line.index("差距")]) for line in lines} == {27}


def test_the_lines_the_text_points_at_are_chinese():
    """alexnet: "上面最后一行说明了原因"; interpret: "打印出的几行"; modern: "下面打印的一行"."""
    printed = {
        "AdamW's decay over the whole run: each weight multiplied by 0.99999 "
        "(16 steps of 1 - 5e-07)":
            "整个运行中 AdamW 的衰减：每个权重共乘以 0.99999（16 步，每步乘以 1 - 5e-07）",
        "                            -> no change beyond run-to-run noise":
            "                            -> 变化没有超出运行间的噪声",
        "ResNet: faster than removing the brightest pixels first: integrated gradients, occlusion":
            "ResNet：比先移除最亮的像素更快的方法：积分梯度、遮挡",
        "LeNet's Grad-CAM puts less of its weight on the background than a uniform map "
        "(34%, seeds 31% to 37%, against 50%)":
            "LeNet 的 Grad-CAM 放在背景上的权重比均匀的图少"
            "（34%，各随机种子 31% 到 37%，均匀的图为 50%）",
        "seconds per epoch per MFLOP, this run: LeNet 1.08, ResNet-28 0.65":
            "本次运行中每轮秒数除以 MFLOPs：LeNet 1.08, ResNet-28 0.65",
        "[0, 1] (as loaded)   test accuracy after epoch 1: 0.084":
            "[0, 1]（加载时原样） 第 1 轮后的测试准确率：0.084",
        # interpret's control orders, and every chapter's opening line with its seed
        "LeNet: faster than removing the brightest pixels first: gradient × input, "
        "integrated gradients, by magnitude":
            "LeNet：比先移除最亮的像素更快的方法：梯度 × 输入、积分梯度，按绝对值",
        "budget: smoke, device: cpu, torch 2.14.1, seed 0":
            "预算：smoke，设备：cpu，torch 2.14.1，随机种子 0",
        "Xavier, lr 0.9 (published)": "Xavier 初始化，学习率 0.9（公布的设置）",
    }
    for english, chinese in printed.items():
        assert messages.translate(english, "zh_CN") == chinese


def test_tables_printed_as_text_keep_their_columns():
    """mlp_limits' print_table and cross_entropy's f-string tables: headers and row labels in
    Chinese ("请看最后一列", "表格证实了它：平方误差的运行从学习率 1 起就发散了"), numbers
    where they were."""
    english = ("model               parameters  FLOPs / image  FLOPs per parameter\n"
               "------------------  ----------  -------------  -------------------\n"
               "softmax regression       7,850         15,680                  2.0\n"
               "small CNN               20,490      2,063,488                100.7\n")
    lines = messages.translate(english, "zh_CN").splitlines()
    assert lines[0].split() == ["模型", "参数量", "FLOPs", "/", "图像", "每个参数的", "FLOPs"]
    assert lines[2].startswith("softmax 回归 ") and lines[3].startswith("小型 CNN ")
    # right-aligned columns end where they ended in English, on every line
    for line, original in zip(lines, english.splitlines()):
        assert messages._width(line) == len(original), (line, original)
    sweep = ("    lr   square error  cross-entropy\n   0.1          0.300          0.219\n"
             "     1        blew up          0.105\n")
    lines = messages.translate(sweep, "zh_CN").splitlines()
    assert lines[0] == "学习率       平方误差         交叉熵"
    assert lines[2] == "     1           发散          0.105"
    assert messages.translate(sweep, "en") == sweep


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
    try:  # a table printed one row per call keeps its right-aligned column
        messages.install("zh_CN")
        print("    lr   square error  cross-entropy")
        print("   0.1          0.300          0.219")
        print("     1        blew up          0.105")
    finally:
        messages.install("en")
    assert capsys.readouterr().out.splitlines()[-1] == "     1           发散          0.105"
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
    sources += [p.read_text() for p in (ROOT / "cnncourse").rglob("*.py")
                if p.name != "messages.py"]
    # adjacent string literals ("...  " f"...") printed as one
    code = re.sub(r"\"\s*\n\s*f?\"", "", "\n".join(sources))
    stale = [m.en for m in messages.CATALOGUE
             if not all(fragment in code for fragment in _literal_fragments(m.en))]
    assert not stale, f"no print makes these any more (update cnncourse/messages.py): {stale}"


# Calls whose text is printed: print(), mlp_limits' say(), which prints textwrap.fill(text), and
# its print_table(headers, rows), whose headers are a list.
PRINTING = ("print", "say", "print_table")


def _printed_literals(node) -> list[str]:
    """The text a print call's arguments hold, with "{}" for each computed part."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)]
    if isinstance(node, ast.BinOp):
        return _printed_literals(node.left) + _printed_literals(node.right)
    if isinstance(node, ast.Call):  # "...".join(...), textwrap.fill(...)
        return [t for a in node.args for t in _printed_literals(a)]
    if isinstance(node, (ast.List, ast.Tuple)):  # a table's headers
        return [t for e in node.elts for t in _printed_literals(e)]
    if isinstance(node, ast.ListComp):  # [f"shift {k}" for k in shifts]
        return _printed_literals(node.elt)
    if isinstance(node, ast.Starred):  # [*[f"lr {x}" for x in lrs]]
        return _printed_literals(node.value)
    return []


def english_prints(chapters: list[Path] = CHAPTERS) -> list[tuple[str, str]]:
    """(where, words) of every printed phrase (two or more English words in a row) of the
    chapters and the package that no template of cnncourse/messages.py translates and that
    messages.LEFT_IN_ENGLISH does not list."""
    import ast

    templates = " ".join([m.en for m in messages.CATALOGUE + messages.TABLE_CATALOGUE]
                         + list(messages.TABLE_WORDS))
    kept = " ".join(messages.LEFT_IN_ENGLISH)
    sources = [(f"{md.name}, cell {i}", c.source) for md in chapters
               for i, c in enumerate(jupytext.read(md, fmt="md:myst").cells)
               if c.cell_type == "code"]
    sources += [(str(p.relative_to(ROOT)), p.read_text())
                for p in sorted((ROOT / "cnncourse").rglob("*.py")) if p.name != "messages.py"]
    found = []
    for where, source in sources:
        code = "\n".join(line for line in source.splitlines()
                         if not line.lstrip().startswith(("%", "!")))  # IPython magics
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in PRINTING:
                for text in (t for a in node.args for t in _printed_literals(a)):
                    for piece in text.split("{}"):
                        for phrase in re.findall(r"[A-Za-z][\w'()-]*(?: [\w'(),;:.-]+)*", piece):
                            if len(re.findall(r"[A-Za-z]{2,}", phrase)) >= 2 and \
                                    phrase not in templates and phrase not in kept:
                                found.append((f"{where}, line {node.lineno}", phrase))
    return found


def test_no_new_english_print():
    """A sentence a chapter prints is Chinese in the Chinese edition: each print's words are in
    a template of cnncourse/messages.py (or listed there as left in English on purpose)."""
    found = english_prints()
    assert not found, ("printed in English in the Chinese edition: add a template to "
                       "cnncourse/messages.py\n" + "\n".join(f"{w}: {p!r}" for w, p in found))


def test_a_new_english_print_is_found(tmp_path):
    md = tmp_path / "new.md"
    md.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n"
                  "```{code-cell} ipython3\nprint(f'the new run took {s:.1f} s')\n```\n")
    assert [p for _, p in english_prints([md])] == ["the new run took"]
    md.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n"
                  "```{code-cell} ipython3\nprint_table(['net', 'new heading', *[f'lr {x}' "
                  "for x in lrs], *[f'new step {k}' for k in ks]], rows)\n```\n")
    assert [p for _, p in english_prints([md])] == ["new heading", "new step"]


def _table_texts(call, assigned: dict) -> list[str]:
    """The headers, caption and literal row labels of one ``d2l.Table(...)`` call, with "{}"
    for each computed part (a header list held in a variable is looked up in ``assigned``)."""
    import ast

    args = list(call.args) + [k.value for k in call.keywords if k.arg in ("headers", "caption",
                                                                          "rows")]
    headers = args[0] if args else None
    if isinstance(headers, ast.Name):
        headers = assigned.get(headers.id)
    found = []
    if isinstance(headers, (ast.List, ast.Tuple)):
        for element in headers.elts:
            if isinstance(element, ast.Starred):
                element = getattr(element.value, "elt", element.value)  # [f"..." for s in seeds]
            found += _printed_literals(element)
    for keyword in call.keywords:
        if keyword.arg == "caption":
            found += _printed_literals(keyword.value)
    rows = args[1] if len(args) > 1 else None
    if isinstance(rows, ast.List):  # rows written out: their first cells are labels
        found += [t for r in rows.elts if isinstance(r, ast.List) and r.elts
                  for t in _printed_literals(r.elts[0])]
    return found


def english_tables(chapters: list[Path] = CHAPTERS) -> list[tuple[str, str]]:
    """(where, text) of every table header, caption or literal row label of the chapters'
    ``d2l.Table`` calls that the Chinese edition would show in English: nothing in
    cnncourse/messages.py translates it (tried with "1" for each computed part) and it is not
    a name listed in messages.TABLE_LEFT_IN_ENGLISH."""
    import ast

    found = []
    for md in chapters:
        for i, cell in enumerate(jupytext.read(md, fmt="md:myst").cells):
            if cell.cell_type != "code" or "Table(" not in cell.source:
                continue
            code = "\n".join(line for line in cell.source.splitlines()
                             if not line.lstrip().startswith(("%", "!")))
            tree = ast.parse(code)
            assigned = {t.id: node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                        for t in node.targets if isinstance(t, ast.Name)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "attr",
                                                          getattr(node.func, "id", "")) == "Table":
                    for text in _table_texts(node, assigned):
                        sample = text.replace("{}", "1")
                        if re.search(r"[A-Za-z]{2}", sample) and \
                                sample not in messages.TABLE_LEFT_IN_ENGLISH and \
                                messages.translate_cell(sample, "zh_CN") == sample:
                            found.append((f"{md.name}, cell {i}", text))
    return found


def test_no_new_english_table_header():
    """The text reads tables by column and row ("请看最后一列", "默认初始化的那一行"): each
    header, caption and row label of a d2l.Table is Chinese in the Chinese edition."""
    found = english_tables()
    assert not found, ("a table shows these in English in the Chinese edition: add them to "
                       "TABLE_WORDS or TABLE_CATALOGUE in cnncourse/messages.py\n"
                       + "\n".join(f"{w}: {t!r}" for w, t in found))


def test_a_new_english_table_header_is_found(tmp_path):
    md = tmp_path / "new.md"
    md.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n"
                  "```{code-cell} ipython3\nhead = ['model', 'new column']\n"
                  "d2l.Table(head, [['a row', 1]], caption=f'{budget} budget, new words')\n```\n")
    assert [t for _, t in english_tables([md])] == ["new column", "{} budget, new words",
                                                    "a row"]


def test_tables_show_chinese_headers_and_captions(monkeypatch):
    from cnncourse.analysis import Table

    table = Table(["network", "test acc after epoch 1"], [["LeNet + batch norm", "0.812"]],
                  caption="smoke budget, cpu: 1 epoch(s) on 8,192 images")
    monkeypatch.setenv(messages.ENV_VAR, "en")
    english = table._repr_html_()
    assert "<th>network</th>" in english and "batch norm" in str(table)
    monkeypatch.setenv(messages.ENV_VAR, "zh_CN")  # what a Chinese notebook's setup cell sets
    chinese = table._repr_html_()
    assert "<th>网络</th>" in chinese and "第 1 轮后的测试准确率" in chinese
    assert "LeNet + 批量归一化" in chinese
    assert "smoke 预算，cpu：在 8,192 张图像上训练 1 轮" in chinese
    # the book translates the English build's HTML the same way (bookfactory/lang_switch.py)
    assert messages.translate_table_html(english, "zh_CN") == chinese
    lines = str(table).splitlines()  # the text form keeps its columns: a CJK character is 2 wide
    assert len({messages._width(line) for line in lines[:3]}) == 1, lines


# ----------------------------------------------------------------------- the Chinese book
def test_language_links_point_at_the_same_page():
    class App:
        class config:
            language = "en"
    link = lang_switch.other_language_link(App, "chapters/lenet")
    assert 'href="../zh_CN/chapters/lenet.html"' in link
    App.config.language = "zh_CN"
    link = lang_switch.other_language_link(App, "chapters/lenet")
    assert 'href="../../chapters/lenet.html"' in link
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
    cmd = (["bookfactory/i18n.py", "build", "--out", str(SMOKE)] if fresh else
           ["bookfactory/build_book.py", "--budget", "smoke", "--out", str(SMOKE)])
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
    # issue 27: translated display maths (not "::"), buttons, the lines the text points at
    conv_pool = (zh / "chapters" / "conv_pool.html").read_text()
    assert r"\text{或}" in conv_pool and r"\[::\]" not in conv_pool
    alexnet = (zh / "chapters" / "alexnet.html").read_text()
    assert "显示答案 4 的代码和输出" in alexnet and "Show code cell" not in alexnet
    # the printed line is Chinese (the code cell that prints it shows the English f-string)
    assert "整个运行中 AdamW 的衰减" in alexnet
    english_line = r"AdamW(?:'|&#39;)s decay over the whole run: each weight multiplied by \d"
    assert not re.search(english_line, alexnet)
    # tables: d2l.Table's headers and captions, and a table printed as text
    assert re.search(r"<th[^>]*>测试准确率相对基线</th>", alexnet)
    assert not re.search(r"<th[^>]*>(?:train acc|test acc|gap)</th>", alexnet)
    assert "一次只改一处" in lenet and not re.search(r"<caption>one change at a time", lenet)
    assert "每个参数的 FLOPs" in (zh / "chapters" / "mlp_limits.html").read_text()
