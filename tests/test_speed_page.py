"""The speed appendix (book/speed.md) as a reader uses it: every number is the results files'.

The page is generated from ``cnncourse/results/*.json`` by ``bookfactory.make_speed_page``. The
tests read the page's tables back and compare them with the files, so a number that drifts
from its measurement fails; they do not pin the page's prose. Nothing here needs git: the
page is the same in a ``git clone --depth 1``.
"""
from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest

import make_speed_page

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "cnncourse" / "results"
PAGE = ROOT / "book" / "speed.md"

# Words of a to-do list or a checklist, which the page must not contain.
TRACKER = re.compile(r"\b(not met|met|target|targets|stretch|not measured|measured yet)\b",
                     re.IGNORECASE)


def real_page() -> str:
    records = make_speed_page.load_results(RESULTS)
    threads = make_speed_page.load_thread_results(RESULTS)
    swap = make_speed_page.load_swap_results(RESULTS)
    return make_speed_page.render(records, "images/speed.svg", threads, swap)


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (e.g. ``## Accuracy``) up to the next heading of its level."""
    level = heading.split()[0]
    body = text.split(f"\n{heading}", 1)[1]
    return re.split(rf"\n{level} ", body, maxsplit=1)[0]


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text``, as rows of {column header: cell}."""
    found = []
    for block in re.findall(r"((?:^\|.*\|\n?)+)", text, flags=re.MULTILINE):
        rows = [[c.strip() for c in line.strip()[1:-1].split("|")]
                for line in block.strip().splitlines()]
        found.append([dict(zip(rows[0], r)) for r in rows[2:]])
    return found


def table_with(text: str, column: str) -> list[dict[str, str]]:
    """The one table of ``text`` that has ``column``."""
    found = [t for t in tables(text) if t and column in t[0]]
    assert len(found) == 1, f"{len(found)} tables with a column {column!r}"
    return found[0]


def number(cell: str) -> float:
    """A cell's number: ``25,660``, ``3.41x``, ``**3.41x**``, ``+2.3``."""
    return float(re.sub(r"[,*x% ]|MiB", "", cell))


@pytest.fixture(scope="module")
def page() -> str:
    return real_page()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return make_speed_page.load_results(RESULTS)


def test_committed_page_is_what_the_tool_writes(page):
    assert PAGE.read_text() == page, "run: python -m bookfactory speed"


def test_the_short_answer_is_each_results_files_medians_and_ratio(page, records):
    rows = table_with(section(page, "## The short answer"), "cnncourse")
    assert len(rows) == len(records)
    for row, rec in zip(rows, records):
        s = rec["summary"]
        d2l, cnn = s["d2l"]["examples_per_sec_median"], s["cnncourse"]["examples_per_sec_median"]
        assert number(row["d2l"]) == round(d2l) and number(row["cnncourse"]) == round(cnn)
        assert number(row["speed\u2011up"]) == round(s["ratio"], 2) == round(cnn / d2l, 2)
        assert rec["environment"]["date_utc"].split()[0] in row["machine, date"]


def test_the_accuracy_table_is_each_results_files_means(page, records):
    rows = table_with(section(page, "## Accuracy"), "cnncourse − d2l, points")
    assert len(rows) == len(records)
    for row, rec in zip(rows, records):
        d = rec["summary"]["d2l"]["test_acc_mean"]
        c = rec["summary"]["cnncourse"]["test_acc_mean"]
        assert (number(row["d2l"]), number(row["cnncourse"])) == (round(d, 4), round(c, 4))
        assert number(row["cnncourse − d2l, points"]) == pytest.approx(100 * (c - d), abs=0.051)


def test_every_timed_run_is_on_the_page_as_recorded(page, records):
    every = section(page, "## Every measurement")
    shown = [t for t in tables(every) if t and "printed examples/s" in t[0]]
    assert len(shown) == len(records)
    for rows, rec in zip(shown, records):
        runs = [r for r in rec["runs"] if r["repeat"] >= 0]
        assert [row["pipeline"] for row in rows] == [r["pipeline"] for r in runs]
        for row, run in zip(rows, runs):
            assert number(row["seconds"]) == round(run["train_seconds"], 1)
            assert number(row["examples/s"]) == round(run["examples_per_sec"])
            assert number(row["test acc"]) == round(run["test_acc"], 4)
    for rec in records:  # and the command that made each, to measure again
        assert f"command: `{make_speed_page.command_of(rec)}`" in every


def test_the_loop_and_loader_swap_is_the_swap_file(page):
    swap = make_speed_page.load_swap_results(RESULTS)
    if swap is None:
        pytest.skip("no bench_swap results recorded")
    rows = table_with(page, "test accuracy, epoch by epoch")
    assert [[float(a) for a in row["test accuracy, epoch by epoch"].split()] for row in rows] \
        == [[round(a, 3) for a in r["test_acc_per_epoch"]] for r in swap["runs"]]
    final = table_with(section(page, "### Where the difference comes from"),
                       "order of the training examples")
    shown = sorted(number(row[col]) for row in final
                   for col in ("d2l's `train_ch6`", "cnncourse's `train_ch6`") if row[col])
    assert shown == sorted(round(r["test_acc"], 4) for r in swap["runs"])


def test_the_thread_table_is_the_threads_file(page):
    threads = make_speed_page.load_thread_results(RESULTS)
    if threads is None:
        pytest.skip("no bench_threads results recorded")
    rows = table_with(section(page, "### CPU threads under load"), "situation")
    assert [row["situation"] for row in rows] == list(threads["summary"])
    for row, s in zip(rows, threads["summary"].values()):
        m = s["median_examples_per_sec"]
        assert [number(row[k]) for k in ("1 thread", "2 threads", "default")] == \
            [round(m[k]) for k in ("1 thread", "2 threads", "default")]


def test_no_tracker_lines_on_the_page(page):
    found = sorted({m.group(0).lower() for m in TRACKER.finditer(page)})
    assert not found, f"checklist words on the reader's page: {found}"


def test_numeric_columns_are_right_aligned(page):
    """Every markdown table column whose cells are all numbers is declared ``---:``."""
    numeric = re.compile(r"^[-+]?[\d,]*\.?\d+(x| %| MiB)?( \(.*\))?$|^n/a$|^$")
    blocks = re.findall(r"((?:^\|.*\|\n)+)", page, flags=re.MULTILINE)
    assert blocks
    for block in blocks:
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()]
        align, body = rows[1], rows[2:]
        for j, spec in enumerate(align):
            cells = [r[j].strip("*") for r in body]
            if all(numeric.match(c) for c in cells) and any(cells):
                assert spec.endswith(":"), (rows[0][j], spec)


