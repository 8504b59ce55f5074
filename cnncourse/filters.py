"""Is a small convolution kernel oriented? A measure that a random kernel can be held against.

A first-layer kernel of a CNN trained on photographs often looks like an edge, a bar or a
striped Gabor patch: a pattern that changes across one direction and stays the same along
the other. ``orientedness`` puts a number on that, and ``random_kernels_like`` makes the
control it needs (a 3x3 or 5x5 kernel of random numbers is "oriented" by chance more often
than one expects).

* ``gabor_bank`` -- pairs of Gabor patches (even: cosine, odd: sine, under one Gaussian
  envelope) over orientations and wavelengths, each made zero-mean and of unit length;
* ``gabor_energy`` -- for every kernel and orientation, the largest share of the kernel's
  variation (around its mean) that one pair explains, over the wavelengths: an R^2 in [0, 1];
* ``orientedness`` -- that share at the best orientation minus the share at the orthogonal
  one. An edge, a ramp, a bar or a Gabor scores close to 1, a round blob or a checkerboard 0.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["gabor_bank", "gabor_energy", "orientedness", "random_kernels_like"]


def gabor_bank(size: int, wavelengths: Sequence[float] = (2.5, 3.5, 5, 7, 10),
               orientations: int = 8, sigma: float | None = None) -> torch.Tensor:
    """Gabor pairs ``(len(wavelengths) * orientations, 2, size, size)``, wavelength-major.

    Pair ``(w, o)`` is ``exp(-r^2 / 2 sigma^2) * (cos, sin)(2 pi u / wavelength)`` with ``u``
    the distance along direction ``o * 180 / orientations`` degrees; each patch has its mean
    removed and unit length. The two patches of a pair are orthogonal (one is symmetric about
    the centre, the other antisymmetric), so together they fit a stripe pattern at any phase.
    The longest wavelengths make the odd patch a ramp and the even one a ridge: edges count as
    oriented too. ``sigma`` defaults to half the size (an envelope that barely tapers).
    """
    if size < 2:
        raise ValueError(f"size must be at least 2 pixels, not {size}")
    if orientations < 2 or orientations % 2:
        raise ValueError(f"orientations must be an even number >= 2 (so that every orientation "
                         f"has an orthogonal one in the bank), not {orientations}")
    if not wavelengths or min(wavelengths) <= 2:
        raise ValueError(f"wavelengths must be longer than 2 pixels (the shortest a grid can "
                         f"show at every phase), not {list(wavelengths)}")
    sigma = size / 2 if sigma is None else sigma
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    rows, cols = torch.meshgrid(c, c, indexing="ij")
    envelope = torch.exp(-(rows**2 + cols**2) / (2 * sigma**2))
    pairs = []
    for wavelength in wavelengths:
        for k in range(orientations):
            angle = math.pi * k / orientations
            u = cols * math.cos(angle) + rows * math.sin(angle)
            pair = torch.stack([envelope * torch.cos(2 * math.pi * u / wavelength),
                                envelope * torch.sin(2 * math.pi * u / wavelength)])
            pair = pair - pair.mean(dim=(1, 2), keepdim=True)
            pairs.append(pair / pair.flatten(1).norm(dim=1).view(2, 1, 1))
    return torch.stack(pairs)


def gabor_energy(w: torch.Tensor, bank: torch.Tensor, orientations: int = 8) -> torch.Tensor:
    """``(K, orientations)``: the share R^2 of each kernel's variation that one Gabor pair
    of that orientation explains, best over the wavelengths.

    ``w`` holds K kernels ``(K, ..., k, k)`` (a conv weight ``(out, in, k, k)`` with one
    input channel, or ``(K, k, k)``); the orientations are read off ``bank``'s order, as
    ``gabor_bank`` makes it. A kernel that is constant has no variation to explain: 0.
    """
    size = bank.shape[-1]
    if len(bank) % orientations:
        raise ValueError(f"a bank of {len(bank)} pairs cannot hold {orientations} orientations "
                         "per wavelength: pass the orientations gabor_bank was made with")
    if w.shape[-2:] != (size, size):
        raise ValueError(f"kernels of {tuple(w.shape[-2:])} pixels need a bank of that size, "
                         f"not {size}x{size}: gabor_bank({w.shape[-1]})")
    v = w.detach().reshape(len(w), -1, size * size).to(torch.float64)
    if v.shape[1] != 1:
        raise ValueError(f"one input channel per kernel, not {v.shape[1]}: pass the "
                         "channels one at a time")
    v = v[:, 0] - v[:, 0].mean(dim=1, keepdim=True)
    length = v.norm(dim=1, keepdim=True)
    v = torch.where(length > 0, v / length.clamp(min=1e-300), 0.0)
    pairs = bank.to(torch.float64).reshape(len(bank), 2, -1)
    share = torch.einsum("kd,bpd->kbp", v, pairs).pow(2).sum(-1)   # (K, pairs)
    return share.view(len(w), -1, orientations).amax(dim=1)


def orientedness(w: torch.Tensor, bank: torch.Tensor, orientations: int = 8) -> torch.Tensor:
    """``(K,)``: share explained at the best orientation minus at the orthogonal one.

    An edge, a ramp, a bar or a Gabor patch is explained well along one direction and badly
    across it: close to 1. A round blob or a checkerboard is explained alike (or not at all)
    in every direction: 0. A kernel of random numbers lands in between, which is why a
    number means something only next to random kernels' (``random_kernels_like``).
    """
    energy = gabor_energy(w, bank, orientations)
    n = energy.shape[1]
    best = energy.argmax(dim=1, keepdim=True)
    return (energy.gather(1, best) - energy.gather(1, (best + n // 2) % n)).squeeze(1)


def random_kernels_like(w: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` kernels of independent Gaussian numbers, of ``w``'s shape and of its kernels'
    lengths (kernel ``i`` as long as ``w[i % K]``): the control for ``orientedness``.

    Drawn from their own generator, so the global random state is left as it was.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1 random kernel, not {n}")
    shape = (n, *w.shape[1:])
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)
    lengths = w.detach().flatten(1).norm(dim=1).to(torch.float64)
    lengths = lengths.repeat(-(-n // len(w)))[:n]
    return noise / noise.flatten(1).norm(dim=1).view(-1, *[1] * (noise.ndim - 1)) \
        * lengths.view(-1, *[1] * (noise.ndim - 1))
