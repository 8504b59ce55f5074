"""Convolution and pooling from scratch: what ``nn.Conv2d`` and pooling do.

Everything here is plain tensor slicing and summing, so a learner can read it
line by line, autograd can differentiate it, and the tests can hold it
against PyTorch's own kernels (``F.conv2d``, ``F.max_pool2d``,
``F.avg_pool2d``).

The loops run over the *kernel* (a handful of offsets), never over the pixels
of the output: for a fixed offset ``(a, b)`` the term
``K[a, b] * X[i + a, j + b]`` is, over all output positions ``(i, j)`` at
once, one shifted slice of ``X``. That keeps the code literal and still
fast enough to train through.

Names follow d2l where d2l has the helper (``corr2d``, ``corr2d_multi_in``,
``corr2d_multi_in_out``, ``corr2d_multi_in_out_1x1``, ``comp_conv2d``,
``pool2d``). The chapter "Convolution and pooling" shows this file's code.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ReceptiveField",
    "comp_conv2d",
    "conv2d_backward_input",
    "conv2d_backward_kernel",
    "conv_output_size",
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "dilate2d",
    "pool2d",
    "pool2d_backward",
    "receptive_field",
]

IntPair = int | Sequence[int]


def _pair(v: IntPair, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; a pair stays; anything else raises, naming ``name``."""
    if isinstance(v, int):
        return (v, v)
    pair = tuple(int(x) for x in v)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair (height, width); "
                         f"got {v!r}")
    return pair  # type: ignore[return-value]


def conv_output_size(n: int, k: int, p: int = 0, s: int = 1) -> int:
    """Output length along one axis: ``floor((n + 2p - k) / s) + 1``.

    ``n`` input size, ``k`` kernel (or pooling window) size, ``p`` zeros
    added on *each* side, ``s`` stride. The window may start at 0, s, 2s, ...
    as long as it still fits inside the ``n + 2p`` padded inputs.
    """
    if min(n, k, s) < 1 or p < 0:
        raise ValueError("need n, k, s >= 1 and p >= 0; "
                         f"got n={n}, k={k}, p={p}, s={s}")
    if n + 2 * p < k:
        raise ValueError(f"the {k}-wide window does not fit in "
                         f"{n} + 2*{p} = {n + 2 * p} padded inputs; "
                         "use a smaller kernel or more padding")
    return (n + 2 * p - k) // s + 1


def _strided_slice(X: torch.Tensor, a: int, b: int, oh: int, ow: int,
                   sh: int, sw: int) -> torch.Tensor:
    """``X[..., a + sh*i, b + sw*j]`` for ``i < oh``, ``j < ow`` (a view)."""
    return X[..., a: a + sh * (oh - 1) + 1: sh, b: b + sw * (ow - 1) + 1: sw]


def corr2d(X: torch.Tensor, K: torch.Tensor, padding: IntPair = 0,
           stride: IntPair = 1) -> torch.Tensor:
    """2-D cross-correlation of ``X`` ``(..., h, w)`` with ``K`` ``(kh, kw)``.

    ``Y[..., i, j] = sum_{a,b} X[..., s*i + a, s*j + b] * K[a, b]`` after
    zero-padding ``X``: what deep-learning libraries call "convolution" (no
    kernel flip). Leading dimensions (batch, channels) are carried along.
    """
    kh, kw = K.shape
    ph, pw = _pair(padding, "padding")
    sh, sw = _pair(stride, "stride")
    if ph or pw:
        X = F.pad(X, (pw, pw, ph, ph))
    oh = conv_output_size(X.shape[-2], kh, 0, sh)
    ow = conv_output_size(X.shape[-1], kw, 0, sw)
    Y = X.new_zeros((*X.shape[:-2], oh, ow))
    for a in range(kh):
        for b in range(kw):
            # the inputs that K[a, b] meets, at every output position at once
            Y = Y + K[a, b] * _strided_slice(X, a, b, oh, ow, sh, sw)
    return Y


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Several input channels: correlate each with its own kernel, then add.

    ``X``: ``(c_i, h, w)``, ``K``: ``(c_i, kh, kw)`` -> one ``(oh, ow)`` map.
    """
    if X.shape[0] != K.shape[0]:
        raise ValueError(f"X has {X.shape[0]} channels but K has "
                         f"{K.shape[0]} kernel slices")
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Several output channels: one multi-input kernel per output channel.

    ``X``: ``(c_i, h, w)``, ``K``: ``(c_o, c_i, kh, kw)`` -> ``(c_o, oh, ow)``.
    """
    return torch.stack([corr2d_multi_in(X, k) for k in K], dim=0)


