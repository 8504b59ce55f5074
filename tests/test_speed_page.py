"""The speed appendix (book/speed.md) as a reader gets it: results, not a project tracker.

The page is generated from ``benchmarks/results/*.json`` by ``tools/make_speed_page.py``.
Whether a result meets a goal of the project is printed by the benchmark scripts, not
written into the book; accuracy is reported as measured, gap included.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

import make_speed_page

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "book" / "speed.md"

# Words of a to-do list or a checklist, which the page must not contain.
TRACKER = re.compile(r"\b(not met|met|target|targets|stretch|not measured|measured yet)\b",
                     re.IGNORECASE)


def real_page() -> str:
    records = make_speed_page.load_results(RESULTS)
    threads = make_speed_page.load_thread_results(RESULTS)
    swap = make_speed_page.load_swap_results(RESULTS)
    return make_speed_page.render(records, "images/speed.svg", threads, swap)


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


def test_committed_page_is_what_the_tool_writes():
    assert PAGE.read_text() == real_page(), "run: python tools/make_speed_page.py"


def test_no_tracker_lines_on_the_page():
    text = real_page()
    found = sorted({m.group(0).lower() for m in TRACKER.finditer(text)})
    assert not found, f"checklist words on the reader's page: {found}"
    assert "Against the targets" not in text and "Not measured yet" not in text


def test_accuracy_gap_is_stated_as_measured():
    records = make_speed_page.load_results(RESULTS)
    text = real_page()
    section = text.split("## Accuracy")[1].split("\n## ")[0]
    for rec in records:
        d = rec["summary"]["d2l"]["test_acc_mean"]
        c = rec["summary"]["cnncourse"]["test_acc_mean"]
        assert f"| {d:.4f} | {c:.4f} | {100 * (c - d):+.1f} |" in section
    if any(abs(r["summary"]["cnncourse"]["test_acc_mean"] - r["summary"]["d2l"]["test_acc_mean"])
           > 0.01 for r in records):
        assert "about the same test accuracy (" not in section
        swap = make_speed_page.load_swap_results(RESULTS)
        if swap is None:
            assert "being investigated" in section
        else:  # the cause, measured: each loop on each loader
            assert "being investigated" not in section
            assert "### Where the difference comes from" in section
            for r in swap["runs"]:
                assert f"{r['test_acc']:.4f}" in section


def test_same_accuracy_is_said_only_when_measured():
    same = make_speed_page.render([fake_record()], None)
    assert "they end at about the same test accuracy" in same
    assert "being investigated" not in same
    gap = make_speed_page.render([fake_record(d2l_acc=0.77, cnn_acc=0.80)], None)
    assert "| 0.7700 | 0.8000 | +3.0 |" in gap and "being investigated" in gap
    assert "they end at about the same" not in gap


def test_summary_gives_both_pipelines_from_the_same_run():
    text = make_speed_page.render([fake_record("cpu"), fake_record("cuda")], None)
    summary = text.split("## The short answer")[1].split("\n## ")[0]
    assert "| d2l's LeNet-5, 10 epochs | Some CPU, 2 logical CPUs, 2026-01-02 | 1,000 | 3,000 " \
           "| 3.00x |" in summary
    assert "| NVIDIA Test GPU, 2026-01-02 |" in summary
    assert "No GPU measurement" not in text
    cpu_only = make_speed_page.render([fake_record("cpu")], None)
    assert "No GPU measurement has been recorded yet" in cpu_only


def test_speed_up_sources_use_the_runs():
    """d2l's own timer covers its steps only: the page turns the two rates into a share."""
    text = make_speed_page.render([fake_record("cpu")], None)
    sources = text.split("## Where the speed-up comes from")[1].split("\n## ")[0]
    # wall-clock 1,000 against 1,250 printed: a fifth of the time is between the steps
    assert "20 % of d2l's wall-clock time was outside its training steps" in sources
    assert "1,250 examples/s" in sources
    assert "bf16 autocast" in sources and "channels-last" in sources


def test_cuda_graph_comparison_only_from_an_eager_and_a_graph_record():
    eager = fake_record("cuda")
    eager["settings"]["cnncourse_options"] = {"cuda_graph": False}
    graph = copy.deepcopy(eager)
    graph["case"] = "lenet-graph"
    graph["settings"]["cnncourse_options"] = {"cuda_graph": True}
    graph["summary"]["cnncourse"]["examples_per_sec_median"] = 15000.0
    text = make_speed_page.render([eager, graph], None)
    assert "3,000 examples/s without the graph, 15,000 with it (5.0x)" in text
    assert "No results file compares it" in make_speed_page.render([eager], None)


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
    text = make_speed_page.render([rec], None)
    assert "without a warm-up" in text and "0-epoch" not in text


