"""d2l's framework-neutral tensor names (``d2l.tensor``, ``d2l.reduce_sum``, ...).

d2l writes each chapter once for several frameworks, so its code reaches tensor
operations through its own names. The course calls torch directly; these names
exist only so that code taken from d2l runs unchanged with
``import cnncourse as d2l``. The package serves them from its module
``__getattr__`` (see ``lookup``), which keeps them out of ``dir(cnncourse)``
and out of a reader's tab completion.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

__all__ = ["ALIASES", "lookup"]


# Tensor methods under d2l's names: the tensor comes first, the rest goes to torch.
def numpy(x: torch.Tensor, *args, **kwargs) -> np.ndarray:
    """``x`` as a NumPy array, cut from autograd so that a tensor needing grad converts.

    Copied to the CPU first, so a CUDA tensor converts too; a CPU tensor still
    shares its memory with the array, as ``Tensor.numpy`` does.
    """
    return x.detach().cpu().numpy(*args, **kwargs)


def size(x: torch.Tensor, *args, **kwargs) -> int:
    """Number of elements: d2l's ``size`` is NumPy's ``size``, i.e. ``numel``, not ``shape``."""
    return x.numel(*args, **kwargs)


def reshape(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.reshape(...)``."""
    return x.reshape(*args, **kwargs)


def to(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.to(device or dtype)``."""
    return x.to(*args, **kwargs)


def reduce_sum(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.sum(...)``; torch takes NumPy's ``axis=`` as well as ``dim=``."""
    return x.sum(*args, **kwargs)


def reduce_mean(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.mean(...)``."""
    return x.mean(*args, **kwargs)


def argmax(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.argmax(...)``."""
    return x.argmax(*args, **kwargs)


def astype(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.type(dtype)``: the same values in another dtype."""
    return x.type(*args, **kwargs)


def transpose(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.t()``: d2l's ``transpose`` is the matrix transpose, so ``x`` has at most 2 dims."""
    return x.t(*args, **kwargs)


def expand_dims(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.unsqueeze(dim)``, under NumPy's name."""
    return x.unsqueeze(*args, **kwargs)


def swapaxes(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.swapaxes(a, b)``."""
    return x.swapaxes(*args, **kwargs)


def repeat(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``x.repeat(...)``: tiles the whole tensor (torch's meaning, not NumPy's)."""
    return x.repeat(*args, **kwargs)


# Every name d2l's PyTorch library defines as an alias (d2l-zh's list and
# d2l-en's longer one), mapped to what d2l maps it to.
ALIASES: dict[str, Any] = {
    # torch functions and dtypes under the same or d2l's name
    "ones": torch.ones, "ones_like": torch.ones_like,
    "zeros": torch.zeros, "zeros_like": torch.zeros_like,
    "tensor": torch.tensor, "arange": torch.arange, "linspace": torch.linspace,
    "eye": torch.eye, "meshgrid": torch.meshgrid,
    "normal": torch.normal, "rand": torch.rand, "randn": torch.randn,
    "sin": torch.sin, "sinh": torch.sinh, "cos": torch.cos, "cosh": torch.cosh,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "exp": torch.exp, "log": torch.log, "abs": torch.abs,
    "matmul": torch.matmul, "batch_matmul": torch.bmm,
    "concat": torch.cat, "stack": torch.stack,
    "int32": torch.int32, "int64": torch.int64, "float32": torch.float32,
    "nn_Module": nn.Module,
    # tensor methods as functions
    "numpy": numpy, "size": size, "reshape": reshape, "to": to,
    "reduce_sum": reduce_sum, "reduce_mean": reduce_mean, "argmax": argmax,
    "astype": astype, "transpose": transpose, "expand_dims": expand_dims,
    "swapaxes": swapaxes, "repeat": repeat,
    # d2l code draws with d2l.plt
    "plt": plt,
}


def lookup(name: str) -> Any:
    """The object d2l's ``name`` stands for; ``AttributeError`` when d2l has no such alias."""
    try:
        return ALIASES[name]
    except KeyError:
        raise AttributeError(f"module 'cnncourse' has no attribute {name!r}") from None
