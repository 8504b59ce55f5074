"""d2l's training loop, ``train_ch6``, and what it returns, ``TrainHistory``.

Same names, positional signature, defaults and closing lines as d2l, so d2l code runs
unchanged. The loop itself stays d2l's; the rest lives in one module per job:

* ``cnncourse.plan``: how the run is made fast (bf16 autocast, channels-last, a CUDA
  graph, ``torch.compile``, CPU threads), decided once and kept in ``history.plan``;
* ``cnncourse.step``: one training step (forward, loss, backward, update), with the loss
  and accuracy summed on the device, so there is no host sync per batch;
* ``cnncourse.evaluate``: ``accuracy``, ``evaluate_accuracy_gpu``, ``evaluate_loss``
  (also importable from here, as before);
* ``cnncourse.progress``: the curves, the progress bar and the printed lines;
* ``cnncourse.checks``: clear errors for bad input.

What a learner gets beyond d2l: the per-epoch history, returned (and kept when you press
Ctrl-C, or attached to the error when the loss diverges); examples/sec over the whole
epoch you wait for (data and test pass included); errors that say what to change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from .budget import budget
from .checks import check_arguments, optimizer_lrs
from .device import try_gpu
from .evaluate import accuracy, evaluate_accuracy_gpu, evaluate_loss
from .plan import RunPlan, limit_cpu_threads
from .progress import TrainingDisplay
from .timing import Timer

__all__ = [
    "DivergenceError",
    "RunPlan",
    "TrainHistory",
    "accuracy",
    "evaluate_accuracy_gpu",
    "evaluate_loss",
    "init_weights",
    "limit_cpu_threads",
    "train_ch6",
]


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite. ``history`` holds the epochs before."""

    def __init__(self, message: str, history: "TrainHistory") -> None:
        super().__init__(message)
        self.history = history


@dataclass
class TrainHistory:
    """What ``train_ch6`` measured, one entry per finished epoch, and how it ran (``plan``)."""

    device: str = "cpu"
    budget: str = ""
    plan: RunPlan | None = None    # the speed-ups this run used (see cnncourse.plan)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    num_train_examples: int = 0
    interrupted: bool = False
    peak_memory_bytes: int | None = None
    cuda_graph_replays: int = 0    # training steps replayed from a CUDA graph
    cuda_graph_failed: str | None = None   # why recording the step failed, if it did
    compiled: bool = False         # trained through torch.compile (compile=True and it worked)
    compile_seconds: float | None = None   # the first, compiling step (compile=True)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        # One line: a d2l cell that ends with ``d2l.train_ch6(...)`` shows this under its plot.
        last = f", test acc {self.test_acc[-1]:.3f}" if self.test_acc else ""
        n = self.epochs
        return f"TrainHistory({n} epoch{'' if n == 1 else 's'} on {self.device}{last})"

    @property
    def examples_per_sec(self) -> float:
        """Training examples per wall-clock second over whole epochs (data + eval included)."""
        total = sum(self.epoch_seconds)
        return self.num_train_examples * self.epochs / total if total > 0 else float("nan")

    def add_epoch(self, train_loss: float, train_acc: float, test_acc: float, seconds: float,
                  num_train_examples: int) -> None:
        """Record one finished epoch."""
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.test_acc.append(test_acc)
        self.epoch_seconds.append(seconds)
        self.num_train_examples = num_train_examples

    def check_finite(self, train_loss: float, epoch: int,
                     optimizer: torch.optim.Optimizer) -> None:
        """A NaN or infinite loss stops training with advice (and this history).

        The advice names the rate the optimiser really used, which is ``lr`` unless
        the optimiser was made elsewhere (``optimizer=`` an Optimizer).
        """
        if train_loss != train_loss or abs(train_loss) == float("inf"):
            lr = optimizer_lrs(optimizer)[0]
            raise DivergenceError(
                f"the training loss became {train_loss} in epoch {epoch + 1} "
                f"({type(optimizer).__name__} at lr={lr:g}). The steps are too large: try a "
                f"smaller lr, e.g. {lr / 10:g}, or check the inputs for NaN.", self)

    def summary(self) -> str:
        """d2l's two closing lines."""
        if not self.epochs:
            return "no epoch finished"
        return (f"loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}, "
                f"test acc {self.test_acc[-1]:.3f}\n"
                f"{self.examples_per_sec:.1f} examples/sec on {self.device}")


