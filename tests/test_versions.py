"""The supported versions are stated once and tested at both ends: requirements-oldest.txt (the
oldest set, `make test-oldest`), pyproject.toml's and requirements.txt's lower bounds (the same
versions) and requirements.txt's pins (the newest, `make test`)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse(text: str) -> dict[str, tuple[str, str]]:
    """``{name: (operator, version)}`` of the requirement lines with a version."""
    found = {}
    for name, op, version in re.findall(r'^\s*"?([A-Za-z0-9_.-]+)\s*(==|>=)\s*([\w.]+)',
                                        text, re.M):
        found[name.lower().replace("_", "-")] = (op, version)
    return found


def version_key(version: str) -> tuple[int, ...]:
    """2.11 and 2.11.0 are one version."""
    key = [int(part) for part in re.findall(r"\d+", version)]
    while key and key[-1] == 0:
        key.pop()
    return tuple(key)


OLDEST = parse((ROOT / "requirements-oldest.txt").read_text())
REQUIREMENTS = parse((ROOT / "requirements.txt").read_text())
PYPROJECT = (ROOT / "pyproject.toml").read_text()
DEPENDENCIES = parse(re.search(r"^dependencies = \[(.*?)\]", PYPROJECT, re.M | re.S)
                     .group(1).replace(", ", "\n"))


def test_the_oldest_set_pins_what_the_issue_of_support_names():
    assert {name for name, (op, _) in OLDEST.items() if op == "=="} == {
        "torch", "torchvision", "numpy", "matplotlib", "ipython", "ipykernel"}
    python = re.search(r"^# python: *([\d.]+)", (ROOT / "requirements-oldest.txt").read_text(),
                       re.M)
    assert python and python.group(1) == "3.13"


def test_every_lower_bound_is_the_oldest_version_tested():
    """A lower bound below the oldest pin would claim support nobody tested; above it, the
    oldest run would test versions the package refuses."""
    for name, (_, oldest) in OLDEST.items():
        for where, bounds in (("pyproject.toml", DEPENDENCIES),
                              ("requirements.txt", REQUIREMENTS)):
            if name in bounds and bounds[name][0] == ">=":
                assert version_key(bounds[name][1]) == version_key(oldest), \
                    f"{where}: {name} >= {bounds[name][1]}, the oldest tested is {oldest}"
    for names, bounds in ((("torch", "torchvision", "numpy", "matplotlib"), DEPENDENCIES),
                          (("numpy", "matplotlib", "ipython", "ipykernel"), REQUIREMENTS)):
        for name in names:  # each has its lower bound there
            assert bounds[name][0] == ">=", name


def test_the_newest_pins_are_not_older_than_the_oldest():
    for name in ("torch", "torchvision"):
        op, newest = REQUIREMENTS[name]
        assert op == "==" and version_key(newest) >= version_key(OLDEST[name][1]), name


def test_captum_is_for_the_tests_only():
    assert "captum" not in REQUIREMENTS and "captum" not in DEPENDENCIES
    assert re.search(r'^test = \[.*"captum"', PYPROJECT, re.M)
    assert '-e .[test]' in (ROOT / "tools" / "setup.sh").read_text()


def test_the_oldest_environment_replaces_only_the_pinned_lines(tmp_path):
    """tools/test_oldest.sh installs requirements.txt without the lines the oldest set pins."""
    script = (ROOT / "tools" / "test_oldest.sh").read_text()
    end = 'done < requirements.txt > "$rest"'
    block = script[script.index("  pinned=$("):script.index(end) + len(end)]
    (tmp_path / "requirements.txt").write_text("torch==9.0\nTorchVision==9.1\nnumpy>=2.1\n"
                                               "# a comment\njupytext>=1.16\n")
    (tmp_path / "requirements-oldest.txt").write_text("torch==2.11.0\ntorchvision==0.26.0\n"
                                                      "numpy==2.1.0\n")
    run = subprocess.run(["bash", "-c", f'set -eu\nenv_dir=.\n{block}\ncat "$rest"'],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["# a comment", "jupytext>=1.16"]
