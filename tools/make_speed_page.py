"""Generate the appendix page book/speed.md ("How fast is this code?") from benchmark results.

    python tools/make_speed_page.py        # reads benchmarks/results/*.json

Every number on the page comes from a results file written by
``benchmarks/bench_*.py``; nothing is typed in by hand. Cases without a
results file (the GPU ones, until somebody runs them on a GPU) are listed as
"not measured yet" with the command that measures them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The comparisons the issue asks for; the page says which have results. Each entry:
# (case, device, epochs or None for any, needs today's defaults, words, command lines).
# "Today's defaults": results files from before the CUDA graph became train_ch6's default
# on CUDA carry provenance.cnncourse_defaults (see current_defaults).
PLANNED = [
    ("lenet", "cpu", None, False, "d2l's LeNet-5 on the CPU",
     ["python benchmarks/bench_lenet.py --device cpu \\",
      "    --epochs 10 --repeats 2"]),
    ("threads", "cpu", None, False, "the CPU thread choice under load",
     ["python benchmarks/bench_threads.py --epochs 2 --repeats 2"]),
    ("lenet", "cuda", None, True, "d2l's LeNet-5 on a GPU with today's defaults (CUDA graph)",
     ["python benchmarks/bench_lenet.py --device cuda \\",
      "    --epochs 10 --repeats 3"]),
    ("alexnet224", "cuda", 2, True, "AlexNet at 224x224 on a GPU, 2 epochs, today's defaults",
     ["python benchmarks/bench_alexnet.py --device cuda \\",
      "    --epochs 2 --repeats 1"]),
    ("lenet_modern", "cuda", None, True, "the LeNet chapter's variants on a GPU",
     ["for m in lenet_gluon lenet_modern lenet_paddle cnn_paddle; do",
      "  python benchmarks/bench_lenet.py --device cuda \\",
      "      --model $m --epochs 5 --repeats 1",
      "done"]),
]
# On a GPU machine without network access, benchmarks/gpu_kit.sh runs all of the GPU cases.
GPU_KIT = ("# where pip works: d2l's wheel and the data",
           "bash benchmarks/gpu_kit.sh prepare",
           "# on the GPU machine",
           "bash benchmarks/gpu_kit.sh run check lenet variants \\",
           "    alexnet full")


def current_targets(rec: dict) -> list[dict]:
    """The case's targets as the benchmark scripts define them today, checked again.

    A results file keeps the targets of the day it was written; the page shows today's.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_alexnet
    import bench_lenet
    import common

    base = rec["case"].removesuffix("-graph").removesuffix("-eager")
    if base == "lenet":
        table = bench_lenet.TARGETS_D2L_LENET
    elif base.startswith("alexnet"):
        table = bench_alexnet.TARGETS
    else:
        table = bench_lenet.TARGETS_VARIANT
    targets = common.check_targets(table.get(rec["device_type"], []),
                                   common.measured_values(rec["summary"]))
    if base.startswith("alexnet") and rec["settings"]["epochs"] < 2:
        for t in targets:  # the issue compares AlexNet's accuracy after 2 epochs
            if t["key"] == "accuracy_ok":
                t["met"] = None
                t["what"] += " after 2 epochs"
    return targets


def current_defaults(rec: dict) -> bool:
    """Whether the record measured today's train_ch6 defaults."""
    return "cnncourse_defaults" not in rec.get("provenance", {})


def load_results(folder: Path) -> list[dict]:
    """Complete d2l-vs-cnncourse records in ``folder``, CPU before GPU, then by case name."""
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        rec = json.loads(path.read_text())
        if rec.get("complete") and "d2l" in rec.get("summary", {}):
            rec["_file"] = path.name
            records.append(rec)
    records.sort(key=lambda r: (r["device_type"] != "cpu", r["case"]))
    return records


def load_thread_results(folder: Path) -> dict | None:
    """The record of ``benchmarks/bench_threads.py``, if there is one."""
    path = Path(folder) / "threads-cpu.json"
    if not path.exists():
        return None
    rec = json.loads(path.read_text())
    return rec if rec.get("complete") else None


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def _mib(b) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.0f} MiB"


def _hardware(env: dict) -> str:
    if env.get("gpu"):
        return f"{env['gpu']} (CUDA {env.get('cuda')})"
    return (f"{env.get('cpu')}, {env.get('cpu_count')} logical CPUs "
            f"(PyTorch default threads: {env.get('torch_threads')})")


def _epochs(rec: dict) -> str:
    n = rec["settings"]["epochs"]
    return f"{n} epoch{'' if n == 1 else 's'}"


