"""After AlexNet: batch normalisation, VGG, NiN and residual blocks, sized for 28x28 images.

Every builder returns a fresh ``nn.Sequential`` for 1x28x28 Fashion-MNIST inputs and 10
classes, so ``layer_summary``, ``count_parameters`` and ``count_flops`` can walk it.

* ``lenet_bn``     -- d2l's sigmoid LeNet with a batch norm after every convolution and
  hidden dense layer (d2l's "LeNet with batch normalization"); ``norm`` picks PyTorch's
  layers or the from-scratch ``cnncourse.norm.BatchNorm``.
* ``vgg_block`` / ``vgg_28``   -- VGG's unit: some 3x3 convolutions, then a 2x2 max pool.
* ``nin_block`` / ``nin_28``   -- Network in Network: one convolution followed by two 1x1
  convolutions, and global average pooling instead of a dense head.
* ``Residual`` / ``resnet_28`` -- ResNet's block, ``relu(x + f(x))``, and a small ResNet.
* ``deep_cnn``     -- ``depth`` weight layers, with or without the skip connections and
  nothing else different: the experiment "why residual connections".
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from ..norm import BatchNorm

__all__ = ["Residual", "deep_cnn", "lenet_bn", "nin_28", "nin_block", "resnet_28",
           "vgg_28", "vgg_block"]


def lenet_bn(num_classes: int = 10, norm: str = "torch") -> nn.Sequential:
    """d2l's LeNet (padding 2, sigmoid, average pooling) with batch norm before each sigmoid.

    ``norm="torch"`` uses ``nn.BatchNorm2d``/``1d``; ``norm="scratch"`` the course's
    ``BatchNorm``. The convolutions and dense layers are those of ``lenet`` exactly.
    """
    if norm not in ("torch", "scratch"):
        raise ValueError(f"norm must be 'torch' or 'scratch', not {norm!r}")
    bn2 = nn.BatchNorm2d if norm == "torch" else BatchNorm
    bn1 = nn.BatchNorm1d if norm == "torch" else BatchNorm
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), bn2(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), bn2(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), bn1(120), nn.Sigmoid(),
        nn.Linear(120, 84), bn1(84), nn.Sigmoid(),
        nn.Linear(84, num_classes))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """``num_convs`` 3x3 convolutions (padding 1, each with ReLU), then a 2x2 max pool.

    Two stacked 3x3 convolutions see a 5x5 patch with 18 weights per channel pair
    instead of 25: VGG's argument for small kernels.
    """
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg_28(arch: Sequence[tuple[int, int]] = ((1, 16), (1, 32), (2, 64)),
           hidden: int = 256, num_classes: int = 10, dropout: float = 0.5) -> nn.Sequential:
    """A VGG for 28x28: one ``vgg_block`` per ``(num_convs, channels)``, then a dense head.

    Each block halves height and width, so the default three blocks take 28 -> 14 -> 7 -> 3.
    """
    blocks, in_ch, size = [], 1, 28
    for num_convs, out_ch in arch:
        blocks.append(vgg_block(num_convs, in_ch, out_ch))
        in_ch, size = out_ch, size // 2
    if size < 1:
        raise ValueError(f"{len(arch)} blocks halve 28x28 below one pixel; use at most 4")
    return nn.Sequential(
        *blocks, nn.Flatten(),
        nn.Linear(in_ch * size * size, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes))


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
              padding: int = 0) -> nn.Sequential:
    """One convolution, then two 1x1 convolutions: a small MLP applied at every pixel."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin_28(channels: Sequence[int] = (32, 64), num_classes: int = 10,
           batch_norm: bool = True) -> nn.Sequential:
    """NiN for 28x28: ``nin_block``s with 3x3/stride-2 max pools, a last block with one
    channel per class, and global average pooling -- no dense layer at all.

    The first convolution (5x5, stride 2) plays the part of NiN's 11x11 stride-4 stem:
    28 -> 14 -> pool 6 -> pool 2 -> 1. ``batch_norm`` adds an ``nn.BatchNorm2d`` after
    each block's first convolution; without it NiN is known for a long flat start.
    """
    c1, c2 = channels

    def block(i, o, k, s, p):
        b = nin_block(i, o, k, s, p)
        if batch_norm:
            b.insert(1, nn.BatchNorm2d(o))
        return b

    return nn.Sequential(
        block(1, c1, 5, 2, 2), nn.MaxPool2d(3, 2),           # 28 -> 14 -> 6
        block(c1, c2, 3, 1, 1), nn.MaxPool2d(3, 2),          # 6 -> 2
        nn.Dropout(0.5),
        block(c2, num_classes, 3, 1, 1),                     # one map per class
        nn.AdaptiveAvgPool2d((1, 1)),                        # global average pooling
        nn.Flatten())


