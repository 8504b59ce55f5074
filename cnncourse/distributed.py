"""Data parallelism: the process group, the data each rank trains on, and DDP.

``torchrun`` starts one process per device and tells each its place in the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). Everything here
is a no-op on one process without a process group, so ``train_ch6`` calls it unconditionally
and behaves exactly as before when nobody launched it with ``torchrun``:

* ``init_from_env``: join the group that ``torchrun`` described (``gloo`` on CPUs, ``nccl``
  on GPUs), with a bounded wait instead of a hang;
* ``get_rank``/``get_world_size``/``is_main_process``: 0, 1 and True without a group;
* ``average_gradients``: data parallelism from scratch, one ``all_reduce`` per gradient;
* ``shard``: this rank's share of each global batch, reshuffled per epoch by ``set_epoch``;
* ``wrap_ddp``: ``DistributedDataParallel``, which does ``average_gradients``' work in
  buckets while the backward pass is still running;
* ``sum_over_ranks``/``max_over_ranks``/``rank_batches``: what ``train_ch6`` and
  ``evaluate_accuracy_gpu`` need so that every rank records the same, global numbers.
"""
from __future__ import annotations

import copy
import datetime
import os
from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from .data import LoaderWrapper, TensorLoader
from .device import try_gpu

__all__ = ["DistributedError", "ShardedDataLoader", "ShardedTensorLoader", "average_gradients",
           "describe_lost_rank", "get_local_rank", "get_rank", "get_world_size", "init_from_env",
           "is_lost_rank", "is_main_process", "local_device", "max_over_ranks", "rank_batches",
           "set_epoch", "shard", "sum_over_ranks", "sync_buffers", "unwrap", "wrap_ddp"]

# what torchrun sets in every process it starts (MASTER_PORT too, checked with MASTER_ADDR)
_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR")


