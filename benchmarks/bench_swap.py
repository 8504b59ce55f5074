"""Which half of a LeNet pipeline sets its final test accuracy: the training loop or the data?

    python benchmarks/bench_swap.py --device cpu --epochs 10 --seeds 0 1
    python benchmarks/bench_swap.py --device cpu --epochs 10 --seeds 0 --only d2l:cnncourse
    python benchmarks/bench_swap.py --device cpu --epochs 10 --data-seeds 1 2 --only none

d2l's and cnncourse's LeNet pipelines can end at different test accuracies (the speed
appendix shows by how much). Each pipeline has two halves: a loader (d2l's torchvision
``DataLoader``, or cnncourse's in-memory ``TensorLoader``) and a loop (``train_ch6``). Here
each loop trains on each loader with the same seed, so a difference can be pinned on one
half. The four combinations are named ``LOOP:DATA`` (``d2l:cnncourse`` is d2l's
``train_ch6`` fed by cnncourse's loader).

cnncourse's loader draws its order of training examples from its own generator
(``load_data_fashion_mnist(seed=...)``, 0 unless given) rather than from torch's global
one, which the seed of a run sets; ``--cnn-data-seed`` picks that generator's seed for the
four combinations (0: as the speed benchmark's runs before it passed its run seed on).
``--data-seeds`` adds runs of cnncourse's loop on cnncourse's loader with other orders and
the initial weights of seed 0, to show how far the order alone moves the final accuracy.

d2l's loader runs with ``--d2l-workers`` processes (d2l's own 4 by default). The number of
workers changes its speed only: the order is drawn in the main process either way.

Runs are merged into ``cnncourse/results/lenet-swap-<device>.json`` by what they ran (loop,
data, seeds, epochs), so the work can be split across several commands.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import sys
import tempfile
from pathlib import Path

import torch

from bench_lenet import lenet_case  # this folder: first on sys.path when run as a script
from common import (RESULTS_DIR, environment, import_d2l, make_cnn_loaders, make_d2l_loaders,
                    run_cnncourse, run_d2l)

import cnncourse

PIPELINES = ("d2l", "cnncourse")
COMBOS = tuple(f"{loop}:{data}" for loop in PIPELINES for data in PIPELINES)


def run_key(run: dict) -> tuple:
    """What makes two runs the same run (a rerun replaces the older one)."""
    return (run["loop"], run["data"], run["seed"], run["data_seed"], run["epochs"])


def swap_run(loop: str, data: str, seed: int, data_seed: int | None, epochs: int,
             device: torch.device, d2l_workers: int | None = None, case=None,
             loaders=None) -> dict:
    """One ``train_ch6`` of ``loop`` on the loaders of ``data``; the record of the run.

    ``loaders`` (a factory ``(batch_size, resize) -> (train, test)``) replaces the loaders
    of ``data`` (the tests pass tiny fake ones); ``data_seed`` is the order seed of
    cnncourse's loader (None for d2l's, whose order follows ``seed``).
    """
    if loop not in PIPELINES or data not in PIPELINES:
        raise ValueError(f"loop and data must each be one of {PIPELINES}, not {loop!r}, {data!r}")
    case = case or lenet_case(epochs=epochs)
    if loaders is None and data == "d2l":
        d2l = import_d2l()
        if d2l_workers is not None:
            d2l.get_dataloader_workers = lambda: d2l_workers

        def loaders(batch_size, resize):
            return make_d2l_loaders(batch_size, resize)
    elif loaders is None:
        def loaders(batch_size, resize):
            return make_cnn_loaders(batch_size, resize, seed=data_seed)
    runner = run_d2l if loop == "d2l" else run_cnncourse
    r = runner(case, device, epochs, 0, seed, loaders)
    return {"loop": loop, "data": data, "seed": seed,
            "data_seed": None if data == "d2l" else data_seed, "epochs": epochs,
            "test_acc": r.test_acc, "test_acc_per_epoch": r.test_acc_per_epoch,
            "train_loss": r.train_loss, "train_acc": r.train_acc,
            "train_seconds": r.train_seconds}


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    # the lock lives outside the results folder, so that it never gets committed
    with open(Path(tempfile.gettempdir()) / f"cnncourse-{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def merge_runs(path: Path, runs: list[dict], header: dict, command: str = "") -> dict:
    """Add ``runs`` to the record in ``path`` (replacing runs with the same key); return it.

    ``command`` joins the record's list of the commands that made its runs.
    """
    with _locked(path):
        record = json.loads(path.read_text()) if path.exists() else {}
        old = [r for r in record.get("runs", [])
               if run_key(r) not in {run_key(n) for n in runs}]
        commands = record.get("commands", [])
        record.update(header)
        record["commands"] = commands + ([command] if command and command not in commands
                                         else [])
        record["runs"] = sorted(old + runs, key=lambda r: (
            r["seed"], r["data_seed"] or 0, r["loop"], r["data"]))
        record["complete"] = True
        path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1],
                   help="seeds of the loop:data combinations (initial weights; d2l's order)")
    p.add_argument("--only", nargs="*", default=list(COMBOS),
                   help=f"combinations to run, of {', '.join(COMBOS)}; 'none' for none")
    p.add_argument("--cnn-data-seed", type=int, default=0,
                   help="order seed of cnncourse's loader in the combinations (default 0)")
    p.add_argument("--data-seeds", type=int, nargs="*", default=[],
                   help="extra cnncourse:cnncourse runs with these order seeds (seed 0)")
    p.add_argument("--d2l-workers", type=int, default=None,
                   help="worker processes of d2l's loader (default: d2l's 4)")
    p.add_argument("--out", default="", help="results file (default "
                   "cnncourse/results/lenet-swap-<device>.json)")
    args = p.parse_args(argv)
    combos = [] if args.only == ["none"] else args.only
    for combo in combos:
        if combo not in COMBOS:
            p.error(f"--only {combo!r}: choose from {', '.join(COMBOS)} (or none)")
    device = cnncourse.try_gpu() if args.device == "auto" else torch.device(args.device)
    try:
        import_d2l()
    except ImportError as err:
        p.error(f"d2l is not installed ({err}); bash benchmarks/install.sh installs it")
    out = Path(args.out) if args.out else RESULTS_DIR / f"lenet-swap-{device.type}.json"
    case = lenet_case(epochs=args.epochs)
    header = {"case": "lenet-swap", "title": "d2l's LeNet-5: each loop on each loader",
              "device_type": device.type, "environment": environment(device),
              "settings": {"model": case.model_name, "batch_size": case.batch_size,
                           "lr": case.lr, "d2l_workers": args.d2l_workers}}
    command = " ".join(["python benchmarks/bench_swap.py",
                        *(sys.argv[1:] if argv is None else argv)])
    plan = [(*c.split(":"), s, args.cnn_data_seed) for s in args.seeds for c in combos]
    plan += [("cnncourse", "cnncourse", 0, k) for k in args.data_seeds]
    record = {}
    for loop, data, seed, data_seed in plan:
        run = swap_run(loop, data, seed, data_seed, args.epochs, device, args.d2l_workers, case)
        order = "d2l's order" if data == "d2l" else f"order seed {data_seed}"
        print(f"{loop:9s} loop on {data:9s} data, seed {seed} ({order}): test acc "
              + " ".join(f"{a:.4f}" for a in run["test_acc_per_epoch"]), flush=True)
        record = merge_runs(out, [run], header, command)
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    main()