def _commit(rec: dict) -> str:
    c = rec["environment"].get("commit") or rec.get("provenance", {}).get("commit")
    return f"commit {c}" if c else "commit not recorded"


def _loadavg(rec: dict) -> str:
    loads = [r["loadavg_before"] for r in rec["runs"] if r.get("loadavg_before") is not None]
    if not loads:
        return "n/a"
    return f"{min(loads):.1f} to {max(loads):.1f}"


def results_table(rec: dict) -> str:
    """One case: a row per measurement, a column per pipeline."""
    s = rec["summary"]
    d, c = s["d2l"], s["cnncourse"]

    def rng(p, key, fmt):
        return (f"{fmt(p[key + '_median' if key != 'test_acc' else key + '_mean'])} "
                f"({fmt(p[key + '_min'])} to {fmt(p[key + '_max'])})")

    acc = lambda x: f"{x:.4f}"  # noqa: E731
    rows = [
        ("training examples/s, median (min to max)",
         rng(d, "examples_per_sec", _rate), rng(c, "examples_per_sec", _rate)),
        ("seconds per epoch, median", f"{d['seconds_per_epoch_median']:.1f}",
         f"{c['seconds_per_epoch_median']:.1f}"),
        ("final test accuracy, mean (min to max)", rng(d, "test_acc", acc),
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


def environment_list(rec: dict) -> str:
    e = rec["environment"]
    st = rec["settings"]
    lines = [
        f"* measured: {e['date_utc']}, {_commit(rec)}; device `{e['device']}`: {_hardware(e)}",
        f"* Python {e['python']}, PyTorch {e['torch']}, torchvision {e['torchvision']}, "
        f"d2l {e['d2l']}, cnncourse {e['cnncourse']} ({e['platform']})",
        f"* model `{st['model']}`, batch {st['batch_size']}, lr {st['lr']:g}, "
        f"{st['epochs']} epochs per run, resize {st['resize'] or 'none'}, "
        f"{st['repeats']} timed runs of each pipeline after a {st['warmup_epochs']}-epoch warm-up",
        f"* 1-minute load average of the machine when runs started: {_loadavg(rec)} "
        f"(on {e['cpu_count']} logical CPUs)",
        f"* command: `{rec['command']}`",
    ]
    prov = rec.get("provenance", {})
    if prov.get("cnncourse_defaults"):
        lines.append(f"* cnncourse's defaults then: {prov['cnncourse_defaults']}; "
                     f"options passed: {st.get('cnncourse_options') or 'none'}")
    if e.get("gpu"):
        lines.append(f"* host: {e.get('cpu')}, {e.get('cpu_count')} logical CPUs")
    return "\n".join(lines)


def targets_list(records: list[dict]) -> str:
    lines = []
    for rec in records:
        for t in current_targets(rec):
            verdict = {True: "met", False: "**not met**", None: "not measured"}[t["met"]]
            measured = t["measured"]
            if t["key"] == "accuracy_ok":
                shown = "yes" if measured else "no"
                if t["met"] is None:
                    shown = f"{shown}, after {_epochs(rec)} only"
            elif t["key"] == "peak_memory_bytes":
                shown = _mib(measured)
            elif t["key"] == "ratio":
                shown = f"{measured:.2f}x"
            elif t["key"] == "seconds_per_epoch":
                shown = f"{measured:.2f} s"
            else:
                shown = f"{measured:,.0f}"
            lines.append(f"* {rec['case']} on {rec['device_type']} "
                         f"({_epochs(rec)}, {_commit(rec)}): "
                         f"{t['what']} -- {verdict} (measured: {shown})")
    return "\n".join(lines) if lines else "* (no results yet)"


def threads_section(rec: dict) -> list[str]:
    """The CPU thread choice: train_ch6's default against 1 and 2 fixed threads."""
    out = ["### CPU threads under load", "",
           "On a machine with two logical CPUs, `train_ch6` uses two PyTorch threads while no "
           "other process keeps a CPU busy and one otherwise, and looks again every second "
           "while it trains. `benchmarks/bench_threads.py` compares that default with one and "
           "two fixed threads on d2l's LeNet, with nothing else started (*quiet*; other users "
           "of the machine may be busy), with one busy-loop process throughout (*busy*), and "
           "with the busy loop starting halfway (*changes*). Target: the default within 10 % "
           "of the better fixed choice in *quiet* and *busy*.", "",
           "| situation | 1 thread | 2 threads | default | default / better fixed | target |",
           "|---|---:|---:|---:|---:|---|"]
    for situation, s in rec["summary"].items():
        m = s["median_examples_per_sec"]
        target = ("n/a" if situation == "changes" else
                  ("met" if s["within_10_percent"] else "**not met**"))
        out.append(f"| {situation} | {_rate(m['1 thread'])} | {_rate(m['2 threads'])} | "
                   f"{_rate(m['default'])} | {s['default_vs_best_fixed']:.2f} | {target} |")
    e = rec["environment"]
    loads = [r["loadavg_before"] for r in rec["runs"]]
    reps, n = rec["settings"]["repeats"], rec["settings"]["epochs"]
    used = ", ".join(f"{r['situation']} {r['threads_per_epoch']}" for r in rec["runs"]
                     if r["threads"] is None)
    out += ["", f"Median training examples/s over {reps} run{'' if reps == 1 else 's'} of "
            f"{n} epoch{'' if n == 1 else 's'} each (threads the default used at the end of "
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
        device = (rec["environment"].get("gpu") or "CPU").removeprefix("NVIDIA ")
        labels.append(f"{rec['case']}, {_epochs(rec)}\n{device}, {_commit(rec)}")
        d2l_rates.append(rec["summary"]["d2l"]["examples_per_sec_median"])
        cnn_rates.append(rec["summary"]["cnncourse"]["examples_per_sec_median"])
    n = len(records)
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.9 * n))
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


def _is_measured(plan: tuple, records: list[dict], threads: dict | None) -> bool:
    case, device, epochs, needs_current = plan[:4]
    if case == "threads":
        return threads is not None
    return any(r["case"] == case and r["device_type"] == device
               and (epochs is None or r["settings"]["epochs"] == epochs)
               and (current_defaults(r) or not needs_current) for r in records)


def render(records: list[dict], image_rel: str | None, threads: dict | None = None) -> str:
    """The Markdown of the page."""
    has_gpu = any(r["device_type"] == "cuda" for r in records)
    out = ["# How fast is this code?", ""]
    out.append(
        "Every training cell of this book makes a reader wait, so the `cnncourse` helpers are "
        "written to be fast, and this page checks the claim against *Dive into Deep Learning* "
        "(d2l) {cite}`zhang2023dive` itself: the `d2l` package, its own "
        "`load_data_fashion_mnist` and `train_ch6`, on the same model, hyper-parameters, data "
        "and machine. The page is generated by `tools/make_speed_page.py` from the results "
        "files in `benchmarks/results/`; no number below is typed in by hand.")
    out += ["", "## What is measured", ""]
    out.append(
        "* **Wall-clock training examples per second** over whole `train_ch6` calls: "
        "(epochs x training examples) / (seconds of the call). Data loading, training and the "
        "test pass after every epoch are all inside, because a learner waits for all of them. "
        "Building the loaders is timed separately and left out of the rate.\n"
        "* Both pipelines run **in one process, alternately** (the order flips every repeat), "
        "after one untimed warm-up epoch each, seeded identically within a repeat.\n"
        "* **Final test accuracy** of every run (d2l's is recorded from its own "
        "`evaluate_accuracy_gpu`), so a speed-up that costs accuracy would show.\n"
        "* **Peak memory**: on a GPU, `torch.cuda.max_memory_allocated`; on the CPU, how far "
        "the process's resident memory grew above its level at the start of the run, plus the "
        "unique memory of data-loader worker processes, sampled ten times a second (an "
        "estimate; memory a previous run already holds, such as cnncourse's cached data set, "
        "is not counted again).\n"
        "* **d2l's pipeline** is `d2l.load_data_fashion_mnist` (torchvision `FashionMNIST`, "
        "`ToTensor` on every image, a `DataLoader` with 4 worker processes) and "
        "`d2l.train_ch6`, unchanged but for one patch: its `Animator` calls IPython's "
        "`display` after every point, which the benchmark replaces with a no-op (d2l still "
        "builds its plot, but never renders it), so d2l is measured slightly *faster* than in "
        "a notebook. d2l's own printed examples/sec counts only the time inside its batch "
        "loop; the runs table shows it next to the wall-clock figure.\n"
        "* **cnncourse's pipeline** is `cnncourse.load_data_fashion_mnist` and "
        "`cnncourse.train_ch6(..., animate=False)` with its defaults: the whole data set as "
        "one tensor (on the training device), batches as index slices, metrics summed on the "
        "device without a host sync per batch; the channels-last memory format on the CPU "
        "and on CUDA; on a machine with at most two logical CPUs, two PyTorch threads only "
        "while no other process keeps a CPU busy, else one (a second thread spin-waits "
        "against any other busy process), looked at again every second; on CUDA, bf16 "
        "autocast and, since after commit b4e5b84, the whole training step (forward, "
        "backward, optimiser, metrics) recorded as a CUDA graph after three warm-up steps "
        "and replayed with one launch per batch (`cnncourse/step.py`). The GPU figures "
        "below were measured at commit b4e5b84, before that default: there the plain case "
        "trains eagerly, and the case marked *CUDA graph* passed `cuda_graph=True`, which "
        "is what the default now does.")
    out += ["", "## Results", ""]
    if records:
        if image_rel:
            # an image, not a numbered figure: Sphinx numbers figures across the whole
            # book, so this page's only figure would not be "Fig. 1"
            out += [f"```{{image}} {image_rel}", ":alt: bar chart of training examples per "
                    "second, d2l and cnncourse, for every measured case", ":width: 100%", "```",
                    "", "*Median training examples per wall-clock second of each pipeline, "
                    "measured as described above (logarithmic axis when the cases differ "
                    "widely).*", ""]
        out.append(
            "The speed-up is the ratio of the medians. The CPU figures come from a shared "
            "machine: other jobs ran at the same time (the load average is listed with each "
            "case), which slows both pipelines; d2l's main process and its four loader workers "
            "also compete with each other for the same cores.")
        out += ["", "### Against the targets", "", targets_list(records), ""]
        for rec in records:
            where = (rec["environment"].get("gpu") or "CPU") if rec["device_type"] == "cuda" \
                else "CPU"
            out += [f"### {rec['title']}, {_epochs(rec)}, {where}, "
                    f"{_commit(rec)}", "", results_table(rec), "",
                    environment_list(rec), "",
                    f"Every timed run, in the order it ran (`benchmarks/results/{rec['_file']}`; "
                    "*printed* is what the pipeline itself reports, *load* the load average "
                    "when the run started):", "", runs_table(rec), ""]
    else:
        out += ["No results have been recorded yet.", ""]
    if threads is not None:
        out += threads_section(threads)
    out += ["## Not measured yet", ""]
    missing = [p for p in PLANNED if not _is_measured(p, records, threads)]
    if not has_gpu:
        out.append("**No GPU measurement has been recorded yet.** The GPU cases below are written "
                   "and tested at tiny sizes on the CPU, but no run on a GPU has been made, so "
                   "this page claims nothing about GPU speed.")
        out.append("")
    if missing:
        for plan in missing:
            out += [f"* {plan[4]}:", "", "  ```bash", *(f"  {line}" for line in plan[5]),
                    "  ```", ""]
        if any(plan[1] == "cuda" for plan in missing):
            out += ["", "On a GPU machine without network access (d2l and its data carried "
                    "in), one script runs every GPU case and the AlexNet chapter's full run:",
                    "", "```bash", *GPU_KIT, "```"]
    else:
        out.append("* Every planned case has a result.")
    out += ["", "## Reproduce", ""]
    out.append("The benchmark needs the `d2l` package, installed without its pinned dependencies "
               "(they do not install on current Python stacks), plus the few modules it imports:")
    out += ["", "```bash", "pip install -r requirements-bench.txt",
            "pip install --no-deps d2l==1.0.3"]
    for rec in records + ([threads] if threads else []):
        out += _wrap_command(rec["command"])
    out += ["python tools/make_speed_page.py", "```", ""]
    out.append("The real Fashion-MNIST must be where `cnncourse` finds it; the benchmark copies it, "
               "uncompressed, to where torchvision looks (`~/.cache/cnncourse-bench`, or "
               "`$CNNCOURSE_BENCH_CACHE`), so d2l's loader never downloads anything. "
               "Each script takes `--device`, `--epochs` and `--repeats`.")
    return "\n".join(out) + "\n"


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
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--out", default=str(ROOT / "book" / "speed.md"))
    p.add_argument("--image", default=str(ROOT / "book" / "images" / "speed.svg"))
    args = p.parse_args(argv)
    records = load_results(Path(args.results))
    threads = load_thread_results(Path(args.results))
    out, image = Path(args.out), Path(args.image)
    image_rel = None
    if records:
        bar_chart(records, image)
        image_rel = Path(os.path.relpath(image, out.parent)).as_posix()
    out.write_text(render(records, image_rel, threads))
    print(f"wrote {out} from {len(records)} results file(s)"
          + (f" and {image}" if records else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