class DistributedError(RuntimeError):
    """The process group could not start, or lost a rank; the message says what to do."""


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank in the group: 0 without one."""
    return dist.get_rank() if _active() else 0


def get_world_size() -> int:
    """How many processes train together: 1 without a group."""
    return dist.get_world_size() if _active() else 1


def get_local_rank() -> int:
    """This process's index on its own machine (torchrun's ``LOCAL_RANK``): 0 without a group.

    It picks the GPU: process ``i`` of a machine trains on ``cuda:i``.
    """
    return int(os.environ.get("LOCAL_RANK", 0)) if _active() else 0


def local_device() -> torch.device:
    """The device this process trains on: ``try_gpu()`` without a group; under one,
    ``cuda:LOCAL_RANK`` with ``nccl`` and the CPU with ``gloo`` (every rank alike)."""
    if not _active():
        return try_gpu()
    if dist.get_backend() == "nccl":
        return torch.device("cuda", get_local_rank())
    return torch.device("cpu")


def is_main_process() -> bool:
    """Whether this process prints, plots and writes files (rank 0; True without a group)."""
    return get_rank() == 0


def init_from_env(backend: str | None = None, timeout_s: float = 60.0) -> bool:
    """Join the process group that ``torchrun`` described in the environment; True if joined.

    Without torchrun's ``RANK`` and ``WORLD_SIZE`` this returns False and changes nothing:
    the same script runs as one plain process. Calling it again returns True without
    starting a second group. ``backend`` defaults to ``nccl`` when this
    machine has a GPU for each of its processes (``cuda:LOCAL_RANK``, made the current
    device), else ``gloo`` on every rank (then ``local_device()`` is the CPU: two processes
    cannot share one GPU under ``nccl``). ``timeout_s`` bounds both the rendezvous and,
    later, every collective operation: a rank that never arrives, or one that died
    mid-epoch, ends the others with an error after that long instead of a hang.
    """
    if _active():
        return True
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        return False  # (a MASTER_ADDR alone, as some clusters set it, launches nothing)
    present = [v for v in _TORCHRUN_VARS if v in os.environ]
    missing = [v for v in (*_TORCHRUN_VARS, "MASTER_PORT") if v not in os.environ]
    if missing:
        raise DistributedError(
            f"the environment sets {', '.join(present)} but not {', '.join(missing)}, so this "
            "process cannot find the others. Start the script with torchrun (e.g. `torchrun "
            "--nproc_per_node 2 -m cnncourse.ddp_train`), which sets all of them, or unset "
            f"{', '.join(present)} to train as one process.")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend is None:
        per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", local_rank + 1))
        backend = "nccl" if torch.cuda.device_count() >= per_machine else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    timeout = datetime.timedelta(seconds=timeout_s)
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
        # torchrun --max-restarts keeps its store across attempts: a fresh prefix per attempt,
        # or the new processes would read the dead ones' addresses and fail to connect
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        store = dist.PrefixStore(f"cnncourse/attempt-{attempt}/", store)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                                timeout=timeout)
    except Exception as err:  # noqa: BLE001 -- store, network and backend errors alike
        raise DistributedError(
            f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']} could not join the "
            f"process group at {where} within {timeout_s:g} s ({type(err).__name__}: "
            f"{_first_line(err)}). Check that every rank was started with the same "
            "--rdzv-endpoint / MASTER_ADDR:MASTER_PORT, that the address is reachable from "
            "this machine, and that all --nnodes machines were started.") from err
    return True


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else ""


def average_gradients(net: nn.Module) -> None:
    """Replace every gradient by its mean over all ranks (data parallelism from scratch).

    Each rank computed its gradient on its own part of the batch; summing them over the
    ranks and dividing by the number of ranks gives the gradient of the whole batch (when
    the parts are equal in size), so every rank then takes the same optimiser step.
    """
    world_size = get_world_size()
    if world_size == 1:  # one process: its gradient already is the whole batch's
        return
    for param in net.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad /= world_size


def wrap_ddp(net: nn.Module, device=None, plan=None) -> nn.Module:
    """``net`` in ``DistributedDataParallel`` under a process group; ``net`` itself otherwise.

    DDP copies rank 0's weights to every rank when it wraps, then averages the gradients
    during ``backward`` (in buckets, each sent as soon as its gradients are ready). The model
    must already be on ``device``. DDP lays its buckets out like the parameters it finds, so
    with a ``RunPlan`` (``train_ch6``'s) the model first takes the plan's channels-last
    layout; and the plan's CUDA graph is dropped, because a recorded step would replay
    stale communication.
    """
    if not _active() or isinstance(net, nn.parallel.DistributedDataParallel):
        return net
    if plan is not None:
        if plan.channels_last:
            net.to(memory_format=torch.channels_last)
        plan.cuda_graph = False
    device = torch.device(device) if device is not None else _param_device(net)
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids)


def sync_buffers(net: nn.Module) -> None:
    """Give every rank rank 0's buffers (batch norm's running statistics) of a DDP model.

    DDP does so at the start of each training forward pass; after the last one, each rank
    has updated its statistics with its own batch. Evaluation calls this first, so that all
    ranks evaluate -- and end with -- the same model.
    """
    if _active() and isinstance(net, nn.parallel.DistributedDataParallel) \
            and net.broadcast_buffers:
        for buffer in net.module.buffers():
            dist.broadcast(buffer, src=0)


def unwrap(net: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (``net`` if it is none)."""
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


def _param_device(net: nn.Module) -> torch.device:
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _comm_device() -> torch.device:
    """Where small tensors for collectives live: the GPU for nccl, the CPU for gloo."""
    if _active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_over_ranks(metric):
    """An ``Accumulator``'s sums added up over all ranks (``metric`` itself without a group).

    ``train_ch6`` calls it once per epoch, so each rank's history holds the global loss,
    accuracy and example count of the epoch.
    """
    if not _active():
        return metric
    sums = torch.tensor([float(v) for v in metric.data], dtype=torch.float64,
                        device=_comm_device())
    dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    out = copy.copy(metric)
    out.data = sums.tolist()
    return out


