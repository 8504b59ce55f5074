"""Checkpoints: a training run that a lost machine or a closed notebook costs one epoch at most.

``train_ch6(..., checkpoint=PATH)`` calls ``save_checkpoint`` after every epoch and
``resume`` before the first: a run started again with the same arguments continues where
the last finished epoch left off, and -- with the same seed and deterministic settings --
ends with the same weights as a run that was never interrupted. For that a checkpoint holds
more than the weights: the optimiser's state (momentum, Adam's averages), the history so far,
the epoch, and every random state the next epoch draws from (PyTorch's, CUDA's, NumPy's,
Python's, one set per rank, and the in-memory loader's shuffling generator).

Files are written whole or not at all: into a temporary file beside the target, then
``os.replace``d over it, so a process killed while saving leaves the previous checkpoint
intact. Only rank 0 writes; the others wait at a barrier so that nobody reads a file that
is still being written. Loading checks before it changes anything: a checkpoint of another
model, or a truncated file, is an error that names the file and leaves it as it is.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .distributed import get_rank, get_world_size, is_main_process, unwrap

__all__ = ["CheckpointError", "load_checkpoint", "resume", "save_checkpoint"]

FORMAT = "cnncourse-checkpoint/1"
_HISTORY_FIELDS = ("train_loss", "train_acc", "test_acc", "epoch_seconds")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used here; the message names the file and the fix."""


def _fresh_start(path) -> str:
    return (f"To start fresh, delete {path} or pass another checkpoint path; the file was "
            "left as it is.")


# ---- random states -------------------------------------------------------------------------

def _rng_state() -> dict:
    """This process's random states, as tensors and plain values (safe to load)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"][:torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)


def _all_rng_states() -> list[dict]:
    """Every rank's random states, in rank order (collective under a process group)."""
    mine = _rng_state()
    if get_world_size() == 1:
        return [mine]
    states: list = [None] * get_world_size()
    dist.all_gather_object(states, mine)
    return states


def _loader_generator(train_iter) -> torch.Generator | None:
    """The shuffling generator of an in-memory loader (or a wrapper of one), if any."""
    g = getattr(train_iter, "_generator", None) if train_iter is not None else None
    return g if isinstance(g, torch.Generator) else None


# ---- saving --------------------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike, net: nn.Module, optimizer: torch.optim.Optimizer,
                    history, epoch: int, train_iter=None) -> None:
    """Write what a run needs to continue after ``epoch`` finished epochs to ``path``.

    Model (without a DDP wrapper's ``module.`` prefix), optimiser, ``epoch``, ``history``'s
    per-epoch lists, the random states of every rank, and ``train_iter``'s shuffling state.
    Under a process group every rank must call it (the random states are gathered); rank 0
    writes, atomically, and the others wait until the file is complete.
    """
    path = Path(path)
    states = _all_rng_states()
    if is_main_process():
        generator = _loader_generator(train_iter)
        record = {
            "format": FORMAT,
            "epoch": int(epoch),
            "world_size": get_world_size(),
            "model_class": type(unwrap(net)).__name__,
            "model": unwrap(net).state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "history": {**{k: list(getattr(history, k)) for k in _HISTORY_FIELDS},
                        "num_train_examples": int(history.num_train_examples)},
            "rng": states,
            "loader_rng": generator.get_state() if generator is not None else None,
            "sampler_epoch": int(epoch),
        }
        _write_atomically(path, record)
    if get_world_size() > 1:
        dist.barrier()


