"""Small bookkeeping helpers with d2l's names: ``Timer`` and ``Accumulator``."""
from __future__ import annotations

import time

__all__ = ["Accumulator", "Timer"]


class Timer:
    """Record several running times (d2l-compatible); ``train_ch6`` times its epochs with it."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        out, total = [], 0.0
        for t in self.times:
            total += t
            out.append(total)
        return out


class Accumulator:
    """Sum ``n`` running totals (d2l-compatible).

    Values may be tensors: adding device tensors keeps the sum on the device, with no
    host sync until a total is read. ``train_ch6`` sums its loss and correct predictions
    so, and reads them once per epoch.
    """

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args) -> None:
        self.data = [a + b for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int):
        return self.data[idx]
