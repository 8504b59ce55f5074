"""In an executed notebook (nbval, the HTML book) train_ch6 leaves exactly one figure."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

CELL = f"""
import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); sys.path.insert(0, {str(ROOT)!r})
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