def max_over_ranks(value: float) -> float:
    """The largest ``value`` over all ranks (an epoch lasts as long as its slowest rank)."""
    if not _active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def rank_batches(data_iter: Iterable) -> Iterable:
    """The batches of ``data_iter`` this rank evaluates: ``rank``, ``rank + world``, ...

    Every batch goes to exactly one rank, so counts summed over the ranks cover the whole
    data set once (unequal shares are fine: evaluation ends with one sum, not a step).
    Without a group, ``data_iter`` itself.
    """
    world = get_world_size()
    if world == 1:
        return data_iter
    rank = get_rank()
    if isinstance(data_iter, TensorLoader) and not data_iter.shuffle:
        b, n = data_iter.batch_size, data_iter.num_examples
        return (data_iter._batch(slice(i, i + b)) for i in range(rank * b, n, world * b))
    return (batch for i, batch in enumerate(data_iter) if i % world == rank)


def set_epoch(train_iter: Iterable, epoch: int) -> None:
    """Tell a sharded loader which epoch starts, so it draws that epoch's order.

    Every rank draws the same permutation (seeded by ``seed + epoch``) and takes its own
    part of it; without ``set_epoch`` every epoch would repeat the first one's order.
    Loaders without ``set_epoch`` (every loader on one process) are left alone.
    """
    fn = getattr(train_iter, "set_epoch", None)
    if callable(fn):
        fn(epoch)


def _check_divides(batch_size: int, world_size: int) -> int:
    if batch_size % world_size:
        lower = batch_size - batch_size % world_size
        raise ValueError(
            f"the batch size {batch_size} does not split evenly over {world_size} processes "
            f"(world size): each rank takes batch_size / world_size examples of every batch. "
            f"Use a batch size that {world_size} divides, e.g. {lower or world_size} or "
            f"{lower + world_size}, or start {_divisor_hint(batch_size, world_size)} "
            "processes.")
    return batch_size // world_size


def _divisor_hint(batch_size: int, world_size: int) -> str:
    fits = [w for w in range(world_size - 1, 0, -1) if batch_size % w == 0]
    return str(fits[0]) if fits else "1"


