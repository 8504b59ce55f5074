"""Pick the device to train on.

d2l's ``try_gpu`` only knows CUDA, so Mac readers silently train on the CPU.
Here the fallback order is CUDA, then Apple's MPS, then the CPU.
"""
from __future__ import annotations

import torch

__all__ = ["cpu", "gpu", "num_gpus", "try_gpu", "try_all_gpus"]


def cpu() -> torch.device:
    """The CPU device (d2l name)."""
    return torch.device("cpu")


def gpu(i: int = 0) -> torch.device:
    """The ``i``-th CUDA device (d2l name); no check that it exists."""
    return torch.device(f"cuda:{i}")


def num_gpus() -> int:
    """Number of CUDA devices visible to PyTorch."""
    return torch.cuda.device_count()


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def try_gpu(i: int = 0) -> torch.device:
    """Return ``cuda:i`` if it exists, else Apple ``mps``, else ``cpu``."""
    if num_gpus() >= i + 1:
        return gpu(i)
    if i == 0 and _mps_available():
        return torch.device("mps")
    return cpu()


def try_all_gpus() -> list[torch.device]:
    """All CUDA devices, else ``[mps]`` on a Mac, else ``[cpu]``."""
    devices = [gpu(i) for i in range(num_gpus())]
    if devices:
        return devices
    return [torch.device("mps")] if _mps_available() else [cpu()]
