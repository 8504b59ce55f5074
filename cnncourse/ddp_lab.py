"""The experiments of the chapter "When one device is not enough", run as several processes.

A notebook cannot hand its own functions to the processes it starts (a spawned process
imports its code, and a notebook is not a module), so every multi-process experiment of the
chapter lives here and runs under ``torchrun``::

    python -m torch.distributed.run --standalone --nproc_per_node 2 \\
        -m cnncourse.ddp_lab EXPERIMENT --out result.json [--key value ...]

Rank 0 writes the result as JSON; ``launch`` does all that from a notebook and returns it.
Every process uses the ``gloo`` backend (CPUs) and one thread, so two processes share two
cores without fighting. The package's own multi-process code (``cnncourse.distributed``,
``cnncourse.checkpoint``, ``cnncourse.ddp_train``) is what a learner reuses; this module is
the chapter's laboratory: measurements, written to be read next to the text.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import nn
from torch.nn import functional as F

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm", "ddp_train", "launch", "lenet_dropout",
           "run_torchrun", "torchrun_command", "EXPERIMENTS"]


# ----------------------------------------------------------------------------- launching

def torchrun_command(experiment: str, nproc: int = 2, out: str = "result.json",
                     python: str = "python", **options) -> list[str]:
    """The command line that runs ``experiment`` on ``nproc`` processes of this machine.

    ``--standalone`` lets torchrun start its own rendezvous on a free port, so two runs
    at once do not collide; ``options`` become ``--key value`` arguments of the experiment.
    """
    args = [python, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "cnncourse.ddp_lab", experiment, "--out", out]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", json.dumps(value)]
    return args


def launch(experiment: str, nproc: int = 2, *, timeout: float = 600, show: bool = True,
           **options) -> dict:
    """Run ``experiment`` under torchrun on ``nproc`` CPU processes; return rank 0's result.

    Each process gets ``OMP_NUM_THREADS=1``. ``show`` prints the command (as a reader
    would type it). A failed or timed-out run raises ``RuntimeError`` with the end of its
    output, so a notebook shows why, not just that.
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; use one of {', '.join(EXPERIMENTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "result.json")
        args = ["-m", "cnncourse.ddp_lab", experiment, "--out", out]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", json.dumps(value)]
        shown = torchrun_command(experiment, nproc, "result.json", **options)
        run_torchrun(args, nproc, timeout=timeout, shown=shown if show else None)
        return json.loads(Path(out).read_text())


def run_torchrun(args: list[str], nproc: int = 2, *, max_restarts: int = 0,
                 timeout: float = 600, shown: list[str] | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node NPROC [--max-restarts N] ARGS`` on the CPU.

    ``shown`` is printed as the command the reader would type (``None``: print nothing).
    With ``check`` a failure raises ``RuntimeError`` with the end of the output.
    """
    extra = [f"--max-restarts={max_restarts}"] if max_restarts else []
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", *extra, *args]
    if shown is not None:
        print(_wrapped("OMP_NUM_THREADS=1 " + shlex.join(shown).replace(
            "python -m torch.distributed.run", "torchrun")), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"torchrun {shlex.join(args)} did not finish in {timeout:g} s; "
                           f"its output ended with:\n{_tail(err.stdout, err.stderr)}") from None
    if check and proc.returncode != 0:
        raise RuntimeError(f"torchrun {shlex.join(args)} failed (exit code {proc.returncode});"
                           f" its output ended with:\n{_tail(proc.stdout, proc.stderr)}")
    return proc


def _wrapped(command: str, width: int = 80) -> str:
    """A shell command as a reader would type it: ``$ ...``, long lines continued with ``\\``."""
    words: list[str] = []
    for word in command.split(" "):      # an option stays on the line of its value
        if words and words[-1].startswith("-") and "=" not in words[-1] \
                and not word.startswith("-"):
            words[-1] += " " + word
        else:
            words.append(word)
    lines, line = [], "$"
    for word in words:
        if len(line) + 1 + len(word) > width - 2 and line.strip() not in ("$", ""):
            lines.append(line + " \\")
            line = "   "
        line += " " + word
    return "\n".join([*lines, line])


def _tail(*texts, lines: int = 20) -> str:
    """The errors the processes raised (torchrun's own summary hides them), then the end."""
    text = "\n".join(t if isinstance(t, str) else (t or b"").decode(errors="replace")
                     for t in texts)
    errors = [line for line in text.splitlines()
              if "Error:" in line and "ChildFailedError" not in line]
    found = "\n".join(dict.fromkeys(errors[-4:]))
    return (f"{found}\n...\n" if found else "") + "\n".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------- pieces

def lenet_dropout(p: float = 0.5) -> nn.Sequential:
    """The chapter's LeNet with dropout after both hidden dense layers."""
    from .models.lenet import lenet
    layers = list(lenet())
    return nn.Sequential(*layers[:9], nn.Dropout(p), *layers[9:11], nn.Dropout(p), layers[11])


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose statistics are those of the *global* batch, across all processes.

    PyTorch's ``nn.SyncBatchNorm`` refuses to train on CPU processes (world size > 1); this
    one runs anywhere ``gloo`` does.
    Two all-reduces per layer: the sums (for the mean), then the squared deviations from
    that mean (for the variance), so that the result matches one process on the whole
    batch to rounding. ``dist_nn.all_reduce`` is the differentiable all-reduce: the
    backward pass sends the gradient of the statistics back across the processes too.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected a batch of at least 2 dimensions, got {input.dim()}")

    def forward(self, x):
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype)
        total = dist_nn.all_reduce(torch.cat([x.sum(dims), count]))
        n = total[-1]
        mean = total[:-1] / n
        var = dist_nn.all_reduce((x - mean.view(shape)).pow(2).sum(dims)) / n
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * var * n / (n - 1))
            self.num_batches_tracked += 1
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def convert_sync_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every batch norm of ``net`` by a ``SyncBatchNorm`` with the same state."""
    for name, child in net.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            sync = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine)
            sync.load_state_dict(child.state_dict())
            setattr(net, name, sync)
        else:
            convert_sync_batchnorm(child)
    return net


def _model(name: str, seed: int) -> nn.Module:
    """A fresh model, the same on every process (seeded), Xavier-initialised like train_ch6."""
    from .models import modern
    from .models.lenet import lenet, lenet_modern
    from .train import init_weights
    builders: dict[str, Callable[[], nn.Module]] = {
        "lenet": lenet, "lenet_bn": modern.lenet_bn, "lenet_dropout": lenet_dropout,
        "lenet_modern": lenet_modern, "resnet": modern.resnet_28}
    torch.manual_seed(seed)
    net = builders[name]()
    net.apply(init_weights)
    return net


def _data(subset: int, seed: int, split: str = "train"):
    """``subset`` Fashion-MNIST images (a fixed sample) as floats in [0, 1], with labels."""
    from .data import read_fashion_mnist
    X, y = read_fashion_mnist(split)
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:subset]
    return X[idx].unsqueeze(1).float().div(255), y[idx]


def _flat(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def _rank_world() -> tuple[int, int]:
    return dist.get_rank(), dist.get_world_size()


def _gather(obj):
    """Every rank's ``obj``, in rank order, on every rank."""
    objs = [None] * dist.get_world_size()
    dist.all_gather_object(objs, obj)
    return objs


# ----------------------------------------------------------------------------- section 1

def scratch_steps(net: nn.Module, batches, lr: float, *, halves: int = 1,
                  average: bool = False) -> nn.Module:
    """SGD on ``batches``: this process's share of each global batch, gradients averaged.

    With ``average`` (several processes) each process takes its own contiguous share of
    every global batch and averages the gradients with the others before the step, the
    whole of data parallelism. ``halves`` > 1 on one process splits each batch into that
    many parts, each with its own forward pass (own batch norm statistics), and averages
    their losses: one process imitating the several.
    """
    from .distributed import average_gradients
    rank, world = (dist.get_rank(), dist.get_world_size()) if average else (0, 1)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    net.train()
    for X, y in batches:
        X, y = X.chunk(world)[rank], y.chunk(world)[rank]
        opt.zero_grad()
        loss = sum(F.cross_entropy(net(Xp), yp) for Xp, yp in zip(X.chunk(halves),
                                                                  y.chunk(halves))) / halves
        loss.backward()
        if average:
            average_gradients(net)
        opt.step()
    return net


def equality(steps: int = 10, batch: int = 256, lr: float = 0.9, seed: int = 0) -> dict:
    """Two processes on half-batches vs one process on the whole batch, case by case.

    Per case: ``one``, the largest parameter difference from one process on the whole
    batch; ``moved``, the largest change of a parameter in those steps (the scale);
    ``ranks``, the largest difference between the processes; for batch norm without
    synchronisation ``one_split``, the difference from one process that normalises each
    half of the batch on its own.
    """
    rank, world = _rank_world()
    X, y = _data(steps * batch, seed)
    batches = list(zip(X.split(batch), y.split(batch)))
    # "own order": each process shuffles the data itself, with a seed of its own
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + 1 + rank))
    own = list(zip(X[perm].split(batch), y[perm].split(batch)))
    cases = {"lenet": ("lenet", batches), "lenet_bn": ("lenet_bn", batches),
             "lenet_bn_sync": ("lenet_bn", batches), "lenet_dropout": ("lenet_dropout", batches),
             "lenet_own_order": ("lenet", own)}
    result = {}
    for case, (model, data) in cases.items():
        net = _model(model, seed)
        start = _flat(net)
        if case == "lenet_bn_sync":
            convert_sync_batchnorm(net)
        torch.manual_seed(seed + 100)        # the same dropout stream on every process
        two = _flat(scratch_steps(net, data, lr, average=True))
        ranks = _gather(two)
        row = {"ranks": max((r - ranks[0]).abs().max().item() for r in ranks)}
        if rank == 0:
            torch.manual_seed(seed + 100)
            one = _flat(scratch_steps(_model(model, seed), batches, lr))
            row["one"] = (two - one).abs().max().item()
            row["moved"] = (one - start).abs().max().item()
            if case == "lenet_bn":
                split = _flat(scratch_steps(_model(model, seed), batches, lr, halves=world))
                row["one_split"] = (two - split).abs().max().item()
        result[case] = row
    return result