class ShardedTensorLoader(LoaderWrapper):
    """This rank's part of every global batch of an in-memory ``TensorLoader``.

    Each epoch all ranks draw the same permutation of the whole data set (from
    ``seed + epoch``; ``set_epoch`` chooses the epoch), cut it into global batches of the
    loader's ``batch_size`` and give rank ``r`` the ``r``-th of ``world_size`` equal slices
    of each. So the ranks together see exactly the batches one process would see with that
    order, and averaged gradients equal the whole batch's gradient. The last global batch
    of an epoch may be short: it is split into equal slices too, leaving out its last
    ``len % world_size`` examples (at most ``world_size - 1`` per epoch, as
    ``DistributedSampler(drop_last=True)`` does), so every rank takes the same number of
    steps. ``batch_size`` here is the per-rank size.
    """

    def __init__(self, loader: TensorLoader, rank: int, world_size: int, seed: int = 0) -> None:
        super().__init__(loader)
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.global_batch_size = loader.batch_size
        self.batch_size = _check_divides(loader.batch_size, world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _slices(self) -> Iterator[tuple[int, int]]:
        n, B, W = self.loader.num_examples, self.global_batch_size, self.world_size
        for start in range(0, n, B):
            per_rank = (min(B, n - start)) // W
            if per_rank:
                lo = start + self.rank * per_rank
                yield lo, lo + per_rank

    def __len__(self) -> int:
        return sum(1 for _ in self._slices())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = self.loader
        if loader.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(loader.num_examples, generator=g).to(loader.device)
            for lo, hi in self._slices():
                yield loader._batch(order[lo:hi])
        else:
            for lo, hi in self._slices():
                yield loader._batch(slice(lo, hi))


class ShardedDataLoader(LoaderWrapper):
    """A torch ``DataLoader`` remade with a ``DistributedSampler``: this rank's examples.

    The sampler gives each rank every ``world_size``-th example of a permutation that all
    ranks draw alike (from ``seed + epoch``; ``set_epoch`` chooses the epoch), after
    dropping the last ``len % world_size`` examples (``drop_last=True``), so every rank has
    as many batches as the others. Batches hold ``batch_size / world_size`` examples.
    """

    def __init__(self, loader: torch.utils.data.DataLoader, rank: int, world_size: int,
                 seed: int = 0) -> None:
        from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

        per_rank = _check_divides(loader.batch_size, world_size)
        self.sampler = DistributedSampler(
            loader.dataset, num_replicas=world_size, rank=rank,
            shuffle=isinstance(loader.sampler, RandomSampler), seed=seed, drop_last=True)
        super().__init__(DataLoader(
            loader.dataset, batch_size=per_rank, sampler=self.sampler,
            num_workers=loader.num_workers, collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory, drop_last=loader.drop_last,
            worker_init_fn=loader.worker_init_fn,
            persistent_workers=loader.persistent_workers))
        self.batch_size = per_rank

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        return iter(self.loader)


def shard(train_iter: Iterable, *, seed: int | None = None) -> Iterable:
    """This rank's share of the training data; ``train_iter`` itself without a group.

    ``seed`` seeds the shared shuffle; by default it is the loader's own seed (a
    ``TensorLoader`` made with ``seed=``, 0 for others), so a script's ``--seed`` changes
    the data order under ``torchrun`` as it does on one process.

    A ``TensorLoader`` (``load_data_fashion_mnist``) becomes a ``ShardedTensorLoader``, a
    ``DataLoader`` a ``ShardedDataLoader``; a wrapper of either (augmentation,
    normalisation) keeps wrapping the sharded one. Each rank's batch is
    ``batch_size / world_size`` examples, so the global batch -- and with it the meaning of
    the learning rate -- stays the one the loader was made with. Call ``set_epoch(train_iter,
    epoch)`` at the start of every epoch. A batch size the world size does not divide is an
    error that names both.
    """
    world = get_world_size()
    if world == 1:
        return train_iter
    rank = get_rank()
    if isinstance(train_iter, (ShardedTensorLoader, ShardedDataLoader)):
        return train_iter
    if seed is None:
        seed = getattr(train_iter, "seed", 0)
    if isinstance(train_iter, TensorLoader):
        return ShardedTensorLoader(train_iter, rank, world, seed)
    if isinstance(train_iter, torch.utils.data.DataLoader):
        return ShardedDataLoader(train_iter, rank, world, seed)
    if isinstance(train_iter, LoaderWrapper):
        outer = copy.copy(train_iter)
        outer.loader = shard(train_iter.loader, seed=seed)
        return outer
    raise TypeError(
        f"train_ch6 cannot split a {type(train_iter).__name__} over {world} processes: it "
        "shards a cnncourse TensorLoader (load_data_fashion_mnist) or a torch DataLoader. "
        "Pass one of those, or give each rank its own part of the data yourself and pass a "
        "loader that has a set_epoch method.")


def is_lost_rank(err: BaseException) -> bool:
    """Whether ``err`` is a collective that failed under a group (a rank gone, a timeout)."""
    if not _active() or get_world_size() == 1:
        return False
    if isinstance(err, getattr(dist, "DistError", ())):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(
        s in text for s in ("gloo", "Connection closed", "Connection reset", "NCCL", "timed out"))


def describe_lost_rank(err: BaseException) -> str:
    """What a rank says when a collective failed because another rank is gone."""
    return (f"rank {get_rank()} of {get_world_size()} lost the other processes "
            f"({type(err).__name__}: {_first_line(err)}). A rank has probably died (out of "
            "memory, killed, or its machine lost); this one stopped instead of waiting for "
            "ever. Under torchrun --max-restarts=N with train_ch6(..., checkpoint=PATH) the "
            "job restarts from the last finished epoch.")

