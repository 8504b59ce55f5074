"""CPU threads under load: train_ch6's default against 1 and 2 fixed threads.

    python benchmarks/bench_threads.py --epochs 2 --repeats 2

On a machine with two logical CPUs, a second PyTorch thread makes training about
twice as fast while the machine is otherwise idle, and slower while another process
keeps a CPU busy (the two OpenMP threads spin-wait for each other). ``train_ch6``'s
default is PyTorch's own thread count, fixed when the process starts and never read
from the load, so that a seed gives the same numbers on every run (the count is in
``history.plan.cpu_threads``). This script measures what that costs: d2l's LeNet
(batch 256, lr 0.9) with ``cpu_threads=1``, ``cpu_threads=2`` and the default, all in
one process and interleaved (the order rotates every repeat), in up to three situations:

* ``quiet``: nothing else started by this script (other users of the machine may
  still be busy: the load average is recorded with every run);
* ``busy``: one busy-loop process (pure Python ``while True``) runs throughout;
* ``changes``: the busy loop starts halfway through the run (after half of the
  quiet default run's median time).

The question (issue 18): is the default within 10 % of the better of 1 and 2 threads
in ``quiet`` and ``busy``? Results go to ``cnncourse/results/threads-cpu.json``.
No GPU involved.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path


import torch  # noqa: E402

from common import RESULTS_DIR, environment, make_cnn_loaders  # noqa: E402

import cnncourse  # noqa: E402
from cnncourse.models.lenet import lenet  # noqa: E402

SETTINGS = {"1 thread": 1, "2 threads": 2, "default": None}
SITUATIONS = ("quiet", "busy", "changes")
TOLERANCE = 0.10


def _busy_loop() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)  # let it start spinning
    return proc


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait()


def one_run(threads: int | None, situation: str, epochs: int, start_load_after: float,
            seed: int) -> dict:
    """One timed train_ch6 call; a busy loop as the situation asks."""
    train_iter, test_iter = make_cnn_loaders(256, None)
    torch.manual_seed(seed)
    net = lenet()
    load = os.getloadavg()[0]
    proc, timer = None, None
    holder: dict = {}
    if situation == "busy":
        proc = _busy_loop()
    elif situation == "changes":
        timer = threading.Timer(start_load_after, lambda: holder.setdefault("p", _busy_loop()))
        timer.start()
    try:
        t = time.perf_counter()
        hist = cnncourse.train_ch6(net, train_iter, test_iter, epochs, 0.9, "cpu",
                                   animate=False, verbose=False, cpu_threads=threads)
        seconds = time.perf_counter() - t
    finally:
        if timer is not None:
            timer.cancel()
        _stop(proc)
        _stop(holder.get("p"))
    return {"threads": threads, "situation": situation, "seconds": seconds,
            "examples_per_sec": epochs * hist.num_train_examples / seconds,
            "test_acc": hist.test_acc[-1],
            "threads_per_epoch": [hist.plan.cpu_threads] * hist.epochs,  # what the run used
            "loadavg_before": load}


def summarize(runs: list[dict]) -> dict:
    out = {}
    for situation in SITUATIONS:
        med = {}
        for name, threads in SETTINGS.items():
            rates = [r["examples_per_sec"] for r in runs
                     if r["situation"] == situation and r["threads"] == threads]
            if rates:
                med[name] = statistics.median(rates)
        if len(med) < len(SETTINGS):
            continue
        best = max(med["1 thread"], med["2 threads"])
        out[situation] = {"median_examples_per_sec": med,
                          "default_vs_best_fixed": med["default"] / best,
                          "within_10_percent": med["default"] >= (1 - TOLERANCE) * best}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--situations", default="quiet,busy",
                   help=f"comma-separated, from {', '.join(SITUATIONS)}")
    p.add_argument("--out", default=str(RESULTS_DIR / "threads-cpu.json"),
                   help="results file ('-' writes none)")
    args = p.parse_args(argv)
    situations = [s for s in args.situations.split(",") if s]
    for s in situations:
        if s not in SITUATIONS:
            p.error(f"unknown situation {s!r}; use {', '.join(SITUATIONS)}")
    record = {"case": "threads", "device_type": "cpu",
              "environment": environment(torch.device("cpu")),
              "command": (f"python benchmarks/bench_threads.py --epochs {args.epochs} "
                          f"--repeats {args.repeats}"),
              "settings": {"model": "cnncourse.models.lenet.lenet", "batch_size": 256,
                           "lr": 0.9, "epochs": args.epochs, "repeats": args.repeats}}
    runs: list[dict] = []
    names = list(SETTINGS)

    def save(complete: bool) -> None:  # after every run: an interrupted run keeps its numbers
        record["runs"] = runs
        record["summary"] = summarize(runs)
        record["complete"] = complete
        if args.out != "-":
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(record, indent=1) + "\n")

    half = None
    for rep in range(args.repeats):
        for situation in situations:
            if situation == "changes" and half is None:
                quiet = [r["seconds"] for r in runs if r["situation"] == "quiet"
                         and r["threads"] is None]
                half = statistics.median(quiet) / 2 if quiet else 3.0
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                r = one_run(SETTINGS[name], situation, args.epochs, half or 3.0, rep)
                runs.append(r)
                print(f"repeat {rep} {situation:7s} {name:9s}: {r['examples_per_sec']:8.0f} "
                      f"examples/s, {r['seconds']:5.1f} s, threads per epoch "
                      f"{r['threads_per_epoch']}, "
                      f"load {r['loadavg_before']:.1f}", flush=True)
                save(complete=False)
    save(complete=True)
    for situation, s in record["summary"].items():
        m = s["median_examples_per_sec"]
        print(f"{situation:7s}: 1 thread {m['1 thread']:.0f}, 2 threads {m['2 threads']:.0f}, "
              f"default {m['default']:.0f} examples/s; default / better fixed = "
              f"{s['default_vs_best_fixed']:.2f}"
              + ("" if situation == "changes" else
                 f"; target (within 10 %): {'met' if s['within_10_percent'] else 'NOT met'}"))
    if args.out != "-":
        print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
