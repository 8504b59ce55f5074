"""The LeNet figure: drawn by its script (no drift) and readable at the width the book shows it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "book" / "images" / "lenet.svg"
BOOK_WIDTH_PX = 640  # the figure on the LeNet page, 1280-px window (smoke build screenshot)


def test_committed_lenet_figure_is_what_the_script_draws(tmp_path):
    out = tmp_path / "lenet.svg"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "draw_lenet.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == SVG.read_bytes(), "run: python scripts/draw_lenet.py"


def test_lenet_figure_text_is_at_least_11_px_in_the_book():
    """A figure drawn much wider than the page is scaled down with its text (5 px before)."""
    width_pt = float(re.search(r'<svg[^>]*\bwidth="([\d.]+)pt"', SVG.read_text()).group(1))
    script = (ROOT / "scripts" / "draw_lenet.py").read_text()
    smallest_pt = min(float(x) for x in re.findall(r"fontsize=([\d.]+)", script))
    scale = min(1.0, BOOK_WIDTH_PX / (width_pt * 96 / 72))
    assert smallest_pt * 96 / 72 * scale >= 11, (smallest_pt, width_pt)
