"""Training and evaluation: ``accuracy``, ``evaluate_accuracy_gpu``, ``train_ch6``.

Same names, positional signatures and closing lines as d2l, so d2l code runs
unchanged, plus what a learner needs and d2l lacks:

* the per-epoch history is returned (and kept when you press Ctrl-C);
* metrics are summed on the device: no host/device sync per batch;
* examples/sec counts the whole epoch you wait for -- data, training and the
  test pass -- not only the time between batches;
* clear errors for a model whose output does not match the classes, a loss
  that turns NaN/inf, and a GPU that runs out of memory;
* bf16 autocast on CUDA, channels-last memory format on CUDA and the CPU, and on
  machines with at most two logical CPUs a thread count that follows the machine's
  load (see ``train_ch6``);
* on CUDA, the whole training step recorded once as a CUDA graph and replayed per
  batch (``cnncourse.step``); ``torch.compile`` on request;
* the reported test accuracy is exactly what ``evaluate_accuracy_gpu`` returns
  afterwards (the same function, in float32);
* a progress bar within epochs that take more than a few seconds.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from .budget import budget
from .device import try_gpu
from .plot import Animator
from .progress import EpochProgress
from .step import GraphedTrainStep, TrainStep, graph_capturable

__all__ = [
    "DivergenceError",
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
    """What ``train_ch6`` measured, one entry per finished epoch."""

    device: str = "cpu"
    budget: str = ""
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
    cpu_thread_changes: int = 0    # times the CPU thread count followed a change of load
    cpu_threads: list[int] = field(default_factory=list)  # PyTorch threads at each epoch's end

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def examples_per_sec(self) -> float:
        """Training examples per wall-clock second over whole epochs (data + eval included)."""
        total = sum(self.epoch_seconds)
        return self.num_train_examples * self.epochs / total if total > 0 else float("nan")

    def summary(self) -> str:
        """d2l's two closing lines."""
        if not self.epochs:
            return "no epoch finished"
        return (f"loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}, "
                f"test acc {self.test_acc[-1]:.3f}\n"
                f"{self.examples_per_sec:.1f} examples/sec on {self.device}")


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions (a tensor on y's device: no host sync)."""
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.type(y.dtype) == y).sum()


def _move_loader(data_iter: Iterable, device: torch.device) -> None:
    # A TensorLoader can move its whole data set once; other iterables are left alone.
    to = getattr(data_iter, "to", None)
    if callable(to) and hasattr(data_iter, "images"):
        to(device)


