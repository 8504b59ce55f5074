"""What a chapter's setup cell reports on Colab: the data is there, and where training runs.

A reader on a CPU-only Colab runtime otherwise finds out only after sitting
through a slow training cell; the setup cell's one line says so up front and
how to switch.
"""
from __future__ import annotations

import torch

from .data import (CACHE_DIR, DataNotFoundError, download_fashion_mnist, explicit_folder,
                   find_fashion_mnist)
from .device import try_gpu

__all__ = ["prepare"]

SWITCH_TO_GPU = "Runtime → Change runtime type → GPU, then run the notebook again"


def prepare(download: bool = True) -> str:
    """Make sure Fashion-MNIST is at hand (downloading it once) and say so in one line.

    The line names the package version, where the data is and the device the
    chapter will train on -- or, without a GPU, how to get one on Colab.
    """
    from . import __version__

    try:
        folder = find_fashion_mnist(download=False)["train"][0].parent
        data = f"Fashion-MNIST found in {folder}"
    except DataNotFoundError:
        if not download:
            raise
        named = explicit_folder()  # $CNNCOURSE_DATA, when set, is where the data must go
        target = named[0] if named is not None else CACHE_DIR
        download_fashion_mnist(target)
        data = f"Fashion-MNIST downloaded to {target} (MD5 checked)"
    device = try_gpu()
    if device.type == "cuda":
        where = f"training on {device} ({torch.cuda.get_device_name(device)})"
    elif device.type == "mps":
        where = "training on Apple's GPU (mps)"
    else:
        where = f"no GPU in this runtime, training on the CPU is slow: {SWITCH_TO_GPU}"
    return f"cnncourse {__version__} ready; {data}; {where}."
