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


def _drawn_with(svg: str) -> str | None:
    """The Matplotlib version an SVG names (its metadata: "Matplotlib v3.11.2, ...")."""
    found = re.search(r"Matplotlib v([^,<\s]+)", svg)
    return found.group(1) if found else None


def _what_is_drawn(svg: str) -> dict:
    """An SVG's drawing without its coordinates: every text in order (Matplotlib writes each
    as a comment), how many paths and groups, and the size. Another Matplotlib release places
    the same drawing a fraction of a point elsewhere; a changed figure changes these."""
    size = re.search(r'<svg[^>]*\bwidth="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return {"texts": re.findall(r"<!-- (.*?) -->", svg),
            "paths": len(re.findall(r"<path\b", svg)), "groups": len(re.findall(r"<g\b", svg)),
            "size": (float(size.group(1)), float(size.group(2)))}


def figure_drift(drawn: str, committed: str) -> str | None:
    """Why ``drawn`` is not the committed figure, or None. The same Matplotlib that drew the
    committed file must draw it byte for byte; another one (the supported range is wide) the
    same texts and elements at nearly the same size."""
    if _drawn_with(drawn) == _drawn_with(committed):
        return None if drawn == committed else "the bytes differ"
    new, old = _what_is_drawn(drawn), _what_is_drawn(committed)
    for key in ("texts", "paths", "groups"):
        if new[key] != old[key]:
            return f"{key}: {new[key]} != {old[key]}"
    if any(abs(a - b) > 0.05 * b for a, b in zip(new["size"], old["size"])):
        return f"size {new['size']} pt, committed {old['size']} pt"
    return None


def test_committed_lenet_figure_is_what_the_script_draws(tmp_path):
    out = tmp_path / "lenet.svg"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "draw_lenet.py"), "--out", str(out)],
                   check=True, capture_output=True)
    drift = figure_drift(out.read_text(), SVG.read_text())
    assert drift is None, f"{drift}; run: python scripts/draw_lenet.py"


def test_a_changed_figure_is_drift_on_any_matplotlib():
    committed = SVG.read_text()
    version = _drawn_with(committed)
    assert version, "the committed figure names no Matplotlib version"
    other = committed.replace(f"Matplotlib v{version}", "Matplotlib v0.0.1")
    assert figure_drift(committed, committed) is None
    assert figure_drift(other, committed) is None  # another release: the drawing is compared
    for changed in (committed.replace("<!-- C1 -->", "<!-- C2 -->"),
                    committed.replace("<path ", "<path data-x='1' ", 1) + "<path d=''/>"):
        assert figure_drift(changed, committed) == "the bytes differ"
        assert figure_drift(changed.replace(f"Matplotlib v{version}", "Matplotlib v0.0.1"),
                            committed) is not None


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
    tool = (ROOT / "bookfactory" / "make_speed_page.py").read_text()
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
