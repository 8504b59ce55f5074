"""The chapters as files: generated notebooks in sync, the same setup cell, listed in the TOC,
and markdown that Jupyter and Colab render (no MyST markup left in any notebook)."""
from __future__ import annotations

import base64
import importlib
import inspect
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

import myst_markdown  # bookfactory/, on pytest's pythonpath
import sync_notebooks

ROOT = Path(__file__).resolve().parents[1]

CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
by_name = pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)

# MyST that Jupyter would show as raw text: a directive fence, a role, a target, an option
# line, a labelled display equation, a substitution.
MYST = re.compile(r"^\s*(`{3,}|:{3,})\s*\{[\w:-]+\}"     # ```{directive}
                  r"|\{[a-z][\w:-]*\}`"                   # {role}`...`
                  r"|^\s*\(\S+\)=\s*$"                    # (label)=
                  r"|^:(class|name|pyobject|width|tags|label):"
                  r"|\$\$\s*\(\S+\)"                      # $$ ... $$ (label)
                  r"|\{\{\s*\w+\s*\}\}", re.M)


def _cells(md: Path, kind: str) -> list[dict]:
    nb = json.loads(md.with_suffix(".ipynb").read_text())
    return [c for c in nb["cells"] if c["cell_type"] == kind]


def _markdown(md: Path) -> str:
    return "\n\n".join("".join(c["source"]) for c in _cells(md, "markdown"))


def test_there_are_chapters():
    assert len(CHAPTERS) >= 1


@by_name
def test_ipynb_matches_its_md(md):
    nb = md.with_suffix(".ipynb")
    assert nb.exists(), f"{nb.name} is missing: run python -m bookfactory notebooks"
    assert nb.read_text() == sync_notebooks.expected_ipynb(md), (
        f"{nb.name} is out of sync with {md.name}: run python -m bookfactory notebooks")


@by_name
def test_committed_notebooks_carry_no_outputs(md):
    assert all(not c.get("outputs") for c in _cells(md, "code"))


@by_name
def test_cell_ids_are_unique_and_derived_from_the_cells(md):
    nb = json.loads(md.with_suffix(".ipynb").read_text())
    ids = [c["id"] for c in nb["cells"]]
    assert len(set(ids)) == len(ids)
    assert sync_notebooks.expected_ipynb(md) == sync_notebooks.expected_ipynb(md)


# ----------------------------------------------------------------- the setup cell
def _setup_cell(md: Path) -> str:
    return "".join(_cells(md, "code")[0]["source"])


def test_every_chapter_starts_with_the_same_setup_cell():
    reference = _setup_cell(ROOT / "chapters" / "data.md")
    assert "google.colab" in reference
    for md in CHAPTERS:
        assert _setup_cell(md) == reference, f"{md.name}: first code cell differs from data.md's"


def test_setup_cell_installs_from_the_configured_repository():
    config = (ROOT / "_config.yml").read_text()
    url = re.search(r"^\s*url:\s*(\S+)", config, re.M).group(1)
    branch = re.search(r"^\s*branch:\s*(\S+)", config, re.M).group(1)
    cell = _setup_cell(ROOT / "chapters" / "data.md")
    assert f"cnncourse @ git+{url}@{branch}" in cell


def test_the_repository_url_is_written_only_in_the_config():
    url = sync_notebooks.repository()[0]
    for path in [*CHAPTERS, *ROOT.glob("bookfactory/*.py"), *ROOT.glob("cnncourse/*.py")]:
        assert url not in path.read_text(), f"{path.name} repeats the repository URL"


@by_name
def test_the_md_holds_the_marker_and_the_book_removes_it(md):
    text = md.read_text()
    first = re.search(r"```\{code-cell\} ipython3\n(.*?)```", text, re.S).group(1)
    assert first.strip().splitlines() == [":tags: [remove-cell]", "",
                                          sync_notebooks.SETUP_MARKER]


def test_setup_cell_is_quiet_where_the_package_is_installed(capsys):
    """Outside Colab, with cnncourse importable, the cell must neither install nor print."""
    import subprocess

    calls = []
    real_run = subprocess.run
    subprocess.run = lambda *a, **k: calls.append(a)  # would be pip
    try:
        exec(compile(sync_notebooks.setup_cell(), "setup", "exec"), {})
    finally:
        subprocess.run = real_run
    assert calls == [] and capsys.readouterr().out == ""


# ------------------------------------------------------------- markdown rendering
@by_name
def test_no_myst_markup_is_left_in_the_notebooks(md):
    for cell in _cells(md, "markdown"):
        text = "".join(cell["source"])
        left = MYST.search(text)
        assert left is None, f"{md.name}: MyST left in a markdown cell: {left.group(0)!r}"


