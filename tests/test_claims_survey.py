"""The claims survey (bookfactory/claims.py): seeds x threads x CPU kernels x PyTorch, merged files,
and an interrupt that loses nothing and leaves the last survey as it was."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnncourse.claims import CHAPTER_ENV, RECORD_ENV, SEED_ENV

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bookfactory" / "claims.py"


def load_script():
    spec = importlib.util.spec_from_file_location("claims_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_survey(monkeypatch):
    for name in (RECORD_ENV, SEED_ENV, CHAPTER_ENV, "OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(name, raising=False)


def entry(value, seed, combo="c1", above=0.5, below=None, name="c: ahead"):
    return {"chapter": "c", "name": name, "says": "c is ahead", "above": above, "below": below,
            "value": value, "seed": seed, "combo": combo}


def test_the_summary_keeps_each_runs_worst_value_and_the_spread_per_combination():
    script = load_script()
    entries = [entry(v, s, c) for c, s, v in (("c1", 0, 0.9), ("c1", 0, 0.6), ("c1", 1, 0.8),
                                                ("c2", 0, 0.4), ("c2", 1, 0.7))]
    [row] = script.summarise(entries)
    assert row["values"] == {"c1": {"0": 0.6, "1": 0.8}, "c2": {"0": 0.4, "1": 0.7}}
    assert (row["min"], row["max"]) == (0.4, 0.8) and row["median"] == pytest.approx(0.65)
    assert row["held"] == 3 and row["runs"] == 4
    assert row["margin"] == pytest.approx(-0.1)
    assert row["by_combo"]["c1"] == {"runs": 2, "min": 0.6, "max": 0.8, "held": 2,
                                     "margin": pytest.approx(0.1)}
    assert row["by_combo"]["c2"]["held"] == 1 and row["by_combo"]["c2"]["min"] == 0.4


def test_a_nan_never_holds_and_does_not_hide_the_spread():
    script = load_script()
    [row] = script.summarise([entry(float("nan"), 0), entry(0.7, 1), entry(0.9, 2)])
    assert row["held"] == 2 and row["margin"] == float("-inf")
    assert (row["min"], row["max"]) == (0.7, 0.9)


# A chapter that records what its kernel got: the seed, PyTorch's threads, the ATen kernels.
CHAPTER = """\
---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# A chapter