def test_no_plural_slips(page):
    assert not re.search(r"\b1 (epochs|timed runs|runs)\b", page), "1 epochs"


def test_the_rules_history_agrees_with_git_where_there_is_history():
    """The page names measurements older than a rule from a list, not from git; where the
    history is there, the list must say what git says of every recorded commit."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)

    if git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
        pytest.skip("no full git history here (a shallow clone or no checkout)")
    commits = {make_speed_page._commit(r).removeprefix("commit ").split("+")[0]
               for r in make_speed_page.load_results(RESULTS)}
    for rec in (make_speed_page.load_thread_results(RESULTS),
                make_speed_page.load_swap_results(RESULTS)):
        if rec is not None:
            commits.add(make_speed_page._commit(rec).removeprefix("commit ").split("+")[0])
    for rule in make_speed_page.OLDER_THAN:
        for sha in commits - {"not recorded"}:
            older = git("merge-base", "--is-ancestor", sha, rule).returncode == 0 and \
                git("rev-parse", sha).stdout != git("rev-parse", rule).stdout
            assert make_speed_page.measured_before(sha, rule) == older, (sha, rule)


def fake_record(device: str = "cpu", d2l_acc: float = 0.80, cnn_acc: float = 0.80,
                case: str = "lenet") -> dict:
    """A complete results record with two timed runs per pipeline."""
    def stats(rate, acc):
        return {"runs": 2, "examples_per_sec_median": rate, "examples_per_sec_min": rate * 0.9,
                "examples_per_sec_max": rate * 1.1, "seconds_per_epoch_median": 1.0,
                "test_acc_mean": acc, "test_acc_min": acc - 0.001, "test_acc_max": acc + 0.001,
                "peak_memory_bytes": 2**20, "load_seconds_median": 0.1}
    runs = [{"pipeline": p, "repeat": rep, "train_seconds": 10.0, "examples_per_sec": rate,
             "test_acc": acc, "self_reported_examples_per_sec": rate * 1.25,
             "loadavg_before": 1.0}
            for rep in (0, 1) for p, rate, acc in (("d2l", 1000.0, d2l_acc),
                                                    ("cnncourse", 3000.0, cnn_acc))]
    gpu = "NVIDIA Test GPU" if device == "cuda" else None
    return {
        "case": case, "title": "d2l's LeNet-5, batch 256, lr 0.9", "device_type": device,
        "complete": True, "_file": f"{case}-{device}.json",
        "command": f"python benchmarks/bench_lenet.py --device {device} --epochs 10 --repeats 2",
        "environment": {"date_utc": "2026-01-02 03:04 UTC", "python": "3.11", "platform": "x",
                        "cpu": "Some(R) CPU", "cpu_count": 2, "torch_threads": 2,
                        "torch": "2", "torchvision": "0", "d2l": "1.0.3", "cnncourse": "0.1",
                        "commit": "abc1234", "device": device, "gpu": gpu, "cuda": "13.0"},
        "settings": {"model": "cnncourse.models.lenet.lenet", "batch_size": 256, "lr": 0.9,
                     "epochs": 10, "resize": None, "repeats": 2, "warmup_epochs": 1,
                     "seed": 0, "cnncourse_options": {}},
        "runs": runs,
        "summary": {"d2l": stats(1000.0, d2l_acc), "cnncourse": stats(3000.0, cnn_acc),
                    "ratio": 3.0, "ratio_per_repeat": [3.0, 3.0], "accuracy_ok": True},
    }


def fake_swap(loop_gap: float = 0.0, orders=(0.7968, 0.7750, 0.7900)) -> dict:
    """A bench_swap record: seed 0, each loop on each loader, and cnncourse's other orders."""
    def run(loop, data, seed, data_seed, acc):
        return {"loop": loop, "data": data, "seed": seed, "data_seed": data_seed, "epochs": 10,
                "test_acc": acc, "test_acc_per_epoch": [0.70, 0.78, 0.74, acc]}
    runs = [run("d2l", "d2l", 0, None, 0.7720),
            run("cnncourse", "d2l", 0, None, 0.7720 + loop_gap),
            run("d2l", "cnncourse", 0, 0, orders[0]),
            run("cnncourse", "cnncourse", 0, 0, orders[0])]
    runs += [run("cnncourse", "cnncourse", 0, k, acc) for k, acc in enumerate(orders) if k]
    return {"case": "lenet-swap", "device_type": "cpu", "complete": True, "runs": runs,
            "commands": ["python benchmarks/bench_swap.py --device cpu --seeds 0"],
            "settings": {"batch_size": 256, "lr": 0.9},
            "environment": {"date_utc": "2026-12-01 17:00 UTC", "commit": "abc1234",
                            "cpu": "Some CPU", "cpu_count": 2, "torch_threads": 1}}