# ----------------------------------------------------------------------------- section 2

def ddp_train(net: nn.Module, train: tuple, test: tuple, epochs: int, batch: int, lr: float,
              *, set_epoch: bool = True, seed: int = 0, warmup_steps: int = 0,
              lr_start: float | None = None) -> dict:
    """Train ``net`` with DistributedDataParallel: the loop of a DDP script, in full.

    ``batch`` is the batch of *one* process; the global batch is ``batch`` times the
    number of processes. ``set_epoch=False`` is the classic slip: the sampler then deals
    every epoch the same shuffle. ``warmup_steps`` ramps the learning rate linearly from
    ``lr_start`` to ``lr`` (Goyal et al.'s warm-up). Returns rank 0's view: the losses and
    accuracies of every epoch over *all* processes' examples.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset
    rank, world = _rank_world()
    model = DDP(net)                      # broadcasts rank 0's weights; hooks the all-reduce
    data = TensorDataset(*train)
    sampler = DistributedSampler(data, shuffle=True, seed=seed)   # this rank's share
    loader = DataLoader(data, batch_size=batch, sampler=sampler)
    test_data = TensorDataset(*test)      # every world-th image: no padding, none twice
    test_loader = DataLoader(Subset(test_data, range(rank, len(test_data), world)),
                             batch_size=256)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    lr_start = lr if lr_start is None else lr_start
    history: dict[str, list] = {"train_loss": [], "test_acc": []}
    step = 0
    for epoch in range(epochs):
        if set_epoch:
            sampler.set_epoch(epoch)          # a new shuffle each epoch, the same on all ranks
        model.train()
        sums = torch.zeros(2)                 # loss summed over examples, examples
        for X, y in loader:
            if step < warmup_steps:
                for group in opt.param_groups:
                    group["lr"] = lr_start + (lr - lr_start) * step / warmup_steps
            elif step == warmup_steps:
                for group in opt.param_groups:
                    group["lr"] = lr
            opt.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()                   # DDP all-reduces the gradients in here
            opt.step()
            sums += torch.tensor([loss.item() * len(y), len(y)])
            step += 1
        model.eval()
        correct = torch.zeros(2)
        with torch.no_grad():
            for X, y in test_loader:
                correct += torch.tensor([(model(X).argmax(1) == y).sum().item(), len(y)])
        dist.all_reduce(sums)                 # every rank's examples count
        dist.all_reduce(correct)
        history["train_loss"].append((sums[0] / sums[1]).item())
        history["test_acc"].append((correct[0] / correct[1]).item())
        if rank == 0:                         # one line per epoch, not one per process
            print(f"epoch {epoch + 1}: loss {history['train_loss'][-1]:.3f}, "
                  f"test acc {history['test_acc'][-1]:.3f}", flush=True)
    return history


def sampler(epochs: int = 3, seeds: int = 2, subset: int = 4096, batch: int = 128,
            lr: float = 0.1, model: str = "lenet_modern", first_seed: int = 0) -> dict:
    """DDP training with and without ``sampler.set_epoch``, on several seeds."""
    result: dict[str, list] = {"with": [], "without": []}
    train, test = _data(subset, first_seed), _data(1000, first_seed + 1, "test")
    for seed in range(first_seed, first_seed + seeds):
        for key, flag in (("with", True), ("without", False)):
            net = _model(model, seed)
            result[key].append(ddp_train(net, train, test, epochs, batch, lr,
                                         set_epoch=flag, seed=seed))
    return result


# ----------------------------------------------------------------------------- section 3

def _local_run(model: str, train, test, epochs: int, batch: int, lr: float, seed: int,
               warmup_steps: int = 0, lr_start: float | None = None, halves: int = 1) -> dict:
    """One process alone (no communication): the control runs of the scaling experiment.

    ``halves`` > 1 runs the forward pass on that many parts of each batch, so batch norm
    normalises each part on its own, as that many DDP processes without synchronised batch
    norm would: the per-process batch-norm batch stays ``batch / halves``.
    """
    net = _model(model, seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    lr_start = lr if lr_start is None else lr_start
    X, y = train
    step, losses = 0, []
    for _ in range(epochs):
        net.train()
        total = 0.0
        for idx in torch.randperm(len(y), generator=gen).split(batch):
            for group in opt.param_groups:
                group["lr"] = (lr_start + (lr - lr_start) * step / warmup_steps
                               if step < warmup_steps else lr)
            opt.zero_grad()
            out = torch.cat([net(X[part]) for part in idx.tensor_split(halves)])
            loss = F.cross_entropy(out, y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            step += 1
        losses.append(total / len(y))
    net.eval()
    with torch.no_grad():
        acc = (net(test[0]).argmax(1) == test[1]).float().mean().item()
    return {"train_loss": losses, "test_acc": acc, "params": _flat(net)}


def scaling(epochs: int = 1, seeds: int = 2, subset: int = 8192, batch: int = 256,
            lr: float = 0.1, warmup: float = 0.25, model: str = "lenet_bn",
            first_seed: int = 0) -> dict:
    """The linear scaling rule: batch ``batch`` at ``lr`` against twice the batch at
    ``lr`` (unscaled) and at ``2 lr`` (scaled, with and without warm-up), over seeds, with
    the control that changes the lr alone (``batch`` at ``2 lr``).

    The seeds are shared out between the processes, each training alone: one process whose
    batch norm normalises each half of the doubled batch on its own stands for two DDP
    processes of ``batch`` each without synchronised batch norm (the per-process batch-norm
    batch stays ``batch``, as in Goyal et al.), which the chapter's first section showed
    equal. That equality is measured again here (``ddp_vs_one``): the first seed's scaled
    run once more on all processes with DDP, against the same run on one process.
    """
    rank, world = _rank_world()
    train, test = _data(subset, first_seed), _data(1000, first_seed + 1, "test")
    big = 2 * batch
    warm = int(warmup * epochs * math.ceil(subset / big))
    configs = {"base": (batch, lr, 0), "base, lr doubled": (batch, 2 * lr, 0),
               "unscaled": (big, lr, 0), "scaled": (big, 2 * lr, warm),
               "scaled, no warm-up": (big, 2 * lr, 0)}
    mine = {}
    for seed in range(first_seed + rank, first_seed + seeds, world):
        for name, (b, rate, w) in configs.items():
            run = _local_run(model, train, test, epochs, b, rate, seed, w, lr_start=lr,
                             halves=b // batch)
            if name == "scaled" and seed == first_seed:
                mine["params0"] = run["params"]
            mine[seed, name] = {k: v for k, v in run.items() if k != "params"}
    everyone = _gather(mine)
    # the control: the first seed, scaled, on all processes, each with big / world per step
    # (batch norm per process, as the one-process run normalises each half on its own)
    net = _model(model, first_seed)
    _ddp_steps(net, train, epochs, big, 2 * lr, first_seed, warm, lr)
    if rank != 0:
        return {}
    runs = {}
    for part in everyone:
        runs.update({f"{seed}|{name}": v for (seed, name), v in
                     ((k, v) for k, v in part.items() if k != "params0")})
    return {"runs": runs, "warmup_steps": warm, "global_batch": big,
            "ddp_vs_one": (_flat(net) - everyone[0]["params0"]).abs().max().item()}


def _ddp_steps(net: nn.Module, train, epochs: int, global_batch: int, lr: float, seed: int,
               warmup_steps: int, lr_start: float) -> None:
    """The same shuffles and steps as ``_local_run``, each global batch shared out by rank."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    rank, world = _rank_world()
    model = DDP(net, broadcast_buffers=False)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    X, y = train
    step = 0
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=gen).split(global_batch):
            for group in opt.param_groups:
                group["lr"] = (lr_start + (lr - lr_start) * step / warmup_steps
                               if step < warmup_steps else lr)
            mine = idx.tensor_split(world)[rank]
            opt.zero_grad()
            # the mean over this rank's share, times its share of the global batch:
            # summed over ranks (DDP averages, so times world) it is the global mean
            loss = F.cross_entropy(model(X[mine]), y[mine]) * len(mine) * world / len(idx)
            loss.backward()
            opt.step()
            step += 1


