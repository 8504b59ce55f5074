"""Generate the appendix page book/speed.md ("How fast is this code?") from benchmark results.

    python -m bookfactory speed        # reads cnncourse/results/*.json

Every number on the page comes from a results file written by
``benchmarks/bench_*.py``; nothing is typed in by hand. The page is written for
readers: how much faster the course's code trains than d2l's, on which machine,
where the difference comes from, and how to measure it again. Whether a result
meets a goal the project set itself is the benchmark scripts' business (they
print it when they finish), not the book's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# From this commit on, train_ch6 keeps PyTorch's own CPU thread count (a seed gives the same
# numbers on every run); before it, on machines with at most two logical CPUs, it chose one
# or two threads from the machine's load. Measurements from before it say so on the page.
THREADS_FIXED_SINCE = "479ae67"

# From this commit on, the speed benchmark passes each run's seed to cnncourse's loader, whose
# order of training examples follows its own generator (seed 0 unless told); before it, every
# cnncourse run of a benchmark saw the same orders, whatever its seed.
ORDER_SEEDED_SINCE = "486a1b1"

# The commits that recorded a results file (then in benchmarks/results/) before each rule above
# (asked of git once, with `git merge-base --is-ancestor`; tests/test_speed_page.py asks
# again wherever the history is there). A commit made after a rule is never older than it,
# so results recorded from now on need no entry.
OLDER_THAN = {
    THREADS_FIXED_SINCE: frozenset({"b4e5b84", "414c6c5"}),
    ORDER_SEEDED_SINCE: frozenset({"b4e5b84", "414c6c5"}),
}

# On a GPU machine without network access, benchmarks/gpu_kit.sh runs all of the GPU cases.
GPU_KIT = ("# where pip works: d2l's wheel and the data",
           "bash benchmarks/gpu_kit.sh prepare",
           "# on the GPU machine",
           "bash benchmarks/gpu_kit.sh run check lenet variants \\",
           "    alexnet full")


# ---------------------------------------------------------------- reading results


def load_results(folder: Path) -> list[dict]:
    """Complete d2l-vs-cnncourse records in ``folder``: CPU first, then GPU, each by case."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("complete") and "d2l" in rec.get("summary", {}):
            rec["_file"] = path.name
            records.append(rec)
    # CPU first; on the GPU d2l's LeNet (the course's main case) before AlexNet, the
    # default CUDA-graph step before the eager one
    records.sort(key=lambda r: (r["device_type"] != "cpu", _base_case(r) != "lenet",
                                not uses_cuda_graph(r), r["case"]))
    return records


def load_thread_results(folder: Path) -> dict | None:
    """The record of ``benchmarks/bench_threads.py``, if there is one."""
    path = Path(folder) / "threads-cpu.json"
    if not path.exists():
        return None
    rec = json.loads(path.read_text())
    return rec if rec.get("complete") else None


def load_swap_results(folder: Path) -> dict | None:
    """The record of ``benchmarks/bench_swap.py`` (each loop on each loader), CPU first."""
    for name in ("lenet-swap-cpu.json", "lenet-swap-cuda.json"):
        path = Path(folder) / name
        if path.exists():
            rec = json.loads(path.read_text())
            if rec.get("complete") and rec.get("runs"):
                rec["_file"] = name
                return rec
    return None


def current_defaults(rec: dict) -> bool:
    """Whether the record measured today's ``train_ch6`` defaults.

    Files written before the CUDA graph became the default on CUDA say so in
    ``provenance.cnncourse_defaults``.
    """
    return "cnncourse_defaults" not in rec.get("provenance", {})


def uses_cuda_graph(rec: dict) -> bool:
    """Whether cnncourse's training step ran as a CUDA graph in this record."""
    if rec["device_type"] != "cuda":
        return False
    option = (rec["settings"].get("cnncourse_options") or {}).get("cuda_graph")
    if option is not None:
        return option is True
    # train_ch6 records the graph by default today; older files ran eagerly by default
    return current_defaults(rec)


def measured_before(commit: str | None, ref: str) -> bool | None:
    """Whether ``commit`` (possibly "<sha>+changes") came before the rule ``ref``; None when
    the page cannot tell (no commit recorded). Read from ``OLDER_THAN``, not from git, so
    the page is the same in a shallow clone or an unpacked archive."""
    if not commit:
        return None
    sha = commit.split("+")[0]
    return any(sha.startswith(c) or c.startswith(sha) for c in OLDER_THAN[ref])


def threads_followed_load(rec: dict) -> bool:
    """Whether a bench_threads record's *default* chose its threads from the load (older
    records count the changes of thread count per run; later ones have nothing to count)."""
    return any("thread_changes" in r for r in rec["runs"])


def _base_case(rec: dict) -> str:
    return rec["case"].removesuffix("-graph").removesuffix("-eager")


# ---------------------------------------------------------------- small formatters


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def _mib(b) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.0f} MiB"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _epochs(rec: dict) -> str:
    return _plural(rec["settings"]["epochs"], "epoch")


def _commit(rec: dict) -> str:
    c = rec["environment"].get("commit") or rec.get("provenance", {}).get("commit")
    return f"commit {c}" if c else "commit not recorded"


def _date(rec: dict) -> str:
    return rec["environment"]["date_utc"].split()[0]


def _gpu(rec: dict) -> str:
    return (rec["environment"].get("gpu") or "GPU").removeprefix("NVIDIA ")


