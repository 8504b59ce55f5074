"""Probes: small experiments that ask a trained (or fresh) model what it relies on.

* ``pixel_permutation`` / ``permute_pixels`` / ``permuted_loader`` -- scramble
  the pixel order of every image with ONE fixed permutation. A model that never
  used the 2-D layout (an MLP) cannot tell; a model built on neighbourhoods
  (a CNN) can.
* ``shift_images`` / ``accuracy_under_shift`` -- move images by a few pixels
  (zero fill, no wrap-around) and measure how accuracy moves.
* ``layer_grad_norms`` -- the gradient norm of each layer's weights for one
  batch, to see gradients vanish (or not) on their way back through a deep net.
* ``activation_grad_rms`` -- the same question asked of the activations: the
  root-mean-square gradient of the loss with respect to each hidden layer's
  output. Equal-width layers give numbers on one scale, which weight-gradient
  norms of differently shaped matrices do not.

All image functions work on the last two dimensions, so they take raw
``uint8`` data ``(N, H, W)`` as well as float batches ``(B, C, H, W)``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from .data import TensorLoader
from .train import evaluate_accuracy_gpu

__all__ = [
    "accuracy_under_shift",
    "activation_grad_rms",
    "inverse_permutation",
    "layer_grad_norms",
    "permute_pixels",
    "permuted_loader",
    "pixel_permutation",
    "shift_images",
]


def pixel_permutation(num_pixels: int = 28 * 28, seed: int = 0) -> torch.Tensor:
    """A fixed random ordering of ``num_pixels`` pixel positions (same seed, same order).

    Drawn from its own generator, so it neither depends on nor disturbs the
    global random state that model initialisation uses.
    """
    if num_pixels < 1:
        raise ValueError(f"num_pixels must be positive, not {num_pixels}")
    return torch.randperm(num_pixels, generator=torch.Generator().manual_seed(seed))


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    """The permutation that undoes ``perm``: ``x[perm][inverse_permutation(perm)] == x``."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return inv


