"""AlexNet for Fashion-MNIST, at 224x224 and at the images' own 28x28, plus cost estimates.

* ``alexnet``    -- the single-stream AlexNet that d2l trains on Fashion-MNIST resized to
  224x224 (one input channel, 10 classes): 96 11x11 stride 4 -> 256 5x5 -> 384 -> 384 ->
  256 3x3, three 3x3/stride-2 max pools, 6400 -> 4096 -> 4096 -> 10 with dropout 0.5.
* ``alexnet_28`` -- the same recipe (five convolutions, three overlapping max pools, two wide
  dropout layers) sized for the native 28x28 images: no upsampling, no stride 4, and every
  width divided by ``width_divisor``.
* ``forward_activation_elements`` / ``training_memory_estimate`` -- what a training step has
  to hold in memory, computed from the layer outputs, so a chapter can say what fits a GPU
  before anybody buys one.

The builders return ``nn.Sequential`` so ``cnncourse.layer_summary`` can walk them, and take
the activation as an argument so the ReLU-vs-sigmoid comparison uses the very same network.
"""
from __future__ import annotations

import math

from collections.abc import Callable, Sequence

from torch import nn

from ..summary import count_parameters, layer_summary

__all__ = ["PUBLISHED_SETTINGS", "alexnet", "alexnet_28", "forward_activation_elements",
           "training_memory_estimate"]

Activation = Callable[[], nn.Module]

#: The run the chapter's source records for AlexNet on Fashion-MNIST: Adam, lr 0.001, batch 128,
#: 5 epochs, images resized to 224x224, PyTorch's default initialisation (``init=None`` in
#: ``train_ch6``). The chapter and scripts/train_alexnet.py both read it, so the book and the
#: recorded GPU run cannot drift apart.
PUBLISHED_SETTINGS: dict = {"optimizer": "adam", "lr": 0.001, "batch_size": 128,
                            "num_epochs": 5, "resize": 224, "init": None}


def alexnet(num_classes: int = 10, in_channels: int = 1, activation: Activation = nn.ReLU,
            dropout: float = 0.5) -> nn.Sequential:
    """d2l's AlexNet for 224x224 inputs: conv 96x11x11/4 ... flatten 6400 -> 4096 -> 4096.

    Only 224x224 inputs work: the first ``Linear`` expects the 256x5x5 map that 224 gives.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), activation(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), activation(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), activation(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), activation(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), activation(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(256 * 5 * 5, 4096), activation(), nn.Dropout(p=dropout),
        nn.Linear(4096, 4096), activation(), nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes))


def alexnet_28(num_classes: int = 10, in_channels: int = 1, width_divisor: int = 8,
               activation: Activation = nn.ReLU, dropout: float = 0.5) -> nn.Sequential:
    """AlexNet's layer recipe for native 28x28 inputs, every width divided by ``width_divisor``.

    28x28 needs neither the 11x11 stride-4 stem (on an image upsampled 8x that stem sees only
    about 1.4 original pixels) nor ImageNet widths: a 3x3 stem at stride 1 keeps all 28x28
    positions, and the three 3x3/stride-2 pools take 28 -> 13 -> 6 -> 2.
    """
    if width_divisor < 1 or 96 % width_divisor:
        raise ValueError("width_divisor must divide 96 (1, 2, 3, 4, 6, 8, ...), "
                         f"not {width_divisor}")
    c1, c2, c3, c4, c5 = (w // width_divisor for w in (96, 256, 384, 384, 256))
    hidden = 4096 // width_divisor
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size=3, padding=1), activation(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c1, c2, kernel_size=5, padding=2), activation(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c2, c3, kernel_size=3, padding=1), activation(),
        nn.Conv2d(c3, c4, kernel_size=3, padding=1), activation(),
        nn.Conv2d(c4, c5, kernel_size=3, padding=1), activation(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(c5 * 2 * 2, hidden), activation(), nn.Dropout(p=dropout),
        nn.Linear(hidden, hidden), activation(), nn.Dropout(p=dropout),
        nn.Linear(hidden, num_classes))


def forward_activation_elements(net: nn.Sequential, input_shape: Sequence[int]) -> int:
    """Numbers one example produces on its way through ``net``: the input plus every layer output.

    Autograd keeps most of these for the backward pass, so times 4 bytes (fp32) and times the
    batch size this is the activation memory of a training step -- an estimate: in-place
    ReLUs save some, dropout masks and cuDNN workspaces cost some more.
    """
    shape = (1, *tuple(input_shape)[-3:])
    rows = layer_summary(net, shape, verbose=False)
    return math.prod(shape) + sum(math.prod(row.output_shape) for row in rows)


def training_memory_estimate(net: nn.Sequential, input_shape: Sequence[int], batch_size: int,
                             bytes_per_element: int = 4,
                             optimizer_states: int = 2) -> dict[str, int]:
    """Bytes of one training step: weights, gradients, optimizer state and activations.

    ``optimizer_states`` is 2 for Adam (two moment estimates per weight), 0 for plain SGD.
    Leaves out what depends on the machine (CUDA context, kernel workspaces, allocator slack),
    so read the total as a lower bound and keep a margin.
    """
    params = count_parameters(net, trainable_only=False)
    out = {
        "weights": params * bytes_per_element,
        "gradients": params * bytes_per_element,
        "optimizer": params * bytes_per_element * optimizer_states,
        "activations": (forward_activation_elements(net, input_shape) * batch_size
                        * bytes_per_element),
    }
    out["total"] = sum(out.values())
    return out
