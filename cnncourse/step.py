"""One optimisation step of ``train_ch6``: run eagerly, or replayed from a CUDA graph.

Why a CUDA graph: one training step of a small network such as LeNet is about a
hundred tiny GPU kernels (forward, backward, optimiser, metrics). Launched one by
one from Python, each costs a few microseconds of CPU time, more than the GPU
needs to run it, so the GPU mostly waits. A CUDA graph records the step's kernels
once and replays them all with a single launch.

A graph replays fixed memory: the step reads its batch from ``static_X`` and
``static_y`` (each new batch is copied in) and adds its loss and accuracy sums to
tensors that live as long as the graph. Batches of another shape (the smaller
last batch of an epoch) take the eager path, on the same weights and optimiser.

Both classes keep the running sums on the device, so nothing waits for the GPU
until someone reads ``loss_sum`` or ``correct``.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from typing import Callable

import torch
from torch import nn

__all__ = ["GraphedTrainStep", "TrainStep", "graph_capturable"]


class TrainStep:
    """Forward, loss, backward and optimiser step on one batch; sums kept on the device.

    ``step(X, y)`` trains on one batch. ``loss_sum`` (sum of loss x batch size),
    ``correct`` (device tensors) and ``count`` (a Python int) hold the totals since
    the last ``reset()``; ``means()`` reads them. ``accuracy(y_hat, y)`` counts the
    correct predictions of a batch as a device tensor (``cnncourse.accuracy``).

    Two things happen on the first batch only: ``check(X, y)``, if set, may reject the
    model before anything trains; and where ``net`` is a ``torch.compile``d model and
    ``uncompiled`` the model itself, the step is timed (``compile_seconds``) and a
    compiler failure trains on with ``uncompiled`` (``compiled`` says which one ran).
    """

    def __init__(self, net: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                 device: torch.device, accuracy: Callable, mixed_precision: bool = False) -> None:
        self.net, self.loss_fn, self.optimizer = net, loss_fn, optimizer
        self.accuracy = accuracy
        self.device = torch.device(device)
        self.mixed_precision = mixed_precision
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)
        self.correct = torch.zeros((), dtype=torch.long, device=self.device)
        self.count = 0
        self.check: Callable[[torch.Tensor, torch.Tensor], None] | None = None
        self.uncompiled: nn.Module | None = None
        self.compile_seconds: float | None = None
        self._first = True

    # autocast's cache of bf16 weight copies; a graph must not use it (see GraphedTrainStep)
    autocast_cache = True

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.mixed_precision, cache_enabled=self.autocast_cache)

    def train_batch(self, X: torch.Tensor, y: torch.Tensor, set_to_none: bool = True) -> None:
        """Forward, loss, backward, optimiser step; then add loss and hits to the sums."""
        self.optimizer.zero_grad(set_to_none=set_to_none)
        with self._autocast():
            y_hat = self.net(X)
            loss = self.loss_fn(y_hat, y)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.loss_sum.add_(loss.detach() * X.shape[0])
            self.correct.add_(self.accuracy(y_hat, y))

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        if self._first:
            return self._first_batch(X, y)
        self.train_batch(X, y)
        self.count += X.shape[0]

    def reset(self) -> None:
        """Zero the sums in place (a graph keeps adding to the same tensors)."""
        self.loss_sum.zero_()
        self.correct.zero_()
        self.count = 0

    def means(self) -> tuple[float, float]:
        """Mean loss and accuracy since the last ``reset()`` (reads the device once)."""
        if self.count == 0:
            raise ValueError("no training batch since the last reset: the training data "
                             "iterator yielded nothing in this epoch")
        return float(self.loss_sum) / self.count, float(self.correct) / self.count

    @property
    def compiled(self) -> bool:
        """Whether training ran through ``torch.compile`` (it was asked for, and it worked)."""
        return self.uncompiled is not None and self.net is not self.uncompiled

    def _first_batch(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """The checks, then the first step: a compiling step is timed and may fall back."""
        self._first = False
        if self.check is not None:
            self.check(X, y)
        start = time.perf_counter()
        try:
            self(X, y)
        except Exception as err:  # noqa: BLE001 -- only a compiler failure is caught
            if self.uncompiled is None or not _is_compile_error(err):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            warnings.warn(f"compile=True, but torch.compile failed ({type(err).__name__}: "
                          f"{first[:200]}); training without it. On a CPU torch.compile needs "
                          "a working C++ compiler.", RuntimeWarning, stacklevel=4)
            self.net = self.uncompiled  # it failed in the forward pass: nothing was trained
            self(X, y)
        if self.uncompiled is not None:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.compile_seconds = time.perf_counter() - start


def _is_compile_error(err: Exception) -> bool:
    try:
        from torch._dynamo.exc import TorchDynamoException
    except ImportError:  # pragma: no cover -- very old PyTorch
        return False
    return isinstance(err, TorchDynamoException)


def graph_capturable(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` may be recorded in a CUDA graph.

    Optimisers with a ``capturable`` option (Adam, AdamW, ...) must have it on,
    because their step counter must live on the GPU; plain SGD has no such option
    and records as it is.
    """
    return all(group.get("capturable", True) for group in optimizer.param_groups)


