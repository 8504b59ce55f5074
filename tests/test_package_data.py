"""Recorded runs travel with the package: a wheel (what `pip install` from git builds) holds them.

The AlexNet chapter shows the recorded GPU run from ``cnncourse/results/``, read with
importlib.resources, so the page finds it wherever cnncourse is installed -- on Colab too,
where there is no checkout beside the notebook.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "cnncourse" / "results" / "alexnet_full.json"


def test_the_record_is_in_the_package_and_the_chapter_reads_it_from_there():
    assert json.loads(RECORD.read_text())["budget"] == "full"
    chapter = (ROOT / "chapters" / "alexnet.md").read_text()
    assert 'resources.files("cnncourse") / "results" / "alexnet_full.json"' in chapter
    assert "book/results" not in chapter


def test_an_installed_wheel_holds_the_record(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "cnncourse", source / "cnncourse",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel, = (tmp_path / "dist").glob("cnncourse-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert z.read("cnncourse/results/alexnet_full.json") == RECORD.read_bytes()

    target = tmp_path / "installed"
    install = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    read = ("import cnncourse, json, sys\n"
            "from importlib import resources\n"
            "assert cnncourse.__file__.startswith(sys.argv[1]), cnncourse.__file__\n"
            "f = resources.files('cnncourse') / 'results' / 'alexnet_full.json'\n"
            "print(json.loads(f.read_text())['device_name'])\n")
    # PYTHONPATH comes before the editable install of the checkout: the wheel's copy is imported
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", read, str(target)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == json.loads(RECORD.read_text())["device_name"]
