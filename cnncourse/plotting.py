"""Plotting: live training curves (``Animator``), image grids, d2l's ``plot``.

The ``Animator`` redraws *one* figure through an IPython display handle: a
live notebook sees it move, an executed notebook (nbval, the HTML book) keeps
exactly one final figure, and a terminal gets plain text lines instead.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import matplotlib

if "ipykernel" not in sys.modules and "IPython" not in sys.modules:
    matplotlib.use("Agg")  # scripts and tests: never try to open a window
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import torch

__all__ = ["Animator", "in_notebook", "plot", "set_axes", "set_figsize", "show_images",
           "use_svg_display"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (live or executed by nbclient)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and hasattr(ip, "kernel")


def use_svg_display() -> None:
    """Show pyplot figures as SVG in notebooks (sharp at any zoom)."""
    try:
        from matplotlib_inline import backend_inline
        backend_inline.set_matplotlib_formats("svg")
    except ImportError:
        pass


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default pyplot figure size."""
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend) -> None:
    """Label, scale and limit one matplotlib ``Axes`` (d2l-compatible)."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    # A one-epoch run asks for xlim [1, 1]; matplotlib would warn, so let it choose.
    axes.set_xlim(xlim if xlim is None or xlim[0] != xlim[1] else None)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
         xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
         figsize=(3.5, 2.5), axes=None):
    """Plot one or several curves (d2l-compatible)."""
    def has_one_axis(X):
        return (hasattr(X, "ndim") and X.ndim == 1 or isinstance(X, list)
                and not hasattr(X[0], "__len__"))

    if legend is None:
        legend = []
    if axes is None:
        axes = plt.figure(figsize=figsize).gca()
    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    for x, y, fmt in zip(X, Y, fmts):
        axes.plot(x, y, fmt) if len(x) else axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    return axes


def show_images(imgs, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5):
    """Show a grid of images (tensors or arrays, ``(H, W)``); returns the axes (d2l-compatible)."""
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        if torch.is_tensor(img):
            img = img.detach().cpu().squeeze().numpy()
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None)
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    for ax in axes[len(imgs):]:
        ax.axis("off")
    return axes


class Animator:
    """Curves that grow while a loop runs (d2l-compatible ``add``).

    Redraws at most every ``min_interval`` seconds (drawing is slow on a CPU
    and would steal time from training) and once more on ``close()``.
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear",
                 fmts=("-", "m--", "g-.", "r:", "c-", "y--"), nrows=1, ncols=1,
                 figsize=(4.5, 3.0), min_interval: float = 1.0) -> None:
        self.fig = Figure(figsize=figsize, dpi=100)
        self.axes = self.fig.subplots(nrows, ncols, squeeze=False).flatten()
        self.config_axes = lambda: set_axes(self.axes[0], xlabel, ylabel, xlim, ylim,
                                            xscale, yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self.live = in_notebook()
        self.min_interval = min_interval
        self._handle = None
        self._last_draw = 0.0
        self._dirty = False

    def add(self, x, y) -> None:
        """Append one point per curve; ``None`` skips that curve."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if self.X is None:
            self.X = [[] for _ in range(n)]
        if self.Y is None:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(float(b))
        self._dirty = True
        if self.live and time.perf_counter() - self._last_draw >= self.min_interval:
            self.draw()

    def _render(self) -> None:
        ax = self.axes[0]
        ax.cla()
        for x, y, fmt in zip(self.X or [], self.Y or [], self.fmts):
            ax.plot(x, y, fmt)
        self.config_axes()
        self.fig.tight_layout()

    def draw(self) -> None:
        """Redraw now (in a notebook: in place, through one display handle)."""
        if not self.live:
            return
        from IPython.display import SVG, display
        import io

        self._render()
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg")
        svg = SVG(data=buf.getvalue())
        if self._handle is None:
            self._handle = display(svg, display_id=True)
        else:
            self._handle.update(svg)
        self._last_draw = time.perf_counter()
        self._dirty = False

    def close(self) -> None:
        """Draw the final state (if anything changed since the last draw)."""
        if self._dirty:
            self.draw()

    def savefig(self, path, **kwargs) -> None:
        """Save the current curves to a file (works outside notebooks too)."""
        self._render()
        self.fig.savefig(path, **kwargs)
