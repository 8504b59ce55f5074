"""The LeNet figure: drawn by its script (no drift) and readable at the width the book shows it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "book" / "images" / "lenet.svg"
# The page column in a 1280-px window (headless Chromium on a smoke build: the LeNet figure
# and the speed chart are both shown 784 px wide there).
BOOK_WIDTH_PX = 784
MIN_TEXT_PX = 13  # figure text at least this tall on the page, as the body text is 16 px


def test_committed_lenet_figure_is_what_the_script_draws(tmp_path):
    out = tmp_path / "lenet.svg"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "draw_lenet.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == SVG.read_bytes(), "run: python scripts/draw_lenet.py"


def _svg_width_px(svg: Path) -> float:
    width_pt = float(re.search(r'<svg[^>]*\bwidth="([\d.]+)pt"', svg.read_text()).group(1))
    return width_pt * 96 / 72


def _smallest_fontsize(source: str) -> float:
    return min(float(x) for x in re.findall(r"fontsize=([\d.]+)", source))


def test_lenet_figure_text_is_at_least_13_px_in_the_book():
    """A figure drawn wider than the column is scaled down with its text (5 px, then 11)."""
    width_px = _svg_width_px(SVG)
    assert width_px <= BOOK_WIDTH_PX, f"{width_px:.0f} px: the browser would shrink it"
    smallest_pt = _smallest_fontsize((ROOT / "scripts" / "draw_lenet.py").read_text())
    scale = min(1.0, BOOK_WIDTH_PX / width_px)
    assert smallest_pt * 96 / 72 * scale >= MIN_TEXT_PX, (smallest_pt, width_px)


def test_speed_chart_text_is_at_least_13_px_in_the_book():
    """The speed page shows its chart at the column's full width (``:width: 100%``)."""
    svg = ROOT / "book" / "images" / "speed.svg"
    page = (ROOT / "book" / "speed.md").read_text()
    assert "```{image} images/speed.svg" in page and ":width: 100%" in page
    tool = (ROOT / "tools" / "make_speed_page.py").read_text()
    chart = tool[tool.index("def bar_chart"):tool.index("def ", tool.index("def bar_chart") + 1)]
    smallest_pt = _smallest_fontsize(chart)
    scale = BOOK_WIDTH_PX / _svg_width_px(svg)
    assert smallest_pt * 96 / 72 * scale >= MIN_TEXT_PX, (smallest_pt, scale)


def test_alexnet_block_diagram_text_is_at_least_13_px_in_the_book():
    """The AlexNet chapter draws LeNet and AlexNet side by side in one of its cells (shown
    as SVG at its drawn width, 96 px per inch, unless the column is narrower)."""
    chapter = (ROOT / "chapters" / "alexnet.md").read_text()
    start = chapter.index("def draw_architecture")
    cell = chapter[start:chapter.index("```", start)]
    width_in = float(re.search(r"plt\.subplots\([^)]*figsize=\(([\d.]+),", cell).group(1))
    width_px = width_in * 96
    assert width_px <= BOOK_WIDTH_PX, f"{width_px:.0f} px: the browser would shrink it"
    assert _smallest_fontsize(cell) * 96 / 72 >= MIN_TEXT_PX, _smallest_fontsize(cell)