def init_weights(m: nn.Module, kind: str = "xavier") -> None:
    """Xavier-uniform (or Kaiming) init of Linear/Conv2d weights, as d2l's train_ch6 does."""
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        if kind == "xavier":
            nn.init.xavier_uniform_(m.weight)
        elif kind == "kaiming":
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        else:
            raise ValueError(f"unknown init {kind!r}; use 'xavier', 'kaiming' or None")


def train_ch6(net: nn.Module, train_iter: Iterable, test_iter: Iterable, num_epochs: int,
              lr: float, device=None, *, optimizer=None, init: str | None = "xavier",
              loss: Callable | None = None, animate: bool = True, verbose: bool = True,
              progress: bool | float = True, **speed) -> TrainHistory:
    """Train a classifier, print d2l's closing lines and return a ``TrainHistory``.

    The six positional arguments and the defaults (Xavier-uniform init, SGD, cross-entropy
    loss) are d2l's. ``optimizer`` ('sgd', 'adam', an Optimizer or a function (params, lr)),
    ``init`` ('kaiming', or None to keep PyTorch's) and ``loss`` replace them; ``animate``
    (curves), ``verbose`` (any output) and ``progress`` (a bar in epochs longer than 5 s,
    or than the seconds given) choose what is shown. ``speed`` takes ``mixed_precision``,
    ``channels_last``, ``cuda_graph``, ``compile`` and ``cpu_threads``: see ``RunPlan``.
    """
    device = torch.device(device) if device is not None else try_gpu()
    check_arguments(net, train_iter, test_iter, num_epochs, lr, optimizer, init)
    plan = RunPlan.decide(device, **speed)  # how to go fast here, decided once
    history = TrainHistory(device=str(device), budget=str(budget()), plan=plan)
    view = TrainingDisplay(num_epochs, train_iter, animate, verbose, progress)
    view.start(history)
    try:
        if init is not None:
            net.apply(lambda m: init_weights(m, init))
        loss = nn.CrossEntropyLoss() if loss is None else loss
        timer = Timer()
        with plan.applied(net, loss, optimizer, lr, history) as step:
            for epoch in range(num_epochs):
                timer.start()
                net.train()
                step.reset()  # the sums of loss and correct predictions, kept on the device
                view.epoch_start(epoch)
                for X, y in plan.batches(train_iter):  # on the device, in the plan's layout
                    step(X, y)  # forward, loss, backward, optimizer step (TrainStep.train_batch)
                    view.batch(X.shape[0], step)
                train_loss, train_acc = step.means()
                history.check_finite(train_loss, epoch, step.optimizer)  # NaN: stop, keep
                # exactly what a learner's own evaluate_accuracy_gpu(net, test_iter) returns
                test_acc = evaluate_accuracy_gpu(net, test_iter, device)
                history.add_epoch(train_loss, train_acc, test_acc, timer.stop(), step.count)
                view.epoch_end(history)
    except KeyboardInterrupt:
        history.interrupted = True
        view.interrupted(history)
    except torch.cuda.OutOfMemoryError as err:
        raise _with_history(RuntimeError(_oom_message(
            err, getattr(train_iter, "batch_size", None))), history) from err
    except Exception as err:
        raise _with_history(err, history)
    finally:
        view.close()
    view.summary(history)
    return history


def _with_history(err: BaseException, history: TrainHistory) -> BaseException:
    """``err`` with ``err.history`` (the finished epochs) and a note saying how to get them.

    Nothing is lost: an error in epoch 3 still hands back epochs 1 and 2, as Ctrl-C does.
    The exception keeps its type, so ``except ValueError`` and the like work as before.
    """
    if getattr(err, "history", None) is not history:
        try:
            err.history = history
        except AttributeError:  # an exception type that takes no attributes: note only
            return err
    err.add_note(f"train_ch6 keeps the {history.epochs} finished epoch(s) in this error: "
                 "`except Exception as err: history = err.history` (in a notebook, in the next "
                 "cell: sys.last_value.history).")
    return err


def _oom_message(err: Exception, batch_size: int | None) -> str:
    return (f"the GPU ran out of memory ({str(err).splitlines()[0]}). Try a smaller batch size"
            f"{f' than {batch_size}' if batch_size else ''}, a smaller resize, or "
            "mixed_precision=True; restart the kernel if memory stays taken.")