def test_a_gap_in_accuracy_is_never_called_the_same():
    same = make_speed_page.render([fake_record()], None)
    gap = make_speed_page.render([fake_record(d2l_acc=0.77, cnn_acc=0.80)], None)
    row, = table_with(section(gap, "## Accuracy"), "cnncourse − d2l, points")
    assert number(row["cnncourse − d2l, points"]) == 3.0
    said = "they end at about the same test accuracy"
    assert said in same and said not in gap


def test_a_gpu_row_appears_only_with_a_gpu_record():
    both = make_speed_page.render([fake_record("cpu"), fake_record("cuda")], None)
    rows = table_with(section(both, "## The short answer"), "cnncourse")
    assert [number(r["speed\u2011up"]) for r in rows] == [3.0, 3.0]
    assert "NVIDIA Test GPU" in rows[1]["machine, date"]
    cpu_only = make_speed_page.render([fake_record("cpu")], None)
    assert len(table_with(section(cpu_only, "## The short answer"), "cnncourse")) == 1


def test_the_time_outside_d2ls_steps_follows_from_its_printed_rate():
    """d2l's own timer covers its steps only: wall-clock 1,000/s against 1,250/s printed
    leaves a fifth of the time between the steps."""
    text = section(make_speed_page.render([fake_record("cpu")], None),
                   "## Where the speed-up comes from")
    assert "20 %" in text and "1,250 examples/s" in text