def corr2d_multi_in_out_1x1(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution is one matrix product over the pixels.

    ``X``: ``(c_i, h, w)``, ``K``: ``(c_o, c_i, 1, 1)`` or ``(c_o, c_i)``
    -> ``(c_o, h, w)``: every pixel's channel vector times the same matrix.
    """
    c_i, h, w = X.shape
    W = K.reshape(K.shape[0], c_i)     # (c_o, c_i): a dense layer's weight
    Y = W @ X.reshape(c_i, h * w)      # one column per pixel
    return Y.reshape(-1, h, w)


def comp_conv2d(conv2d: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Apply a layer to one ``(h, w)`` image; return the output map (d2l)."""
    Y = conv2d(X.reshape((1, 1) + tuple(X.shape)))
    return Y.reshape(Y.shape[2:])


def _pool_windows(X: torch.Tensor, pool_size: IntPair, padding: IntPair,
                  stride: IntPair | None, pad_value: float):
    """Pad ``X``; return it, the geometry, and one strided view per offset.

    ``views[a * kw + b][..., i, j]`` is the input at offset ``(a, b)`` of
    window ``(i, j)``.
    """
    kh, kw = _pair(pool_size, "pool_size")
    ph, pw = _pair(padding, "padding")
    sh, sw = _pair(stride if stride is not None else (kh, kw), "stride")
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"padding {padding} is more than half the window "
                         f"{pool_size}: some windows would hold nothing but "
                         "padding (PyTorch refuses this too)")
    if ph or pw:
        X = F.pad(X, (pw, pw, ph, ph), value=pad_value)
    oh = conv_output_size(X.shape[-2], kh, 0, sh)
    ow = conv_output_size(X.shape[-1], kw, 0, sw)
    views = [_strided_slice(X, a, b, oh, ow, sh, sw)
             for a in range(kh) for b in range(kw)]
    return X, (kh, kw), (ph, pw), (sh, sw), (oh, ow), views


