"""Attribution maps: which input pixels a class score depends on, five ways, from scratch.

Every method takes ``(model, x, target)``: a model in evaluation mode, a batch of images
``x`` of shape ``(N, C, H, W)`` and the class (an int, or one per image) whose score is
explained. Each returns one map per image (``(N, C, H, W)``, Grad-CAM ``(N, 1, H, W)``):

* ``saliency``             -- the gradient of the score (Simonyan et al., 2014);
* ``smoothgrad``           -- that gradient averaged over noisy copies, the noise relative to
  the image's range (Smilkov et al., 2017);
* ``integrated_gradients`` -- gradients along the straight path from a baseline, times the
  distance (Sundararajan et al., 2017);
* ``occlusion``            -- how much the score drops when a patch is blanked out
  (Zeiler & Fergus, 2014);
* ``grad_cam``             -- a late layer's feature maps weighted by their average
  gradient, upsampled to the input (Selvaraju et al., 2017).

``tests/test_interpret.py`` holds each against captum's implementation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

__all__ = ["class_scores", "grad_cam", "integrated_gradients", "occlusion", "saliency",
           "smoothgrad"]


def _check(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The target as one class index per image, after checking the arguments."""
    if model.training:
        raise ValueError("call model.eval() first: in training mode batch norm mixes the "
                         "images of a batch and dropout makes every map random")
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), not shape "
                         f"{tuple(x.shape)}; use x[None] for a single image")
    target = torch.as_tensor(target, device=x.device, dtype=torch.long)
    if target.ndim == 0:
        target = target.expand(len(x))
    if target.shape != (len(x),):
        raise ValueError(f"target must be one class or one class per image ({len(x)}), "
                         f"not shape {tuple(target.shape)}")
    return target


def class_scores(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The score (logit) of each image's target class, shape ``(N,)``."""
    target = _check(model, x, target)
    return model(x).gather(1, target[:, None]).squeeze(1)


def saliency(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """d score / d pixel: how fast the class score moves when each pixel changes."""
    x = x.detach().requires_grad_(True)
    # Summing the scores is safe: in eval mode image i's score depends on image i alone.
    (grad,) = torch.autograd.grad(class_scores(model, x, target).sum(), x)
    return grad


def smoothgrad(model: nn.Module, x: torch.Tensor, target, n: int = 32,
               noise_level: float = 0.15,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """The saliency averaged over ``n`` copies of ``x`` with Gaussian noise added.

    A gradient is a local, jagged thing; the average is a smoothed, more stable map.
    ``noise_level`` is relative, as Smilkov et al. define it: the noise's standard deviation
    is ``noise_level * (x_max - x_min)`` of each image, so one setting means the same for
    images in [0, 1] and in [0, 255]. Noise is drawn image by image (all of image 0's
    samples first).
    """
    if noise_level < 0:
        raise ValueError(f"noise_level is a share of the image's range, >= 0, not {noise_level}")
    spread = (x.amax(dim=tuple(range(1, x.ndim))) - x.amin(dim=tuple(range(1, x.ndim))))
    sigma = noise_level * spread.view(-1, 1, *[1] * (x.ndim - 1))      # (N, 1, 1, ...)
    noise = sigma * torch.randn((len(x), n, *x.shape[1:]), generator=generator,
                                device=x.device, dtype=x.dtype)
    return sum(saliency(model, x + noise[:, i], target) for i in range(n)) / n


def integrated_gradients(model: nn.Module, x: torch.Tensor, target,
                         baseline: torch.Tensor | None = None, steps: int = 32) -> torch.Tensor:
    """(x - baseline) times the average gradient on the straight path from baseline to x.

    A Riemann sum with ``steps`` points (the right end of each step). The map adds up to
    score(x) - score(baseline), up to the error of the sum: every bit of the score
    difference is assigned to some pixel.
    """
    baseline = torch.zeros_like(x) if baseline is None else baseline.expand_as(x)
    total = torch.zeros_like(x)
    for k in range(1, steps + 1):
        total += saliency(model, baseline + k / steps * (x - baseline), target)
    return (x - baseline) * total / steps


@torch.no_grad()
def occlusion(model: nn.Module, x: torch.Tensor, target, window: int = 4, stride: int = 2,
              fill: float = 0.0) -> torch.Tensor:
    """Score drop when a ``window`` x ``window`` patch (all channels) is set to ``fill``.

    The patch slides by ``stride`` until it reaches the far edge (the last patch may hang
    over it); each pixel gets the average drop of the patches that cover it (0 if none
    does, when ``stride > window``). Positive: hiding the pixel lowers the score.
    """
    target = _check(model, x, target)
    H, W = x.shape[-2:]
    base = class_scores(model, x, target)
    heat, count = torch.zeros_like(x), torch.zeros_like(x)
    for top in range(0, max(H - window, 0) + stride, stride):
        for left in range(0, max(W - window, 0) + stride, stride):
            patch = (..., slice(top, top + window), slice(left, left + window))
            hidden = x.clone()
            hidden[patch] = fill
            drop = base - class_scores(model, hidden, target)
            heat[patch] += drop.view(-1, *[1] * (x.ndim - 1))
            count[patch] += 1
    return heat / count.clamp(min=1)


def grad_cam(model: nn.Module, x: torch.Tensor, target, layer: str) -> torch.Tensor:
    """ReLU of the ``layer``'s feature maps weighted by their mean gradient, at input size.

    ``layer`` is a node name as ``get_graph_node_names(model)`` lists them (for an
    ``nn.Sequential``, the index of a module, e.g. ``"4"``). The map shows where that layer
    holds evidence for the class, at the layer's resolution, upsampled bilinearly.
    """
    target = _check(model, x, target)
    output = get_graph_node_names(model)[1][-1]
    extractor = create_feature_extractor(model, {layer: "maps", output: "scores"})
    out = extractor(x)
    maps = out["maps"]
    score = out["scores"].gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(score, maps)
    weights = grad.mean(dim=(2, 3), keepdim=True)       # one weight per channel
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False).detach()
