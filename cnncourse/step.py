"""The fast training step: the swap of ``train_ch6``'s plain step, and why each part pays.

``train_ch6`` shows d2l's step in its body (zero the gradients, forward, loss, backward,
update) and then swaps it, in one line, for ``speed_up(...)``: the same step, with the same
model, data, optimiser and loss, carried out faster. What the swap adds, as ``RunPlan``
(``cnncourse.plan``) decided for the device:

* **channels-last**: each batch (and the model) in the NHWC memory layout, which lets
  cuDNN and oneDNN skip layout reorders (one LeNet epoch on a CPU: 3.8 s instead of 6.6 s);
* **bf16 autocast** (CUDA): the forward pass and the loss in bfloat16, weights kept float32;
* **torch.compile** (on request): the model compiled on the first batch; if the compiler
  fails there, training goes on with the plain model and says why;
* **a CUDA graph** (CUDA): one training step of a small network such as LeNet is about a
  hundred tiny GPU kernels, each launched from Python for a few microseconds of CPU time,
  more than the GPU needs to run it. ``GraphedStep`` records the step's kernels once and
  replays them with a single launch per batch.

Both steps return ``(loss, y_hat)`` as device tensors, so the loop adds them to its sums
without waiting for the GPU.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["FastStep", "GraphedStep", "graph_capturable", "speed_up"]


def speed_up(train_step: Callable, net: nn.Module, loss: Callable,
             optimizer: torch.optim.Optimizer, plan, history=None) -> Callable:
    """``train_step``, or a faster step that trains exactly the same way (``plan``'s speed-ups).

    Returns ``train_step`` itself when the plan asks for nothing. ``history`` (a
    ``TrainHistory``) gets what only the run can tell: compile time, CUDA graph replays.
    """
    plan.settle_cuda_graph(optimizer, stacklevel=4)  # a graph needs a recordable optimiser
    if not (plan.channels_last or plan.mixed_precision or plan.compile or plan.cuda_graph):
        return train_step
    if plan.channels_last:
        net.to(memory_format=torch.channels_last)
    step = FastStep(net, loss, optimizer, plan.device, mixed_precision=plan.mixed_precision,
                    channels_last=plan.channels_last, compile=plan.compile, history=history)
    if plan.cuda_graph:
        return GraphedStep(step, warn_on_failure=plan.graph_required, history=history)
    return step


class FastStep:
    """The plain step's five lines, with channels-last, bf16 autocast and ``torch.compile``.

    ``step(X, y)`` trains on one batch and returns ``(loss, y_hat)``. With ``compile``,
    the first batch compiles the model (timed: ``compile_seconds``); a compiler failure
    there trains on with the model itself (``compiled`` says which one ran).
    """

    def __init__(self, net: nn.Module, loss: Callable, optimizer: torch.optim.Optimizer,
                 device, mixed_precision: bool = False, channels_last: bool = False,
                 compile: bool = False, history=None) -> None:
        self.net, self.loss, self.optimizer = net, loss, optimizer
        self.device = torch.device(device)
        self.mixed_precision, self.channels_last = mixed_precision, channels_last
        self.history = history
        self.model = _compiled(net) if compile else net  # what trains: compiled, or net
        self.compile_seconds: float | None = None
        self._first = compile

    # autocast's cache of bf16 weight copies; a graph must not use it (see GraphedStep)
    autocast_cache = True

    def layout(self, X: torch.Tensor) -> torch.Tensor:
        """``X`` in the step's memory layout (a no-op when it already is)."""
        if self.channels_last and X.ndim == 4:
            return X.contiguous(memory_format=torch.channels_last)
        return X

    def train_batch(self, X: torch.Tensor, y: torch.Tensor, set_to_none: bool = True):
        """The plain step, line for line; only the forward pass and the loss are autocast."""
        self.optimizer.zero_grad(set_to_none=set_to_none)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.mixed_precision, cache_enabled=self.autocast_cache):
            y_hat = self.model(self.layout(X))
            loss = self.loss(y_hat, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), y_hat.detach()

    def __call__(self, X: torch.Tensor, y: torch.Tensor, set_to_none: bool = True):
        if self._first:
            return self._compile_on(X, y)
        return self.train_batch(X, y, set_to_none)

    @property
    def compiled(self) -> bool:
        """Whether training runs through ``torch.compile`` (asked for, and it worked)."""
        return self.model is not self.net

    def _compile_on(self, X: torch.Tensor, y: torch.Tensor):
        """The first, compiling step: timed; a compiler failure trains on without it."""
        self._first = False
        start = time.perf_counter()
        try:
            out = self.train_batch(X, y)
        except Exception as err:  # noqa: BLE001 -- only a compiler failure is caught
            if not _is_compile_error(err):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            warnings.warn(f"compile=True, but torch.compile failed ({type(err).__name__}: "
                          f"{first[:200]}); training without it. On a CPU torch.compile needs "
                          "a working C++ compiler.", RuntimeWarning, stacklevel=3)
            self.model = self.net  # it failed in the forward pass: nothing was trained
            out = self.train_batch(X, y)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.compile_seconds = time.perf_counter() - start
        if self.history is not None:
            self.history.compiled, self.history.compile_seconds = (self.compiled,
                                                                   self.compile_seconds)
        return out