```{code-cell} ipython3
import torch
import cnncourse as d2l
SEED = d2l.run_seed()
CODES = {"DEFAULT": 0, "AVX2": 2, "AVX512": 5}
d2l.claim("tiny: the seed is small", SEED, below=0.5, says="the seed is 0")
d2l.claim("tiny: threads", torch.get_num_threads(), above=0)
d2l.claim("tiny: kernels", CODES.get(torch.backends.cpu.get_cpu_capability(), -1), above=-1)
if SEED == 1:
    raise RuntimeError("no data")
```
"""


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_the_survey_runs_each_seed_in_each_combination_it_names(tmp_path, monkeypatch, no_survey):
    script = load_script()
    (tmp_path / "tiny.md").write_text(CHAPTER)
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    out = tmp_path / "claims.json"
    rc = script.main(["--budget", "smoke", "--seeds", "0", "1", "--chapters", "tiny",
                      "--threads", "1", "--kernels", "default", "--out", str(out),
                      "--keep", str(tmp_path / "kept")])
    result = json.loads(out.read_text())
    assert rc == 1  # the run of seed 1 failed after its claims
    [combo] = result["combos"]
    assert (combo["kernels"], combo["threads"], combo["torch_threads"]) == ("default", "1", 1)
    assert combo["env"]["ATEN_CPU_CAPABILITY"] == "default" and combo["capability"] == "DEFAULT"
    seed, threads, kernels = result["claims"]
    # what the chapter's kernel saw is what the combination set
    assert threads["values"] == {combo["id"]: {"0": 1.0, "1": 1.0}}
    assert kernels["values"] == {combo["id"]: {"0": 0.0, "1": 0.0}}
    assert (seed["held"], seed["runs"], seed["margin"]) == (1, 2, -0.5)
    assert seed["says"] == "the seed is 0"
    assert [(r["seed"], r["combo"], r["claims"], r["error"] is None) for r in result["runs"]] == [
        (0, combo["id"], 3, True), (1, combo["id"], 3, False)]
    assert "no data" in result["runs"][1]["error"]
    assert result["complete"] is True and result["format"] == 2
    assert "cpu" in result["machine"]  # the CPU by name: the arithmetic is the CPU's
    kept = tmp_path / "kept" / f"tiny-s1-{combo['id']}.ipynb"  # error output included
    assert "no data" in kept.read_text()
    assert not list(tmp_path.glob("*.partial*"))  # the journal is gone once the file is written


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_each_combination_gives_the_kernel_its_threads_and_cpu_kernels(no_survey):
    script = load_script()
    combos = script.make_combos(["best", "default", "sse41"], ["1", "default"], [sys.executable])
    assert len({c["id"] for c in combos}) == 6
    by = {(c["kernels"], c["threads"]): c for c in combos}
    assert by["default", "1"]["torch_threads"] == 1
    assert by["default", "1"]["capability"] == "DEFAULT"
    assert by["sse41", "1"]["env"] == {"ATEN_CPU_CAPABILITY": "default",
                                       "ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "1",
                                       "MKL_NUM_THREADS": "1"}
    assert by["best", "default"]["env"] == {}  # nothing set: the machine's own choice
    assert by["best", "1"]["id"].startswith("best-t1-torch")


def test_the_survey_refuses_bad_axes_and_unknown_chapters(capsys):
    script = load_script()
    for args, message in ((["--chapters", "lenett"], "no chapter lenett"),
                          (["--kernels", "avx9"], "--kernels avx9: choose from"),
                          (["--threads", "0"], "--threads 0: give counts")):
        with pytest.raises(SystemExit):
            script.main(["--budget", "smoke", *args])
        assert message in capsys.readouterr().err


def fake_python(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_another_interpreter_must_import_this_checkouts_cnncourse(tmp_path):
    script = load_script()
    broken = fake_python(tmp_path, "broken", "echo 'No module named torch' >&2; exit 1")
    with pytest.raises(SystemExit, match="cannot import torch and cnncourse"):
        script.probe(broken, {})
    elsewhere = fake_python(tmp_path, "elsewhere", "echo '" + json.dumps(
        {"torch": "2.11.0", "python": "3.13.0", "threads": 2, "capability": "AVX2",
         "cnncourse": "/other/clone/cnncourse/__init__.py"}) + "'")
    with pytest.raises(SystemExit, match="imports cnncourse from /other/clone/cnncourse"):
        script.probe(elsewhere, {})


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_the_chapters_run_in_the_interpreter_named(tmp_path, monkeypatch, no_survey):
    script = load_script()
    (tmp_path / "tiny.md").write_text(CHAPTER)
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    marker = tmp_path / "used"
    other = fake_python(tmp_path, "python-other", f'echo x >> {marker}; exec {sys.executable} "$@"')
    out = tmp_path / "claims.json"
    script.main(["--budget", "smoke", "--seeds", "0", "--chapters", "tiny", "--python", other,
                 "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["combos"][0]["interpreter"] == other
    assert marker.read_text().count("x") == 2  # the probe, then the chapter's kernel
    assert result["runs"][0]["claims"] == 3


def old_survey(path: Path, values: dict[int, float], complete=True) -> Path:
    """A results file of format 1 (one machine, one arithmetic, no combinations)."""
    path.write_text(json.dumps({
        "budget": "smoke", "seeds": sorted(values), "date": "2026-12-07", "complete": complete,
        "machine": {"device": "x86_64", "torch": "2.14.1+cu130", "python": "3.11.7"},
        "runs": [{"chapter": "c", "seed": s, "seconds": 1.0, "claims": 1, "error": None}
                 for s in values],
        "claims": [{"chapter": "c", "name": "c: ahead", "says": "c is ahead", "above": 0.5,
                    "below": None, "values": {str(s): v for s, v in values.items()}}]}))
    return path


def test_surveys_of_several_arithmetics_merge_into_one_file(tmp_path, capsys):
    script = load_script()
    a = old_survey(tmp_path / "smoke-avx2-t2.json", {0: 0.6, 1: 0.4})
    b = old_survey(tmp_path / "smoke-native-t1.json", {0: 0.7, 1: 0.9}, complete=False)
    c = old_survey(tmp_path / "other.json", {0: 0.8})
    out = tmp_path / "merged.json"
    assert script.main(["--merge", str(a), str(b), f"{c}:kernels=sse41,threads=1",
                        "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    ids = [x["id"] for x in result["combos"]]
    assert ids == ["avx2-t2-torch2.14.1", "best-t1-torch2.14.1", "sse41-t1-torch2.14.1"]
    [row] = result["claims"]
    assert row["by_combo"]["avx2-t2-torch2.14.1"]["held"] == 1
    assert (row["min"], row["max"], row["held"], row["runs"]) == (0.4, 0.9, 4, 5)
    assert result["complete"] is False  # one of them was stopped early
    assert {r["combo"] for r in result["runs"]} == set(ids)
    assert "avx2-t2-torch2.14.1 (1/2)" in capsys.readouterr().out
    # merging the merged file again changes nothing
    again = tmp_path / "again.json"
    script.main(["--merge", str(out), "--out", str(again)])
    assert json.loads(again.read_text())["claims"][0]["values"] == row["values"]
    with pytest.raises(SystemExit, match="name them, e.g."):
        script.main(["--merge", str(c), "--out", str(out)])


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_update_replaces_only_the_chapters_it_ran(tmp_path, monkeypatch, no_survey):
    script = load_script()
    for name in ("data", "lenet"):
        (tmp_path / f"{name}.md").write_text(CHAPTER)
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    monkeypatch.setattr(script, "chapters_in_toc", lambda: ["data", "lenet"])

    def fake_run(value):
        def run(name, seed, budget, record, timeout, keep=None, combo=None):
            with record.open("a") as f:
                f.write(json.dumps({"chapter": name, "name": f"{name}: x", "says": "",
                                    "above": 0.0, "below": None, "value": value,
                                    "seed": seed}) + "\n")
        return run

    out = tmp_path / "claims.json"
    monkeypatch.setattr(script, "run_chapter", fake_run(1.0))
    script.main(["--budget", "smoke", "--seeds", "0", "1", "--out", str(out)])
    monkeypatch.setattr(script, "run_chapter", fake_run(2.0))
    script.main(["--budget", "smoke", "--seeds", "0", "1", "--chapters", "lenet", "--update",
                 "--out", str(out)])
    result = json.loads(out.read_text())
    assert [(r["chapter"], r["max"]) for r in result["claims"]] == [("data", 1.0), ("lenet", 2.0)]
    assert [(r["chapter"], r["seed"]) for r in result["runs"]] == [
        ("data", 0), ("data", 1), ("lenet", 0), ("lenet", 1)]
    with pytest.raises(SystemExit):  # other seeds: the table would mix two surveys
        script.main(["--budget", "smoke", "--seeds", "0", "--chapters", "lenet", "--update",
                     "--out", str(out)])
    with pytest.raises(SystemExit):  # other combinations: likewise
        script.main(["--budget", "smoke", "--seeds", "0", "1", "--chapters", "lenet",
                     "--threads", "1", "--update", "--out", str(out)])


# A chapter whose seed 1 waits until the test lets it go on (a file), or is interrupted.
SLEEPY = """\
---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# A chapter