def pool2d(X: torch.Tensor, pool_size: IntPair, mode: str = "max",
           padding: IntPair = 0,
           stride: IntPair | None = None) -> torch.Tensor:
    """Max or average pooling over the last two dimensions of ``X``.

    Each channel is pooled on its own, so the channel count never changes.
    ``stride`` defaults to the window size, as in ``nn.MaxPool2d`` (d2l's
    from-scratch ``pool2d`` slides by 1: pass ``stride=1`` for that).
    Padding is ``-inf`` for max (it never wins) and zeros for average,
    counted in the divisor: PyTorch's defaults.
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg'; got {mode!r}")
    pad_value = float("-inf") if mode == "max" else 0.0
    _, (kh, kw), _, _, _, views = _pool_windows(X, pool_size, padding,
                                                stride, pad_value)
    windows = torch.stack(views, dim=-1)          # (..., oh, ow, kh * kw)
    if mode == "max":
        return windows.max(dim=-1).values
    return windows.sum(dim=-1) / (kh * kw)


def pool2d_backward(X: torch.Tensor, dY: torch.Tensor, pool_size: IntPair,
                    mode: str = "max", padding: IntPair = 0,
                    stride: IntPair | None = None) -> torch.Tensor:
    """Gradient w.r.t. ``X``, given the gradient ``dY`` w.r.t. the output.

    Max pooling sends each ``dY`` entry to the one input that won its window
    (the first maximum, as PyTorch does), zero to the others; average
    pooling spreads it evenly, ``dY / (kh * kw)`` to each input of the
    window. Where windows overlap, the contributions add up.
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg'; got {mode!r}")
    pad_value = float("-inf") if mode == "max" else 0.0
    Xp, (kh, kw), (ph, pw), (sh, sw), (oh, ow), views = _pool_windows(
        X, pool_size, padding, stride, pad_value)
    if tuple(dY.shape[-2:]) != (oh, ow):
        raise ValueError(f"dY has spatial shape {tuple(dY.shape[-2:])}, "
                         f"the pooled output has {(oh, ow)}")
    if mode == "max":   # which offset won each window (the forward's memory)
        winner = torch.stack(views, dim=-1).argmax(dim=-1)
    dXp = torch.zeros_like(Xp, dtype=dY.dtype)
    for a in range(kh):
        for b in range(kw):
            if mode == "max":
                share = dY * (winner == a * kw + b)
            else:
                share = dY / (kh * kw)
            _strided_slice(dXp, a, b, oh, ow, sh, sw).add_(share)
    return dXp[..., ph: dXp.shape[-2] - ph, pw: dXp.shape[-1] - pw]


@dataclass(frozen=True)
class ReceptiveField:
    """One row of ``receptive_field``.

    After layer ``name`` each unit sees ``size`` x ``size`` input pixels,
    and neighbouring units are ``jump`` input pixels apart.
    """

    name: str
    kernel_size: int
    stride: int
    size: int
    jump: int


def _geometry(layer) -> tuple[int, int, int] | None:
    """(kernel, stride, dilation) along the height, or None if unchanged."""
    if isinstance(layer, tuple):
        k, s = layer
        return int(k), int(s), 1
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(layer.kernel_size, "kernel_size")[0]
        s = _pair(layer.stride or layer.kernel_size, "stride")[0]
        d = _pair(getattr(layer, "dilation", 1), "dilation")[0]
        return k, s, d
    return None


def receptive_field(layers: nn.Sequential | Iterable,
                    ) -> list[ReceptiveField]:
    """How many input pixels a unit sees, layer after layer (height axis).

    ``layers``: an ``nn.Sequential`` (convolutions and pooling change the
    geometry, element-wise layers do not; the walk stops at ``nn.Flatten``)
    or a list of ``(kernel, stride)`` pairs. A ``k``-wide layer adds
    ``k - 1`` steps of the current jump to the field, then multiplies the
    jump by its stride. Padding moves the field but does not resize it.
    """
    rows: list[ReceptiveField] = []
    size, jump = 1, 1
    for i, layer in enumerate(layers):
        if isinstance(layer, (nn.Flatten, nn.Linear)):
            break
        geometry = _geometry(layer)
        if geometry is None:
            continue
        k, s, d = geometry
        size += d * (k - 1) * jump     # a dilated kernel spans d * (k - 1) + 1
        jump *= s
        name = (layer.__class__.__name__ if isinstance(layer, nn.Module)
                else f"layer {i}")
        rows.append(ReceptiveField(name, k, s, size, jump))
    return rows


