"""Data augmentation on whole batches: random horizontal flips and random padded crops.

torchvision's transforms work one PIL image at a time inside ``DataLoader`` workers; the
course's ``TensorLoader`` serves batches that already sit on the training device, so the
augmentations here take a batch ``(B, C, H, W)`` and draw one random choice *per example*
with a few tensor ops -- on a GPU that is a handful of kernel launches per batch, not B.

* ``flip_where`` / ``crop_at``       -- the deterministic operations (what the tests check);
* ``random_hflip`` / ``random_crop`` -- the same with random choices from a ``Generator``;
* ``AugmentedLoader``                -- wraps a training loader so ``train_ch6`` sees
  augmented batches (the test loader stays as it is).
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .data import LoaderWrapper

__all__ = ["AugmentedLoader", "crop_at", "flip_where", "random_crop", "random_hflip"]


def _check_batch(X: torch.Tensor) -> None:
    if X.ndim != 4:
        raise ValueError(f"expected a batch of images (B, C, H, W), got shape {tuple(X.shape)}")


def flip_where(X: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images of ``X`` (B, C, H, W) where the boolean ``mask`` (B,)
    is true."""
    _check_batch(X)
    mask = mask.to(device=X.device, dtype=torch.bool)
    if mask.shape != (X.shape[0],):
        raise ValueError(f"mask must have shape ({X.shape[0]},), got {tuple(mask.shape)}")
    return torch.where(mask.view(-1, 1, 1, 1), X.flip(-1), X)


def random_hflip(X: torch.Tensor, p: float = 0.5,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image with probability ``p``: a shirt seen in a mirror is still a shirt."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], not {p}")
    mask = torch.rand(X.shape[0], generator=generator) < p
    return flip_where(X, mask)


def crop_at(X: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
            size: int | tuple[int, int], padding: int = 0) -> torch.Tensor:
    """Cut a ``size`` window out of each zero-padded image, at its own ``(top, left)``.

    ``top``/``left`` (B,) index the padded image, so they range over
    ``0 .. H + 2*padding - h``. One gather for the whole batch.
    """
    _check_batch(X)
    h, w = (size, size) if isinstance(size, int) else size
    B, C, H, W = X.shape
    if padding < 0:
        raise ValueError(f"padding must be >= 0, not {padding}")
    Hp, Wp = H + 2 * padding, W + 2 * padding
    if h > Hp or w > Wp:
        raise ValueError(f"a {h}x{w} crop does not fit a {Hp}x{Wp} (padded) image")
    # Checked where the offsets live (random_crop draws them on the CPU), then moved: no
    # per-batch host/device sync for a batch on the GPU.
    top = torch.as_tensor(top).long().view(-1)
    left = torch.as_tensor(left).long().view(-1)
    if top.numel() != B or left.numel() != B:
        raise ValueError(f"need one top and one left offset per image ({B}), "
                         f"got {top.numel()} and {left.numel()}")
    if B and (int(top.min()) < 0 or int(top.max()) > Hp - h
              or int(left.min()) < 0 or int(left.max()) > Wp - w):
        raise ValueError(f"offsets must lie in 0..{Hp - h} (top) and 0..{Wp - w} (left)")
    top, left = top.to(X.device), left.to(X.device)
    Xp = F.pad(X, (padding, padding, padding, padding)) if padding else X
    rows = top.view(B, 1) + torch.arange(h, device=X.device)   # (B, h)
    cols = left.view(B, 1) + torch.arange(w, device=X.device)  # (B, w)
    b = torch.arange(B, device=X.device).view(B, 1, 1, 1)
    c = torch.arange(C, device=X.device).view(1, C, 1, 1)
    return Xp[b, c, rows.view(B, 1, h, 1), cols.view(B, 1, 1, w)]


def random_crop(X: torch.Tensor, size: int | tuple[int, int] | None = None, padding: int = 0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad with zeros, then cut each image at a random position (torchvision's RandomCrop).

    With ``size`` left out the crop keeps the input size, so the result is the image shifted
    by up to ``padding`` pixels in each direction.
    """
    _check_batch(X)
    H, W = X.shape[-2:]
    h, w = (H, W) if size is None else ((size, size) if isinstance(size, int) else size)
    B = X.shape[0]
    top = torch.randint(0, H + 2 * padding - h + 1, (B,), generator=generator)
    left = torch.randint(0, W + 2 * padding - w + 1, (B,), generator=generator)
    return crop_at(X, top, left, (h, w), padding)


class AugmentedLoader(LoaderWrapper):
    """A training loader whose batches come out flipped and/or shifted at random.

    Wraps a ``TensorLoader`` (or any iterable of ``(X, y)``) and, through ``LoaderWrapper``,
    forwards what ``train_ch6`` asks of it, so it is a drop-in. The random choices come
    from a seeded generator: runs repeat exactly.
    """

    def __init__(self, loader, flip: bool = True, crop_padding: int = 0, seed: int = 0) -> None:
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, not {crop_padding}")
        super().__init__(loader)
        self.flip, self.crop_padding = flip, crop_padding
        self._generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for X, y in self.loader:
            if self.flip:
                X = random_hflip(X, generator=self._generator)
            if self.crop_padding:
                X = random_crop(X, padding=self.crop_padding, generator=self._generator)
            yield X, y