def permute_pixels(X: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Reorder the pixels of every image: output pixel ``i`` is input pixel ``perm[i]``.

    Works on ``(..., H, W)`` with ``perm`` a permutation of ``H*W`` flat
    (row-major) positions; the output has the input's shape and dtype.
    """
    if X.ndim < 2:
        raise ValueError(f"need images (..., H, W), got shape {tuple(X.shape)}")
    h, w = X.shape[-2:]
    if perm.ndim != 1 or perm.numel() != h * w:
        raise ValueError(f"a {h}x{w} image has {h * w} pixels but the permutation has "
                         f"{perm.numel()} entries")
    flat = X.reshape(*X.shape[:-2], h * w)
    return flat[..., perm.to(X.device)].reshape(X.shape)


def permuted_loader(loader: TensorLoader, perm: torch.Tensor, seed: int = 0) -> TensorLoader:
    """A copy of ``loader`` whose images are pixel-permuted once, up front.

    Batch size, shuffling, resize and classes are kept; with the same ``seed``
    as the original (``load_data_fashion_mnist`` uses 0) a fresh loader visits
    the examples in the same order, so the permutation is the only difference.
    """
    return TensorLoader(permute_pixels(loader.images, perm), loader.labels, loader.batch_size,
                        shuffle=loader.shuffle, resize=loader.resize, seed=seed,
                        num_classes=loader.num_classes)


def shift_images(X: torch.Tensor, dy: int = 0, dx: int = 0) -> torch.Tensor:
    """Move every image ``dy`` pixels down and ``dx`` pixels right (negative: up/left).

    What leaves the frame is lost and what enters is 0 (Fashion-MNIST's black
    background); unlike ``torch.roll`` nothing wraps around.
    """
    if X.ndim < 2:
        raise ValueError(f"need images (..., H, W), got shape {tuple(X.shape)}")
    h, w = X.shape[-2:]
    out = torch.zeros_like(X)
    dy, dx = int(dy), int(dx)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_r = slice(max(-dy, 0), h - max(dy, 0))
    dst_r = slice(max(dy, 0), h - max(-dy, 0))
    src_c = slice(max(-dx, 0), w - max(dx, 0))
    dst_c = slice(max(dx, 0), w - max(-dx, 0))
    out[..., dst_r, dst_c] = X[..., src_r, src_c]
    return out


_DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


def accuracy_under_shift(net: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                         shifts: Iterable[int] = range(5),
                         directions: Sequence[str] = ("right", "left", "down", "up"),
                         batch_size: int = 1000, device=None) -> dict[int, float]:
    """Test accuracy when every image is moved by ``k`` pixels, for each ``k`` in ``shifts``.

    ``images`` are raw ``(N, H, W)`` ``uint8`` (a ``TensorLoader``'s
    ``.images``). For each ``k`` the accuracy is averaged over ``directions``,
    so no single direction (say, toward an empty border) decides the result.
    """
    unknown = set(directions) - set(_DIRECTIONS)
    if unknown or not directions:
        raise ValueError(f"directions must be a non-empty subset of {sorted(_DIRECTIONS)}, "
                         f"got {list(directions)}")
    result = {}
    for k in shifts:
        accs = []
        for d in (directions[:1] if k == 0 else directions):
            dy, dx = (k * s for s in _DIRECTIONS[d])
            it = TensorLoader(shift_images(images, dy, dx), labels, batch_size)
            accs.append(evaluate_accuracy_gpu(net, it, device))
        result[int(k)] = sum(accs) / len(accs)
    return result


def layer_grad_norms(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                     loss: Callable | None = None) -> list[float]:
    """L2 norm of the loss gradient w.r.t. each Linear/Conv weight, input side first.

    One forward and backward pass on ``(X, y)`` (cross-entropy unless ``loss``
    is given). Earlier ``.grad`` values are cleared first and left holding this
    batch's gradients. Norms that shrink by orders of magnitude toward the input
    mean the first layers barely learn: vanishing gradients.
    """
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    if not layers:
        raise ValueError("the net has no Linear or Conv layer to measure")
    net.zero_grad(set_to_none=True)
    loss_fn = loss if loss is not None else nn.CrossEntropyLoss()
    loss_fn(net(X), y).backward()
    return [m.weight.grad.norm().item() for m in layers]


ACTIVATION_TYPES = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU)


def activation_grad_rms(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                        at: tuple[type[nn.Module], ...] = ACTIVATION_TYPES,
                        loss: Callable | None = None) -> list[float]:
    """RMS of the loss gradient w.r.t. the output of each ``at`` module, input side first.

    One forward and backward pass on ``(X, y)`` (cross-entropy, batch mean,
    unless ``loss`` is given). The RMS is per element, so layers of one width
    are on one scale and a value that shrinks toward the input is a signal
    that reaches the first layers weakened: vanishing gradients. Weight
    ``.grad`` values are cleared first and left holding this batch's gradients.
    """
    modules = [m for m in net.modules() if isinstance(m, at)]
    if not modules:
        names = ", ".join(t.__name__ for t in at)
        raise ValueError(f"the net has no activation module to measure (looked for {names}); "
                         f"pass at=(...) with the module types whose outputs to measure")
    grads: dict[int, torch.Tensor] = {}

    def keep(i: int):
        def hook(module, inputs, output):
            output.register_hook(lambda g: grads.__setitem__(i, g.detach()))
        return hook

    handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(modules)]
    try:
        net.zero_grad(set_to_none=True)
        loss_fn = loss if loss is not None else nn.CrossEntropyLoss()
        loss_fn(net(X), y).backward()
    finally:
        for h in handles:
            h.remove()
    missing = [i for i in range(len(modules)) if i not in grads]
    if missing:
        raise ValueError(f"activation modules {missing} (input side first) got no gradient: "
                         f"they are not on the path from the input to the loss")
    return [grads[i].float().pow(2).mean().sqrt().item() for i in range(len(modules))]
