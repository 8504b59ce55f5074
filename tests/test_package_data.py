"""Recorded runs travel with the package: a wheel (what `pip install` from git builds) holds them.

The AlexNet chapter shows the recorded GPU run from ``cnncourse/results/``, read with
importlib.resources, so the page finds it wherever cnncourse is installed -- on Colab too,
where there is no checkout beside the notebook.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "cnncourse" / "results" / "alexnet_full.json"


# What the factory needs that a learner's install must not: the book build, the notebooks, the
# translations and the survey's kernels.
FACTORY_NEEDS = {"jupyter-book", "jupytext", "nbclient", "nbformat", "sphinx", "sphinx-intl",
                 "babel", "pybtex", "pyyaml", "jupyter-cache", "ipykernel"}
# The installed package runs with bookfactory made unimportable.
NO_FACTORY = """\
import importlib.abc, sys
class NoFactory(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "bookfactory":
            raise ImportError(f"the learner's package imported {name}")
sys.meta_path.insert(0, NoFactory())
"""


def chapter_lines_that_find_the_record() -> str:
    """The AlexNet chapter's own lines that locate and read the record, up to ``record = ...``."""
    chapter = (ROOT / "chapters" / "alexnet.md").read_text().splitlines()
    start = next(i for i, line in enumerate(chapter) if line.startswith("record_file = "))
    stop = next(i for i in range(start, len(chapter)) if chapter[i].startswith("record = "))
    return "\n".join(chapter[start:stop + 1])


@pytest.mark.slow
def test_the_chapter_reads_the_record_from_an_installed_wheel(tmp_path):
    """Built and installed away from the checkout, as on Colab; the chapter's code runs there."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("cnncourse", "bookfactory"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel, = (tmp_path / "dist").glob("cnncourse-*.whl")
    import cnncourse  # the version is written once, in the package, and the wheel carries it
    assert wheel.name.startswith(f"cnncourse-{cnncourse.__version__}-"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        assert z.read("cnncourse/results/alexnet_full.json") == RECORD.read_bytes()
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")))
    # bookfactory travels in the wheel (the checkout's scripts run by path import its
    # provenance) but a learner's install needs nothing of it: none of its packages is required
    required = {re.split(r"[ <>=!~;\[(]", line.split(":", 1)[1].strip())[0].lower()
                for line in metadata.decode().splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert "torch" in required and not required & FACTORY_NEEDS, required

    target = tmp_path / "installed"
    install = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    read = (NO_FACTORY + "import cnncourse, json, sys\n"
            "from importlib import resources\n"
            "assert cnncourse.__file__.startswith(sys.argv[1]), cnncourse.__file__\n"
            + chapter_lines_that_find_the_record() +
            "\nprint(record['device_name'])\n")
    # PYTHONPATH comes before the editable install of the checkout: the wheel's copy is imported
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", read, str(target)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == json.loads(RECORD.read_text())["device_name"]
