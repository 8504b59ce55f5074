"""Attribution maps: which input pixels a class score depends on, five ways, from scratch.

Every method takes ``(model, x, target)``: a model in evaluation mode, a batch of images
``x`` of shape ``(N, C, H, W)`` and the class (an int, or one per image) whose score is
explained. Each returns one map per image (``(N, C, H, W)``, Grad-CAM ``(N, 1, H, W)``):

* ``saliency``             -- the gradient of the score (Simonyan et al., 2014);
* ``smoothgrad``           -- that gradient averaged over noisy copies, the noise relative to
  the image's range (Smilkov et al., 2017);
* ``input_x_gradient``     -- the gradient times the image: the one-step control for
  integrated gradients;
* ``integrated_gradients`` -- gradients along the straight path from a baseline, times the
  distance (Sundararajan et al., 2017);
* ``occlusion``            -- how much the score drops when a patch is blanked out
  (Zeiler & Fergus, 2014);
* ``grad_cam``             -- a late layer's feature maps weighted by their average
  gradient, upsampled to the input (Selvaraju et al., 2017).

``tests/test_interpret.py`` holds each against captum's implementation.
"""
from __future__ import annotations

import math
import operator
import weakref
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

__all__ = ["class_scores", "grad_cam", "input_x_gradient", "integrated_gradients", "occlusion",
           "place_grid", "saliency", "smoothgrad"]


def _check(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The target as one class index per image, after checking the arguments.

    Checked here, before any forward pass, so that a mistake reads as a sentence about the
    argument instead of an indexing error deep inside PyTorch (or, on CUDA, a device-side
    assert that ends the process).
    """
    if any(m.training for m in model.modules()):
        part = next(f"submodule {n!r}" if n else "the model"
                    for n, m in model.named_modules() if m.training)
        raise ValueError(f"call model.eval() first ({part} is in training mode): in training "
                         "mode batch norm mixes the images of a batch and dropout makes every "
                         "map random")
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch of images (N, C, H, W), not {shape}; "
                         "use x[None] for a single image")
    if not x.is_floating_point():
        raise ValueError(f"x must hold floating-point pixels, not {x.dtype}: use x.float() "
                         "(and divide by 255 if the pixels run from 0 to 255)")
    if not torch.isfinite(x).all():
        raise ValueError("x has NaN or infinite pixels: a map of such an image means nothing")
    target = torch.as_tensor(target, device=x.device)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must be class indices (integers), not {target.dtype} "
                         f"values such as {target.flatten()[:3].tolist()}")
    target = target.long()
    if target.ndim == 0:
        target = target.expand(len(x))
    if target.shape != (len(x),):
        raise ValueError(f"target must be one class or one class per image ({len(x)}), "
                         f"not shape {tuple(target.shape)}")
    if len(target) and target.min() < 0:
        raise ValueError(f"target must be a class index >= 0, not {target.min().item()}")
    return target


def _pick(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``scores[i, target[i]]``, after checking that every target is one of the classes."""
    if scores.ndim != 2:
        raise ValueError(f"the model must return class scores of shape (N, classes), not "
                         f"{tuple(scores.shape)}")
    if len(target) and target.max() >= scores.shape[1]:
        raise ValueError(f"target {target.max().item()} is not a class of this model, which "
                         f"has {scores.shape[1]} (0 to {scores.shape[1] - 1})")
    return scores.gather(1, target[:, None]).squeeze(1)


def _finite(name: str, value) -> float:
    """``value`` as a float, refused if it is no number or NaN or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def _positive_int(name: str, value) -> int:
    """``value`` as an int if it is an integer >= 1 (numpy's and 0-d tensors' too, through
    ``operator.index``), else a ValueError naming the argument."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < 1:
        raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    return number


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    """The baseline as a tensor of ``x``'s shape: black (0) if None, else checked.

    A NaN baseline would make every map NaN, and a baseline of another shape fails deep in
    ``expand`` with a message that does not say which argument was wrong.
    """
    if baseline is None:
        return torch.zeros_like(x)
    baseline = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        baseline = baseline.expand_as(x)
    except RuntimeError:
        raise ValueError(f"baseline must have the images' shape {tuple(x.shape)} (or one that "
                         f"broadcasts to it, such as {tuple(x.shape[1:])} or a number), not "
                         f"{tuple(baseline.shape)}") from None
    if not torch.isfinite(baseline).all():
        raise ValueError("baseline has NaN or infinite values: the map would be NaN")
    return baseline


def class_scores(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The score (logit) of each image's target class, shape ``(N,)``."""
    target = _check(model, x, target)
    return _pick(model(x), target)


@contextmanager
def _gradients_on():
    """Gradients on, even inside the caller's ``torch.no_grad()`` or ``inference_mode()``:
    every map below is made of gradients, and without them autograd fails with a message
    ("element 0 of tensors does not require grad") that names nothing the caller did."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def saliency(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """d score / d pixel: how fast the class score moves when each pixel changes."""
    with _gradients_on():   # the target too: autograd keeps it (see grad_cam)
        target = _check(model, x, target)   # once, before requires_grad_ (fails on uint8)
        x = x.detach().clone().requires_grad_(True)
        # Summing the scores is safe: in eval mode image i's score depends on image i alone.
        (grad,) = torch.autograd.grad(_pick(model(x), target).sum(), x)
    return grad


def input_x_gradient(model: nn.Module, x: torch.Tensor, target,
                     baseline: torch.Tensor | None = None) -> torch.Tensor:
    """(x - baseline) times the gradient at x: integrated gradients with a single step.

    The cheap control for integrated gradients: one backward pass, the same sign and the same
    zeros (wherever x equals the baseline), but the gradient of the image alone instead of
    the average along the path.
    """
    baseline = _baseline(x, baseline)
    return (x - baseline) * saliency(model, x, target)


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
    _check(model, x, target)
    n = _positive_int("n (the number of noisy samples)", n)
    if not _finite("noise_level", noise_level) >= 0:
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
    _check(model, x, target)
    steps = _positive_int("steps", steps)
    baseline = _baseline(x, baseline)
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
    window, stride = _positive_int("window", window), _positive_int("stride", stride)
    fill = _finite("fill (the value of a hidden pixel)", fill)
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


@contextmanager
def _modes_kept(model: nn.Module):
    """Put back every submodule's train/eval flag afterwards, whatever happens in between:
    torchvision's tracer switches the model between the two modes, and a failure half-way
    must not leave it training (batch norm would then update its statistics)."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


_extractors: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _extractor(model: nn.Module, layer: str) -> nn.Module:
    """A feature extractor returning ``{"maps": layer's output, "scores": model's output}``.

    Traced once per model, layer and set of submodules and then kept (tracing costs far
    more than the one forward pass Grad-CAM needs); it shares the model's parameters, so it
    sees every later change of the weights.
    """
    if not isinstance(layer, str):
        raise ValueError(f"layer names are strings, such as {str(layer)!r}, not {layer!r} "
                         f"({type(layer).__name__})")
    key = (layer, tuple(id(m) for m in model.modules()))
    cached = _extractors.get(model, {})
    if key not in cached:
        with _modes_kept(model):
            nodes = get_graph_node_names(model)[1]
            if layer not in nodes:
                raise ValueError(f"layer {layer!r} is not a node of this model; its nodes "
                                 f"are {', '.join(nodes[1:])}")
            if layer == nodes[-1]:
                raise ValueError(f"layer {layer!r} is the model's output; Grad-CAM needs a "
                                 "convolutional layer's feature maps, e.g. the last stage's")
            extractor = create_feature_extractor(model, {layer: "maps", nodes[-1]: "scores"})
        _extractors[model] = cached = {key: extractor}    # only the latest set of submodules
    return cached[key]


def grad_cam(model: nn.Module, x: torch.Tensor, target, layer: str,
             grid: tuple[float, float] | str | None = None) -> torch.Tensor:
    """ReLU of the ``layer``'s feature maps weighted by their mean gradient, at input size.

    ``layer`` is a node name as ``get_graph_node_names(model)`` lists them (for an
    ``nn.Sequential``, the index of a module, e.g. ``"4"``). The map shows where that layer
    holds evidence for the class, at the layer's resolution. ``grid=None`` stretches it over
    the image (bilinear, as captum and most libraries do); ``grid=(step, first)`` places
    it where the layer looks: position ``i`` at the centre of its receptive field, input
    pixel ``first + step * i`` (see ``place_grid``); ``grid="layer"`` returns the map on the
    layer's own grid, ``(N, 1, h, w)``, for comparing two maps without the zeros that placing
    adds where no position's centre lies.
    """
    if isinstance(grid, str) and grid != "layer":
        raise ValueError(f'grid must be None, (step, first) or "layer", not {grid!r}')
    with _gradients_on():    # the target too: autograd keeps it, so it must not be an
        target = _check(model, x, target)    # inference tensor (under inference_mode)
        extractor = _extractor(model, layer)
        # x requires grad so that the maps do even when every weight is frozen
        out = extractor(x.detach().clone().requires_grad_(True))
        maps = out["maps"]
        if maps.ndim != 4:
            raise ValueError(f"layer {layer!r} outputs shape {tuple(maps.shape)}; Grad-CAM "
                             "needs feature maps (N, C, h, w) of a convolutional layer")
        (grad,) = torch.autograd.grad(_pick(out["scores"], target).sum(), maps)
    weights = grad.mean(dim=(2, 3), keepdim=True)       # one weight per channel
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True)).detach()
    if grid == "layer":
        return cam
    if grid is None:
        return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return place_grid(cam, x.shape[-2:], *grid)