class Residual(nn.Module):
    """ResNet's block: ``relu(f(x) + shortcut(x))``, ``f`` two 3x3 convolutions.

    ``batch_norm`` puts an ``nn.BatchNorm2d`` after each convolution (ResNet's block); the
    shortcut is the identity unless the shape changes (``stride`` > 1 or new channel count),
    then a 1x1 convolution with the same stride.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 batch_norm: bool = True, skip: bool = True) -> None:
        super().__init__()
        norm: Callable[[int], nn.Module] = nn.BatchNorm2d if batch_norm else (
            lambda c: nn.Identity())
        self.f = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, padding=1), norm(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), norm(out_channels))
        self.skip = skip
        self.shortcut: nn.Module = nn.Identity()
        if skip and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride)
        self.relu = nn.ReLU()

    def forward(self, X):
        Y = self.f(X)
        return self.relu(Y + self.shortcut(X) if self.skip else Y)


def resnet_28(channels: Sequence[int] = (16, 32, 64), blocks_per_stage: int = 1,
              num_classes: int = 10) -> nn.Sequential:
    """A small ResNet for 28x28: a 3x3 stem and a 2x2 max pool (28 -> 14), one stage per
    width (each later stage starts with a stride-2 ``Residual``: 14 -> 7 -> 4), global
    average pooling and one dense layer."""
    layers: list[nn.Module] = [nn.Conv2d(1, channels[0], 3, padding=1),
                               nn.BatchNorm2d(channels[0]), nn.ReLU(), nn.MaxPool2d(2, 2)]
    in_ch = channels[0]
    for i, ch in enumerate(channels):
        for j in range(blocks_per_stage):
            layers.append(Residual(in_ch, ch, stride=2 if i > 0 and j == 0 else 1))
            in_ch = ch
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(in_ch, num_classes)]
    return nn.Sequential(*layers)


def deep_cnn(depth: int = 20, residual: bool = True, width: int = 16,
             num_classes: int = 10, batch_norm: bool = False) -> nn.Sequential:
    """``depth`` weight layers: a stem, ``(depth - 2) / 2`` two-convolution blocks, a dense layer.

    Stem: 3x3 conv with ReLU and a 4x4 max pool (28 -> 7), so the deep part runs on 7x7 maps
    and a CPU can afford it. Then blocks of two 3x3 convolutions at ``width`` channels, with
    the identity added around each block if ``residual``, and nothing else different. With
    ``batch_norm`` every convolution, the stem's included, is followed by an
    ``nn.BatchNorm2d`` (ResNet's recipe); without it the stack has none. The head flattens
    the last 7x7 maps into one dense layer. Initialisation is left to the caller.
    """
    if depth < 4 or depth % 2:
        raise ValueError(f"depth counts stem + 2 per block + head: an even number >= 4, "
                         f"not {depth}")
    blocks = [Residual(width, width, batch_norm=batch_norm, skip=residual)
              for _ in range((depth - 2) // 2)]
    stem: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1)]
    if batch_norm:
        stem.append(nn.BatchNorm2d(width))
    return nn.Sequential(
        *stem, nn.ReLU(), nn.MaxPool2d(4, 4),
        *blocks,
        nn.Flatten(), nn.Linear(width * 7 * 7, num_classes))