def test_numeric_columns_are_right_aligned():
    """Every markdown table column whose cells are all numbers is declared ``---:``."""
    number = re.compile(r"^[-+]?[\d,]*\.?\d+(x| %| MiB)?( \(.*\))?$|^n/a$|^$")
    tables = re.findall(r"((?:^\|.*\|\n)+)", real_page(), flags=re.MULTILINE)
    assert tables
    for table in tables:
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]
        align, body = rows[1], rows[2:]
        for j, spec in enumerate(align):
            cells = [r[j].strip("*") for r in body]
            if all(number.match(c) for c in cells) and any(cells):
                assert spec.endswith(":"), (rows[0][j], spec)


def test_no_plural_slips():
    text = real_page()
    assert not re.search(r"\b1 (epochs|timed runs|runs)\b", text), "1 epochs"


def test_thread_rule_of_the_day_is_named():
    """CPU numbers made while train_ch6 chose threads from the load say so; later ones not."""
    old = fake_record("cpu")
    old["environment"]["commit"] = "2002a16"  # before threads were fixed
    assert make_speed_page.measured_before("2002a16", make_speed_page.THREADS_FIXED_SINCE)
    assert "are older than that rule" in make_speed_page.render([old], None)
    assert make_speed_page.measured_before(make_speed_page.THREADS_FIXED_SINCE,
                                           make_speed_page.THREADS_FIXED_SINCE) is False
    assert make_speed_page.measured_before("not-a-commit", "HEAD") is None
    new = fake_record("cpu")
    new["environment"]["commit"] = "not-a-commit"  # unknown: no claim either way
    assert "older than that rule" not in make_speed_page.render([new], None)


@pytest.mark.parametrize("word", ["the issue", "issue 12"])
def test_tool_explains_itself_without_pointing_at_an_issue(word):
    assert word not in (ROOT / "tools" / "make_speed_page.py").read_text().lower()


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


def test_swap_names_the_half_that_moves_the_accuracy():
    gap = [fake_record(d2l_acc=0.7720, cnn_acc=0.7968)]
    text = make_speed_page.render(gap, None, swap=fake_swap())
    section = text.split("## Accuracy")[1].split("\n## ")[0]
    assert "being investigated" not in section
    assert "| 0 | d2l's loader, drawn from the seed | 0.7720 | 0.7720 |" in section
    assert "| 0 | cnncourse's loader, order seed 1 |  | 0.7750 |" in section
    assert "the same test accuracy to four decimals, after every epoch" in section
    assert "cnncourse's loader ends +2.5 points from d2l's" in section
    # cnncourse's orders 0.7750..0.7968 and d2l's 0.7720: 2.5 points, the size of the gap
    assert "spans 2.5 points, about as much as the difference" in section
    assert "Every order of cnncourse's loader here ends above every order of d2l's" in section
    assert "with 3 and 1 orders" in section
    runs = text.split("### Each loop on each loader")[1]
    assert "| 0 | d2l's | cnncourse | 0.700 0.780 0.740 0.772 |" in runs
    assert "python benchmarks/bench_swap.py --device cpu --seeds 0" in text
    differ = make_speed_page.render(gap, None, swap=fake_swap(loop_gap=0.01))
    assert "the two loops end at most 1.0 points apart" in differ
    assert "four decimals" not in differ
    overlap = make_speed_page.render(gap, None, swap=fake_swap(orders=(0.7968, 0.7700)))
    assert "The two loaders' results overlap" in overlap and "Every order" not in overlap


def test_order_rule_of_the_day_is_named():
    """Benchmark records from before the seed set cnncourse's order say so, with a swap record."""
    old = fake_record(d2l_acc=0.77, cnn_acc=0.80)
    old["environment"]["commit"] = "f22575c"
    text = make_speed_page.render([old], None, swap=fake_swap())
    assert f"older than commit {make_speed_page.ORDER_SEEDED_SINCE}" in text
    new = fake_record(d2l_acc=0.77, cnn_acc=0.80)
    new["environment"]["commit"] = "not-a-commit"
    assert "older than commit" not in make_speed_page.render([new], None, swap=fake_swap())