def place_grid(cam: torch.Tensor, size: tuple[int, int], step: float,
               first: float) -> torch.Tensor:
    """Draw a layer's ``(N, 1, h, w)`` map on the input's pixels, each grid position at the
    centre of its receptive field: position ``i`` at pixel ``first + step * i`` (pixel ``p``
    spans ``p - 0.5`` to ``p + 0.5``), bilinear in between, fading to 0 one ``step`` beyond
    the outermost positions (where no position's centre lies).

    Stretching the grid edge to edge puts the centres elsewhere whenever the layers
    before it do not pad: LeNet's second convolution sees the image's centre 18 pixels
    wide, not 28 (its 10 positions are centred on pixels 4.5, 6.5, ..., 22.5).
    """
    step = _finite("step (pixels between grid positions; grid=(step, first))", step)
    first = _finite("first (the pixel of grid position 0; grid=(step, first))", first)
    if not step > 0:
        raise ValueError(f"step (pixels between grid positions) must be > 0, not {step}")
    H, W = size
    h, w = cam.shape[-2:]

    def coords(n_pixels, n_grid):   # grid_sample's [-1, 1] coordinate of every pixel
        source = (torch.arange(n_pixels, device=cam.device, dtype=cam.dtype) - first) / step
        return 2 * source / max(n_grid - 1, 1) - 1

    gy, gx = torch.meshgrid(coords(H, h), coords(W, w), indexing="ij")
    where = torch.stack([gx, gy], dim=-1).expand(len(cam), H, W, 2)
    return F.grid_sample(cam, where, mode="bilinear", padding_mode="zeros", align_corners=True)