class GraphedTrainStep(TrainStep):
    """A ``TrainStep`` that records itself as a CUDA graph after ``warmup`` eager steps.

    The warm-up steps are real training steps (run on a side stream, as PyTorch
    asks before a capture): they let cuDNN pick its algorithms and the optimiser
    create its state. Then the step is recorded once -- recording runs nothing --
    and every later batch of the recorded shape is copied into the static inputs and
    replayed. If recording fails (an operation that cannot be captured, such as a
    ``.item()`` in the model's forward) training goes on eagerly, no batch skipped;
    ``failed`` says why, and a warning too unless ``warn_on_failure`` is False
    (``train_ch6``'s default ``cuda_graph='auto'``: a graph is a speed-up, not a promise).
    """

    warmup = 3
    # cached casts made while recording would be freed while the graph still points at them
    autocast_cache = False

    def __init__(self, net: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                 device: torch.device, accuracy: Callable, mixed_precision: bool = False,
                 warn_on_failure: bool = True) -> None:
        super().__init__(net, loss_fn, optimizer, device, accuracy, mixed_precision)
        self.warn_on_failure = warn_on_failure
        self.static_X: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.replay: Callable[[], None] | None = None
        self.failed: str | None = None
        self.eager_steps = 0
        self.replays = 0

    # The three CUDA-specific pieces; tests replace them to check the bookkeeping on a CPU.
    def _side_stream(self):
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))

        @contextlib.contextmanager
        def ctx():
            with torch.cuda.stream(stream):
                yield
            torch.cuda.current_stream(self.device).wait_stream(stream)
        return ctx()

    def _record(self, body: Callable[[], None]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        return graph.replay

    def _capture(self, X: torch.Tensor, y: torch.Tensor) -> bool:
        self.static_X, self.static_y = X.clone(), y.clone()
        try:
            self.replay = self._record(lambda: self.train_batch(self.static_X, self.static_y))
            return True
        except Exception as err:  # noqa: BLE001 -- any failure means: train eagerly
            self.failed = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            self.replay = self.static_X = self.static_y = None
            if not self.warn_on_failure:
                return False
            warnings.warn(f"train_ch6 could not record the training step as a CUDA graph "
                          f"({self.failed}); training goes on without one "
                          "(pass cuda_graph=False to skip the attempt).", RuntimeWarning,
                          stacklevel=3)
            return False

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        if self._first:
            return self._first_batch(X, y)
        if self.failed is None and self.replay is None:
            if self.eager_steps < self.warmup:
                with self._side_stream():
                    self.train_batch(X, y)
                self.eager_steps += 1
                self.count += X.shape[0]
                return
            self._capture(X, y)  # records, runs nothing: this batch still needs its step
        if (self.replay is not None and X.shape == self.static_X.shape
                and y.shape == self.static_y.shape):
            self.static_X.copy_(X)
            self.static_y.copy_(y)
            self.replay()
            self.replays += 1
        else:
            # Another shape, or no graph. Zero the gradients in place rather than dropping
            # them: after a capture they are the graph's own tensors.
            self.train_batch(X, y, set_to_none=self.replay is None)
            self.eager_steps += 1
        self.count += X.shape[0]
