"""Classification losses from scratch: softmax, cross-entropy and their pitfalls.

The chapter "Cross-entropy" builds these by hand and checks each one against
PyTorch (``F.softmax``, ``F.cross_entropy``, ``F.binary_cross_entropy*``):

* ``softmax`` / ``log_softmax`` / ``logsumexp`` -- shifted by the maximum, so
  they never overflow;
* ``naive_softmax_cross_entropy`` -- softmax, then log: the textbook formula
  taken literally, kept *to show* how it turns into ``inf``/``nan``;
* ``cross_entropy`` -- the log-sum-exp form, what ``F.cross_entropy`` computes;
* ``binary_cross_entropy`` (on probabilities) and
  ``binary_cross_entropy_with_logits`` (stable, on logits);
* ``softmax_cross_entropy_grad`` -- the closed-form gradient softmax - one_hot;
* ``OneHotMSELoss`` -- square error against one-hot targets, taking the same
  ``(logits, int labels)`` as ``nn.CrossEntropyLoss`` so ``train_ch6`` can use
  either.

Note: d2l's ``cross_entropy(y_hat, y)`` takes *probabilities*; ours takes
logits, like ``F.cross_entropy``, because that is the form that is safe to use.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "OneHotMSELoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "log_softmax",
    "logsumexp",
    "naive_softmax",
    "naive_softmax_cross_entropy",
    "one_hot",
    "softmax",
    "softmax_cross_entropy_grad",
]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, not {reduction!r}")


def _check_labels(logits: torch.Tensor, y: torch.Tensor) -> None:
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (batch, num_classes), got {tuple(logits.shape)}")
    if y.ndim != 1 or y.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point:
        raise TypeError("labels must be integer class indices (torch.long), not "
                        f"{y.dtype}; a class is a name, not a quantity")


def one_hot(y: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rows of the identity matrix picked by ``y``: class ``k`` -> e_k (a float tensor).

    ``F.one_hot`` returns integers; losses need floats, so the dtype is an argument.
    A label outside 0..num_classes-1 raises (no host sync is spent checking).
    """
    if y.dtype.is_floating_point:
        raise TypeError(f"one_hot needs integer class indices, got {y.dtype}")
    out = torch.zeros(*y.shape, num_classes, dtype=dtype, device=y.device)
    return out.scatter_(-1, y.unsqueeze(-1), 1)