def _write_atomically(path: Path, record: dict) -> None:
    """``torch.save`` into a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ---- loading -------------------------------------------------------------------------------

def _read(path: Path) -> dict:
    """The checkpoint at ``path``, or a ``CheckpointError`` for a file that is not one."""
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train_ch6(..., checkpoint=PATH) "
                                "writes one after each epoch.")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- zip, pickle and EOF errors all mean: unreadable
        size = path.stat().st_size
        raise CheckpointError(
            f"{path} ({size:,} bytes) is not a readable checkpoint: it is truncated (a copy or "
            f"a save that was cut short) or not a checkpoint at all ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}). "
            f"{_fresh_start(path)}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a cnncourse checkpoint (no "
                              f"'format': {FORMAT!r}). {_fresh_start(path)}")
    return record


def _check_model(path: Path, record: dict, net: nn.Module) -> None:
    """The checkpoint's weights must fit ``net`` key for key and shape for shape."""
    saved, own = record["model"], unwrap(net).state_dict()
    missing = [k for k in own if k not in saved]
    extra = [k for k in saved if k not in own]
    shapes = [f"{k!r}: {tuple(saved[k].shape)} in the file, {tuple(own[k].shape)} in the model"
              for k in own if k in saved and tuple(saved[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"the model has {_few(missing)} that the file lacks")
    if extra:
        problems.append(f"the file has {_few(extra)} that the model lacks")
    if shapes:
        problems.append(f"shapes differ for {'; '.join(shapes[:3])}"
                        f"{'; ...' if len(shapes) > 3 else ''}")
    if problems:
        raise CheckpointError(
            f"{path} holds the weights of another model (a {record.get('model_class', '?')} "
            f"after {record['epoch']} epoch(s)) than this {type(unwrap(net)).__name__}: "
            f"{'; '.join(problems)}. {_fresh_start(path)}")


def _few(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:3])
    return f"{shown}{f' and {len(keys) - 3} more' if len(keys) > 3 else ''}"


def _apply(path: Path, record: dict, net: nn.Module,
           optimizer: torch.optim.Optimizer | None) -> None:
    """Load weights and optimiser state, checking everything that can fail first."""
    _check_model(path, record, net)
    if optimizer is not None and record.get("optimizer") is not None:
        try:  # checks the parameter groups before it changes anything
            optimizer.load_state_dict(record["optimizer"])
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(
                f"{path} holds the state of another optimiser than this "
                f"{type(optimizer).__name__} ({err}). Train with the optimiser that wrote it, "
                f"or start fresh: delete {path} or pass another checkpoint path.") from None
    unwrap(net).load_state_dict(record["model"])


def load_checkpoint(path: str | os.PathLike, net: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load ``path``'s weights into ``net`` (and state into ``optimizer``); return the record.

    The record is a dict with ``epoch``, ``history``, ``world_size``, ``rng``, ... . A file
    that is not a readable checkpoint, or one of a model with other layers or shapes, raises
    a ``CheckpointError`` naming the file and the first differences, and changes nothing.
    """
    path = Path(path)
    record = _read(path)
    _apply(path, record, net, optimizer)
    return record


def _exists_on_every_rank(path: Path) -> bool:
    """Whether ``path`` exists -- on every rank alike, or an error (a machine without it
    would start afresh while the others resume, and the ranks would wait on each other)."""
    exists = path.exists()
    if get_world_size() == 1:
        return exists
    seen: list = [None] * get_world_size()
    dist.all_gather_object(seen, exists)
    if len(set(seen)) > 1:
        missing = [r for r, there in enumerate(seen) if not there]
        raise CheckpointError(
            f"the checkpoint {path} exists on some ranks but not on rank(s) "
            f"{', '.join(map(str, missing))}: on several machines it must lie on a file system "
            "they share (or be copied to each), since every rank resumes from it.")
    return exists


def resume(path: str | os.PathLike | None, net: nn.Module, optimizer: torch.optim.Optimizer,
           history, train_iter=None, num_epochs: int | None = None,
           verbose: bool = True) -> tuple:
    """Continue from the checkpoint at ``path`` if there is one: ``(history, first_epoch)``.

    Without a path or a file, ``(history, 0)``: a fresh start. Otherwise the weights,
    optimiser state, finished epochs of the history, this rank's random states and the
    loader's shuffling state are restored, one line says so (rank 0), and training goes on
    with the epoch after the checkpoint's. ``num_epochs`` smaller than the checkpoint's
    epoch is an error: the file records a longer run than the one asked for.
    """
    if path is None or not _exists_on_every_rank(Path(path)):
        return history, 0
    path = Path(path)
    record = _read(path)
    done = int(record["epoch"])
    if num_epochs is not None and num_epochs < done:
        raise CheckpointError(
            f"{path} holds {done} finished epochs, more than num_epochs={num_epochs}. Pass "
            f"num_epochs={done} or more to continue that run; {_fresh_start(path)[0].lower()}"
            f"{_fresh_start(path)[1:]}")
    _apply(path, record, net, optimizer)
    for key in _HISTORY_FIELDS:
        getattr(history, key)[:] = [float(v) for v in record["history"][key]]
    history.num_train_examples = int(record["history"]["num_train_examples"])
    states = record["rng"]
    _set_rng_state(states[get_rank()] if len(states) == get_world_size() else states[0])
    generator = _loader_generator(train_iter)
    if generator is not None and record.get("loader_rng") is not None:
        generator.set_state(record["loader_rng"])
    if verbose and is_main_process():
        print(f"resumed from epoch {done} of {path}")
    return history, done
