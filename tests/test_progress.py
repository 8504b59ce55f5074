"""The progress bar: shown to a person watching a notebook, never kept in an executed one."""
from __future__ import annotations

import types

import nbformat
import pytest
from nbclient import NotebookClient

from cnncourse.progress import EpochProgress


def _fake_kernel(monkeypatch, allow_stdin: bool) -> list:
    """An IPython kernel whose frontend does (a person) or does not (an executor) allow input."""
    import IPython
    import IPython.display

    shown = []

    class Handle:
        def update(self, bundle, raw=False):
            shown.append(bundle["text/plain"])

    def display(bundle, raw=False, display_id=False):
        shown.append(bundle["text/plain"])
        return Handle()

    shell = types.SimpleNamespace(kernel=types.SimpleNamespace(_allow_stdin=allow_stdin))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", display)
    return shown


@pytest.mark.parametrize("person", [True, False])
def test_a_long_epoch_shows_a_bar_only_to_a_person(monkeypatch, person):
    shown = _fake_kernel(monkeypatch, allow_stdin=person)
    clock = {"t": 0.0}
    bar = EpochProgress(1, 100, min_seconds=5.0, clock=lambda: clock["t"])  # finds out itself
    bar.start(0)
    for _ in range(100):
        clock["t"] += 0.1  # a 10 s epoch
        bar.update(256)
    bar.end()
    bar.close()
    assert bar.shown is person
    if person:
        assert "epoch 1/1: 100%" in shown[-1] and "100/100 batches" in shown[-1]
    else:
        assert shown == []


SLOW_CELL = """
import time
import torch, cnncourse
from torch import nn
from cnncourse.data import TensorLoader

X = torch.randint(0, 255, (64, 28, 28), dtype=torch.uint8)
loader = TensorLoader(X, torch.arange(64) % 10, 16, num_classes=10)

class Slow(nn.Module):  # an epoch of 4 batches that takes about a second
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    def forward(self, x):
        if self.training:
            time.sleep(0.25)
        return self.body(x)

torch.manual_seed(0)
slow_hist = cnncourse.train_ch6(Slow(), loader, loader, 2, 0.1, 'cpu', progress=0.3)
"""


def test_an_executed_notebook_keeps_no_progress_bar():
    """nbclient (the HTML book, like nbval) runs cells with nobody watching: no bar."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SLOW_CELL)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    everything = str(outputs)
    assert "batches" not in everything and "it/s" not in everything, everything
    figures = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(figures) == 1  # the curves stay
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert text.rstrip().endswith("examples/sec on cpu"), text  # d2l's closing lines last


def test_progress_bar_only_for_long_epochs(monkeypatch):
    shown = _fake_kernel(monkeypatch, allow_stdin=True)
    clock = {"t": 0.0}
    for per_batch, expect_bar in ((0.01, False), (0.1, True)):  # 100 batches: 1 s or 10 s
        shown.clear()
        bar = EpochProgress(2, 100, min_seconds=5.0, notebook=True, clock=lambda: clock["t"])
        for epoch in range(2):
            bar.start(epoch)
            for _ in range(100):
                clock["t"] += per_batch
                bar.update(256)
            bar.end()
        bar.close()
        assert bar.shown is expect_bar
        if expect_bar:
            assert "epoch 2/2" in shown[-1] and "100/100 batches" in shown[-1]
            assert "2,560 examples/s" in shown[-1], shown[-1]
            assert ", ," not in shown[-1] and shown[-1].endswith("examples/s]"), shown[-1]
        else:
            assert shown == []