def naive_softmax(X: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(x) / sum exp(x), literally: overflows once x > 88.7 (float32)."""
    X_exp = torch.exp(X)
    return X_exp / X_exp.sum(dim=dim, keepdim=True)


def logsumexp(X: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """log sum exp(x), computed as m + log sum exp(x - m) with m = max x.

    After the shift the largest exponent is exp(0) = 1: nothing overflows, and
    the sum is at least 1, so its log never hits log(0).
    """
    m = X.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf rows: no inf - inf
    out = m + torch.log(torch.exp(X - m).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def log_softmax(X: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(x) = (x - m) - log sum exp(x - m), m = max x: finite for any finite logits.

    Shifting first, rather than computing x - logsumexp(x), keeps the small
    differences exact when the logits themselves are large.
    """
    shifted = X - X.amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def softmax(X: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Probabilities from logits: exp(x - max) / sum exp(x - max).

    Subtracting the maximum changes nothing mathematically (it cancels in the
    ratio) but keeps every exponent <= 0, so no overflow.
    """
    X_exp = torch.exp(X - X.amax(dim=dim, keepdim=True))
    return X_exp / X_exp.sum(dim=dim, keepdim=True)


def naive_softmax_cross_entropy(logits: torch.Tensor, y: torch.Tensor,
                                reduction: str = "mean") -> torch.Tensor:
    """-log naive_softmax(logits)[y]: right on paper, inf/nan in float32.

    Kept for teaching: exp overflows to inf (inf / inf = nan), and a tiny
    probability underflows to 0 (-log 0 = inf). Use ``cross_entropy``.
    """
    _check_labels(logits, y)
    p = naive_softmax(logits, dim=1)
    p_y = p.gather(1, y.unsqueeze(1)).squeeze(1)  # probability of the label
    return _reduce(-torch.log(p_y), reduction)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor,
                  reduction: str = "mean") -> torch.Tensor:
    """Softmax cross-entropy of logits, as F.cross_entropy: lse(z) - z_y.

    Subtracts the largest logit first (the loss does not change), so every
    exponent is <= 0 and the sum is >= 1: it never forms a probability,
    never overflows and never takes log 0, however large the logits.
    """
    _check_labels(logits, y)
    # the largest logit becomes 0
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_sum_exp = torch.log(torch.exp(shifted).sum(dim=1))
    z_y = shifted.gather(1, y.unsqueeze(1)).squeeze(1)
    return _reduce(log_sum_exp - z_y, reduction)


def softmax_cross_entropy_grad(logits: torch.Tensor, y: torch.Tensor,
                               reduction: str = "mean") -> torch.Tensor:
    """d cross_entropy / d logits in closed form: softmax(z) - one_hot(y) (/ batch for 'mean')."""
    _check_labels(logits, y)
    g = softmax(logits, dim=1) - one_hot(y, logits.shape[1], dtype=logits.dtype)
    if reduction == "mean":
        return g / logits.shape[0]
    if reduction in ("sum", "none"):  # for 'none': the gradient of each example's own loss
        return g
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, not {reduction!r}")


def binary_cross_entropy(p: torch.Tensor, y: torch.Tensor, reduction: str = "mean",
                         eps: float = 0.0) -> torch.Tensor:
    """-[y log p + (1 - y) log(1 - p)]: the negative log-likelihood of a coin with P(1) = p.

    ``p`` are probabilities; a p of exactly 0 or 1 on the wrong side gives inf
    (``eps`` > 0 clips it, as some libraries do; ``F.binary_cross_entropy``
    instead clamps each log at -100).
    """
    y = y.to(p.dtype)
    if eps:
        p = p.clamp(eps, 1 - eps)
    return _reduce(-(y * torch.log(p) + (1 - y) * torch.log1p(-p)), reduction)


def binary_cross_entropy_with_logits(z: torch.Tensor, y: torch.Tensor,
                                     reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy of p = sigmoid(z), computed without forming p.

    -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z
                                      = max(z, 0) - y z + log(1 + exp(-|z|)),
    where every exponent is <= 0: finite for any finite z.
    """
    y = y.to(z.dtype)
    return _reduce(z.clamp(min=0) - y * z + torch.log1p(torch.exp(-z.abs())), reduction)


class OneHotMSELoss(nn.Module):
    """Square error between outputs and one-hot targets: (logits, labels).

    Takes what ``nn.CrossEntropyLoss`` takes, so it drops into
    ``train_ch6(..., loss=OneHotMSELoss())``. The squared error is *summed
    over the classes* and averaged over the batch: its gradient
    2 (z - one_hot) / batch is on the scale of cross-entropy's
    (softmax - one_hot) / batch, so a comparison at one learning rate
    compares the losses, not two step sizes (``nn.MSELoss`` would also
    divide by the number of classes). With ``softmax=True`` the outputs
    become probabilities first (the "Brier score").
    """

    def __init__(self, softmax: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, "
                             f"not {reduction!r}")
        self.softmax = softmax
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_labels(logits, y)
        logits = logits.float()  # under bf16 autocast: sum in float32
        out = softmax(logits, dim=1) if self.softmax else logits
        target = one_hot(y, logits.shape[1], dtype=out.dtype)
        per_example = ((out - target) ** 2).sum(dim=1)
        return _reduce(per_example, self.reduction)

    def extra_repr(self) -> str:
        return f"softmax={self.softmax}, reduction={self.reduction!r}"
