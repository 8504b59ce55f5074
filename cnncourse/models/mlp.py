"""Fully-connected baselines, and the small CNN they are compared with.

Every builder returns a fresh ``nn.Sequential`` for 1x28x28 Fashion-MNIST
inputs and 10 classes, so ``layer_summary``, ``count_parameters`` and
``count_flops`` can walk it.

* ``mlp``        -- ``Flatten`` then Linear layers of the given widths; the
  activation (ReLU, sigmoid, tanh) is a choice, because the chapter on MLPs
  compares them.
* ``small_cnn``  -- two 3x3 convolutions with max pooling and one Linear
  layer: about a tenth of the parameters of ``mlp((256,))``. It is the CNN of
  the pixel-permutation and shift experiments; ``pool=False`` gives the same
  convolutions without pooling, the control that tells what pooling adds to
  the convolutions' own tolerance of shifts.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["ACTIVATIONS", "mlp", "small_cnn"]

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; use one of "
                         f"{', '.join(ACTIVATIONS)}") from None


def mlp(hidden: Sequence[int] = (256,), activation: str = "relu", num_classes: int = 10,
        in_features: int = 28 * 28) -> nn.Sequential:
    """Flatten -> [Linear -> activation] per hidden width -> Linear to the classes.

    The ``Flatten`` comes first, so the net takes images ``(B, 1, 28, 28)``
    like a CNN does -- and throws their 2-D layout away in its first step.
    ``hidden=()`` gives softmax regression (one Linear layer).
    """
    widths = [int(in_features), *map(int, hidden)]
    if any(w < 1 for w in widths):
        raise ValueError(f"layer widths must be positive, got {widths}")
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), _activation(activation)]
    layers.append(nn.Linear(widths[-1], num_classes))
    return nn.Sequential(*layers)


def small_cnn(num_classes: int = 10, channels: tuple[int, int] = (16, 32),
              pool: bool = True) -> nn.Sequential:
    """conv3x3(16)-ReLU-maxpool, conv3x3(32)-ReLU-maxpool, Linear(32*7*7 -> classes).

    Padding 1 keeps 28x28 through each convolution; each 2x2 max pooling halves
    it, 28 -> 14 -> 7. No hidden Linear layer: the point is how far two small
    shared kernels go. ``pool=False`` drops both poolings (stride 1 throughout),
    so the Linear layer reads the full 28x28 grid: 32*28*28 features.
    """
    c1, c2 = channels
    layers: list[nn.Module] = []
    for fan_in, fan_out in ((1, c1), (c1, c2)):
        layers += [nn.Conv2d(fan_in, fan_out, kernel_size=3, padding=1), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    side = 7 if pool else 28
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c2 * side * side, num_classes))
