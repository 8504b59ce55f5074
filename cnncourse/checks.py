"""Clear errors for bad input to ``train_ch6``, raised before any work is done.

Each message names what was wrong and how to fix it; without them the same mistakes
surface as a ZeroDivisionError after the last epoch, a silent empty history, or a
dtype error deep inside a convolution.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Iterable

import torch
from torch import nn

__all__ = ["check_arguments", "check_output_width", "output_width_check"]


def check_arguments(net: nn.Module, train_iter: Iterable, test_iter: Iterable,
                    num_epochs: int, lr: float) -> None:
    """Reject what cannot train: a bad epoch count or lr, a model or data that cannot work."""
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral):
        raise TypeError(f"num_epochs must be a whole number, such as 10, not {num_epochs!r}")
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, not {num_epochs}")
    if (isinstance(lr, bool) or not isinstance(lr, numbers.Real)
            or not math.isfinite(lr) or lr < 0):
        raise TypeError(f"lr (the learning rate) must be a number >= 0, such as 0.9, "
                        f"not {lr!r}")
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, not {type(net).__name__}")
    params = list(net.parameters())
    if not params:
        raise ValueError("the model has no parameters, so there is nothing to train; "
                         "build it from layers such as nn.Linear or nn.Conv2d.")
    dtypes = sorted({str(p.dtype) for p in params if p.is_floating_point()} - {"torch.float32"})
    if dtypes:
        raise TypeError(f"the model's parameters are {', '.join(dtypes)}, but train_ch6 trains "
                        "float32 weights on float32 images: call net.float() first (for "
                        "bf16 speed use mixed_precision=True, which keeps float32 weights).")
    for name, data in (("train_iter", train_iter), ("test_iter", test_iter)):
        if isinstance(data, Iterator) and num_epochs > 1:  # a generator, iter(list), ...
            raise TypeError(f"{name} is a one-shot iterator ({type(data).__name__}): it would "
                            f"be empty after the first of {num_epochs} epochs. Pass something "
                            "that can be iterated again: a list of batches, a DataLoader, or "
                            "load_data_fashion_mnist's loaders.")
        if hasattr(data, "__len__") and len(data) == 0:
            raise ValueError(f"{name} has no batches; check the data set and the batch size.")


def check_output_width(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                       num_classes: int | None) -> None:
    """The model must return one score per class: (batch, num_classes)."""
    with torch.no_grad():
        was_training = net.training
        net.eval()
        out = net(X[:2])
        net.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"the model returns shape {tuple(out.shape)}, but a classifier must "
                         "return (batch, num_classes) scores; add nn.Flatten() before the last "
                         "Linear layer.")
    need = num_classes if num_classes is not None else int(y.max()) + 1
    if (num_classes is not None and out.shape[1] != need) or out.shape[1] < need:
        raise ValueError(f"the model's last layer has {out.shape[1]} outputs but the data has "
                         f"{need} classes; make the last layer nn.Linear(..., {need}).")


def output_width_check(net: nn.Module, train_iter: Iterable):
    """``check_output_width`` for ``net`` and the classes of ``train_iter``, as ``check(X, y)``."""
    num_classes = getattr(train_iter, "num_classes", None)
    return lambda X, y: check_output_width(net, X, y, num_classes)