def _cpu(env: dict) -> str:
    """The CPU's name without trademark signs, which only get in the reader's way."""
    name = str(env.get("cpu"))
    for mark in ("(R)", "(TM)", "(tm)"):
        name = name.replace(mark, "")
    return f"{' '.join(name.split())}, {env.get('cpu_count')} logical CPUs"


def _hardware(env: dict) -> str:
    if env.get("gpu"):
        return f"{env['gpu']} (CUDA {env.get('cuda')})"
    return f"{_cpu(env)} (PyTorch default threads: {env.get('torch_threads')})"


def _machine(rec: dict) -> str:
    """The machine in a few words, for the summary table."""
    e = rec["environment"]
    return str(e.get("gpu")) if rec["device_type"] == "cuda" else _cpu(e)


def _loadavg(rec: dict) -> str:
    loads = [r["loadavg_before"] for r in rec["runs"] if r.get("loadavg_before") is not None]
    if not loads:
        return "n/a"
    return f"{min(loads):.1f} to {max(loads):.1f}"


def case_label(rec: dict, with_device: bool = True) -> str:
    """The case in words: model, epochs, device and whether cnncourse used a CUDA graph."""
    base = _base_case(rec)
    model = {"lenet": "d2l's LeNet-5", "alexnet224": "AlexNet at 224×224"}.get(
        base, rec["title"].split(",")[0])
    words = [model, _epochs(rec)]
    if with_device:
        words.append("CPU" if rec["device_type"] == "cpu" else _gpu(rec))
    if rec["device_type"] == "cuda":
        words.append("CUDA graph" if uses_cuda_graph(rec) else "no CUDA graph")
    return ", ".join(words)


def _wall_over_printed(rec: dict, pipeline: str) -> float | None:
    """Median of wall-clock rate / the rate the pipeline printed itself, over its runs."""
    ratios = [r["examples_per_sec"] / r["self_reported_examples_per_sec"]
              for r in rec["runs"] if r["repeat"] >= 0 and r["pipeline"] == pipeline
              and r.get("self_reported_examples_per_sec")]
    return statistics.median(ratios) if ratios else None


def _printed_rate(rec: dict, pipeline: str) -> float | None:
    rates = [r["self_reported_examples_per_sec"] for r in rec["runs"]
             if r["repeat"] >= 0 and r["pipeline"] == pipeline
             and r.get("self_reported_examples_per_sec")]
    return statistics.median(rates) if rates else None


# ---------------------------------------------------------------- page sections


def summary_table(records: list[dict]) -> str:
    """One row per case: both pipelines' median rates from the same run, and the ratio."""
    # a non-breaking hyphen: the narrow column would otherwise break "speed-" from "up"
    lines = ["| case | machine, date | d2l | cnncourse | speed\u2011up |",
             "|---|---|---:|---:|---:|"]
    for rec in records:
        s = rec["summary"]
        lines.append(f"| {case_label(rec, with_device=False)} | {_machine(rec)}, {_date(rec)} "
                     f"| {_rate(s['d2l']['examples_per_sec_median'])} "
                     f"| {_rate(s['cnncourse']['examples_per_sec_median'])} "
                     f"| {s['ratio']:.2f}x |")
    return "\n".join(lines)


def accuracy_section(records: list[dict], swap: dict | None = None) -> list[str]:
    """Test accuracy of both pipelines as measured, with the gap stated, not explained away;
    with a ``bench_swap`` record, which half of the pipeline the gap is in."""
    lines = ["| case | d2l | cnncourse | cnncourse − d2l, points |",
             "|---|---:|---:|---:|"]
    spread = 0.0
    for rec in records:
        d, c = rec["summary"]["d2l"], rec["summary"]["cnncourse"]
        lines.append(f"| {case_label(rec)} | {d['test_acc_mean']:.4f} | {c['test_acc_mean']:.4f} "
                     f"| {100 * (c['test_acc_mean'] - d['test_acc_mean']):+.1f} |")
        spread = max(spread, d["test_acc_max"] - d["test_acc_min"],
                     c["test_acc_max"] - c["test_acc_min"])
    gaps = [rec["summary"]["cnncourse"]["test_acc_mean"] - rec["summary"]["d2l"]["test_acc_mean"]
            for rec in records]
    if max(abs(g) for g in gaps) <= spread + 0.005:
        return ["Both pipelines train the same model with the same hyper-parameters and seed, "
                "and they end at about the same test accuracy (final test accuracy, mean over "
                "each pipeline's timed runs):", "", *lines, ""]
    lenet = [g for rec, g in zip(records, gaps) if _base_case(rec) == "lenet"]
    devices = {rec["device_type"] for rec in records if _base_case(rec) == "lenet"}
    same = (len(devices) > 1 and max(lenet) - min(lenet) <= 0.005
            and abs(lenet[0]) > spread + 0.005)
    alexnet = (" (AlexNet's single epoch says little about accuracy either way.)"
               if any(_base_case(r).startswith("alexnet") and r["settings"]["epochs"] < 2
                      for r in records) else "")
    if swap is None:
        return [
            "Both pipelines train the same model with the same hyper-parameters and seed, so "
            "the faster one should end at about the same test accuracy. They do not quite "
            "(final test accuracy, mean over each pipeline's timed runs):", "", *lines, "",
            "The two pipelines shuffle the data with different code, so their runs are not "
            "identical; but the runs of one pipeline agree with each other to within "
            f"{100 * spread:.1f} points"
            + (", and the LeNet difference is the same on the CPU and on the GPU, so it is not "
               "run-to-run noise" if same else "")
            + ". Its cause is being investigated; until it is known, read the speed-ups above "
            "as speed only, not as evidence that the two pipelines train identically."
            + alexnet, ""]
    older = sorted({_commit(r).removeprefix("commit ") for r in records
                    if measured_before(_commit(r).removeprefix("commit "), ORDER_SEEDED_SINCE)})
    note = ("The runs of one pipeline agree with each other to within "
            f"{100 * spread:.1f} points"
            + (", and the LeNet difference is the same on the CPU and on the GPU" if same else "")
            + ".")
    if older:
        note += (" For cnncourse that agreement says little: these measurements "
                 f"({'commits' if len(older) > 1 else 'commit'} {', '.join(older)}) are older "
                 f"than commit {ORDER_SEEDED_SINCE}, and in them "
                 "every cnncourse run saw the same orders of training examples whatever its "
                 "seed; only the initial weights changed from run to run.")
    return [
        "Both pipelines train the same model with the same hyper-parameters, from the same "
        "initial weights (the run's seed), on the same data, so the faster one should end at "
        "about the same test accuracy. They do not quite (final test accuracy, mean over each "
        "pipeline's timed runs):", "", *lines, "", note + alexnet, "",
        *swap_section(swap, lenet)]


