"""Batch normalisation from scratch: what ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` compute.

``batch_norm`` is d2l's function with PyTorch's conventions, so the chapter can hold it
against ``nn.BatchNorm2d`` to the last bit that floating point allows:

* in training mode each channel is normalised with the mean and *biased* variance of the
  current batch (over the batch, and over height and width for images);
* the running statistics are updated as ``running = (1 - momentum) * running +
  momentum * batch_stat`` -- PyTorch's ``momentum=0.1`` means "10 % new batch" -- and the
  running variance takes the *unbiased* batch variance (``n / (n - 1)`` times the biased one),
  because it estimates the variance of every input the layer will see, which the biased
  variance of a sample of ``n`` values underestimates by ``(n - 1) / n`` on average;
* in evaluation mode the running statistics are used, so one example's output no longer
  depends on the others in its batch.

``BatchNorm`` wraps it as a layer with the learnable scale ``gamma`` and shift ``beta``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["BatchNorm", "batch_norm"]


def batch_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
               running_mean: torch.Tensor, running_var: torch.Tensor, *,
               training: bool, momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Normalise ``X`` per channel (dimension 1), then scale by ``gamma`` and shift by ``beta``.

    ``X`` is ``(B, C)`` (after a dense layer) or ``(B, C, H, W)`` (after a convolution).
    In training mode ``running_mean`` / ``running_var`` are updated in place.
    """
    if X.ndim not in (2, 4):
        raise ValueError(f"batch_norm takes (B, C) or (B, C, H, W) inputs, got shape "
                         f"{tuple(X.shape)}")
    dims = (0,) if X.ndim == 2 else (0, 2, 3)   # statistics over all but the channel axis
    shape = (1, -1) + (1,) * (X.ndim - 2)       # broadcast per-channel vectors over X
    if training:
        n = X.numel() // X.shape[1]             # values per channel in this batch
        if n < 2:
            raise ValueError("training-mode batch norm needs more than one value per channel "
                             "(a batch of one 1-D example has no variance); use a larger batch")
        mean = X.mean(dim=dims)
        var = X.var(dim=dims, unbiased=False)
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    else:
        mean, var = running_mean, running_var
    X_hat = (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * X_hat + beta.reshape(shape)


class BatchNorm(nn.Module):
    """A batch-norm layer for ``num_features`` channels, built on ``batch_norm``.

    Its parameters and running statistics carry ``nn.BatchNorm2d``'s names (``weight``,
    ``bias``, ``running_mean``, ``running_var``), so the two can be compared entry by entry.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(num_features))   # gamma
        self.bias = nn.Parameter(torch.zeros(num_features))    # beta
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return batch_norm(X, self.weight, self.bias, self.running_mean, self.running_var,
                          training=self.training, momentum=self.momentum, eps=self.eps)