@by_name
def test_included_code_is_the_object_s_own_source(md):
    """Every ``:pyobject:`` include shows what ``inspect`` finds for that object."""
    text, markdown = md.read_text(), _markdown(md)
    includes = re.findall(r"```\{literalinclude\} \.\./(\S+)\.py\n:pyobject: (\S+)"
                          r"(?:\n:lines: (\S+))?", text)
    for module_path, qualname, lines in includes:
        obj = importlib.import_module(module_path.replace("/", "."))
        for part in qualname.split("."):
            obj = getattr(obj, part)
        obj = inspect.unwrap(obj) if not inspect.isclass(obj) else obj
        source = inspect.getsource(obj).rstrip()  # a method shown with :dedent: starts at column 0
        if lines:  # Sphinx's :lines: after :pyobject: picks lines of the object (1-based)
            whole = source.splitlines()
            picked = []
            for part in lines.split(","):
                first, _, last = part.partition("-")
                picked += whole[int(first) - 1:int(last or first)]
            source = "\n".join(picked)
        assert source in markdown or textwrap.dedent(source) in markdown, \
            f"{md.name}: {qualname} not shown"
    assert markdown.count("```python") >= len(includes)


@by_name
def test_citations_link_to_the_chapter_s_reference_list(md):
    keys = set(re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", md.read_text()))
    keys = {k.strip() for group in keys for k in group.split(",")}
    markdown = _markdown(md)
    for key in keys:
        assert f"](#ref-{key})" in markdown, f"{md.name}: citation of {key} has no link"
        assert f'<a id="ref-{key}"></a>' in markdown, f"{md.name}: {key} not in the references"


@by_name
def test_solutions_become_collapsible(md):
    dropdowns = len(re.findall(r"\{admonition\}[^\n]*\n:class: dropdown", md.read_text()))
    assert _markdown(md).count("<details><summary>") == dropdowns


@by_name
def test_figures_are_inlined_from_the_book_s_image_file(md):
    figures = re.findall(r"```\{figure\} (\S+)", md.read_text())
    uris = re.findall(r"!\[[^\]]*\]\(data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)\)", _markdown(md))
    assert len(uris) == len(figures)
    for path, data in zip(figures, uris):
        assert base64.b64decode(data) == (md.parent / path).read_bytes()


# ------------------------------------------------------------ the converter alone
def _convert(text: str, tmp_path: Path) -> str:
    ctx = myst_markdown.Context(source=tmp_path / "x.md", bib=myst_markdown.load_bibliography())
    myst_markdown.scan([text], ctx)
    return myst_markdown.convert(text, ctx)


def test_unknown_directives_and_roles_are_errors_not_leftovers(tmp_path):
    with pytest.raises(myst_markdown.MystError, match=r"x\.md.*\{glossary\}"):
        _convert("```{glossary}\nterm\n```", tmp_path)
    with pytest.raises(myst_markdown.MystError, match=r"\{kbd2\}"):
        _convert("press {kbd2}`x`", tmp_path)
    with pytest.raises(myst_markdown.MystError, match="not in references.bib"):
        _convert("{cite}`nosuchkey2000`", tmp_path)


def test_include_options_lines_and_markers(tmp_path):
    (tmp_path / "m.py").write_text("a = 1\n# start\nb = 2\nc = 3\n# end\nd = 4\n")
    out = _convert("```{literalinclude} m.py\n:start-after: # start\n:end-before: # end\n```",
                   tmp_path)
    assert out == "*From `m.py`*\n\n```python\nb = 2\nc = 3\n```"
    assert _convert("```{literalinclude} m.py\n:lines: 1,3-4\n```", tmp_path) == \
        "*`m.py`, lines 1,3-4*\n\n```python\na = 1\nb = 2\nc = 3\n```"
    with pytest.raises(myst_markdown.MystError, match="emphasise"):
        _convert("```{literalinclude} m.py\n:emphasise: 1\n```", tmp_path)


@pytest.mark.parametrize("spec, bad", [("5-9", "5-9"), ("7", "7"), ("2,7-", "7-"), ("3-2", "3-2"),
                                       ("0-2", "0-2")])
def test_include_lines_outside_the_file_are_an_error(tmp_path, spec, bad):
    (tmp_path / "m.py").write_text("a = 1\nb = 2\nc = 3\nd = 4\n")
    with pytest.raises(myst_markdown.MystError,
                       match=rf"m\.py: :lines: {bad} is outside its 4 lines \(lines 1-4\)"):
        _convert(f"```{{literalinclude}} m.py\n:lines: {spec}\n```", tmp_path)
    with pytest.raises(myst_markdown.MystError, match=r"not a list of line numbers"):
        _convert("```{literalinclude} m.py\n:lines: one-two\n```", tmp_path)


def test_include_lines_of_a_pyobject_count_from_the_object(tmp_path):
    (tmp_path / "m.py").write_text("x = 0\n\ndef f():\n    return 1\n")
    assert _convert("```{literalinclude} m.py\n:pyobject: f\n:lines: 2\n```", tmp_path) == \
        "*`f`, from `m.py`*\n\n```python\n    return 1\n```"
    with pytest.raises(myst_markdown.MystError, match=r"m\.py \(:pyobject: f\).*outside its 2"):
        _convert("```{literalinclude} m.py\n:pyobject: f\n:lines: 3\n```", tmp_path)


def test_pyobject_takes_decorators_and_methods(tmp_path):
    (tmp_path / "m.py").write_text("class A:\n    @staticmethod\n    def f():\n        return 1\n"
                                   "\n    def g(self):\n        pass\n")
    out = _convert("```{literalinclude} m.py\n:pyobject: A.f\n```", tmp_path)
    assert out == ("*`A.f`, from `m.py`*\n\n"
                   "```python\n    @staticmethod\n    def f():\n        return 1\n```")


def test_included_code_is_captioned_with_its_file(tmp_path):
    """Two includes in a row must not read as one block: each gets a caption line."""
    text = ("```{literalinclude} ../cnncourse/norm.py\n:pyobject: batch_norm\n```\n\n"
            "```{literalinclude} ../cnncourse/norm.py\n:pyobject: BatchNorm\n```")
    ctx = myst_markdown.Context(source=ROOT / "chapters" / "x.md")
    out = myst_markdown.convert(text, ctx)
    assert "```\n\n*`BatchNorm`, from `cnncourse/norm.py`*\n\n```python" in out
    assert out.startswith("*`batch_norm`, from `cnncourse/norm.py`*\n\n```python")


@by_name
def test_no_two_code_blocks_touch_in_a_notebook(md):
    """In Colab two fences with only blank lines between them look like one block."""
    for cell in _cells(md, "markdown"):
        text = "".join(cell["source"])
        touching = re.search(r"^(`{3,})[ \t]*\n(?:[ \t]*\n)*`{3,}\w", text, re.M)
        assert touching is None, f"{md.name}: code blocks run together: {text[:200]!r}"


def _chapter(tmp_path: Path, body: str) -> Path:
    """A minimal chapter .md: the header, the setup marker, then ``body``."""
    md = tmp_path / "ch.md"
    md.write_text("---\njupytext:\n  text_representation:\n    extension: .md\n"
                  "    format_name: myst\nkernelspec:\n  display_name: Python 3\n"
                  "  language: python\n  name: python3\n---\n\n# A chapter\n\n"
                  "```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
                  f"{sync_notebooks.SETUP_MARKER}\n```\n\n{body}")
    return md


def _line_of(md: Path, text: str) -> int:
    return md.read_text().splitlines().index(text) + 1


@pytest.mark.parametrize("bad, error", [
    ("```{glossary}", r"the directive \{glossary\}"),
    ("Press {kbd2}`x` now.", r"the role \{kbd2\}"),
    ("```{literalinclude} m.py", r"m\.py: :lines: 9 is outside its 1 lines"),
])
def test_unknown_markup_names_the_chapter_and_line(tmp_path, bad, error):
    (tmp_path / "m.py").write_text("a = 1\n")
    body = ("Some text.\n\n$$\na = b\n$$ (eq-a)\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
            "```{note}\nA note,\nover lines.\n```\n\n"
            ":::{admonition} Solution\n:class: dropdown\n\nFirst.\n\n"
            f"{bad}\n" + (":lines: 9\n" if "literal" in bad else "term\n" if "```" in bad else "")
            + ("```\n" if "```" in bad else "") + ":::\n")
    md = _chapter(tmp_path, body)
    with pytest.raises(myst_markdown.MystError,
                       match=rf"^ch\.md, line {_line_of(md, bad)}: .*{error}"):
        sync_notebooks.expected_ipynb(md)


def test_hidden_checks_are_collapsed_and_the_setup_cell_is_not(tmp_path):
    md = _chapter(tmp_path, "```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
                            "# Shapes quoted above {really}:\nassert 1 + 1 == 2\n```\n\n"
                            "```{code-cell} ipython3\n:tags: [remove-cell]\n\nassert True\n```\n\n"
                            "```{code-cell} ipython3\nprint('shown')\n```\n")
    code = [c for c in json.loads(sync_notebooks.expected_ipynb(md))["cells"]
            if c["cell_type"] == "code"]
    setup, first, second, shown = code
    assert "".join(setup["source"]) == sync_notebooks.setup_cell()
    assert "cellView" not in setup["metadata"] and "jupyter" not in setup["metadata"]
    assert "".join(first["source"]) == ("#@title Check: Shapes quoted above really\n"
                                        "# Shapes quoted above {really}:\nassert 1 + 1 == 2")
    assert "".join(second["source"]).startswith(f"#@title Check: {sync_notebooks.CHECK_TITLE}\n")
    for cell in (first, second):
        assert cell["metadata"]["cellView"] == "form"
        assert cell["metadata"]["jupyter"] == {"source_hidden": True}
    assert "".join(shown["source"]) == "print('shown')" and shown["metadata"] == {}


@by_name
def test_every_check_the_book_hides_is_collapsed(md):
    hidden = len(re.findall(r"```\{code-cell\}[^\n]*\n:tags: \[[^\]]*remove-cell", md.read_text()))
    code = _cells(md, "code")
    collapsed = [c for c in code if c["metadata"].get("cellView") == "form"]
    assert len(collapsed) == hidden - 1  # all but the setup cell
    for cell in collapsed:
        assert "".join(cell["source"]).startswith("#@title Check: ")
        assert cell["metadata"]["jupyter"] == {"source_hidden": True}
        assert "remove-cell" in cell["metadata"]["tags"]
    assert not code[0]["metadata"].get("jupyter")


def test_check_titles_are_one_short_line():
    long = "# " + "word " * 40
    title = sync_notebooks.check_title(long + "\nassert x")
    assert title.startswith("Check: word word") and title.endswith(" …") and len(title) < 110
    assert sync_notebooks.check_title("\n") == f"Check: {sync_notebooks.CHECK_TITLE}"


def test_a_notebook_edited_by_hand_is_not_overwritten(tmp_path, monkeypatch, capsys):
    md = _chapter(tmp_path, "Text.\n\n```{code-cell} ipython3\nx = 1\n```\n")
    nb = md.with_suffix(".ipynb")
    monkeypatch.setattr(sync_notebooks, "editions", lambda: [(md, None)])
    assert sync_notebooks.main([]) == 0 and sync_notebooks.edited_cells(nb) == []
    md.write_text(md.read_text().replace("x = 1", "x = 2"))  # the source changed: regenerate
    assert sync_notebooks.main([]) == 0 and "x = 2" in nb.read_text()
    cells = json.loads(nb.read_text())
    cells["cells"][-1]["source"] = "x = 3  # edited in Jupyter"
    nb.write_text(json.dumps(cells))
    edited = nb.read_text()
    assert sync_notebooks.edited_cells(nb) == [len(cells["cells"])]
    assert sync_notebooks.main([]) == 1 and nb.read_text() == edited
    assert "edited in the notebook itself" in capsys.readouterr().out
    assert sync_notebooks.main(["--check"]) == 1
    assert sync_notebooks.main(["--force"]) == 0 and "x = 2" in nb.read_text()


def test_labelled_equations_refs_and_other_admonitions(tmp_path):
    text = ("(sec-a)=\n## Part A\n\n$$ y = x $$ (eq-one)\n\nSee {eq}`eq-one`, {ref}`sec-a` and "
            "{math}`x^2`.\n\n```{note}\nMind {cite:t}`xiao2017fashion`.\n```")
    out = _convert(text, tmp_path)
    assert '<a id="sec-a"></a>' in out and r"y = x \tag{1}$$" in out
    assert "See [(1)](#eq-one), [Part A](#sec-a) and $x^2$." in out
    assert "> **Note**\n>\n> Mind [Xiao et al. \\[2017\\]](#ref-xiao2017fashion)." in out


def test_every_chapter_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for md in CHAPTERS:
        assert f"chapters/{md.stem}" in toc, f"{md.name} is not listed in _toc.yml"


@pytest.mark.parametrize("sample", ["```{literalinclude} ../x.py", ":::{note}", "{cite}`a`",
                                    "(sec-x)=", ":class: dropdown", "$$ a $$ (eq)", "{{ n }}"])
def test_the_leftover_check_catches_each_kind_of_markup(sample):
    assert MYST.search(f"text\n{sample}\nmore")


def test_book_kernels_run_over_ipc_without_the_tcp_warning(tmp_path):
    """The build's extension (bookfactory.kernel_ipc): a kernel in another folder still answers."""
    import os
    import subprocess

    (tmp_path / "chapter").mkdir()
    script = (
        "import kernel_ipc; kernel_ipc.use_ipc()\n"
        "import nbclient, nbformat\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('print(6 * 7)')])\n"
        "c = nbclient.NotebookClient(nb, kernel_name='python3', startup_timeout=60,\n"
        "                            resources={'metadata': {'path': 'chapter'}})\n"
        "c.execute(); print(c.km is None, nb.cells[0].outputs[0]['text'].strip())\n")
    # a process of its own: use_ipc patches
    env = {**os.environ, "PYTHONPATH": str(ROOT / "bookfactory")}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "42"
    assert "without encryption" not in run.stderr, run.stderr