def swap_findings(swap: dict) -> dict:
    """What the swap runs say, as numbers: how far the loop and how far the loader move the
    final test accuracy, and how far the order of cnncourse's loader alone does."""
    final = {(r["loop"], r["data"], r["seed"], r["data_seed"]): r for r in swap["runs"]}
    # the order seeds of cnncourse's loader that both loops trained on (the other ones only
    # show what the order alone does)
    shared = {dseed for loop, data, _, dseed in final if (loop, data) == ("d2l", "cnncourse")}
    loop_gaps, epochs_equal, data_gaps = [], [], []
    for (loop, data, seed, dseed), r in final.items():
        other = final.get(("cnncourse", data, seed, dseed)) if loop == "d2l" else None
        if other is not None:
            loop_gaps.append(abs(other["test_acc"] - r["test_acc"]))
            epochs_equal.append([round(a, 4) for a in r["test_acc_per_epoch"] or []]
                                == [round(a, 4) for a in other["test_acc_per_epoch"] or []])
        if data == "d2l":
            for (l2, d2, s2, ds2), r2 in final.items():
                if (l2, d2, s2) == (loop, "cnncourse", seed) and ds2 in (shared or {0}):
                    data_gaps.append(r2["test_acc"] - r["test_acc"])
    # one result per order: cnncourse's orders with seed 0's weights, d2l's one per seed
    # (the loops train alike, so either loop's run stands for its order)
    orders = {dseed: r["test_acc"] for (loop, data, seed, dseed), r in sorted(
        final.items(), key=lambda kv: kv[0][0] == "cnncourse") if data == "cnncourse" and seed == 0}
    d2l_orders = {seed: r["test_acc"] for (loop, data, seed, _), r in sorted(
        final.items(), key=lambda kv: kv[0][0] == "cnncourse") if data == "d2l"}
    swings = [abs(b - a) for r in swap["runs"] if r["test_acc_per_epoch"]
              for a, b in zip(r["test_acc_per_epoch"][-4:-1], r["test_acc_per_epoch"][-3:])]
    return {"loop_gap_max": max(loop_gaps) if loop_gaps else None,
            "loop_pairs": len(loop_gaps), "epochs_equal": bool(epochs_equal) and all(epochs_equal),
            "data_gaps": data_gaps, "orders": sorted(orders.items()),
            "d2l_orders": sorted(d2l_orders.items()),
            "late_swing_max": max(swings) if swings else None}


def _points(x: float) -> str:
    return f"{100 * x:.1f}"


