"""In an executed notebook (nbval, the HTML book) train_ch6 leaves exactly one figure."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def kernel_sees_the_tests(monkeypatch):
    """The kernels below import the toy data and model of test_train (cnncourse is installed)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(TESTS), os.environ.get("PYTHONPATH")])))


CELL = """
import torch, cnncourse
from test_train import toy_loaders, small_net
torch.manual_seed(0)
tr, te = toy_loaders()
anim_hist = cnncourse.train_ch6(small_net(), tr, te, 6, 0.5, 'cpu')
"""


def test_train_ch6_leaves_one_final_figure_in_an_executed_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    figures = [o for o in outputs if "image/svg+xml" in o.get("data", {})
               or "image/png" in o.get("data", {})]
    assert len(figures) == 1, [o.get("output_type") for o in outputs]
    svg = figures[0]["data"]["image/svg+xml"]
    assert "test acc" in svg  # the final frame has the legend with all three curves
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "examples/sec on cpu" in text
    assert "epoch 1:" not in text  # no per-epoch text lines when the figure is live
    assert not any("batches" in str(o.get("data", "")) for o in outputs)  # short: no bar


SLOW_CELL = """
import time
import torch, cnncourse
from torch import nn
from test_train import toy_loaders, small_net

class Slow(nn.Module):  # an epoch of 4 batches that takes about a second
    def __init__(self):
        super().__init__()
        self.body = small_net()
    def forward(self, x):
        if self.training:
            time.sleep(0.25)
        return self.body(x)

torch.manual_seed(0)
tr, te = toy_loaders()
slow_hist = cnncourse.train_ch6(Slow(), tr, te, 3, 0.5, 'cpu', progress=0.3)
"""


def test_a_long_epoch_in_an_executed_notebook_leaves_no_progress_line_and_one_figure():
    """An executor (the book build, nbval) is not a person watching: the bar is not kept."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SLOW_CELL)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    figures = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    lines = [o["data"]["text/plain"] for o in outputs
             if o.get("output_type") == "display_data" and "text/plain" in o.get("data", {})
             and "batches" in o["data"]["text/plain"]]
    assert len(figures) == 1, [o.get("output_type") for o in outputs]
    assert lines == [], lines  # the built book shows no leftover 'epoch 3/3: 100%|...' line
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "batches" not in text and "examples/sec on cpu" in text  # no tqdm frames on stderr
