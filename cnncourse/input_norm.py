"""Input normalisation as a loader wrapper: ``(X - mean) / std`` on every batch.

``TensorLoader`` serves pixels scaled to ``[0, 1]`` (d2l's ``ToTensor``). Two common choices
shift and scale them further:

* the PaddlePaddle tutorials' ``Normalize(mean=127.5, std=127.5)`` on raw 0..255 pixels, which
  maps them to ``[-1, 1]`` -- on ``[0, 1]`` pixels that is ``mean=0.5, std=0.5``;
* per-data-set standardisation: the mean and standard deviation of all training pixels, so
  the inputs have mean 0 and variance 1 over the training set.

``NormalizedLoader`` applies either to a loader's batches, so ``train_ch6`` and
``evaluate_accuracy_gpu`` see normalised images without a change to the data module;
``pixel_stats`` computes the statistics from the *training* images only.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from .data import LoaderWrapper, TensorLoader

__all__ = ["NormalizedLoader", "pixel_stats"]


def pixel_stats(loader) -> tuple[float, float]:
    """Mean and standard deviation of every pixel of a loader's images, on the [0, 1] scale.

    Reads the raw ``uint8`` images of a plain ``TensorLoader`` without a resize (one pass,
    exact); anything else, a ``LoaderWrapper`` included, is measured on the batches it yields,
    because a wrapper forwards ``images`` but changes the batches. Use the training loader:
    test data must not inform it.
    """
    images = getattr(loader, "images", None)
    if isinstance(loader, TensorLoader) and images is not None and loader.resize is None:
        x = images.double() / 255
        return x.mean().item(), x.std(unbiased=False).item()
    total, total_sq, n = 0.0, 0.0, 0
    for X, _ in loader:
        X = X.double()
        total, total_sq, n = total + X.sum().item(), total_sq + X.pow(2).sum().item(), n + X.numel()
    if n == 0:
        raise ValueError("the loader yielded no images")
    mean = total / n
    return mean, max(total_sq / n - mean ** 2, 0.0) ** 0.5


class NormalizedLoader(LoaderWrapper):
    """A loader whose batches come out as ``(X - mean) / std`` (a drop-in for ``train_ch6``).

    ``LoaderWrapper`` forwards ``len``, ``to``, ``images``, ``num_classes``, ``batch_size``
    and the rest to the wrapped loader, as for ``AugmentedLoader``.
    """

    def __init__(self, loader, mean: float, std: float) -> None:
        if not std > 0:
            raise ValueError(f"std must be positive, not {std}")
        super().__init__(loader)
        self.mean, self.std = float(mean), float(std)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for X, y in self.loader:
            yield (X - self.mean) / self.std, y