def _compiled(net: nn.Module) -> nn.Module:
    """``torch.compile(net)``, or ``net`` itself (with a warning) where this PyTorch cannot."""
    try:
        return torch.compile(net)
    except Exception as err:  # noqa: BLE001 -- e.g. a Python version torch.compile lacks
        why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        warnings.warn(f"compile=True, but torch.compile is not available here ({why}); "
                      "training without it.", RuntimeWarning, stacklevel=5)
        return net


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


class GraphedStep:
    """A ``FastStep`` recorded as a CUDA graph after ``warmup`` eager steps, then replayed.

    The warm-up steps are real training steps (run on a side stream, as PyTorch asks
    before a capture): they let cuDNN pick its algorithms and the optimiser create its
    state. Then the step is recorded once -- recording runs nothing -- and every later
    batch of the recorded shape is copied into the static inputs ``static_X``/``static_y``
    and replayed; the replay writes the same output tensors each time, which the loop reads
    before the next batch. Batches of another shape (the smaller last batch of an epoch)
    take the eager step, on the same weights and optimiser. If recording fails (an
    operation that cannot be captured, such as a ``.item()`` in the model's forward)
    training goes on eagerly, no batch skipped; ``failed`` says why, and a warning too
    unless ``warn_on_failure`` is False (``cuda_graph='auto'``: a speed-up, not a promise).
    """

    warmup = 3

    def __init__(self, step: FastStep, warn_on_failure: bool = True, history=None) -> None:
        self.step = step
        # cached casts made while recording would be freed while the graph still points at them
        step.autocast_cache = False
        self.warn_on_failure, self.history = warn_on_failure, history
        self.static_X: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.static_out: tuple[torch.Tensor, torch.Tensor] | None = None
        self.replay: Callable[[], None] | None = None
        self.failed: str | None = None
        self.eager_steps = 0
        self.replays = 0

    # The three CUDA-specific pieces; tests replace them to check the bookkeeping on a CPU.
    def _side_stream(self):
        device = self.step.device
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))

        @contextlib.contextmanager
        def ctx():
            with torch.cuda.stream(stream):
                yield
            torch.cuda.current_stream(device).wait_stream(stream)
        return ctx()

    def _record(self, body: Callable[[], tuple]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_out = body()
        return graph.replay

    def _capture(self, X: torch.Tensor, y: torch.Tensor) -> bool:
        self.static_X, self.static_y = self.step.layout(X).clone(), y.clone()
        try:
            self.replay = self._record(lambda: self.step(self.static_X, self.static_y))
            return True
        except Exception as err:  # noqa: BLE001 -- any failure means: train eagerly
            self.failed = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            self.replay = self.static_X = self.static_y = self.static_out = None
            if self.history is not None:
                self.history.cuda_graph_failed = self.failed
            if self.warn_on_failure:
                warnings.warn(f"train_ch6 could not record the training step as a CUDA graph "
                              f"({self.failed}); training goes on without one "
                              "(pass cuda_graph=False to skip the attempt).", RuntimeWarning,
                              stacklevel=3)
            return False

    def __call__(self, X: torch.Tensor, y: torch.Tensor):
        if self.failed is None and self.replay is None:
            if self.eager_steps < self.warmup:
                with self._side_stream():
                    out = self.step(X, y)
                self.eager_steps += 1
                return out
            self._capture(X, y)  # records, runs nothing: this batch still needs its step
        if (self.replay is not None and X.shape == self.static_X.shape
                and y.shape == self.static_y.shape):
            self.static_X.copy_(X)
            self.static_y.copy_(y)
            self.replay()
            self.replays += 1
            if self.history is not None:
                self.history.cuda_graph_replays = self.replays
            return self.static_out
        # Another shape, or no graph. Zero the gradients in place rather than dropping
        # them: after a capture they are the graph's own tensors.
        self.eager_steps += 1
        return self.step(X, y, set_to_none=self.replay is None)
