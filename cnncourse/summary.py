"""Look inside a model: layer-by-layer shapes, parameter counts, FLOPs.

``layer_summary`` is the d2l shape walk (``for layer in net: X = layer(X)``)
with parameter counts added; ``count_flops`` uses PyTorch's own FLOP counter
(``torch.utils.flop_counter``) rather than hand arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["LayerInfo", "count_flops", "count_parameters", "layer_summary"]


@dataclass(frozen=True)
class LayerInfo:
    name: str
    output_shape: tuple[int, ...]
    num_params: int


def count_parameters(net: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


def _as_input(net: nn.Module, X_or_shape) -> torch.Tensor:
    if torch.is_tensor(X_or_shape):
        return X_or_shape
    p = next(iter(net.parameters()), None)
    device = p.device if p is not None else "cpu"
    return torch.zeros(tuple(X_or_shape), device=device)


def layer_summary(net: nn.Module, X_or_shape: torch.Tensor | Sequence[int],
                  verbose: bool = True) -> list[LayerInfo]:
    """Run an input through each child of a ``Sequential`` and report its output.

    Prints one line per layer (name, output shape, parameters) and a total;
    returns the rows so a cell or test can check them.
    """
    if not isinstance(net, nn.Sequential):
        raise TypeError("layer_summary walks an nn.Sequential layer by layer; "
                        f"got {type(net).__name__}. Wrap the layers in nn.Sequential.")
    X = _as_input(net, X_or_shape)
    rows = []
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for layer in net:
            X = layer(X)
            rows.append(LayerInfo(layer.__class__.__name__, tuple(X.shape),
                                  count_parameters(layer)))
    net.train(was_training)
    if verbose:
        width = max(len(r.name) for r in rows) if rows else 5
        print(f"{'layer':<{width}}  {'output shape':<20} {'params':>10}")
        for r in rows:
            print(f"{r.name:<{width}}  {str(r.output_shape):<20} {r.num_params:>10,}")
        print(f"{'total':<{width}}  {'':<20} {sum(r.num_params for r in rows):>10,}")
    return rows


def count_flops(net: nn.Module, X_or_shape: torch.Tensor | Sequence[int]) -> int:
    """Floating-point operations of one forward pass, as PyTorch counts them.

    PyTorch counts a multiply-add as 2 FLOPs and counts only matrix-like ops
    (convolutions, matmuls); activations and pooling add ~nothing.
    """
    X = _as_input(net, X_or_shape)
    was_training = net.training
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(X)
    net.train(was_training)
    return int(counter.get_total_flops())
