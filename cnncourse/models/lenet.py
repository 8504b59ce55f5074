"""The LeNet family as it appears in the course's sources.

Each builder returns a fresh ``nn.Sequential`` (so ``layer_summary`` can walk
it) for 1x28x28 Fashion-MNIST inputs and 10 classes. Where each comes from,
and the recipe its source trained it with:

* ``lenet``         -- d2l's PyTorch LeNet-5: padding 2, sigmoid, average pooling
                       (SGD, lr 0.9, batch 256, Xavier init, 10 epochs).
* ``lenet_gluon``   -- the MXNet/Gluon (d2lzh) LeNet: no padding, sigmoid, max pooling
                       (SGD, lr 0.9, batch 256, Xavier init, 5 epochs).
* ``lenet_modern``  -- the same shape walk as ``lenet`` with ReLU and max pooling
                       (the course's own; trained with SGD, lr 0.1, in the LeNet chapter).
* ``lenet_paddle``  -- the Paddle LeNet (``paddle.vision.models.LeNet``): 3x3 first conv
                       with padding 1, ReLU, max pooling, a head without activations
                       (Adam, lr 0.001, batch 64, 5 epochs).
* ``cnn_paddle``    -- the Paddle 20-channel CNN: two 5x5 convs (padding 2), ReLU,
                       max pooling, 20*7*7 = 980 -> classes (SGD, lr 0.01, batch 100).
"""
from __future__ import annotations

from torch import nn

__all__ = ["cnn_paddle", "lenet", "lenet_gluon", "lenet_modern", "lenet_paddle"]


def lenet(num_classes: int = 10) -> nn.Sequential:
    """d2l's LeNet-5: padding 2, sigmoid, average pooling.

    1x28x28 -> 6x28x28 -> 6x14x14 -> 16x10x10 -> 16x5x5,
    then a 400 -> 120 -> 84 -> classes head.
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def lenet_gluon(num_classes: int = 10) -> nn.Sequential:
    """The Gluon LeNet: no padding, so 28 -> 24 -> 12 -> 8 -> 4.

    Sigmoid, but max pooling; the flatten is 16x4x4 = 256 wide.
    """
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def lenet_modern(num_classes: int = 10) -> nn.Sequential:
    """``lenet`` with today's defaults: ReLU activations and max pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes))


def lenet_paddle(num_classes: int = 10) -> nn.Sequential:
    """Paddle's variant: 3x3 first conv with padding 1, ReLU, max pooling, linear head."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.Linear(120, 84),
        nn.Linear(84, num_classes))


def cnn_paddle(num_classes: int = 10) -> nn.Sequential:
    """Paddle's 20-channel CNN: 5x5 convs with padding 2, max pooling, 20*7*7 = 980 -> classes."""
    return nn.Sequential(
        nn.Conv2d(1, 20, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(20, 20, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(20 * 7 * 7, num_classes))
