"""d2l's training loop, ``train_ch6``, and what it returns, ``TrainHistory``.

Same names, positional signature, defaults and closing lines as d2l, so d2l code runs
unchanged. The loop is d2l's and reads as such: device, ``net.to``, optimiser, loss, the
epoch and batch loops, the evaluation and the record are lines of ``train_ch6`` itself.
The rest lives in one module per job:

* ``cnncourse.plan``: which speed-ups this device gets (bf16 autocast, channels-last, a
  CUDA graph, ``torch.compile``, CPU threads), decided once and kept in ``history.plan``;
* ``cnncourse.step``: ``speed_up``, the one line that swaps the plain step for a fast one
  that trains the same way;
* ``cnncourse.evaluate``: ``accuracy``, ``evaluate_accuracy_gpu``, ``evaluate_loss``
  (also importable from here, as before);
* ``cnncourse.progress``: the curves, the progress bar and the printed lines;
* ``cnncourse.checks``: clear errors for bad input, before the model is touched;
* ``cnncourse.distributed``: under ``torchrun``, this rank's share of the data (``shard``),
  the model in ``DistributedDataParallel`` (``wrap_ddp``) and the epoch's sums over all
  ranks; on one process each of those lines changes nothing;
* ``cnncourse.checkpoint``: ``checkpoint=PATH`` saves every epoch and resumes from the file.

What a learner gets beyond d2l: the per-epoch history, returned (and kept when you press
Ctrl-C, or attached to the error when the loss diverges); examples/sec over the whole
epoch you wait for (data and test pass included); errors that say what to change.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .budget import budget
from .checkpoint import resume, save_checkpoint
from .checks import check_arguments, optimizer_lrs
from .distributed import (DistributedError, describe_lost_rank, is_lost_rank, local_device,
                          max_over_ranks, set_epoch, shard, sum_over_ranks, wrap_ddp)
from .evaluate import accuracy, evaluate_accuracy_gpu, evaluate_loss, move_loader
from .plan import RunPlan, limit_cpu_threads, make_optimizer
from .progress import TrainingDisplay
from .step import speed_up
from .timing import Accumulator, Timer

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

    def __init__(self, message: str, history: TrainHistory) -> None:
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
        """Record one finished epoch (and, on CUDA, the peak GPU memory so far)."""
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.test_acc.append(test_acc)
        self.epoch_seconds.append(max_over_ranks(seconds))  # the slowest rank's, on every rank
        self.num_train_examples = int(num_train_examples)
        if self.device.startswith("cuda"):
            self.peak_memory_bytes = torch.cuda.max_memory_allocated(self.device)

    def epoch_means(self, metric: Accumulator, epoch: int,
                    optimizer: torch.optim.Optimizer) -> tuple[float, float]:
        """Mean loss and accuracy of an epoch's sums (loss, correct, examples), checked.

        Reads the device once. An epoch without a batch, or a loss that became NaN, stops
        training with advice (and this history).
        """
        if metric[2] == 0:
            raise ValueError("no training batch in this epoch: the training data iterator "
                             "yielded nothing (a one-shot iterable is empty the second time)")
        train_loss = float(metric[0]) / metric[2]
        self.check_finite(train_loss, epoch, optimizer)
        return train_loss, float(metric[1]) / metric[2]

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
              lr: float | None, device=None, *, optimizer=None, init: str | None = "xavier",
              loss: Callable | None = None, animate: bool = True, verbose: bool = True,
              progress: bool | float = True, checkpoint: str | os.PathLike | None = None,
              **speed) -> TrainHistory:
    """Train a classifier, print d2l's closing lines and return a ``TrainHistory``.

    The six positional arguments and the defaults (Xavier-uniform init, SGD, cross-entropy
    loss) are d2l's. ``optimizer`` ('sgd', 'adam', a function (params, lr), or an Optimizer
    already made, whose own lr must be ``lr``, or pass lr=None), ``init`` ('kaiming', or
    None to keep the weights) and ``loss`` replace them; ``animate`` (curves), ``verbose``
    (any output) and ``progress`` (a bar in epochs longer than 5 s, or than the seconds
    given) choose what is shown. ``speed`` takes ``mixed_precision``, ``channels_last``,
    ``cuda_graph``, ``compile`` and ``cpu_threads``: see ``RunPlan``. ``checkpoint``: a file
    saved every epoch and resumed from. Under ``torchrun``, rank 0 alone prints.
    """
    device = torch.device(device) if device is not None else local_device()  # d2l's try_gpu()
    check_arguments(net, train_iter, test_iter, num_epochs, lr, optimizer, init,  # all first
                    loss=loss, device=device)
    plan = RunPlan.decide(device, **speed)  # which speed-ups this device gets
    history = TrainHistory(device=str(device), budget=str(budget()), plan=plan)
    train_iter = shard(train_iter)  # this rank's share of every batch (all of it on one process)
    view = TrainingDisplay(num_epochs, train_iter, animate, verbose, progress)
    with _kept(history, view):  # Ctrl-C returns the epochs so far; an error carries them
        if init is not None:
            net.apply(lambda m: init_weights(m, init))
        net.to(device)
        move_loader(train_iter, device)  # a TensorLoader moves its whole data set once
        net = wrap_ddp(net, device, plan)  # under torchrun: gradients averaged over the ranks
        optimizer = make_optimizer(optimizer, net, lr, capturable=plan.cuda_graph)
        history, start = resume(checkpoint, net, optimizer, history, train_iter, num_epochs,
                                verbose)  # the finished epochs of a checkpoint, if there is one
        loss = nn.CrossEntropyLoss() if loss is None else loss

        def train_step(X, y):
            optimizer.zero_grad()
            y_hat = net(X)
            batch_loss = loss(y_hat, y)
            batch_loss.backward()
            optimizer.step()
            return batch_loss, y_hat

        # the same step, made fast for this device (channels-last, autocast, CUDA graph)
        step = speed_up(train_step, net, loss, optimizer, plan, history)
        timer = Timer()
        for epoch in range(start, num_epochs):
            timer.start()
            set_epoch(train_iter, epoch)  # a sharded loader's order for this epoch
            net.train()
            metric = Accumulator(3)  # sums of loss, correct predictions, examples
            view.epoch_start(epoch)
            for X, y in train_iter:
                X, y = X.to(device), y.to(device)
                batch_loss, y_hat = step(X, y)
                with torch.no_grad():  # the sums stay on the device: no wait per batch
                    metric.add(batch_loss * X.shape[0], accuracy(y_hat, y), X.shape[0])
                view.batch(X.shape[0], metric)
            metric = sum_over_ranks(metric)  # the whole epoch's sums, on every rank
            train_loss, train_acc = history.epoch_means(metric, epoch, optimizer)
            test_acc = evaluate_accuracy_gpu(net, test_iter, device)
            history.add_epoch(train_loss, train_acc, test_acc, timer.stop(), metric[2])
            view.epoch_end(history)
            if checkpoint is not None:
                save_checkpoint(checkpoint, net, optimizer, history, epoch + 1, train_iter)
    return history


@contextlib.contextmanager
def _kept(history: TrainHistory, view: TrainingDisplay):
    """Around ``train_ch6``'s loop: nothing lost, the threads chosen, the closing lines.

    Ctrl-C ends the run and ``train_ch6`` returns the finished epochs; any other error
    leaves with them in ``err.history``; a CUDA out-of-memory error becomes advice. The
    plan's CPU threads hold inside and are restored after; the GPU's peak memory is
    counted from here.
    """
    plan = history.plan
    device = torch.device(plan.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    view.start(history)
    try:
        with limit_cpu_threads(device, plan.cpu_threads):
            yield
    except KeyboardInterrupt:
        history.interrupted = True
        view.interrupted(history)
    except torch.cuda.OutOfMemoryError as err:
        raise _with_history(RuntimeError(_oom_message(err, view.batch_size)), history) from err
    except Exception as err:
        if is_lost_rank(err):  # another rank died: say so, and how to restart
            raise _with_history(DistributedError(describe_lost_rank(err)), history) from err
        _with_history(err, history)  # the same exception, now carrying the epochs so far
        raise
    finally:
        view.close()
    view.summary(history)


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
