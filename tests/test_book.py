"""The book in the smoke budget: every chapter executes (once per test run) and the build is clean.

One build (``bookfactory/build_book.py --budget smoke``, warnings as errors) executes every chapter
of ``_toc.yml``; the tests below read what it left: a test per chapter (the failing cell, its
line in the ``.md`` and the error, when it failed), and one for the build's own warnings. The
build's execution cache is keyed on everything the pages read (bookfactory/build_book.py), so a run
with nothing changed reuses the executed chapters. One chapter alone, without the book:
``CNNCOURSE_BUDGET=smoke python -m pytest --nbval-lax chapters/NAME.ipynb``.

One failure is reported once: the build stops at the first chapter that fails
(``nb_execution_raise_on_error``), and that chapter's test names its cell, its line and the
error (a claim's name, value and bound); the chapters after it, not executed, are skipped with
a reason that names it, and the whole-build tests skip too instead of repeating its traceback.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("_build") / "test-smoke"  # relative to ROOT
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _toc_chapters() -> list[str]:
    """The chapters of ``_toc.yml`` in book order, from the one TOC reader."""
    from bookfactory.toc import chapters

    return chapters(ROOT / "_toc.yml")


@dataclass
class SmokeBuild:
    returncode: int
    log: str
    build: Path  # .../_build

    def executed(self, chapter: str) -> Path:
        return self.build / "jupyter_execute" / "chapters" / f"{chapter}.ipynb"

    def report(self, chapter: str) -> Path:
        return self.build / "html" / "reports" / "chapters" / f"{chapter}.err.log"

    def failed_chapters(self) -> list[str]:
        """The chapters that ran and failed, in book order (the build stops after the first)."""
        return [c for c in _toc_chapters() if (chapter_failure(self, c) or ("",))[0] == "failed"]

    def warnings(self) -> str:
        lines = [ln for ln in ANSI.sub("", self.log).splitlines()
                 if "WARNING" in ln or "ERROR" in ln or "Error" in ln]
        return "\n".join(lines[-40:]) or ANSI.sub("", self.log)[-4000:]


@pytest.fixture(scope="module")
def smoke_book() -> SmokeBuild:
    proc = subprocess.run([sys.executable, "bookfactory/build_book.py", "--budget", "smoke",
                           "--out", str(OUT)], cwd=ROOT, capture_output=True, text=True)
    return SmokeBuild(proc.returncode, proc.stdout + proc.stderr, ROOT / OUT / "_build")


def _where(chapter: str, source: str) -> str:
    """``chapters/NAME.md:LINE`` of a code cell (the line of its first line of code)."""
    md = ROOT / "chapters" / f"{chapter}.md"
    text = md.read_text()
    at = text.find(source.strip()) if source.strip() else -1
    return f"chapters/{chapter}.md" + (f":{text.count(chr(10), 0, at) + 1}" if at >= 0 else "")


def _error_in_notebook(chapter: str, executed: Path) -> str | None:
    """The first error output of an executed notebook, with its cell and line in the .md."""
    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                trace = ANSI.sub("", "\n".join(out.get("traceback", [])))
                lines = [ln for ln in cell.source.splitlines() if ln.strip()]
                first = next((ln for ln in lines if not ln.lstrip().startswith("#")),
                             lines[0] if lines else "")
                return (f"{_where(chapter, cell.source)} (code cell {number}: {first!r}) "
                        f"raised {out['ename']}: {out['evalue']}\n\n{trace[-3000:]}")
    return None


def chapter_failure(build: SmokeBuild, chapter: str) -> tuple[str, str] | None:
    """What went wrong in one chapter of the build: ``("failed", words)`` for a chapter that
    ran and failed, ``("not executed", words)`` for one the build never reached; None when it
    ran to the end."""
    log = ANSI.sub("", build.log)
    page = re.escape(f"chapters/{chapter}.md")
    failed = re.search(rf"{page}: WARNING: Executing notebook failed", log)
    ran = re.search(rf"{page}: (Executed notebook in|Using cached notebook)", log)
    executed = build.executed(chapter)
    if (failed or not ran) and executed.exists():
        said = _error_in_notebook(chapter, executed)
        if said:
            return "failed", said
    if build.report(chapter).exists():
        report = ANSI.sub("", build.report(chapter).read_text())
        return "failed", f"chapters/{chapter}.md failed:\n{report[-3000:]}"
    if failed:  # with nb_execution_raise_on_error the build stopped here: the log has the cell
        cell = log.split("An error occurred while executing the following cell:", 1)[-1]
        return "failed", f"chapters/{chapter}.md failed:\n{cell[:3000]}"
    if ran or executed.exists():  # executed now, or unchanged since the last clean build
        return None
    return "not executed", (f"chapters/{chapter}.md was not executed by the smoke build (the "
                            f"build stopped before it?); the build said:\n{build.warnings()}")


@pytest.mark.parametrize("chapter", _toc_chapters())
def test_chapter_runs_in_the_smoke_budget(smoke_book, chapter):
    failure = chapter_failure(smoke_book, chapter)
    if failure is None:
        return
    kind, said = failure
    if kind == "not executed":
        culprits = smoke_book.failed_chapters()
        if culprits:  # its own test has the traceback: not repeated here
            pytest.skip(f"not executed: the smoke build stopped after chapters/{culprits[0]}.md "
                        f"failed (test_chapter_runs_in_the_smoke_budget[{culprits[0]}] says "
                        "where)")
    pytest.fail(said, pytrace=False)


def test_book_builds_without_warnings(smoke_book):
    culprits = smoke_book.failed_chapters()
    if culprits:
        pytest.skip(f"the smoke build stopped: chapters/{culprits[0]}.md failed (its own test "
                    "says where); the build's other warnings show once it runs through")
    assert smoke_book.returncode == 0, smoke_book.warnings()
    # The kernels talk to the build over IPC (bookfactory.kernel_ipc), so ipykernel has no cause to
    # print its TCP warning once per chapter.
    assert "without encryption" not in smoke_book.log, \
        "a kernel ran over TCP: is kernel_ipc in _config.yml?"
    html = smoke_book.build / "html"
    for page in ["index.html", "book/intro.html"]:
        assert (html / page).exists(), page
    # MathJax is served by the book itself, not from a CDN (readers offline see formulas).
    assert "cdn.jsdelivr" not in (html / "chapters" / "data.html").read_text()
    assert (html / "_static" / "mathjax").is_dir()


def test_a_failing_chapter_is_named_with_its_cell_and_error(tmp_path):
    """The failure message, on a stand-in build output (no book is built here)."""
    chapter = _toc_chapters()[0]
    md = (ROOT / "chapters" / f"{chapter}.md").read_text()
    source = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", md, re.S)[1]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("pass"),
        nbformat.v4.new_code_cell(source, outputs=[nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="too slow",
            traceback=["\x1b[31mAssertionError\x1b[39m: too slow"])])])
    build = SmokeBuild(1, "", tmp_path)
    build.executed(chapter).parent.mkdir(parents=True)
    nbformat.write(nb, build.executed(chapter))
    kind, said = chapter_failure(build, chapter)
    line = md[:md.find(source.strip())].count("\n") + 1
    assert kind == "failed" and said.startswith(f"chapters/{chapter}.md:{line} (code cell 2: ")
    assert "raised AssertionError: too slow" in said and "\x1b" not in said
    kind, said = chapter_failure(build, _toc_chapters()[1])
    assert kind == "not executed" and "was not executed" in said
    assert build.failed_chapters() == [chapter]


def test_the_chapters_after_a_failed_one_are_skipped_naming_it(tmp_path):
    """On a stand-in build that stopped at the second chapter: one failure, the rest skipped."""
    first, second, *rest = _toc_chapters()
    build = SmokeBuild(1, f"chapters/{first}.md: Executed notebook in 1.0 seconds\n"
                          f"chapters/{second}.md: WARNING: Executing notebook failed\n"
                          "Traceback: claim 'x: y': measured 0.349, but the text needs > 0.4",
                       tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[
        nbformat.v4.new_output("error", ename="ClaimError", evalue="claim 'x: y': measured "
                               "0.349, but the text needs > 0.4", traceback=["ClaimError"])])])
    build.executed(second).parent.mkdir(parents=True)
    nbformat.write(nb, build.executed(second))
    assert build.failed_chapters() == [second]
    assert chapter_failure(build, first) is None
    kind, said = chapter_failure(build, second)
    assert kind == "failed" and "claim 'x: y': measured 0.349" in said
    outcomes = {}
    for chapter in rest:
        try:
            test_chapter_runs_in_the_smoke_budget(build, chapter)
        except pytest.skip.Exception as skipped:
            outcomes[chapter] = str(skipped)
    assert set(outcomes) == set(rest)
    assert all(f"stopped after chapters/{second}.md failed" in why and "0.349" not in why
               for why in outcomes.values())
    with pytest.raises(pytest.skip.Exception, match=f"chapters/{second}.md failed"):
        test_book_builds_without_warnings(build)
