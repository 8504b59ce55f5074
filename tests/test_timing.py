"""Timer and Accumulator behave as d2l's do (same names, same methods, same results)."""
from __future__ import annotations

import pytest
import torch

import cnncourse
from cnncourse import timing


def test_timer_records_each_interval_and_sums_them(monkeypatch):
    clock = iter([10.0, 10.5, 11.0, 12.0, 12.0, 14.0])  # start, stop, start, stop, ...
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    t = cnncourse.Timer()  # starts itself, as d2l's does
    assert t.stop() == 0.5
    t.start()
    assert t.stop() == 1.0
    t.start()
    t.stop()
    assert t.times == [0.5, 1.0, 2.0]
    assert t.sum() == 3.5
    assert t.avg() == pytest.approx(3.5 / 3)
    assert t.cumsum() == [0.5, 1.5, 3.5]


def test_timer_measures_real_time():
    t = cnncourse.Timer()
    assert t.stop() >= 0 and len(t.times) == 1


def test_accumulator_adds_resets_and_indexes():
    acc = cnncourse.Accumulator(3)
    acc.add(1, 2.5, 3)
    acc.add(1, 0.5, 4)
    assert [acc[i] for i in range(3)] == [2, 3.0, 7]
    assert acc[-1] == 7
    acc.reset()
    assert acc.data == [0.0, 0.0, 0.0]
    with pytest.raises(IndexError):
        acc[3]


def test_accumulator_keeps_tensor_sums_as_tensors():
    acc = cnncourse.Accumulator(2)
    for _ in range(3):
        acc.add(torch.tensor(2.0), torch.tensor(1))
    assert torch.is_tensor(acc[0]) and float(acc[0]) == 6.0 and int(acc[1]) == 3


def test_train_ch6_times_its_epochs_with_timer(monkeypatch):
    """The module docstring says so: each epoch's seconds are one Timer interval."""
    import cnncourse.train as train
    from cnncourse.data import TensorLoader

    stops = []

    class Recording(cnncourse.Timer):
        def stop(self):
            stops.append(super().stop())
            return stops[-1]

    monkeypatch.setattr(train, "Timer", Recording)
    X = torch.randint(0, 255, (32, 28, 28), dtype=torch.uint8)
    loader = TensorLoader(X, torch.arange(32) % 10, 16, num_classes=10)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    hist = cnncourse.train_ch6(net, loader, loader, 2, 0.1, "cpu", animate=False,
                               verbose=False)
    assert hist.epoch_seconds == stops and len(stops) == 2