def swap_section(swap: dict, gaps: list[float]) -> list[str]:
    """Each loop on each loader: which half of the pipeline the accuracy difference is in."""
    f = swap_findings(swap)
    epochs = {r["epochs"] for r in swap["runs"]}
    where = "the CPU" if swap["device_type"] == "cpu" else _gpu(swap)
    out = ["### Where the difference comes from", "",
           "Each pipeline has two halves: a loader (d2l's torchvision `DataLoader`, "
           "cnncourse's in-memory `TensorLoader`) and a training loop (`train_ch6`). "
           "`benchmarks/bench_swap.py` trains each loop on each loader with the same seed "
           f"({', '.join(_plural(n, 'epoch') for n in sorted(epochs))}, on {where}, "
           f"{_date(swap)}, {_commit(swap)}). Final test accuracy (a blank: not run):", "",
           "| seed | order of the training examples | d2l's `train_ch6` "
           "| cnncourse's `train_ch6` |", "|---:|---|---:|---:|"]
    final = {(r["loop"], r["data"], r["seed"], r["data_seed"]): r["test_acc"]
             for r in swap["runs"]}
    rows = sorted({(seed, data, dseed) for _, data, seed, dseed in final},
                  key=lambda x: (x[0], x[1] != "d2l", x[2] or 0))
    for seed, data, dseed in rows:
        order = ("d2l's loader, drawn from the seed" if data == "d2l" else
                 f"cnncourse's loader, order seed {dseed}")
        cells = [final.get((loop, data, seed, dseed)) for loop in ("d2l", "cnncourse")]
        out.append(f"| {seed} | {order} | "
                   + " | ".join("" if c is None else f"{c:.4f}" for c in cells) + " |")
    out.append("")
    text = []
    if f["loop_gap_max"] is not None:
        if f["epochs_equal"]:
            text.append("On the same loader and seed, the two loops end at the same test "
                        "accuracy to four decimals, after every epoch: cnncourse's loop "
                        "trains as d2l's does, channels-last and all.")
        else:
            text.append("On the same loader and seed, the two loops end at most "
                        f"{_points(f['loop_gap_max'])} points apart.")
    if f["data_gaps"]:
        lo, hi = min(f["data_gaps"]), max(f["data_gaps"])
        span = (f"{lo * 100:+.1f}" if abs(hi - lo) < 0.0005 else
                f"{lo * 100:+.1f} to {hi * 100:+.1f}")
        text.append(f"On the same loop, cnncourse's loader ends {span} points from d2l's: the "
                    "difference is in the data. Both loaders serve the same images and labels, "
                    "scaled to [0, 1] alike, in the same batch sizes; they differ in the order "
                    "of the training examples. d2l's `DataLoader` draws a new order every "
                    "epoch from PyTorch's global generator, which the run's seed sets; "
                    "cnncourse's loader draws it from a generator of its own, seeded by "
                    "`load_data_fashion_mnist(seed=...)` (0 unless given), which "
                    "`torch.manual_seed` does not touch.")
    out += [" ".join(text), ""] if text else []
    orders, d2l_orders = f["orders"], f["d2l_orders"]
    if len(orders) + len(d2l_orders) >= 3 and orders and d2l_orders:
        accs = [a for _, a in orders + d2l_orders]
        spread = max(accs) - min(accs)
        lenet_gap = max((abs(g) for g in gaps), default=0.0)
        compare = ("more than" if spread > lenet_gap + 0.005 else
                   "about as much as" if spread >= lenet_gap - 0.005 else "less than")
        para = ("How far does the order alone move the result? On cnncourse's loader, seed 0's "
                "initial weights with order seeds "
                f"{', '.join(str(s) for s, _ in orders)} end at "
                f"{', '.join(f'{a:.4f}' for _, a in orders)}; on d2l's loader, seeds "
                f"{', '.join(str(s) for s, _ in d2l_orders)} (an order each, and initial "
                f"weights each) end at {', '.join(f'{a:.4f}' for _, a in d2l_orders)}. "
                f"Over these orders the final test accuracy spans {_points(spread)} points, "
                f"{compare} the difference between the pipelines above.")
        if f["late_swing_max"] is not None:
            para += (" With sigmoid activations and a learning rate of 0.9 the test accuracy "
                     "still jumps between epochs late in these runs (by up to "
                     f"{_points(f['late_swing_max'])} points over the last three epochs), so "
                     "the order of the last batches before the final test matters.")
        cnn_accs, d2l_accs = [a for _, a in orders], [a for _, a in d2l_orders]
        if min(cnn_accs) <= max(d2l_accs):
            para += (" The two loaders' results overlap: the gap in the table above comes from "
                     "the particular orders the benchmark drew (all of cnncourse's runs there "
                     "saw one and the same), not from how the loaders serve the data.")
        else:
            para += (f" Every order of cnncourse's loader here ends above every order of "
                     "d2l's. Both draw a uniformly random permutation each epoch "
                     "(`torch.randperm`), and nothing else in how they serve the data differs, "
                     f"so with {len(cnn_accs)} and {len(d2l_accs)} orders this is as likely "
                     "chance as a real difference; more orders would tell.")
        out += [para, ""]
    return out


def swap_runs_section(swap: dict) -> list[str]:
    """Every run of ``bench_swap.py``, with its test accuracy after each epoch."""
    e = swap["environment"]
    out = ["### Each loop on each loader", "",
           f"Measured {e['date_utc']}, {_commit(swap)}, on {_hardware(e)}, batch "
           f"{swap['settings']['batch_size']}, lr {swap['settings']['lr']:g} "
           f"(`cnncourse/results/{swap.get('_file', 'lenet-swap-cpu.json')}`)"
           ". Test accuracy after each epoch:", "",
           "| seed | order | loop | test accuracy, epoch by epoch |", "|---:|---|---|---|"]
    for r in swap["runs"]:
        order = "d2l's" if r["data"] == "d2l" else f"cnncourse's, seed {r['data_seed']}"
        out.append(f"| {r['seed']} | {order} | {r['loop']} | "
                   + " ".join(f"{a:.3f}" for a in r["test_acc_per_epoch"] or []) + " |")
    return out + [""]