# ------------------------------------------------------------ convolution backward
def _conv_geometry(X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor,
                   padding: IntPair, stride: IntPair):
    """Check the shapes of a batched convolution's backward pass; return its geometry."""
    if X.ndim != 4 or K.ndim != 4 or dY.ndim != 4:
        raise ValueError("need X (B, c_i, h, w), K (c_o, c_i, kh, kw) and dY (B, c_o, oh, ow); "
                         f"got {tuple(X.shape)}, {tuple(K.shape)}, {tuple(dY.shape)}")
    if X.shape[1] != K.shape[1] or dY.shape[1] != K.shape[0] or dY.shape[0] != X.shape[0]:
        raise ValueError(f"channels or batch do not match: X {tuple(X.shape)}, "
                         f"K {tuple(K.shape)}, dY {tuple(dY.shape)}")
    kh, kw = K.shape[-2:]
    ph, pw = _pair(padding, "padding")
    sh, sw = _pair(stride, "stride")
    oh = conv_output_size(X.shape[-2], kh, ph, sh)
    ow = conv_output_size(X.shape[-1], kw, pw, sw)
    if tuple(dY.shape[-2:]) != (oh, ow):
        raise ValueError(f"dY has spatial shape {tuple(dY.shape[-2:])}, the convolution's "
                         f"output has {(oh, ow)}")
    return (kh, kw), (ph, pw), (sh, sw), (oh, ow)


def dilate2d(dY: torch.Tensor, stride: IntPair) -> torch.Tensor:
    """Put ``stride - 1`` zeros between neighbouring entries of the last two dimensions.

    A strided convolution is a stride-1 convolution that keeps every ``s``-th output;
    its gradient is the stride-1 gradient with zeros where outputs were skipped.
    """
    sh, sw = _pair(stride, "stride")
    oh, ow = dY.shape[-2:]
    out = dY.new_zeros((*dY.shape[:-2], (oh - 1) * sh + 1, (ow - 1) * sw + 1))
    out[..., ::sh, ::sw] = dY
    return out


def conv2d_backward_kernel(X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor,
                           padding: IntPair = 0, stride: IntPair = 1) -> torch.Tensor:
    """Gradient w.r.t. the kernel of ``Y = conv2d(X, K, padding, stride)``, given ``dY``.

    ``K[o, c, a, b]`` met the input ``X[:, c, s*i + a, s*j + b]`` at every output
    position ``(i, j)`` of channel ``o``, so its gradient is the correlation of the
    padded input with ``dY``: for each offset, one strided slice times ``dY``, summed.
    """
    (kh, kw), (ph, pw), (sh, sw), (oh, ow) = _conv_geometry(X, K, dY, padding, stride)
    Xp = F.pad(X, (pw, pw, ph, ph)) if ph or pw else X
    dK = torch.zeros_like(K, dtype=dY.dtype)
    for a in range(kh):
        for b in range(kw):
            # sum over batch and positions of input(c) * dY(o): a (c_o, c_i) matrix
            dK[:, :, a, b] = torch.einsum("bcij,boij->oc",
                                          _strided_slice(Xp, a, b, oh, ow, sh, sw), dY)
    return dK


def conv2d_backward_input(X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor,
                          padding: IntPair = 0, stride: IntPair = 1) -> torch.Tensor:
    """Gradient w.r.t. the input of ``Y = conv2d(X, K, padding, stride)``, given ``dY``.

    The *full* correlation of ``dY`` (dilated by the stride, zero-padded by ``k - 1`` on
    every side) with the kernel flipped in both directions, summed over output channels;
    then the padding rows and columns are cut off again. Inputs that no window reached
    (when the stride does not divide the size) get zero.
    """
    (kh, kw), (ph, pw), (sh, sw), _ = _conv_geometry(X, K, dY, padding, stride)
    D = F.pad(dilate2d(dY, (sh, sw)), (kw - 1, kw - 1, kh - 1, kh - 1))
    Kf = torch.flip(K, dims=(-2, -1))
    hc, wc = D.shape[-2] - kh + 1, D.shape[-1] - kw + 1     # rows/cols some window covered
    dXp = X.new_zeros((X.shape[0], X.shape[1], X.shape[-2] + 2 * ph, X.shape[-1] + 2 * pw),
                      dtype=dY.dtype)
    for a in range(kh):
        for b in range(kw):
            dXp[..., :hc, :wc] += torch.einsum("boij,oc->bcij",
                                               D[..., a:a + hc, b:b + wc], Kf[:, :, a, b])
    return dXp[..., ph: dXp.shape[-2] - ph, pw: dXp.shape[-1] - pw]