def _model_device(net: nn.Module) -> torch.device:
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def evaluate_accuracy_gpu(net: nn.Module, data_iter: Iterable, device=None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (d2l-compatible; one host sync at the end).

    On the CPU it caps PyTorch's threads as ``train_ch6`` does (see ``cpu_threads`` there).
    """
    if isinstance(net, nn.Module):
        net.eval()
        if device is None:
            device = _model_device(net)
    device = torch.device(device) if device is not None else torch.device("cpu")
    _move_loader(data_iter, device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    with torch.no_grad(), limit_cpu_threads(device):
        for X, y in data_iter:
            if isinstance(X, list):
                X = [x.to(device) for x in X]
            else:
                X = X.to(device)
            y = y.to(device)
            correct += accuracy(net(X), y)
            total += y.numel()
    return correct.item() / max(total, 1)


def evaluate_loss(net: nn.Module, data_iter: Iterable, loss: Callable, device=None) -> float:
    """Mean loss of ``net`` over ``data_iter`` (loss must reduce by mean)."""
    net.eval()
    device = torch.device(device) if device is not None else _model_device(net)
    _move_loader(data_iter, device)
    total, n = torch.zeros((), device=device), 0
    with torch.no_grad(), limit_cpu_threads(device):
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            total += loss(net(X), y) * y.numel()
            n += y.numel()
    return total.item() / max(n, 1)


def init_weights(m: nn.Module, kind: str = "xavier") -> None:
    """Xavier-uniform (or Kaiming) init of Linear/Conv2d weights, as d2l's train_ch6 does."""
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        if kind == "xavier":
            nn.init.xavier_uniform_(m.weight)
        elif kind == "kaiming":
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        else:
            raise ValueError(f"unknown init {kind!r}; use 'xavier', 'kaiming' or None")


def _make_optimizer(optimizer, net: nn.Module, lr: float,
                    capturable: bool = False) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(net.parameters(), lr=lr)
    name = (optimizer or "sgd").lower()
    if name == "sgd":
        return torch.optim.SGD(net.parameters(), lr=lr)
    if name == "adam":  # capturable: Adam keeps its step count on the GPU, as a graph needs
        return torch.optim.Adam(net.parameters(), lr=lr, capturable=capturable)
    raise ValueError(f"unknown optimizer {optimizer!r}; use 'sgd', 'adam', an Optimizer "
                     "or a function (params, lr) -> Optimizer")


def _check_output_width(net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                        num_classes: int | None) -> None:
    with torch.no_grad():
        was_training = net.training
        net.eval()
        out = net(X[:2])
        net.train(was_training)
    if out.ndim != 2:
        raise ValueError(f"the model returns shape {tuple(out.shape)}, but a classifier must "
                         "return (batch, num_classes) scores; add nn.Flatten() before the last "
                         "Linear layer.")
    need = num_classes if num_classes is not None else int(y.max()) + 1
    if (num_classes is not None and out.shape[1] != need) or out.shape[1] < need:
        raise ValueError(f"the model's last layer has {out.shape[1]} outputs but the data has "
                         f"{need} classes; make the last layer nn.Linear(..., {need}).")


_QUIET_BELOW = 0.3  # CPUs kept busy by other processes below which a second thread pays


def _cpu_reading() -> tuple[int, int, float] | None:
    """Total and idle ticks of all CPUs (``/proc/stat``, Linux) and this process's CPU seconds."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle, sum(os.times()[:2])
    except (OSError, ValueError, IndexError):
        return None


def _busy_between(before, after) -> float | None:
    """CPUs that other processes kept busy between two ``_cpu_reading``s, else None."""
    if before is None or after is None:
        return None
    ticks = after[0] - before[0]
    if ticks <= 0:
        return None
    own = (after[2] - before[2]) * os.sysconf("SC_CLK_TCK")
    busy = ticks - (after[1] - before[1]) - own
    return max(busy, 0) / (ticks / (os.cpu_count() or 1))


def _busy_cpus_elsewhere(interval: float = 0.05) -> float | None:
    """How many CPUs other processes keep busy right now (Linux ``/proc/stat``), else None."""
    before = _cpu_reading()
    time.sleep(interval)
    return _busy_between(before, _cpu_reading())


def _default_cpu_threads() -> int | None:
    # On a machine with two logical CPUs or fewer (Colab's CPU runtime is one core with two
    # hyper-threads; CI boxes are often shared), PyTorch's two OpenMP threads spin-wait for
    # each other whenever another process is busy: measured on a shared 2-core box, one LeNet
    # batch took 17 ms of CPU with 1 thread and 168 ms with 2. On the same box when idle,
    # 2 threads make an epoch ~1.9x faster. So: look at the load once, and use 2 threads
    # only when the second CPU is really free. Larger machines keep PyTorch's own setting.
    if (os.cpu_count() or 1) > 2:
        return None
    now = time.monotonic()
    if now - _THREAD_CHOICE[0] > 10.0:  # look again at most every 10 s (a look costs 50 ms)
        busy = _busy_cpus_elsewhere()
        _THREAD_CHOICE[:] = [now, None if busy is not None and busy < _QUIET_BELOW else 1]
    return _THREAD_CHOICE[1]


_THREAD_CHOICE: list = [float("-inf"), None]  # [when decided, threads]


@contextlib.contextmanager
def limit_cpu_threads(device, cpu_threads: int | None = None):
    """Within the block, use the CPU thread count ``train_ch6`` would use; restore it after.

    For hand-written training loops: on a machine with two logical CPUs or fewer, a
    second PyTorch thread only helps when no other process keeps a CPU busy.
    """
    device = torch.device(device)
    before = torch.get_num_threads()
    target = None
    if device.type == "cpu":
        cap = _default_cpu_threads()
        target = cpu_threads if cpu_threads is not None else (
            None if cap is None else min(cap, before))
    if target is not None and target != before:
        torch.set_num_threads(target)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class _ThreadGovernor:
    """Re-decide the CPU thread count while ``train_ch6`` runs, as the load changes.

    Every ``interval`` seconds it compares ``/proc/stat`` with its last reading
    (no sleeping: the window is the training itself), subtracts this process's own
    CPU time, and uses two threads only while other processes kept less than
    ``threshold`` of a CPU busy, else one. Only on machines with two logical CPUs
    or fewer, and only when the caller did not fix ``cpu_threads``.
    """

    _read = staticmethod(_cpu_reading)  # tests replace it

    def __init__(self, most: int, interval: float = 1.0,
                 threshold: float = _QUIET_BELOW) -> None:
        self.most, self.interval, self.threshold = most, interval, threshold
        self.changes = 0
        self._last = self._read()
        self._t = time.monotonic()

    def check(self) -> None:
        """Cheap unless ``interval`` has passed; then maybe change the thread count."""
        now = time.monotonic()
        if now - self._t < self.interval:
            return
        reading = self._read()
        busy = _busy_between(self._last, reading)
        self._last, self._t = reading, now
        if busy is None:
            return
        threads = self.most if busy < self.threshold else 1
        _THREAD_CHOICE[:] = [now, None if threads == self.most else 1]
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            self.changes += 1


def _oom_message(err: Exception, batch_size: int | None) -> str:
    return (f"the GPU ran out of memory ({str(err).splitlines()[0]}). Try a smaller batch size"
            f"{f' than {batch_size}' if batch_size else ''}, a smaller resize, or "
            "mixed_precision=True; restart the kernel if memory stays taken.")


_GRAPH_CHOICES = (True, False, "auto")


def _use_cuda_graph(cuda_graph: bool | str, device: torch.device,
                    optimizer: torch.optim.Optimizer) -> bool:
    """Whether to record the step: only on CUDA, only with a capturable optimizer.

    ``'auto'`` falls back to eager steps silently (a chapter must not print warnings);
    an explicit ``True`` that cannot be honoured on CUDA says why.
    """
    if cuda_graph is False or device.type != "cuda":
        return False
    if graph_capturable(optimizer):
        return True
    if cuda_graph is True:
        warnings.warn("cuda_graph=True needs an optimizer created with capturable=True "
                      "(e.g. torch.optim.Adam(params, lr, capturable=True)); training "
                      "without a CUDA graph.", RuntimeWarning, stacklevel=3)
    return False


def _compile(net: nn.Module) -> tuple[nn.Module | None, str | None]:
    """``torch.compile(net)``, or (None, why not) where this PyTorch cannot."""
    try:
        return torch.compile(net), None
    except Exception as err:  # noqa: BLE001 -- e.g. a Python version torch.compile lacks
        return None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def _is_compile_error(err: Exception) -> bool:
    try:
        from torch._dynamo.exc import TorchDynamoException
    except ImportError:  # pragma: no cover -- very old PyTorch
        return False
    return isinstance(err, TorchDynamoException)


def train_ch6(net: nn.Module, train_iter: Iterable, test_iter: Iterable, num_epochs: int,
              lr: float, device=None, *, optimizer=None, init: str | None = "xavier",
              loss: nn.Module | None = None, mixed_precision: bool | None = None,
              channels_last: bool | None = None, cuda_graph: bool | str = "auto",
              compile: bool = False, animate: bool = True, verbose: bool = True,
              progress: bool | float = True,
              cpu_threads: int | None = None) -> TrainHistory:
    """Train a classifier and report d2l's closing lines; returns a ``TrainHistory``.

    ``net, train_iter, test_iter, num_epochs, lr, device`` mean what they mean
    in d2l (defaults too: Xavier-uniform init, SGD, cross-entropy). Extras:
    ``optimizer`` ('sgd', 'adam', an Optimizer or a factory), ``init`` (None
    keeps PyTorch's default init), ``loss``, ``mixed_precision`` (bf16 autocast:
    default on for CUDA; off on the CPU, where ``True`` turns it on -- it pays on CPUs
    with native bf16 instructions, such as AVX512-BF16 or AMX), ``channels_last``
    (default on for CUDA and the CPU; the trained model keeps that memory format),
    ``cuda_graph`` (on CUDA, record the training step as a CUDA graph after three
    warm-up steps and replay it, see ``cnncourse.step``; ``'auto'``, the default, does
    so whenever the optimizer allows it and otherwise trains eagerly without a word,
    ``True`` warns when it cannot), ``compile`` (``torch.compile`` the model for
    training; off by default because compiling takes seconds to a minute and, measured
    on an H100, never paid that back within a course-sized run; the compile time is
    part of the first epoch's time), ``progress`` (a bar within epochs predicted to
    take more than 5 s, or more than the number given; ``False``: none).
    The test accuracy of every epoch is ``evaluate_accuracy_gpu(net, test_iter)``,
    in float32 even when training uses autocast. On the
    CPU, ``cpu_threads`` fixes PyTorch's threads while training (restored after);
    by default, on machines with at most two logical CPUs, two threads while no
    other process keeps a CPU busy and one otherwise, re-decided every second,
    else PyTorch's own setting.
    """
    device = torch.device(device) if device is not None else try_gpu()
    if cpu_threads is not None and cpu_threads < 1:
        raise ValueError(f"cpu_threads must be at least 1, not {cpu_threads}")
    if not any(cuda_graph is c for c in _GRAPH_CHOICES):
        raise ValueError(f"cuda_graph must be True, False or 'auto', not {cuda_graph!r}")
    on_cuda = device.type == "cuda"
    # bf16 autocast: on by default on CUDA. On the CPU only on request: with native bf16
    # (AVX512-BF16 here) a d2l LeNet run took 17 s instead of 21 s and an AlexNet-224
    # step 14.5 ms instead of 20 ms per image, at the same accuracy (0.7971 vs 0.7968),
    # but CPUs without bf16 instructions emulate it slowly.
    mixed_precision = (on_cuda if mixed_precision is None
                       else bool(mixed_precision) and device.type in ("cuda", "cpu"))
    # channels-last also pays on the CPU (oneDNN convolutions and pooling skip layout
    # reorders): one d2l LeNet epoch took 3.8 s of CPU instead of 6.6 s here.
    channels_last = device.type in ("cuda", "cpu") if channels_last is None else channels_last
    if init is not None:
        net.apply(lambda m: init_weights(m, init))
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    # A CUDA graph replays LeNet's step about 5x faster than launching its ~100 kernels
    # one by one (H100: 0.41 ms instead of 2.31 ms per batch), at the same accuracy.
    opt = _make_optimizer(optimizer, net, lr, capturable=cuda_graph is not False and on_cuda)
    use_graph = _use_cuda_graph(cuda_graph, device, opt)
    loss_fn = loss if loss is not None else nn.CrossEntropyLoss()
    train_net = net
    if compile:
        train_net, why = _compile(net)
        if train_net is None:
            warnings.warn(f"compile=True, but torch.compile is not available here ({why}); "
                          "training without it.", RuntimeWarning, stacklevel=2)
            train_net = net
    if use_graph:
        step = GraphedTrainStep(train_net, loss_fn, opt, device, accuracy, mixed_precision,
                                warn_on_failure=cuda_graph is True)
    else:
        step = TrainStep(train_net, loss_fn, opt, device, accuracy, mixed_precision)
    compiling = train_net is not net
    _move_loader(train_iter, device)
    _move_loader(test_iter, device)
    num_classes = getattr(train_iter, "num_classes", None)

    hist = TrainHistory(device=str(device), budget=str(budget()))
    if verbose:
        print(f"training on {device} (budget: {hist.budget})")
    animator = Animator(xlabel="epoch", xlim=[1, num_epochs],
                        legend=["train loss", "train acc", "test acc"]) if animate else None
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)
    num_batches = len(train_iter) if hasattr(train_iter, "__len__") else None
    bar = None
    if verbose and progress is not False:
        limit = 5.0 if progress is True else float(progress)
        bar = EpochProgress(num_epochs, num_batches, min_seconds=limit,
                            look_after=min(1.0, limit / 5))
    checked = False
    batch_size = getattr(train_iter, "batch_size", None)
    most_threads = torch.get_num_threads()
    thread_cap = limit_cpu_threads(device, cpu_threads)
    thread_cap.__enter__()
    governor = None  # small machines: follow the load while training (see _ThreadGovernor)
    if (device.type == "cpu" and cpu_threads is None and most_threads > 1
            and (os.cpu_count() or 1) <= 2):
        governor = _ThreadGovernor(most=most_threads)
    try:
        for epoch in range(num_epochs):
            t0 = time.perf_counter()
            step.reset()  # loss sum and correct count stay on the device until read
            net.train()
            if bar is not None:
                bar.start(epoch)
            for i, (X, y) in enumerate(train_iter):
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if channels_last and X.ndim == 4:
                    X = X.contiguous(memory_format=torch.channels_last)
                if not checked:
                    _check_output_width(net, X, y, num_classes)
                    checked = True
                if compiling:
                    hist.compile_seconds = _first_compiled_step(step, net, X, y, device)
                    hist.compiled = step.net is not net
                    compiling = False
                else:
                    step(X, y)
                if governor is not None:
                    governor.check()
                if bar is not None:
                    bar.update(X.shape[0])
                if animator is not None and num_batches and (
                        (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1):
                    n = step.count
                    animator.add(epoch + (i + 1) / num_batches,
                                 (float(step.loss_sum) / n, float(step.correct) / n, None))
            n = step.count
            train_l, train_acc = float(step.loss_sum) / n, float(step.correct) / n
            if bar is not None:
                bar.end()
            if not math.isfinite(train_l):
                raise DivergenceError(
                    f"the training loss became {train_l} in epoch {epoch + 1} (lr={lr:g}). "
                    f"The steps are too large: try a smaller lr, e.g. {lr / 10:g}, or check "
                    "the inputs for NaN.", hist)
            # Exactly what a learner's own evaluate_accuracy_gpu(net, test_iter) returns:
            # float32, no autocast (bf16 logits can flip near-ties and shift the last digit).
            test_acc = evaluate_accuracy_gpu(net, test_iter, device)
            if on_cuda:
                torch.cuda.synchronize(device)
            hist.train_loss.append(train_l)
            hist.train_acc.append(train_acc)
            hist.test_acc.append(test_acc)
            hist.epoch_seconds.append(time.perf_counter() - t0)
            hist.num_train_examples = int(n)
            hist.cpu_threads.append(torch.get_num_threads())
            if animator is not None:
                animator.add(epoch + 1, (None, None, test_acc))
            if verbose and (animator is None or not animator.live):
                print(f"epoch {epoch + 1}: loss {train_l:.3f}, train acc {train_acc:.3f}, "
                      f"test acc {test_acc:.3f}")
    except KeyboardInterrupt:
        hist.interrupted = True
        if verbose:
            print(f"interrupted: returning the {hist.epochs} finished epoch(s)")
    except torch.cuda.OutOfMemoryError as err:
        raise RuntimeError(_oom_message(err, batch_size)) from err
    finally:
        hist.cuda_graph_replays = getattr(step, "replays", 0)
        hist.cuda_graph_failed = getattr(step, "failed", None)
        if governor is not None:
            hist.cpu_thread_changes = governor.changes
        thread_cap.__exit__(None, None, None)
        if bar is not None:
            bar.close()
        if animator is not None:
            animator.close()
    if on_cuda:
        hist.peak_memory_bytes = torch.cuda.max_memory_allocated(device)
    if verbose and hist.epochs:
        print(hist.summary())
    return hist


def _first_compiled_step(step: TrainStep, net: nn.Module, X: torch.Tensor, y: torch.Tensor,
                         device: torch.device) -> float:
    """Run the first step, which compiles; on a compiler failure, go on with ``net`` itself.

    A failure happens while compiling the forward pass, before the loss, the backward
    pass or the optimiser ran, so the batch is simply trained again, eagerly.
    Returns the seconds the step took (compile time included).
    """
    t = time.perf_counter()
    try:
        step(X, y)
    except Exception as err:  # noqa: BLE001
        if not _is_compile_error(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        warnings.warn(f"compile=True, but torch.compile failed ({type(err).__name__}: "
                      f"{first[:200]}); training without it. On a CPU torch.compile needs a "
                      "working C++ compiler.", RuntimeWarning, stacklevel=3)
        step.net = net
        step(X, y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t