def sources_section(records: list[dict], threads: dict | None) -> list[str]:
    """What each part of cnncourse's pipeline is worth, from the measurements there are."""
    out = ["## Where the speed-up comes from", "",
           "`cnncourse.train_ch6` and `cnncourse.load_data_fashion_mnist` differ from d2l's in "
           "several ways at once. Here is each, with what the results files can say about "
           "its share; where no run switches one of them off alone, the page says so rather "
           "than guess.", ""]
    # 1. Data on the device: d2l's own timer covers its training steps only.
    out.append(
        "* **The data set as one tensor on the training device; batches are index slices, "
        "and the metrics are summed there without a host sync per batch** (CPU and GPU). "
        "d2l's `DataLoader` decodes every image with `ToTensor` in four worker processes, "
        "started anew every epoch. d2l's own printed examples/s times only its training "
        "steps, so comparing it with the wall-clock rate shows how long d2l spends between "
        "them: waiting for the next batch, the test pass after every epoch, and drawing its "
        "plot, which it still does when nobody sees it:")
    for rec in records:
        share = _wall_over_printed(rec, "d2l")
        if share is None or uses_cuda_graph(rec):
            continue  # a graph run's d2l half repeats what the eager run of its case says
        steps = _printed_rate(rec, "d2l")
        cnn = rec["summary"]["cnncourse"]["examples_per_sec_median"]
        where = "the CPU" if rec["device_type"] == "cpu" else f"the {_gpu(rec)}"
        verdict = ("about the same rate, so there the whole gain is between the steps"
                   if abs(cnn / steps - 1) < 0.1 else
                   f"{cnn / steps:.1f}x d2l's steps alone, so there the steps themselves are "
                   "faster too" if cnn > steps else
                   "below d2l's steps alone, so there the gain between the steps is larger "
                   "than the whole speed-up")
        cores = rec["environment"].get("cpu_count") or 0
        if rec["device_type"] == "cpu" and cnn > steps and cores <= 4:
            verdict += (f" (on {cores} cores, d2l's four loader processes compete with its "
                        "steps for the CPU)")
        out.append(
            f"  * {case_label(rec, with_device=False)}, {where}, {_date(rec)}: "
            f"{100 * (1 - share):.0f} % of d2l's wall-clock time was outside its training "
            f"steps, which alone ran at {_rate(steps)} examples/s; cnncourse's whole epochs "
            f"ran at {_rate(cnn)}, {verdict}.")
    # 2. CUDA graph: an eager and a graph record of the same case.
    pairs = []
    for rec in records:
        if rec["device_type"] == "cuda" and uses_cuda_graph(rec):
            eager = [r for r in records if r["device_type"] == "cuda" and not uses_cuda_graph(r)
                     and _base_case(r) == _base_case(rec)
                     and r["settings"]["epochs"] == rec["settings"]["epochs"]]
            if eager:
                pairs.append((eager[0], rec))
    text = ("* **The training step as one CUDA graph** (GPU; `train_ch6`'s default there since "
            "commit 2002a16): after three warm-up steps, forward, backward and optimiser "
            "are recorded once and replayed with a single launch per batch "
            "(`cnncourse/step.py`), so a small network no longer waits for the CPU to launch "
            "its many small kernels. The measurement below is older than the loop in plain "
            "sight (2026-12-07): its graph also held the loss and accuracy sums, which now "
            "run outside it, a few more small launches per batch (not yet measured on a GPU).")
    for eager, graph in pairs:
        e = eager["summary"]["cnncourse"]["examples_per_sec_median"]
        g = graph["summary"]["cnncourse"]["examples_per_sec_median"]
        de = eager["summary"]["d2l"]["examples_per_sec_median"]
        dg = graph["summary"]["d2l"]["examples_per_sec_median"]
        text += (f" {case_label(graph, with_device=False).rsplit(',', 1)[0]} on the "
                 f"{_gpu(graph)}, {_date(graph)}: {_rate(e)} examples/s without the graph, "
                 f"{_rate(g)} with it ({g / e:.1f}x). The two come from two runs a few "
                 f"minutes apart, and d2l's rate moved between them too ({_rate(de)} and "
                 f"{_rate(dg)}), so the factor is approximate; the speed-up against d2l in "
                 "the table above is from within one run.")
    if not pairs:
        text += " No results file compares it with the eager step yet."
    out.append(text)
    # 3. bf16 and channels-last: no ablation in the results files.
    out.append(
        "* **bf16 autocast** (GPU) **and the channels-last memory format** (GPU and CPU): "
        "each is on wherever it applies in every cnncourse run above, and no results file "
        "has a run with only one of them switched off, so this page does not split their "
        "share from the rest. "
        "`train_ch6(..., mixed_precision=False, channels_last=False)` turns them off for "
        "anyone who wants to measure it.")
    # 4. Threads on a small CPU: today's rule, and when the CPU numbers were made.
    earlier = sorted({_commit(r).removeprefix("commit ") for r in records
                      if r["device_type"] == "cpu"
                      and measured_before(r["environment"].get("commit"),
                                          THREADS_FIXED_SINCE)})
    text = ("* **The thread count on the CPU**: `train_ch6` keeps PyTorch's own thread count "
            "while it trains, fixed when the process starts, so that a seed gives the same "
            "numbers on every run; `cpu_threads=` sets another.")
    if earlier:
        text += (f" The CPU measurements on this page (commit {', '.join(earlier)}) are older "
                 f"than that rule (commit {THREADS_FIXED_SINCE}): then, on a machine with at "
                 "most two logical CPUs, `train_ch6` used two threads only while no other "
                 "process kept a CPU busy, else one.")
    if threads is not None:
        s = threads["summary"]
        e = threads["environment"]
        parts = []
        for situation, words in (("quiet", "with nothing else started"),
                                 ("busy", "next to one busy process")):
            if situation in s:
                m = s[situation]["median_examples_per_sec"]
                parts.append(f"{words}, one thread trained at {_rate(m['1 thread'])} "
                             f"examples/s and two at {_rate(m['2 threads'])}")
        text += (f" What the count is worth, measured on {_cpu(e)}, {_date(threads)} "
                 "(`benchmarks/bench_threads.py`): " + "; ".join(parts) + ". A second thread "
                 "spin-waits for a core that another process holds, so on a busy machine "
                 "`cpu_threads=1` is the faster choice. Details below.")
    out.append(text)
    out.append("")
    return out


