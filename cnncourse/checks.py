"""Clear errors for bad input to ``train_ch6``, raised before the model is touched.

Each message names what was wrong and how to fix it; without them the same mistakes
surface as a ZeroDivisionError after the last epoch, a silent empty history, a dtype
error deep inside a convolution -- or, worse, after the Xavier init has already
replaced the weights of a pretrained model. So everything that can be checked is
checked here, before ``train_ch6`` initialises, moves or trains anything.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["check_arguments", "check_device", "check_dtype", "check_output_width",
           "optimizer_lrs"]

INITS = ("xavier", "kaiming")


def optimizer_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """The learning rates of an optimiser's parameter groups, in order, without repeats."""
    lrs: list[float] = []
    for group in optimizer.param_groups:
        lr = float(group.get("lr", float("nan")))
        if lr not in lrs:
            lrs.append(lr)
    return lrs


def check_arguments(net: nn.Module, train_iter: Iterable, test_iter: Iterable,
                    num_epochs: int, lr: float | None, optimizer=None,
                    init: str | None = None, *, loss=None, device=None) -> None:
    """Reject what cannot train -- before ``train_ch6`` initialises or moves the model.

    Bad epoch counts and learning rates, an optimiser that cannot be made or whose own
    learning rate is not ``lr``, a model with no trainable parameter (or frozen weights
    that ``init`` would overwrite), another precision, one-shot or empty data, and a
    model whose output does not fit the classes (run on one test batch, in eval mode
    and without gradients, so nothing in the model changes).
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral):
        raise TypeError(f"num_epochs must be a whole number, such as 10, not {num_epochs!r}")
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, not {num_epochs}")
    made = isinstance(optimizer, torch.optim.Optimizer)
    if not (made and lr is None) and (isinstance(lr, bool) or not isinstance(lr, numbers.Real)
                                      or not math.isfinite(lr) or lr < 0):
        raise TypeError(f"lr (the learning rate) must be a number >= 0, such as 0.9, "
                        f"not {lr!r}")
    _check_optimizer(optimizer, lr)
    if init is not None and init not in INITS:
        raise ValueError(f"unknown init {init!r}; use 'xavier', 'kaiming' or None")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a function (y_hat, y) -> loss, such as "
                        f"nn.CrossEntropyLoss() (the default, loss=None), not "
                        f"{type(loss).__name__} {loss!r}")
    if device is not None:
        check_device(torch.device(device))
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, not {type(net).__name__}")
    params = list(net.parameters())
    if not params:
        raise ValueError("the model has no parameters, so there is nothing to train; "
                         "build it from layers such as nn.Linear or nn.Conv2d.")
    _check_frozen(net, params, init)
    check_dtype(net, "train_ch6")
    for name, data in (("train_iter", train_iter), ("test_iter", test_iter)):
        if isinstance(data, Iterator) and num_epochs > 1:  # a generator, iter(list), ...
            raise TypeError(f"{name} is a one-shot iterator ({type(data).__name__}): it would "
                            f"be empty after the first of {num_epochs} epochs. Pass something "
                            "that can be iterated again: a list of batches, a DataLoader, or "
                            "load_data_fashion_mnist's loaders.")
        if hasattr(data, "__len__") and len(data) == 0:
            raise ValueError(f"{name} has no batches; check the data set and the batch size.")
    batch = _first_batch(test_iter)
    if batch is not None:
        num_classes = getattr(train_iter, "num_classes", getattr(test_iter, "num_classes", None))
        check_output_width(net, batch[0], batch[1], num_classes)


def check_device(device: torch.device) -> None:
    """A GPU that is not there is named as such, not as a failure inside PyTorch's memory
    statistics or the first copy to the device."""
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = ("this PyTorch was built without CUDA" if torch.version.cuda is None
                   else "no CUDA GPU is visible")
            raise ValueError(f"device={str(device)!r}, but {why}; pass device=d2l.try_gpu() "
                             "(the GPU when there is one, else the CPU) or device='cpu'.")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device={str(device)!r}, but this machine has {count} CUDA "
                             f"GPU(s), cuda:0 to cuda:{count - 1}; see d2l.try_all_gpus().")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={str(device)!r}, but Apple's MPS is not available here; "
                         "pass device=d2l.try_gpu() or device='cpu'.")


def _check_optimizer(optimizer, lr: float | None) -> None:
    """An optimiser ``train_ch6`` can make, or one already made whose learning rate is ``lr``.

    An Optimizer brings its own learning rate. Quietly overwriting it with ``lr`` would
    undo what its maker chose (per-group rates, say); quietly ignoring ``lr`` trains at a
    rate the call never names. Neither is what the learner can see, so a mismatch is an
    error that says both numbers; ``lr=None`` means "the optimiser's own".
    """
    if isinstance(optimizer, torch.optim.Optimizer):
        lrs = optimizer_lrs(optimizer)
        if lr is not None and float(lr) not in lrs:
            own = ", ".join(f"{x:g}" for x in lrs)
            raise ValueError(
                f"optimizer is a ready-made {type(optimizer).__name__} with lr={own}, but "
                f"train_ch6 was given lr={lr:g}, which it cannot apply to an optimiser made "
                f"elsewhere. Pass the optimiser's own rate (lr={lrs[0]:g}) or lr=None; or pass "
                f"a name ('sgd', 'adam') or a function (params, lr) to train at lr={lr:g}.")
        return
    if optimizer is None or callable(optimizer):
        return
    if not (isinstance(optimizer, str) and optimizer.lower() in ("sgd", "adam")):
        raise ValueError(f"unknown optimizer {optimizer!r}; use 'sgd', 'adam', an Optimizer "
                         "or a function (params, lr) -> Optimizer")


def _check_frozen(net: nn.Module, params: list[torch.Tensor], init: str | None) -> None:
    """A frozen model cannot train; a frozen (pretrained) weight must not be re-initialised."""
    if not any(p.requires_grad for p in params):
        raise ValueError("every parameter of the model is frozen (requires_grad=False), so "
                         "there is nothing to train; unfreeze the layers that should learn, "
                         "e.g. for p in net[-1].parameters(): p.requires_grad_(True)")
    if init is None:
        return
    frozen = [name for name, m in net.named_modules()
              if isinstance(m, (nn.Linear, nn.Conv2d)) and not m.weight.requires_grad]
    if frozen:
        shown = ", ".join(repr(n) for n in frozen[:3]) + (", ..." if len(frozen) > 3 else "")
        raise ValueError(f"init={init!r} would overwrite the weights of frozen layers "
                         f"({shown}: requires_grad=False), which train_ch6 then never trains. "
                         "Pass init=None to keep the weights the model has (a pretrained "
                         "part), or unfreeze those layers.")


def check_dtype(net: nn.Module, who: str, data_dtype: torch.dtype = torch.float32) -> None:
    """The model's floating-point weights must be ``data_dtype`` (the loaders' float32)."""
    dtypes = sorted({str(p.dtype) for p in net.parameters() if p.is_floating_point()}
                    - {str(data_dtype)})
    if dtypes:
        raise TypeError(f"the model's parameters are {', '.join(dtypes)}, but {who} feeds it "
                        f"{str(data_dtype).replace('torch.', '')} images: call net.float() "
                        "first (for bf16 speed use mixed_precision=True in train_ch6, which "
                        "keeps float32 weights).")


def _first_batch(data: Iterable):
    """One batch of a data set that can be iterated again, read without touching any
    random state (a DataLoader draws its seed from PyTorch's, which the init uses next);
    None for a one-shot iterator, whose batch would be lost."""
    if isinstance(data, Iterator):
        return None
    with torch.random.fork_rng(devices=[]):
        for batch in data:
            return batch
    return None


def check_output_width(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                       num_classes: int | None) -> None:
    """The model must return one score per class: (batch, num_classes)."""
    device = next(net.parameters()).device
    with torch.no_grad():
        was_training = net.training
        net.eval()
        try:
            out = net(X[:2].to(device))
        finally:
            net.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"the model returns shape {tuple(out.shape)}, but a classifier must "
                         "return (batch, num_classes) scores; add nn.Flatten() before the last "
                         "Linear layer.")
    need = num_classes if num_classes is not None else int(y.max()) + 1
    if (num_classes is not None and out.shape[1] != need) or out.shape[1] < need:
        raise ValueError(f"the model's last layer has {out.shape[1]} outputs but the data has "
                         f"{need} classes; make the last layer nn.Linear(..., {need}).")