def syncbn(epochs: int = 1, seeds: int = 2, subset: int = 4096, batch: int = 64,
           lr: float = 0.1, model: str = "resnet", first_seed: int = 0) -> dict:
    """Per-process batch norm against ``SyncBatchNorm`` under DDP, over seeds."""
    train, test = _data(subset, first_seed), _data(1000, first_seed + 1, "test")
    result: dict[str, list] = {"per-process": [], "sync": []}
    for seed in range(first_seed, first_seed + seeds):
        for key in result:
            net = _model(model, seed)
            if key == "sync":
                convert_sync_batchnorm(net)
            result[key].append(ddp_train(net, train, test, epochs, batch, lr, seed=seed))
    return result


# ----------------------------------------------------------------------------- section 4

def cost(steps: int = 10, batch: int = 256, models: tuple = ("lenet", "resnet")) -> dict:
    """Milliseconds per global batch of ``batch``: compute (forward and backward of this
    process's share) and communication (the all-reduce of the gradients), one process
    alone first (rank 0, while the others wait), then all processes together with
    ``average_gradients`` (one all-reduce per parameter tensor: ``tensors`` calls), then
    with DDP (buckets, overlapped with the backward pass: ``ddp``, the whole step)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from .distributed import average_gradients
    rank, world = _rank_world()
    X, y = _data(batch, 0)
    result = {}

    def timed(net, Xs, ys, comm):
        t_compute = t_comm = 0.0
        for i in range(steps + 1):            # the first step warms up, not counted
            t0 = time.perf_counter()
            net.zero_grad()
            F.cross_entropy(net(Xs), ys).backward()
            t1 = time.perf_counter()
            if comm:
                average_gradients(net)
            t2 = time.perf_counter()
            if i:
                t_compute += t1 - t0
                t_comm += t2 - t1
        return 1000 * t_compute / steps, 1000 * t_comm / steps

    for name in models:
        net = _model(name, 0)
        one = timed(net, X, y, comm=False) if rank == 0 else None
        dist.barrier()
        two = timed(net, X.chunk(world)[rank], y.chunk(world)[rank], comm=True)
        n_grad = sum(p.numel() for p in net.parameters())
        tensors = sum(1 for p in net.parameters() if p.requires_grad)
        ddp = timed(DDP(net), X.chunk(world)[rank], y.chunk(world)[rank], comm=False)
        result[name] = {"one": one, "many": _gather(two), "parameters": n_grad,
                        "tensors": tensors, "ddp": _gather(sum(ddp))}
    return result


EXPERIMENTS: dict[str, Callable[..., dict]] = {
    "equality": equality, "sampler": sampler, "scaling": scaling, "syncbn": syncbn,
    "cost": cost}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj


def main(argv: list[str] | None = None) -> None:
    """Entry point under torchrun: ``EXPERIMENT --out FILE [--key json-value ...]``."""
    parser = argparse.ArgumentParser(prog="python -m cnncourse.ddp_lab")
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--out", required=True, help="rank 0 writes its result here (JSON)")
    known, rest = parser.parse_known_args(argv)
    if len(rest) % 2 or not all(k.startswith("--") for k in rest[::2]):
        parser.error(f"options come as --key value pairs, got {rest}")
    options = {k[2:].replace("-", "_"): json.loads(v) for k, v in zip(rest[::2], rest[1::2])}
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        result = EXPERIMENTS[known.experiment](**options)
        if dist.get_rank() == 0:
            tmp = Path(known.out + ".part")
            tmp.write_text(json.dumps(_jsonable(result)))
            tmp.replace(known.out)           # whole or not at all
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