def results_table(rec: dict) -> str:
    """One case: a row per measurement, a column per pipeline."""
    s = rec["summary"]
    d, c = s["d2l"], s["cnncourse"]

    def rng(p, key, fmt):
        return (f"{fmt(p[key + '_median' if key != 'test_acc' else key + '_mean'])} "
                f"({fmt(p[key + '_min'])}–{fmt(p[key + '_max'])})")

    acc = lambda x: f"{x:.4f}"  # noqa: E731
    rows = [
        ("training examples/s: median (range)",
         rng(d, "examples_per_sec", _rate), rng(c, "examples_per_sec", _rate)),
        ("seconds per epoch (median)", f"{d['seconds_per_epoch_median']:.1f}",
         f"{c['seconds_per_epoch_median']:.1f}"),
        ("final test accuracy: mean (range)", rng(d, "test_acc", acc),
         rng(c, "test_acc", acc)),
        ("peak GPU memory allocated" if rec["device_type"] == "cuda" else
         "peak memory added during the run (RSS growth + workers)",
         _mib(d["peak_memory_bytes"]), _mib(c["peak_memory_bytes"])),
        ("building the loaders (s, not in the rate)", f"{d['load_seconds_median']:.2f}",
         f"{c['load_seconds_median']:.2f}"),
        ("**speed-up** (ratio of the medians)", "1.00x", f"**{s['ratio']:.2f}x**"),
    ]
    if s.get("ratio_per_repeat"):
        rows.append(("speed-up within each repeat (back-to-back runs)", "",
                     ", ".join(f"{x:.2f}x" for x in s["ratio_per_repeat"])))
    lines = ["| | d2l | cnncourse |", "|---|---:|---:|"]
    lines += [f"| {a} | {b} | {x} |" for a, b, x in rows]
    return "\n".join(lines)


