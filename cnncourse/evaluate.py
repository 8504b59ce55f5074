"""Evaluation: ``accuracy`` of one batch, ``evaluate_accuracy_gpu`` and ``evaluate_loss`` of a
data set.

``train_ch6`` reports, every epoch, exactly what ``evaluate_accuracy_gpu(net, test_iter)``
returns: one function, in float32, whether training used autocast or not.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from .checks import check_dtype
from .distributed import get_world_size, rank_batches, sum_over_ranks, sync_buffers, unwrap
from .timing import Accumulator

__all__ = ["accuracy", "evaluate_accuracy_gpu", "evaluate_loss", "model_device", "move_loader"]


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions (a tensor on y's device: no host sync)."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.type(y.dtype) == y).sum()


def model_device(net: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without any)."""
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def move_loader(data_iter: Iterable, device: torch.device) -> None:
    """Move a ``TensorLoader``'s whole data set to ``device`` once; leave other iterables alone."""
    to = getattr(data_iter, "to", None)
    if callable(to) and hasattr(data_iter, "images"):
        to(device)


def _no_batches(name: str) -> ValueError:
    return ValueError(f"{name} got no batches from data_iter, so there is nothing to measure; "
                      "pass a loader that yields (X, y) batches (a generator that was already "
                      "used up yields none).")


def _check_batch_dtype(net, X, who: str) -> None:
    """A float64 or half model fed float32 images: say so, as ``train_ch6`` does (first batch)."""
    if isinstance(net, nn.Module) and isinstance(X, torch.Tensor) and X.is_floating_point():
        check_dtype(net, who, X.dtype)


def evaluate_accuracy_gpu(net: nn.Module, data_iter: Iterable, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (d2l-compatible; one host sync at the end).

    Under a process group every rank must call it: each evaluates its share of the batches
    (``rank_batches``) and the counts are summed over the ranks, so all ranks return the
    accuracy on the whole of ``data_iter``.
    """
    if isinstance(net, nn.Module):
        sync_buffers(net)  # under DDP: rank 0's batch-norm statistics on every rank
        net = unwrap(net)  # DDP's forward would sync buffers: ranks' batch counts differ here
        net.eval()
        if device is None:
            device = model_device(net)
    device = torch.device(device) if device is not None else torch.device("cpu")
    move_loader(data_iter, device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    with torch.no_grad():
        for X, y in rank_batches(data_iter):  # all of data_iter on one process
            if isinstance(X, list):
                X = [x.to(device) for x in X]
            else:
                X = X.to(device)
            y = y.to(device)
            if total == 0:
                _check_batch_dtype(net, X, "evaluate_accuracy_gpu")
            correct += accuracy(net(X), y)
            total += y.numel()
    if get_world_size() > 1:  # every rank's counts: the accuracy on the whole data set
        counts = sum_over_ranks(_counts(correct, total))
        correct, total = counts[0], int(counts[1])
    if total == 0:
        raise _no_batches("evaluate_accuracy_gpu")
    return float(correct) / total


def _counts(correct: torch.Tensor, total: int) -> Accumulator:
    counts = Accumulator(2)
    counts.add(correct.item(), total)
    return counts


def evaluate_loss(net: nn.Module, data_iter: Iterable, loss: Callable, device=None) -> float:
    """Mean loss of ``net`` over ``data_iter`` (``loss`` must reduce by mean)."""
    net.eval()
    device = torch.device(device) if device is not None else model_device(net)
    move_loader(data_iter, device)
    total, n = torch.zeros((), device=device), 0
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            if n == 0:
                _check_batch_dtype(net, X, "evaluate_loss")
            total += loss(net(X), y) * y.numel()
            n += y.numel()
    if n == 0:
        raise _no_batches("evaluate_loss")
    return total.item() / n
