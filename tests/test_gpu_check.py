"""bookfactory.gpu_check (`make gpu-check`): every step and the summary, at smoke size on the CPU.

The real chapters run in the smoke book build and the real scripts/train_alexnet.py in
tests/test_alexnet.py; here two tiny notebooks (one passes, one fails at an assert), a stand-in
for train_alexnet.py and stand-in benchmark scripts (one writes a result like the real ones, one
crashes, one has no CPU size) drive every code path of the tool, including the summary files.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import gpu_check

ROOT = Path(__file__).resolve().parents[1]

GOOD_BENCH = """
import json, sys
out = sys.argv[sys.argv.index("--out") + 1]
summary = {"ratio": 3.5, "cnncourse": {"examples_per_sec_median": 7000.0},
           "d2l": {"examples_per_sec_median": 2000.0}}
json.dump({"summary": summary, "argv": sys.argv[1:]}, open(out, "w"))
print("fake benchmark done")
"""
BAD_BENCH = "import sys\nprint('about to fail')\nsys.exit('fake benchmark crashed')\n"
# What gpu_check reads from scripts/train_alexnet.py's record (the script: tests/test_alexnet.py).
FAKE_TRAIN_ALEXNET = """
import json, os, sys
out = sys.argv[sys.argv.index("--out") + 1]
run = {"test_acc": [0.5], "epoch_seconds": [2.0]}
json.dump({"budget": os.environ["CNNCOURSE_BUDGET"], "argv": sys.argv[1:],
           "runs": {"alexnet_224": run, "alexnet_28": run}}, open(out, "w"))
"""


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_every_chapter_of_the_book_is_checked():
    chapters = gpu_check.book_chapters()
    assert chapters and all(p.is_file() for p in chapters)
    assert {p.stem for p in chapters} == {p.stem for p in (ROOT / "chapters").glob("*.ipynb")}
    with pytest.raises(SystemExit, match="unknown chapter"):
        gpu_check.select(chapters, "no_such_chapter")


def test_budget_is_full_on_cuda_and_smoke_elsewhere(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_BUDGET", raising=False)
    assert gpu_check.choose_budget(None, "cuda") == "full"
    assert gpu_check.choose_budget(None, "cuda:1") == "full"
    assert gpu_check.choose_budget(None, "cpu") == "smoke"
    assert gpu_check.choose_budget("cpu", "cuda") == "cpu"
    monkeypatch.setenv("CNNCOURSE_BUDGET", "cpu")
    assert gpu_check.choose_budget(None, "cuda") == "cpu"


@pytest.mark.slow  # executes notebooks in kernels
def test_check_runs_every_step_and_reports_the_failing_cell(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    good = _notebook(nbs / "good.ipynb",
                     "import os\nbudget = os.environ['CNNCOURSE_BUDGET']",
                     "import cnncourse\nassert cnncourse.budget().name == budget == 'smoke'\n"
                     "print(os.getcwd())")
    bad = _notebook(nbs / "bad.ipynb", "x = 1", "# a comment first\nassert x == 2, 'x is not 2'",
                    "print('never reached')")
    (tmp_path / "good_bench.py").write_text(GOOD_BENCH)
    (tmp_path / "bad_bench.py").write_text(BAD_BENCH)
    (tmp_path / "train_alexnet.py").write_text(FAKE_TRAIN_ALEXNET)
    monkeypatch.setattr(gpu_check, "TRAIN_ALEXNET", str(tmp_path / "train_alexnet.py"))
    monkeypatch.setattr(gpu_check, "BENCHMARKS", {
        "fast": (str(tmp_path / "good_bench.py"), {"cpu": ["--epochs", "1"]}),
        "broken": (str(tmp_path / "bad_bench.py"), {"cpu": []}),
        "gpu_only": (str(tmp_path / "good_bench.py"), {"cuda": []}),
    })
    out = tmp_path / "out"
    rc = gpu_check.main(["--budget", "smoke", "--device", "cpu", "--out", str(out),
                         "--chapters", f"{good},{bad}",
                         "--benchmarks", "fast,broken,gpu_only", "--timeout", "600"])
    assert rc == 1  # a failing chapter and a crashing benchmark fail the check

    summary = json.loads((out / "summary.json").read_text())
    steps = {s["name"]: s for s in summary["steps"]}
    assert summary["passed"] is False and summary["budget"] == "smoke"
    assert [s["kind"] for s in summary["steps"]] == ["chapter"] * 2 + ["script"] + \
        ["benchmark"] * 3
    assert steps["good"]["status"] == "passed" and steps["good"]["seconds"] > 0
    # the executed notebook ran in its own folder, as in the book build, and was saved
    ran = nbformat.read(out / "notebooks" / "good.ipynb", as_version=4)
    assert ran.cells[1].outputs[0]["text"].strip() == str(nbs)
    assert steps["bad"]["status"] == "failed"
    assert "cell 1" in steps["bad"]["detail"] and "AssertionError: x is not 2" in \
        steps["bad"]["detail"] and "assert x == 2" in steps["bad"]["detail"]
    assert steps["train_alexnet"]["status"] == "passed", steps["train_alexnet"]["detail"]
    record = json.loads((out / "results" / "alexnet_smoke.json").read_text())
    assert record["budget"] == "smoke" and set(record["runs"]) == {"alexnet_224", "alexnet_28"}
    assert record["argv"][-2:] == ["--device", "cpu"]
    assert "alexnet_224: test acc 0.500, 2.0 s/epoch" in steps["train_alexnet"]["detail"]
    assert steps["fast"]["status"] == "passed" and steps["fast"]["ratio"] == 3.5
    bench = json.loads((out / "results" / "bench_fast-cpu.json").read_text())
    assert bench["argv"][:4] == ["--device", "cpu", "--epochs", "1"]
    assert steps["broken"]["status"] == "failed" and "crashed" in steps["broken"]["detail"]
    assert steps["gpu_only"]["status"] == "skipped"

    text = (out / "summary.md").read_text()
    assert text.startswith("# gpu-check: 2 FAILED")
    assert "| chapter | bad | failed |" in text and "| benchmark | fast | passed |" in text
    assert "3.50x" in text and "x is not 2" in text


@pytest.mark.slow  # executes notebooks in kernels
def test_a_clean_check_passes(tmp_path):
    nb = _notebook(tmp_path / "ok.ipynb", "print('fine')")
    out = tmp_path / "out"
    assert gpu_check.main(["--budget", "smoke", "--device", "cpu", "--out", str(out),
                           "--chapters", str(nb), "--scripts", "none",
                           "--benchmarks", "none"]) == 0
    assert (out / "summary.md").read_text().startswith("# gpu-check: PASSED")


def test_bad_options_are_refused(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--budget", "huge", "--out", str(tmp_path)])
    assert "--budget 'huge' is not a budget" in capsys.readouterr().err
    monkeypatch.setenv("CNNCOURSE_BUDGET", "huge")
    with pytest.raises(SystemExit):
        gpu_check.main(["--chapters", "none", "--out", str(tmp_path)])
    assert "CNNCOURSE_BUDGET='huge' is not a budget" in capsys.readouterr().err
    monkeypatch.delenv("CNNCOURSE_BUDGET")
    with pytest.raises(SystemExit):
        gpu_check.main(["--benchmarks", "resnet", "--chapters", "none", "--out", str(tmp_path)])