def runs_table(rec: dict) -> str:
    """Every timed run in the order it ran (the warm-up is left out)."""
    lines = ["| run | pipeline | seconds | examples/s | test acc | printed examples/s | load |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for i, r in enumerate([r for r in rec["runs"] if r["repeat"] >= 0], 1):
        printed = r.get("self_reported_examples_per_sec")
        load = r.get("loadavg_before")
        lines.append(
            f"| {i} | {r['pipeline']} | {r['train_seconds']:.1f} | {_rate(r['examples_per_sec'])} "
            f"| {r['test_acc']:.4f} | {'n/a' if printed is None else _rate(printed)} "
            f"| {'n/a' if load is None else f'{load:.1f}'} |")
    return "\n".join(lines)


def command_of(rec: dict) -> str:
    """The command that made the record, with a warm-up other than the default spelled out."""
    cmd = rec["command"]
    warmup = rec.get("settings", {}).get("warmup_epochs")
    if warmup is not None and warmup != 1 and "--warmup-epochs" not in cmd:
        cmd += f" --warmup-epochs {warmup}"
    return cmd


def environment_list(rec: dict) -> str:
    e = rec["environment"]
    st = rec["settings"]
    warmup = st["warmup_epochs"]
    lines = [
        f"* measured: {e['date_utc']}, {_commit(rec)}; device `{e['device']}`: {_hardware(e)}",
        f"* Python {e['python']}, PyTorch {e['torch']}, torchvision {e['torchvision']}, "
        f"d2l {e['d2l']}, cnncourse {e['cnncourse']} ({e['platform']})",
        f"* model `{st['model']}`, batch {st['batch_size']}, lr {st['lr']:g}, "
        f"{_plural(st['epochs'], 'epoch')} per run, resize {st['resize'] or 'none'}, "
        f"{_plural(st['repeats'], 'timed run')} of each pipeline "
        + (f"after a {warmup}-epoch warm-up" if warmup else "without a warm-up"),
        f"* 1-minute load average of the machine when runs started: {_loadavg(rec)} "
        f"(on {e['cpu_count']} logical CPUs)",
        f"* command: `{command_of(rec)}`",
    ]
    prov = rec.get("provenance", {})
    if prov.get("cnncourse_defaults"):
        lines.append(f"* cnncourse's defaults then: {prov['cnncourse_defaults']}; "
                     f"options passed: {st.get('cnncourse_options') or 'none'}")
    if e.get("gpu"):
        lines.append(f"* host: {e.get('cpu')}, {e.get('cpu_count')} logical CPUs")
    return "\n".join(lines)


def threads_section(rec: dict) -> list[str]:
    """The CPU thread choice: train_ch6's default against 1 and 2 fixed threads."""
    e = rec["environment"]
    default = ("`train_ch6`'s default of the day, which chose one or two threads from the "
               "machine's load" if threads_followed_load(rec) else
               "`train_ch6`'s default, PyTorch's own thread count")
    out = ["### CPU threads under load", "",
           f"`benchmarks/bench_threads.py` trains d2l's LeNet with {default}, and with one and "
           "two fixed threads: with nothing else started (*quiet*; other users of the machine "
           "may be busy), with one busy-loop process throughout (*busy*), and with the busy "
           "loop starting halfway (*changes*). PyTorch's own count on this machine is "
           f"{e.get('torch_threads')} threads.", "",
           "| situation | 1 thread | 2 threads | default | default / better fixed |",
           "|---|---:|---:|---:|---:|"]
    for situation, s in rec["summary"].items():
        m = s["median_examples_per_sec"]
        out.append(f"| {situation} | {_rate(m['1 thread'])} | {_rate(m['2 threads'])} | "
                   f"{_rate(m['default'])} | {s['default_vs_best_fixed']:.2f} |")
    loads = [r["loadavg_before"] for r in rec["runs"]]
    reps, n = rec["settings"]["repeats"], rec["settings"]["epochs"]
    used = ", ".join(f"{r['situation']} {r['threads_per_epoch']}" for r in rec["runs"]
                     if r["threads"] is None)
    out += ["", f"Median training examples/s over {_plural(reps, 'run')} of "
            f"{_plural(n, 'epoch')} each (threads the default used at the end of "
            f"each epoch: {used}). "
            "On a shared machine the load also changes between runs, so small differences "
            "between columns are noise; a second thread that loses several-fold is not. "
            f"Measured {e['date_utc']}, {_commit(rec)}, "
            f"on {_hardware(e)}; 1-minute load average when runs started: "
            f"{min(loads):.1f} to {max(loads):.1f}; command: `{rec['command']}`.", ""]
    return out


def bar_chart(records: list[dict], path: Path) -> None:
    """Horizontal bars: median training examples/s of both pipelines for every case."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "cnncourse-speed"  # the same SVG for the same numbers
    labels, d2l_rates, cnn_rates = [], [], []
    for rec in records:
        labels.append(case_label(rec, with_device=False).replace(", ", "\n", 1)
                      + f"\n{'CPU' if rec['device_type'] == 'cpu' else _gpu(rec)}")
        d2l_rates.append(rec["summary"]["d2l"]["examples_per_sec_median"])
        cnn_rates.append(rec["summary"]["cnncourse"]["examples_per_sec_median"])
    n = len(records)
    # About as wide as the page column, so that 10-pt text reads as ~14 px there.
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 1.0 * n))
    ys = range(n)
    h = 0.38
    ax.barh([y - h / 2 for y in ys], d2l_rates, height=h, color="#999999", label="d2l")
    ax.barh([y + h / 2 for y in ys], cnn_rates, height=h, color="#1f77b4", label="cnncourse")
    for y, d, c in zip(ys, d2l_rates, cnn_rates):
        ax.text(d, y - h / 2, f"  {d:,.0f}", va="center", fontsize=10)
        ax.text(c, y + h / 2, f"  {c:,.0f} ({c / d:.1f}x)", va="center", fontsize=10)
    if max(cnn_rates + d2l_rates) / min(cnn_rates + d2l_rates) > 50:
        ax.set_xscale("log")
    ax.set_xlim(right=max(cnn_rates + d2l_rates) * (40 if ax.get_xscale() == "log" else 1.45))
    ax.set_yticks(list(ys), labels, fontsize=10)
    ax.invert_yaxis()
    ax.set_xlabel("training examples per wall-clock second\n(data loading and evaluation "
                  "included)", fontsize=10)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def measured_how() -> list[str]:
    return ["## How it is measured", "",
            "* **Wall-clock training examples per second** over whole `train_ch6` calls: "
            "(epochs x training examples) / (seconds of the call). Data loading, training and "
            "the test pass after every epoch are all inside, because a learner waits for all "
            "of them. Building the loaders is timed separately and left out of the rate.\n"
            "* Both pipelines run **in one process, alternately** (the order flips every "
            "repeat), after an untimed warm-up epoch each unless the record says otherwise, "
            "seeded identically within a repeat. The speed-up is the ratio of the two "
            "medians; each results file also gives it per repeat, where both runs saw the "
            "same load.\n"
            "* **Final test accuracy** of every run (d2l's from its own "
            "`evaluate_accuracy_gpu`), so that a speed-up that cost accuracy would show.\n"
            "* **Peak memory**: on a GPU, `torch.cuda.max_memory_allocated`; on the CPU, how "
            "far the process's resident memory grew during the run, plus the unique memory of "
            "d2l's loader processes, sampled ten times a second (an estimate; memory that an "
            "earlier run already holds, such as cnncourse's cached data set, is not counted "
            "again).\n"
            "* **d2l's pipeline** is `d2l.load_data_fashion_mnist` (torchvision "
            "`FashionMNIST`, `ToTensor` on every image, a `DataLoader` with 4 worker "
            "processes) and `d2l.train_ch6`, unchanged but for one patch: its `Animator` "
            "redraws its figure with IPython's `display` after every point, which the "
            "benchmark replaces with a no-op (the plot is still built, never shown), so d2l "
            "is measured slightly *faster* than in a notebook.\n"
            "* **cnncourse's pipeline** is `cnncourse.load_data_fashion_mnist` and "
            "`cnncourse.train_ch6(..., animate=False)` with the defaults of the commit "
            "named with each measurement.\n"
            "* The CPU figures come from a shared machine: other jobs ran at the same time "
            "(the load average is listed with each case), which slows both pipelines.", ""]


def reproduce(records: list[dict], threads: dict | None, swap: dict | None = None) -> list[str]:
    out = ["## Reproduce", "",
           "The benchmark needs the `d2l` package, installed without its pinned dependencies "
           "(they do not install on current Python stacks), plus the few modules it imports. "
           "Each command below made one of the measurements on this page:", "",
           "```bash", "pip install -r requirements-bench.txt",
           "pip install --no-deps d2l==1.0.3"]
    for rec in records:
        out += _wrap_command(command_of(rec))
    if threads:
        out += _wrap_command(threads["command"])
    for command in (swap or {}).get("commands", []):
        out += _wrap_command(command)
    out += ["python -m bookfactory speed", "```", "",
            "Each script takes `--device`, `--epochs` and `--repeats`; `bench_lenet.py "
            "--model` picks one of the LeNet chapter's variants; on a GPU, `--eager` and "
            "`--cuda-graph` fix whether cnncourse records its step as a CUDA graph. The real "
            "Fashion-MNIST must be where `cnncourse` finds it; the benchmark copies it, "
            "uncompressed, to where torchvision looks (`~/.cache/cnncourse-bench`, or "
            "`$CNNCOURSE_BENCH_CACHE`), so d2l's loader never downloads anything.", "",
            "On a GPU machine without network access (d2l and the data carried in), one "
            "script runs every GPU case and the AlexNet chapter's full run:", "",
            "```bash", *GPU_KIT, "```", ""]
    return out


def render(records: list[dict], image_rel: str | None, threads: dict | None = None,
           swap: dict | None = None) -> str:
    """The Markdown of the page."""
    has_gpu = any(r["device_type"] == "cuda" for r in records)
    out = ["# How fast is this code?", "",
           "Every training cell of this book makes a reader wait, so the `cnncourse` helpers "
           "are written to be fast. This page measures how fast against *Dive into Deep "
           "Learning* (d2l) {cite}`zhang2023dive` itself: the `d2l` package's own "
           "`load_data_fashion_mnist` and `train_ch6` against cnncourse's, on the same model, "
           "hyper-parameters, data and machine, in the same run. It is generated by "
           "`bookfactory/make_speed_page.py` from the results files in `cnncourse/results/`; no "
           "number on it is typed in by hand.", "", "## The short answer", ""]
    if records:
        out += ["Median training examples per wall-clock second of each pipeline (data "
                "loading and the test pass included), both pipelines measured in the same "
                "run:", "",
                summary_table(records), "",
                "A rate belongs to the machine it names: the CPU rows were measured on an "
                "Intel Xeon with AVX-512 vector instructions. A laptop CPU without AVX-512, or "
                "with slower cores, trains the same network several times slower (the README "
                "gives an AVX2-only AMD machine's times); what carries over is the speed-up "
                "column, both pipelines on one machine in one run.", ""]
        if image_rel:
            # an image, not a numbered figure: Sphinx numbers figures across the whole
            # book, so this page's only figure would not be "Fig. 1"
            out += [f"```{{image}} {image_rel}", ":alt: bar chart of training examples per "
                    "second, d2l and cnncourse, for every measured case", ":width: 100%", "```",
                    ""]
        if has_gpu:
            out.append("On a GPU, `train_ch6` records its training step as a CUDA graph by "
                       "default (the rows marked *CUDA graph*); the rows marked *no CUDA "
                       "graph* show the eager step, the default when they were measured.")
            out.append("")
    else:
        out += ["No results have been recorded yet.", ""]
    if not has_gpu:
        out += ["No GPU measurement has been recorded yet, so this page claims nothing about "
                "speed on a GPU.", ""]
    if records:
        out += ["## Accuracy", ""] + accuracy_section(records, swap)
    if records or threads:
        out += sources_section(records, threads)
    out += measured_how()
    out += reproduce(records, threads, swap)
    if records or threads or swap:
        out += ["## Every measurement", ""]
    for rec in records:
        out += [f"### {rec['title']}, {_epochs(rec)}, "
                f"{'CPU' if rec['device_type'] == 'cpu' else rec['environment'].get('gpu')}, "
                f"{_commit(rec)}", "", results_table(rec), "", environment_list(rec), "",
                f"Every timed run, in the order it ran (`cnncourse/results/{rec['_file']}`; "
                "*printed* is what the pipeline itself reports, *load* the load average "
                "when the run started):", "", runs_table(rec), ""]
    if swap is not None:
        out += swap_runs_section(swap)
    if threads is not None:
        out += threads_section(threads)
    return "\n".join(out).rstrip("\n") + "\n"


def _wrap_command(cmd: str, width: int = 64) -> list[str]:
    """A shell command as lines of at most ``width`` characters (continued with a backslash),
    so that no line of a code block runs past the page's right edge."""
    lines, line = [], ""
    for word in cmd.split():
        if line and len(line) + 1 + len(word) > width - 2:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(ROOT / "cnncourse" / "results"))
    p.add_argument("--out", default=str(ROOT / "book" / "speed.md"))
    p.add_argument("--image", default=str(ROOT / "book" / "images" / "speed.svg"))
    args = p.parse_args(argv)
    records = load_results(Path(args.results))
    threads = load_thread_results(Path(args.results))
    swap = load_swap_results(Path(args.results))
    out, image = Path(args.out), Path(args.image)
    image_rel = None
    if records:
        bar_chart(records, image)
        image_rel = Path(os.path.relpath(image, out.parent)).as_posix()
    out.write_text(render(records, image_rel, threads, swap))
    print(f"wrote {out} from {len(records)} results file(s)"
          + (f" and {image}" if records else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
