"""The book's factory: one reader of ``_toc.yml`` and one entry point for the tools."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bookfactory import toc
from bookfactory.__main__ import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


def yaml_pages(path: Path) -> list[str]:
    """The pages of a jb-book table of contents, walked as jupyter-book walks it."""
    data = yaml.safe_load(path.read_text())
    found = [data["root"]]

    def walk(node: dict) -> None:
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                if "file" in child:
                    found.append(child["file"])
                walk(child)

    walk(data)
    return [str(Path(p).with_suffix("")) for p in found]


def test_the_toc_reader_agrees_with_a_yaml_parse_of_the_book():
    assert toc.pages() == yaml_pages(toc.TOC)
    assert toc.chapters() == [p.split("/", 1)[1] for p in yaml_pages(toc.TOC)
                              if p.startswith("chapters/")]
    assert all((ROOT / "chapters" / f"{name}.md").is_file() for name in toc.chapters())


def test_the_toc_reader_takes_sections_comments_and_suffixes(tmp_path):
    path = tmp_path / "_toc.yml"
    path.write_text("format: jb-book\nroot: book/intro.md  # the cover\nparts:\n"
                    "  - caption: One\n    chapters:\n      - file: chapters/a\n"
                    "        sections:\n          - file: chapters/a_more.ipynb\n"
                    "      - file: book/appendix\n")
    assert toc.pages(path) == yaml_pages(path) == [
        "book/intro", "chapters/a", "chapters/a_more", "book/appendix"]
    assert toc.chapters(path) == ["a", "a_more"]
    path.write_text("format: jb-book\n")
    with pytest.raises(ValueError, match="names no pages"):
        toc.pages(path)


def test_every_command_names_a_module_with_a_main():
    import importlib

    for name, (program, _) in COMMANDS.items():
        if name == "bench":
            assert (ROOT / program.format("lenet")).is_file()
        else:
            assert callable(importlib.import_module(program).main), name


def test_the_entry_point_lists_commands_and_refuses_unknown_ones(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main(["publish"]) == 2
    assert "unknown command 'publish'" in capsys.readouterr().err
    assert main(["bench"]) == 2
    assert "one of" in capsys.readouterr().err and main(["bench", "nothing"]) == 2
    assert main(["chapters"]) == 0
    assert capsys.readouterr().out.split() == toc.chapters()


def test_a_command_runs_its_program_with_the_arguments():
    run = subprocess.run([sys.executable, "-m", "bookfactory", "speed", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "usage: bookfactory speed" in run.stdout and "--results" in run.stdout


# Imports every module of cnncourse, with bookfactory made unimportable: an import of the
# factory anywhere at module level fails the run, a lazy one would show in sys.modules.
EVERY_MODULE = """\
import importlib, importlib.abc, pkgutil, sys

class NoFactory(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "bookfactory":
            raise ImportError(f"the learner's package imported {name}")

sys.meta_path.insert(0, NoFactory())
import cnncourse
names = sorted(m.name for m in pkgutil.walk_packages(cnncourse.__path__, "cnncourse."))
for name in names:
    importlib.import_module(name)
print(len(names), sorted(m for m in sys.modules if m.split(".")[0] == "bookfactory"))
"""


@pytest.mark.slow  # a fresh interpreter imports torch and every module: seconds
def test_the_learners_package_imports_nothing_of_the_factory():
    """Every cnncourse module imports in a fresh interpreter where bookfactory cannot."""
    import pkgutil

    import cnncourse

    run = subprocess.run([sys.executable, "-c", EVERY_MODULE], cwd=ROOT / "tests",
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    count, loaded = run.stdout.strip().splitlines()[-1].split(" ", 1)
    expected = len(list(pkgutil.walk_packages(cnncourse.__path__, "cnncourse.")))
    assert int(count) == expected > 20 and loaded == "[]"


def test_a_chapter_to_execute_is_a_name_or_a_notebook(tmp_path):
    from bookfactory.execute import chapter_source

    assert chapter_source("lenet") == ROOT / "chapters" / "lenet.md"
    with pytest.raises(FileNotFoundError, match="no chapter named 'lenett': choose from .*lenet"):
        chapter_source("lenett")
    notebook = tmp_path / "extra.ipynb"
    with pytest.raises(FileNotFoundError, match="extra.ipynb: no such notebook"):
        chapter_source(notebook)
    notebook.write_text("{}")
    assert chapter_source(notebook) == notebook.resolve()
