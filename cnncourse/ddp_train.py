"""Train on Fashion-MNIST with one process per device: the entry point for ``torchrun``.

    torchrun --nproc_per_node 2 -m cnncourse.ddp_train --model lenet --epochs 2 \\
        --batch-size 256 --lr 0.9 --subset 4096 --seed 0 --checkpoint ckpt.pt --out result.json

Every process runs this same file; ``init_from_env`` finds out from torchrun's environment
which rank it is (without torchrun it trains as one plain process), and ``train_ch6`` does
the rest: this rank's share of each batch, DDP, rank-0 output, a checkpoint per epoch and
resuming from it. Rank 0 writes ``--out``: the history, the world size, the seconds, and two
fingerprints of the final weights (the sum of all parameters, and a SHA-256 of the state
dict's bytes) so that two runs can be compared exactly.

``--fail-at-epoch E --fail-rank R`` (or ``CNNCOURSE_FAIL_AT=E:R``) makes rank R kill itself
with SIGKILL halfway through epoch E (counted from 1), once: it leaves a marker file beside
the checkpoint, so the attempt that ``torchrun --max-restarts`` starts next trains through.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import LoaderWrapper, load_data_fashion_mnist
from .distributed import get_rank, get_world_size, init_from_env, is_main_process
from .models.lenet import lenet, lenet_modern
from .models.modern import resnet_28
from .train import train_ch6

__all__ = ["MODELS", "build_parser", "main", "state_fingerprint"]

MODELS = {"lenet": lenet, "lenet_modern": lenet_modern, "resnet": resnet_28}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cnncourse.ddp_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="lenet")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=256,
                   help="the global batch: each of the N ranks takes batch-size / N")
    p.add_argument("--lr", type=float, default=0.9)
    p.add_argument("--subset", type=int, default=None, help="training examples to keep")
    p.add_argument("--test-subset", type=int, default=1000, help="test examples to keep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="saved every epoch, resumed from")
    p.add_argument("--out", default=None, help="rank 0 writes the result here (JSON)")
    p.add_argument("--device", default=None, help="default: cuda:LOCAL_RANK if any, else cpu")
    p.add_argument("--backend", default=None, help="default: nccl on GPUs, gloo on CPUs")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a rank waits for the others before it gives up")
    p.add_argument("--fail-at-epoch", type=int, default=None)
    p.add_argument("--fail-rank", type=int, default=0)
    return p


def seed_everything(seed: int) -> None:
    """The same seed in every random generator, and deterministic kernels where they exist,
    so that a resumed run can repeat an uninterrupted one bit for bit."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def state_fingerprint(net: nn.Module) -> dict:
    """Two fingerprints of the weights: the sum of every parameter (float64) and a SHA-256
    of the state dict's bytes in key order (equal only for bitwise-equal weights)."""
    net = getattr(net, "module", net)
    digest = hashlib.sha256()
    for key, value in net.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    total = sum(float(p.detach().double().sum()) for p in net.parameters())
    return {"param_sum": total, "state_sha256": digest.hexdigest()}


class FailOnce(LoaderWrapper):
    """A loader that kills its process halfway through one epoch, once (the marker file)."""

    def __init__(self, loader, epoch: int, marker: Path) -> None:
        super().__init__(loader)
        self.fail_epoch, self.marker, self.epoch = epoch, marker, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        inner = getattr(self.loader, "set_epoch", None)
        if callable(inner):
            inner(epoch)

    def __iter__(self):
        half = len(self.loader) // 2
        for i, batch in enumerate(self.loader):
            if self.epoch + 1 == self.fail_epoch and i == half and not self.marker.exists():
                self.marker.write_text(f"rank {get_rank()} killed itself in epoch "
                                       f"{self.fail_epoch}, batch {i}\n")
                print(f"rank {get_rank()}: SIGKILL in epoch {self.fail_epoch}, batch {i}",
                      file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch


def _failure(args) -> tuple[int | None, int]:
    env = os.environ.get("CNNCOURSE_FAIL_AT")
    if args.fail_at_epoch is None and env:
        epoch, _, rank = env.partition(":")
        return int(epoch), int(rank or 0)
    return args.fail_at_epoch, args.fail_rank


def _gathered(value) -> list:
    """``value`` from every rank, in rank order (``[value]`` on one process)."""
    if get_world_size() == 1:
        return [value]
    out: list = [None] * get_world_size()
    torch.distributed.all_gather_object(out, value)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    init_from_env(args.backend, timeout_s=args.timeout)
    seed_everything(args.seed)
    train_iter, test_iter = load_data_fashion_mnist(
        args.batch_size, subset=args.subset, test_subset=args.test_subset, seed=args.seed)
    fail_epoch, fail_rank = _failure(args)
    if fail_epoch is not None and get_rank() == fail_rank:
        where = Path(args.checkpoint or args.out or ".").resolve()
        train_iter = FailOnce(train_iter, fail_epoch, where.with_name(where.name + ".failed"))
    net = MODELS[args.model]()
    history = train_ch6(net, train_iter, test_iter, args.epochs, args.lr, args.device,
                        animate=False, progress=False, checkpoint=args.checkpoint)
    result = {
        "model": args.model, "world_size": get_world_size(), "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "subset": args.subset,
        "seed": args.seed, "device": history.device,
        "restarts": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)),
        "history": {k: getattr(history, k) for k in
                    ("train_loss", "train_acc", "test_acc", "epoch_seconds")},
        **state_fingerprint(net),
        "rank_sha256": [f["state_sha256"] for f in _gathered(state_fingerprint(net))],
        "seconds": time.perf_counter() - start,
    }
    if is_main_process() and args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