```{code-cell} ipython3
import os
import time
from pathlib import Path
import cnncourse as d2l
SEED = d2l.run_seed()
d2l.claim("sleepy: the seed", SEED, below=5)
if SEED == 1 and not Path("go-on").exists():
    Path("started").write_text(str(os.getpid()))
    try:
        time.sleep(600)
    except KeyboardInterrupt:  # as train_ch6 does: keep what there is and go on
        time.sleep(600)
```
"""

DRIVER = """\
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("claims_script", sys.argv[1])
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
script.CHAPTERS = Path(sys.argv[2])
sys.exit(script.main(sys.argv[3:]))
"""


def start_survey(tmp_path: Path, *args: str) -> subprocess.Popen:
    (tmp_path / "sleepy.md").write_text(SLEEPY)
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in (RECORD_ENV, SEED_ENV, CHAPTER_ENV)}
    env["TMPDIR"] = str(tmp_path / "tmp")  # whatever it leaves behind, it leaves here
    return subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(SCRIPT), str(tmp_path), "--budget",
         "smoke", "--seeds", "0", "1", "2", "--chapters", "sleepy", "--out",
         str(tmp_path / "claims.json"), *args],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.2)


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_ctrl_c_stops_the_survey_and_keeps_the_last_one(tmp_path):
    out = tmp_path / "claims.json"
    out.write_text('{"the last survey": true}\n')
    proc = start_survey(tmp_path)
    wait_for(tmp_path / "started", proc)
    kernel = int((tmp_path / "started").read_text())
    proc.send_signal(signal.SIGINT)
    log = proc.communicate(timeout=120)[0]  # not the 600 s the cell (and its except) sleep
    assert proc.returncode == 130, log
    assert not Path(f"/proc/{kernel}").exists() or "zombie" in Path(
        f"/proc/{kernel}/status").read_text()  # the chapter's kernel is stopped too
    assert "FAILED" not in log and "seed 2" not in log  # stopped, not a failed run and on
    assert out.read_text() == '{"the last survey": true}\n'  # untouched
    journal = tmp_path / "claims.partial.jsonl"
    assert "--resume" in log and str(journal) in log
    assert not list((tmp_path / "tmp").iterdir())
    # without --resume, the journal is not thrown away silently
    again = start_survey(tmp_path)
    assert again.wait(timeout=120) == 2 and "add --resume" in again.communicate()[0]
    # --resume goes on: seed 0 is not run again, and the file is replaced whole
    (tmp_path / "go-on").write_text("")
    inode = out.stat().st_ino
    resumed = start_survey(tmp_path, "--resume")
    log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, log
    assert "1 runs already done" in log and "sleepy seed 0" not in log
    result = json.loads(out.read_text())
    assert [r["seed"] for r in result["runs"]] == [0, 1, 2] and result["complete"]
    assert out.stat().st_ino != inode  # replaced (written aside and renamed), not rewritten
    assert not journal.exists() and not list(tmp_path.glob("*.kernel.json"))
    assert not list(tmp_path.glob(".claims.json*"))


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_a_killed_survey_leaves_no_temporary_files_and_can_go_on(tmp_path):
    out = tmp_path / "claims.json"
    proc = start_survey(tmp_path)
    wait_for(tmp_path / "started", proc)
    proc.kill()
    proc.communicate(timeout=60)
    time.sleep(2)  # the kernel notices that its parent is gone
    assert not out.exists()
    assert not list((tmp_path / "tmp").iterdir())  # nothing in the temporary folder
    (tmp_path / "go-on").write_text("")
    resumed = start_survey(tmp_path, "--resume")
    log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, log
    result = json.loads(out.read_text())
    # the run cut off by the kill is run again, and its claim counted once
    assert [r["seed"] for r in result["runs"]] == [0, 1, 2]
    assert result["claims"][0]["runs"] == 3
    assert not list(tmp_path.glob("claims.partial*"))


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_resume_refuses_the_journal_of_another_survey(tmp_path, monkeypatch, no_survey, capsys):
    script = load_script()
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    (tmp_path / "tiny.md").write_text(CHAPTER)
    out = tmp_path / "claims.json"
    script.journal_path(out).write_text(json.dumps({"plan": {"budget": "cpu"}}) + "\n")
    with pytest.raises(SystemExit):
        script.main(["--budget", "smoke", "--chapters", "tiny", "--out", str(out), "--resume"])
    assert "was another survey" in capsys.readouterr().err


def test_a_journal_cut_off_midway_keeps_the_finished_runs_only(tmp_path):
    script = load_script()
    journal = tmp_path / "j.partial.jsonl"
    claim = {"chapter": "c", "name": "c: x", "value": 1.0, "above": 0, "below": None,
             "held": True, "says": "", "seed": 0}
    run = {"chapter": "c", "seed": 0, "combo": "k", "seconds": 1, "claims": 1, "error": None}
    journal.write_text("\n".join([json.dumps({"plan": {"p": 1}}), json.dumps(claim),
                                  json.dumps({"run": run}), json.dumps(dict(claim, seed=1)),
                                  '{"chapter": "c", "na']))
    plan, runs, entries = script.read_journal(journal)
    assert plan == {"p": 1} and runs == [run]
    assert [(e["seed"], e["combo"]) for e in entries] == [(0, "k")]


def test_writes_replace_the_file_and_leave_nothing_aside(tmp_path):
    script = load_script()
    path = tmp_path / "r.json"
    path.write_text("old")
    script.write_atomically(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


BOUNDS_CHAPTER = '''\
```{code-cell} ipython3
%matplotlib inline
for name in ("A", "B"):
    d2l.claim(f"ch: {name} share edge-like", 0.2, below=0.5, says="fewer than half")
d2l.claim("ch: accuracy", acc, above=0.4)
d2l.claim("ch: computed", gap, above=LIMIT)
```
'''


def test_a_bound_changed_after_the_survey_is_noted(tmp_path):
    script = load_script()
    (tmp_path / "ch.md").write_text(BOUNDS_CHAPTER)
    bounds = script.current_bounds(tmp_path)
    assert ("ch: accuracy", 0.4, None) in [(p.replace("\\", ""), a, b) for p, a, b in bounds["ch"]]

    def row(name, above=None, below=None):
        return {"chapter": "ch", "name": name, "above": above, "below": below}

    result = {"claims": [row("ch: A share edge-like", below=0.3),  # loosened since: a note
                         row("ch: B share edge-like", below=0.5),  # as surveyed
                         row("ch: accuracy", above=0.4),
                         row("ch: computed", above=0.1),  # not a number in the source
                         row("ch: removed", above=0.0)],
              "notes": [{"claim": "ch: accuracy", "text": "re-surveyed on one seed only"}]}
    notes = script.bound_changes(result, tmp_path)
    assert notes == {
        "ch: A share edge-like": "the chapter now needs < 0.5; surveyed with < 0.3: "
                                 "not surveyed again since",
        "ch: accuracy": "re-surveyed on one seed only",
        "ch: removed": "no longer checked by its chapter"}


def test_every_committed_survey_is_one_the_page_can_show():
    """Format 2 (combinations recorded): the claims page shows nothing else. A bound changed in
    a chapter since its survey is noted on the page by bound_changes, not hidden."""
    script = load_script()
    for path in sorted(script.RESULTS.glob("claims-*.json")):
        result = json.loads(path.read_text())
        assert result.get("format") == 2, f"{path.name}: merge it into the current format"
        assert result["combos"] and all(r["combo"] in {c["id"] for c in result["combos"]}
                                        for r in result["runs"])
        script.bound_changes(result)  # reads every chapter's bounds without an error


@pytest.mark.slow  # starts kernels or interpreters that import torch
def test_an_interrupted_survey_can_be_shown_as_far_as_it_got(tmp_path, monkeypatch, no_survey):
    script = load_script()
    (tmp_path / "tiny.md").write_text(CHAPTER)
    monkeypatch.setattr(script, "CHAPTERS", tmp_path)
    out = tmp_path / "claims.json"
    args = ["--budget", "smoke", "--seeds", "0", "1", "--chapters", "tiny", "--out", str(out)]
    [combo] = script.make_combos(["best"], ["default"], [sys.executable])
    plan = {"budget": "smoke", "seeds": [0, 1], "chapters": ["tiny"], "combos": [combo["id"]]}
    claim = {"chapter": "tiny", "name": "tiny: x", "value": 1.0, "above": 0, "below": None,
             "held": True, "says": "", "seed": 0}
    run = {"chapter": "tiny", "seed": 0, "combo": combo["id"], "seconds": 1.0, "claims": 1,
           "error": None}
    journal = script.journal_path(out)
    journal.write_text("".join(json.dumps(x) + "\n" for x in ({"plan": plan}, claim,
                                                                {"run": run})))
    assert script.main([*args, "--partial"]) == 0
    result = json.loads(out.read_text())
    assert result["complete"] is False and [r["seed"] for r in result["runs"]] == [0]
    assert result["claims"][0]["runs"] == 1 and journal.exists()  # still there for --resume
