"""How a training run is made fast: decided once, from the device and a few options.

``train_ch6``'s loop is d2l's; everything that makes it faster is a decision taken here,
before the first batch, and kept in ``TrainHistory.plan`` so that scripts and benchmarks
read what was done instead of guessing it. ``cnncourse.step.speed_up`` carries it out:

* ``mixed_precision``: bf16 autocast for the forward pass and the loss (default: CUDA only);
* ``channels_last``: the NHWC memory format for the model and every 4-d batch (default:
  CUDA and the CPU);
* ``cuda_graph``: on CUDA, the whole step recorded once as a CUDA graph and replayed
  (``cnncourse.step``; default whenever the optimiser allows it);
* ``compile``: ``torch.compile`` (off by default);
* ``cpu_threads``: PyTorch's threads while training on the CPU. Never read from the
  machine's load: the same seed gives the same numbers on every run of the same machine.
"""
from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .step import graph_capturable

__all__ = ["RunPlan", "limit_cpu_threads", "make_optimizer"]

_GRAPH_CHOICES = (True, False, "auto")


@dataclass
class RunPlan:
    """What ``train_ch6`` does to go fast on ``device``; ``decide`` makes one."""

    device: str
    mixed_precision: bool      # bf16 autocast in the forward pass and the loss
    channels_last: bool        # NHWC memory format for the model and 4-d batches
    cuda_graph: bool           # record the step as a CUDA graph and replay it
    compile: bool              # torch.compile the model for training
    cpu_threads: int | None    # PyTorch threads while training on the CPU; None elsewhere
    graph_required: bool = field(default=False, repr=False)  # cuda_graph=True was passed

    @classmethod
    def decide(cls, device, mixed_precision: bool | None = None,
               channels_last: bool | None = None, cuda_graph: bool | str = "auto",
               compile: bool = False, cpu_threads: int | None = None) -> RunPlan:
        """The plan for ``device``; ``None`` and ``'auto'`` take the defaults named above.

        bf16 autocast pays on CUDA; on a CPU only with native bf16 instructions (a d2l
        LeNet run took 17 s instead of 21 s with AVX512-BF16, at the same accuracy), and
        CPUs without them emulate it slowly, so there it is on request only. Channels-last
        lets oneDNN skip layout reorders on the CPU too (one LeNet epoch: 3.8 s of CPU
        instead of 6.6 s). A CUDA graph replays LeNet's ~100 kernels per step with one
        launch (H100: 0.41 ms instead of 2.31 ms per batch).
        """
        device = torch.device(device)
        if not any(cuda_graph is c for c in _GRAPH_CHOICES):
            raise ValueError(f"cuda_graph must be True, False or 'auto', not {cuda_graph!r}")
        on_cuda = device.type == "cuda"
        threads = _cpu_threads(cpu_threads)  # checked on every device, used on the CPU
        return cls(
            device=str(device),
            mixed_precision=(on_cuda if mixed_precision is None
                             else bool(mixed_precision) and device.type in ("cuda", "cpu")),
            channels_last=(device.type in ("cuda", "cpu") if channels_last is None
                           else bool(channels_last)),
            cuda_graph=on_cuda and cuda_graph is not False,
            compile=bool(compile),
            cpu_threads=threads if device.type == "cpu" else None,
            graph_required=on_cuda and cuda_graph is True)

    def as_dict(self) -> dict:
        """The plan as plain values (for a JSON record)."""
        return asdict(self)

    def settle_cuda_graph(self, optimizer: torch.optim.Optimizer, stacklevel: int = 4) -> bool:
        """Keep ``cuda_graph`` only if ``optimizer`` can be recorded; returns the decision.

        Under ``'auto'`` an optimizer without ``capturable=True`` (e.g. a ready-made
        ``torch.optim.Adam``) means eager steps without a word (a chapter must not print
        warnings); an explicit ``cuda_graph=True`` says why it cannot be honoured (the
        warning points ``stacklevel`` frames up: the caller of ``train_ch6``).
        """
        if self.cuda_graph and not graph_capturable(optimizer):
            self.cuda_graph = False
            if self.graph_required:
                warnings.warn("cuda_graph=True needs an optimizer created with capturable=True "
                              "(e.g. torch.optim.Adam(params, lr, capturable=True)); training "
                              "without a CUDA graph.", RuntimeWarning, stacklevel=stacklevel)
        return self.cuda_graph


def _cpu_threads(cpu_threads) -> int:
    """The thread count for a CPU run: the caller's, at most one per logical CPU, or PyTorch's.

    PyTorch's own count is fixed when the process starts (it follows ``OMP_NUM_THREADS``,
    else the machine's cores), so it is the same on every run. On a shared 2-CPU machine
    a second thread is slower while another process keeps a CPU busy; ``cpu_threads=1``
    (or ``OMP_NUM_THREADS=1``) is the fix there, chosen by the user, never by the load.
    """
    if cpu_threads is None:
        return torch.get_num_threads()
    if isinstance(cpu_threads, bool) or not isinstance(cpu_threads, numbers.Integral):
        raise TypeError(f"cpu_threads must be a whole number of threads, such as 1 or 2, "
                        f"not {cpu_threads!r}")
    if cpu_threads < 1:
        raise ValueError(f"cpu_threads must be at least 1, not {cpu_threads}")
    cpus = os.cpu_count() or 1
    if cpu_threads > cpus:
        # every thread beyond the CPUs makes the others wait at each parallel region:
        # cpu_threads=64 on 2 CPUs trained LeNet at 167 examples/s instead of ~45,000
        warnings.warn(f"cpu_threads={cpu_threads}, but this machine has {cpus} logical CPUs; "
                      f"using {cpus} (more threads than CPUs make every step wait).",
                      RuntimeWarning, stacklevel=4)
        return cpus
    return int(cpu_threads)


@contextlib.contextmanager
def limit_cpu_threads(device, cpu_threads: int | None = None):
    """Within the block, ``cpu_threads`` PyTorch threads on the CPU; restored after.

    For hand-written loops that should match ``train_ch6``: with ``None`` (its default)
    the count is left as it is, which is what ``train_ch6`` uses.
    """
    before = torch.get_num_threads()
    if torch.device(device).type == "cpu" and cpu_threads is not None and cpu_threads != before:
        torch.set_num_threads(cpu_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def make_optimizer(optimizer, net: nn.Module, lr: float | None,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """``optimizer`` as an Optimizer: one already made, a factory ``(params, lr)``, or a name.

    One already made keeps its own learning rate (``check_arguments`` made sure that
    ``lr`` is that rate, or None).
    """
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(net.parameters(), lr=lr)
    name = (optimizer or "sgd").lower() if isinstance(optimizer, (str, type(None))) else None
    if name == "sgd":
        return torch.optim.SGD(net.parameters(), lr=lr)
    if name == "adam":  # capturable: Adam keeps its step count on the GPU, as a graph needs
        return torch.optim.Adam(net.parameters(), lr=lr, capturable=capturable)
    raise ValueError(f"unknown optimizer {optimizer!r}; use 'sgd', 'adam', an Optimizer "
                     "or a function (params, lr) -> Optimizer")
