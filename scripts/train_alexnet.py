"""Train AlexNet (Fashion-MNIST resized to 224) and the native-28 AlexNet; record what happened.

The AlexNet chapter shows a GPU run in the published settings only if this script has
recorded one. On a machine with an NVIDIA GPU:

    CNNCOURSE_BUDGET=full python scripts/train_alexnet.py

trains both models with ``PUBLISHED_SETTINGS`` (Adam, lr 0.001, batch 128, 5 epochs,
PyTorch's default init; resize 224 for AlexNet, none for the native-28 model) through
``train_ch6`` (its defaults: on CUDA bf16 autocast, channels-last and a CUDA graph; resize
on the GPU in whole batches) and writes ``cnncourse/results/alexnet_full.json`` (package
data, so the AlexNet chapter finds it on Colab too): curves, seconds per epoch, examples/sec,
peak GPU memory, what ``train_ch6`` did to go fast (its recorded
``history.plan``), the GPU's name, the date and this command. Rebuild the book to show it.

Other budgets run anywhere in seconds or minutes (``smoke``: a few dozen images) and must
be given ``--out``, so ``cnncourse/results/`` only ever holds full runs made on a GPU.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import torch  # noqa: E402

import cnncourse as d2l  # noqa: E402
from cnncourse.budget import Budget  # noqa: E402
from bookfactory.provenance import git_commit  # noqa: E402
from cnncourse.models.alexnet import (PUBLISHED_SETTINGS, alexnet, alexnet_28,  # noqa: E402
                                      training_memory_estimate)

DEFAULT_OUT = ROOT / "cnncourse" / "results" / "alexnet_full.json"
COMMAND = "CNNCOURSE_BUDGET=full python scripts/train_alexnet.py"
SCHEMA = 1
MODELS = {"alexnet_224": (alexnet, 224), "alexnet_28": (alexnet_28, None)}


def settings_for(budget_name: str) -> dict:
    """Training sizes per budget: the published settings in ``full``, tiny ones elsewhere."""
    s = dict(PUBLISHED_SETTINGS)
    s.update(Budget(budget_name).pick(
        full=dict(subset=None, test_subset=None),
        cpu=dict(subset=1024, test_subset=256, num_epochs=1),
        smoke=dict(subset=16, test_subset=16, num_epochs=1, batch_size=8)))
    return s


def train_one(name: str, settings: dict, device: torch.device, seed: int = 0) -> dict:
    """Train one model of ``MODELS`` with ``train_ch6``; return its record (JSON-ready)."""
    builder, resize = MODELS[name]
    torch.manual_seed(seed)
    net = builder()
    train_iter, test_iter = d2l.load_data_fashion_mnist(
        settings["batch_size"], resize=resize, subset=settings["subset"],
        test_subset=settings["test_subset"], device=device)
    size = resize or 28
    estimate = training_memory_estimate(net, (1, size, size), settings["batch_size"])
    hist = d2l.train_ch6(net, train_iter, test_iter, settings["num_epochs"], settings["lr"],
                         device, optimizer=settings["optimizer"], init=settings["init"],
                         animate=False)
    if hist.interrupted or hist.epochs < settings["num_epochs"]:
        raise RuntimeError(f"{name}: only {hist.epochs} of {settings['num_epochs']} epochs "
                           "finished; nothing recorded")
    return {
        "resize": resize,
        "parameters": d2l.count_parameters(net),
        "flops_per_image": d2l.count_flops(net, (1, 1, size, size)),
        "train_examples": hist.num_train_examples,
        "test_examples": test_iter.num_examples,
        "train_loss": hist.train_loss,
        "train_acc": hist.train_acc,
        "test_acc": hist.test_acc,
        "epoch_seconds": hist.epoch_seconds,
        "examples_per_sec": hist.examples_per_sec,
        "peak_memory_bytes": hist.peak_memory_bytes,
        "memory_estimate_bytes": estimate["total"],
        "plan": hist.plan.as_dict(),  # what train_ch6 did to go fast, as it recorded it
        "cuda_graph_replays": hist.cuda_graph_replays,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results file (default in the full budget on CUDA: {DEFAULT_OUT})")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--device", default=None, help="default: cnncourse.try_gpu()")
    args = parser.parse_args(argv)

    b = d2l.budget()
    device = torch.device(args.device) if args.device else d2l.try_gpu()
    out = args.out
    if out is None:
        if b.name != "full" or device.type != "cuda":
            parser.error(f"budget {b.name!r} on {device}: pass --out; the default "
                         f"{DEFAULT_OUT.relative_to(ROOT)} is kept for full runs on a CUDA GPU")
        out = DEFAULT_OUT
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")

    settings = settings_for(b.name)
    record = {
        "schema": SCHEMA,
        "command": COMMAND if b.name == "full" else f"CNNCOURSE_BUDGET={b.name} python "
                                                    f"scripts/train_alexnet.py --out {out}",
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "budget": b.name,
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else "CPU"),
        "torch": torch.__version__,
        "commit": git_commit(ROOT),
        "settings": settings,
        "runs": {},
    }
    t0 = time.perf_counter()
    for name in names:
        print(f"== {name} ==", flush=True)
        record["runs"][name] = train_one(name, settings, device)
    plan = next(iter(record["runs"].values()))["plan"]  # every run uses train_ch6's defaults
    record["mixed_precision"] = plan["mixed_precision"]
    record["channels_last"] = plan["channels_last"]
    record["total_seconds"] = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, out)  # never leave a half-written results file behind
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
