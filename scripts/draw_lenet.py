"""Draw the LeNet-5 architecture figure of the LeNet chapter (book/images/lenet.svg).

The shapes in the drawing are not typed in by hand: they come from running a
1x1x28x28 input through ``cnncourse.models.lenet.lenet()`` with
``cnncourse.layer_summary``, so the figure cannot drift from the model.

    python scripts/draw_lenet.py            # writes book/images/lenet.svg
    python scripts/draw_lenet.py --png      # also a PNG (for slides)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # drawn to a file, also on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

import cnncourse  # noqa: E402
from cnncourse.models.lenet import lenet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

FEATURE_COLOR = {"input": "#d9d9d9", "conv": "#9ecae1", "pool": "#c7e9c0", "dense": "#fdd0a2"}


def shapes() -> list[tuple[str, tuple[int, ...]]]:
    """(kind, output shape without batch) after every *weight or pooling* layer of the model."""
    rows = cnncourse.layer_summary(lenet(), (1, 1, 28, 28), verbose=False)
    out = [("input", (1, 28, 28))]
    for r in rows:
        kind = {"Conv2d": "conv", "AvgPool2d": "pool", "Flatten": "dense",
                "Linear": "dense"}.get(r.name)
        if kind:
            out.append((kind, r.output_shape[1:]))
    return out


def draw_stack(ax, x: float, channels: int, size: int, color: str) -> tuple[float, float]:
    """A stack of feature maps: at most 6 offset squares; returns (right edge, top)."""
    side = 0.3 + 0.045 * size
    shown = min(channels, 6)
    step = 0.12
    for k in reversed(range(shown)):
        ax.add_patch(Rectangle((x + k * step, k * step - side / 2), side, side,
                               facecolor=color, edgecolor="#333333", linewidth=0.8))
    return x + (shown - 1) * step + side, (shown - 1) * step + side / 2


def draw_bar(ax, x: float, width: int, color: str) -> tuple[float, float]:
    """A dense layer as a vertical bar whose height grows with the layer's width."""
    h = 0.3 + 0.08 * width ** 0.5
    ax.add_patch(Rectangle((x, -h / 2), 0.28, h, facecolor=color, edgecolor="#333333",
                           linewidth=0.8))
    return x + 0.28, h / 2


def draw(path: Path) -> None:
    layers = shapes()
    # What happens between consecutive drawn tensors (read from the d2l model).
    ops = ["conv 5×5\npad 2\nsigmoid", "avg pool\n2×2\nstride 2", "conv 5×5\nsigmoid",
           "avg pool\n2×2\nstride 2", "flatten", "dense\nsigmoid", "dense\nsigmoid",
           "dense"]
    assert len(ops) == len(layers) - 1, (len(ops), len(layers))
    titles = ["input", "C1", "S2", "C3", "S4", "", "F5", "F6", "output"]
    # Drawn no wider than the page column shows it (784 px at a 1280-px window), so the
    # browser never scales it down: 11-13 pt reads as 14-17 px, where a wide figure shrunk
    # to fit gave 5 px. tests/test_figures.py checks the drawn width and the font sizes.
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    # The dense layers' two-line labels ("dense" over "sigmoid") are wider than the
    # convolutions' narrow stacks of words, so the gaps before the bars are wider.
    gaps = [2.2 if nxt[0] == "dense" else 1.9 for nxt in layers[1:]] + [0.0]
    x = 0.0
    prev_right = None
    for i, (kind, shape) in enumerate(layers):
        left = x
        if len(shape) == 3:
            c, h, _ = shape
            right, top = draw_stack(ax, x, c, h, FEATURE_COLOR[kind])
            label = f"{c}@{h}×{h}"
        else:
            right, top = draw_bar(ax, x, shape[0], FEATURE_COLOR[kind])
            label = f"{shape[0]}"
        ax.text((left + right) / 2, -1.2, label, ha="center", va="top", fontsize=11,
                fontweight="bold")
        if titles[i]:
            ax.text((left + right) / 2, top + 0.12, titles[i], ha="center", va="bottom",
                    fontsize=13, color="#444444")
        if prev_right is not None:
            ax.add_patch(FancyArrowPatch((prev_right + 0.06, 0), (left - 0.06, 0),
                                         arrowstyle="-|>", mutation_scale=12, linewidth=1.0,
                                         color="#333333"))
            # Below the row of shapes, between them: nothing to collide with.
            ax.text((prev_right + left) / 2, -1.75, ops[i - 1], ha="center", va="top",
                    fontsize=11, color="#222222", linespacing=1.1)
        prev_right = right
        x = right + gaps[i]
    ax.set_xlim(-0.2, x + 0.2)
    ax.set_ylim(-3.0, 1.65)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout(pad=0.2)
    # No date in the SVG: the file changes only when the drawing does (a test redraws it).
    fig.savefig(path, bbox_inches="tight",
                metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "book" / "images" / "lenet.svg"))
    parser.add_argument("--png", action="store_true", help="also write a PNG next to the SVG")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "cnncourse"  # stable ids: the SVG only changes with the drawing
    plt.rcParams["svg.fonttype"] = "path"
    draw(out)
    print(f"wrote {out}")
    if args.png:
        png = out.with_suffix(".png")
        draw(png)
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
