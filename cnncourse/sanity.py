"""Does an attribution map explain the model? Two measurements.

* ``randomized_copies`` + ``spearman`` -- the model-randomisation test (Adebayo et al.,
  2018): re-initialise the trained weights block by block from the top and compare each
  map with the trained model's. A map that barely changes cannot be showing what the
  trained weights do.
* ``deletion_curve`` -- set the pixels a map ranks highest to a fill value, a growing
  fraction at a time, and follow the probability of the class. The faster it falls, the
  more the top-ranked pixels mattered to the model.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from .attribution import _check, _pick

__all__ = ["deletion_curve", "randomized_copies", "rank", "spearman"]


def rank(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..D-1 along the last dimension; tied values share the mean of their ranks."""
    values, order = v.sort(dim=-1, stable=True)
    starts = torch.ones_like(values, dtype=torch.bool)
    starts[..., 1:] = values[..., 1:] != values[..., :-1]
    group = starts.cumsum(-1) - 1                     # which run of equal values
    position = torch.arange(v.shape[-1], device=v.device, dtype=torch.float64).expand_as(values)
    mean_position = torch.zeros_like(position).scatter_reduce(
        -1, group, position, "mean", include_self=False)
    return torch.empty_like(position).scatter_(-1, order, mean_position.gather(-1, group))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of ``a[i]`` and ``b[i]`` (each flattened), one per row;
    NaN where either map is constant."""
    if a.shape != b.shape:
        raise ValueError(f"maps to compare must have one shape, not {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    ra, rb = rank(a.flatten(1)), rank(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    # A constant map (all zero, as a Grad-CAM can be after its ReLU) ranks nothing: its
    # correlation is undefined, NaN, not 0. A 0 would pass for "unrelated" and move every
    # average that includes it; the caller counts the NaNs and leaves them out.
    denominator = ra.norm(dim=1) * rb.norm(dim=1)
    rho = (ra * rb).sum(1) / denominator
    return torch.where(denominator > 0, rho, torch.nan).float()


def randomized_copies(model: nn.Module, blocks: Sequence[str],
                      seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Copies of ``model`` with more and more of its blocks re-initialised, top first.

    ``blocks`` names submodules (``model.get_submodule(name)``) from the output down.
    Copy ``i`` has ``blocks[:i+1]`` re-initialised: every convolution and dense layer in
    them gets fresh weights as PyTorch initialises a new layer. Batch norm is not reset: it
    keeps its trained running statistics *and* its trained scale (gamma) and shift (beta), so
    only the convolution and dense weights are random. The global random state is left as
    it was.
    """
    net = copy.deepcopy(model)
    cuda = sorted({p.device.index or 0 for p in net.parameters() if p.device.type == "cuda"})
    copies = []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for name in blocks:
            try:
                block = net.get_submodule(name)
            except AttributeError:
                names = ", ".join(n for n, _ in net.named_children())
                raise ValueError(f"block {name!r} is not a submodule of this model; its top-level "
                                 f"blocks are {names}") from None
            layers = [m for m in block.modules()
                      if isinstance(m, (nn.Conv2d, nn.Linear))]
            if not layers:
                raise ValueError(f"block {name!r} has no convolution or dense layer to "
                                 "re-initialise")
            for m in layers:
                m.reset_parameters()
            copies.append((name, copy.deepcopy(net)))
    return copies


@torch.no_grad()
def deletion_curve(model: nn.Module, x: torch.Tensor, target, heat: torch.Tensor,
                   fractions: Sequence[float], fill: float = 0.0) -> torch.Tensor:
    """Probability of ``target`` once the top ``fraction`` of pixels by ``heat`` equal ``fill``.

    ``heat`` ranks the pixels of each image (``(N, 1, H, W)``, or ``(N, C, H, W)``
    summed over channels); ties keep reading order. Returns ``(len(fractions), N)``.
    """
    target = _check(model, x, target)
    if not all(0 <= f <= 1 for f in fractions):
        raise ValueError(f"fractions are shares of the pixels, from 0 to 1, not {list(fractions)}")
    if not math.isfinite(fill):
        raise ValueError(f"fill must be a finite pixel value, such as 0.0, not {fill}")
    if not torch.isfinite(heat).all():
        raise ValueError("heat has NaN or infinite values: it cannot rank the pixels")
    N, _, H, W = x.shape
    heat = heat.sum(1) if heat.ndim == 4 else heat
    if heat.shape != (N, H, W):
        raise ValueError(f"heat must have one map per image, (N, H, W) = {(N, H, W)}, "
                         f"not {tuple(heat.shape)}")
    order = heat.reshape(N, -1).argsort(dim=1, descending=True, stable=True)
    place = torch.empty_like(order).scatter_(
        1, order, torch.arange(H * W, device=x.device).expand(N, -1))   # 0 = ranked highest
    probs = []
    for f in fractions:
        keep = (place >= round(f * H * W)).view(N, 1, H, W)
        probs.append(_pick(model(torch.where(keep, x, fill)).softmax(1), target))
    return torch.stack(probs)