def test_the_cuda_graph_factor_is_the_ratio_of_an_eager_and_a_graph_record():
    eager = fake_record("cuda")
    eager["settings"]["cnncourse_options"] = {"cuda_graph": False}
    graph = copy.deepcopy(eager)
    graph["case"] = "lenet-graph"
    graph["settings"]["cnncourse_options"] = {"cuda_graph": True}
    graph["summary"]["cnncourse"]["examples_per_sec_median"] = 15000.0
    assert "(5.0x)" in make_speed_page.render([eager, graph], None)
    assert "(5.0x)" not in make_speed_page.render([eager], None)


def test_uses_cuda_graph_follows_the_defaults_of_the_day():
    rec = fake_record("cuda")
    assert make_speed_page.uses_cuda_graph(rec)  # today's default records the graph
    rec["provenance"] = {"cnncourse_defaults": "no CUDA graph unless cuda_graph=True"}
    assert not make_speed_page.uses_cuda_graph(rec)
    rec["settings"]["cnncourse_options"] = {"cuda_graph": True}
    assert make_speed_page.uses_cuda_graph(rec)
    assert not make_speed_page.uses_cuda_graph(fake_record("cpu"))


def test_commands_include_a_warm_up_that_is_not_the_default():
    rec = fake_record()
    assert "--warmup-epochs" not in make_speed_page.command_of(rec)
    rec["settings"]["warmup_epochs"] = 0
    assert make_speed_page.command_of(rec).endswith(" --warmup-epochs 0")


@pytest.mark.parametrize("rule", sorted(make_speed_page.OLDER_THAN))
def test_measurements_older_than_a_rule_are_named_without_git(rule):
    old_sha = sorted(make_speed_page.OLDER_THAN[rule])[0]
    assert make_speed_page.measured_before(f"{old_sha}+changes", rule) is True
    assert make_speed_page.measured_before("abc1234", rule) is False
    assert make_speed_page.measured_before(None, rule) is None
    old = fake_record("cpu", d2l_acc=0.77, cnn_acc=0.80)
    old["environment"]["commit"] = old_sha
    new = fake_record("cpu", d2l_acc=0.77, cnn_acc=0.80)
    assert rule in make_speed_page.render([old], None, swap=fake_swap())
    assert rule not in make_speed_page.render([new], None, swap=fake_swap())


def test_the_swap_findings_are_computed_from_the_runs():
    f = make_speed_page.swap_findings(fake_swap())
    assert f["loop_gap_max"] == 0 and f["epochs_equal"]
    # both loops, d2l's loader against cnncourse's: the loader moves it, not the loop
    assert [round(g, 4) for g in f["data_gaps"]] == [0.0248, 0.0248]
    assert f["orders"] == [(0, 0.7968), (1, 0.7750), (2, 0.7900)]
    assert f["d2l_orders"] == [(0, 0.7720)]
    assert f["late_swing_max"] == pytest.approx(0.08)  # 0.70 -> 0.78 among the last epochs
    moved = make_speed_page.swap_findings(fake_swap(loop_gap=0.01))
    assert moved["loop_gap_max"] == pytest.approx(0.01) and not moved["epochs_equal"]
