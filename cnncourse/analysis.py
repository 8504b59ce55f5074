"""Look at what a trained classifier gets wrong: predictions, confusion matrix, worst pairs.

Accuracy is one number; it hides *which* classes a model mixes up. These
helpers answer that question for any classifier and any loader that yields
``(X, y)`` batches:

* ``predict_labels``      -- every prediction and true label of a loader, in order;
* ``confusion_matrix``    -- counts of (true class, predicted class);
* ``most_confused_pairs`` -- the largest off-diagonal counts, named;
* ``plot_confusion_matrix`` and ``predict_ch6`` (d2l's ``predict_ch3`` for any model)
  draw them;
* ``Table`` -- a results table that shows as HTML in a notebook and as text elsewhere.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import html
import re

import torch
from torch import nn

from .data import FASHION_MNIST_LABELS, get_fashion_mnist_labels
from .plotting import show_images
from .evaluate import model_device

__all__ = [
    "Table",
    "confusion_matrix",
    "most_confused_pairs",
    "plot_confusion_matrix",
    "predict_ch6",
    "predict_labels",
]


def predict_labels(net: nn.Module, data_iter: Iterable,
                   device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels of every example in ``data_iter`` (CPU tensors, loader order).

    One pass in eval mode without gradients; the basis for every other helper here,
    so a confusion matrix and an accuracy computed from it always agree.
    """
    device = torch.device(device) if device is not None else model_device(net)
    was_training = net.training
    net.eval()
    preds, trues = [], []
    with torch.no_grad():
        for X, y in data_iter:
            preds.append(net(X.to(device)).argmax(dim=1).cpu())
            trues.append(y.cpu())
    net.train(was_training)
    if not preds:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(preds), torch.cat(trues).long()


def confusion_matrix(y_true: torch.Tensor | Sequence[int],
                     y_pred: torch.Tensor | Sequence[int],
                     num_classes: int | None = None) -> torch.Tensor:
    """``C[i, j]``: examples of true class ``i`` predicted as ``j``.

    Rows are true classes, columns predictions (scikit-learn's
    convention), so the diagonal holds the correct predictions and
    ``C.sum(1)`` the class sizes. One ``bincount``, no Python loop.
    """
    y_true = torch.as_tensor(y_true, dtype=torch.long).flatten().cpu()
    y_pred = torch.as_tensor(y_pred, dtype=torch.long).flatten().cpu()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.numel()} true labels but "
                         f"{y_pred.numel()} predictions")
    if y_true.numel() == 0:
        n = num_classes or 0
        return torch.zeros(n, n, dtype=torch.long)
    if min(int(y_true.min()), int(y_pred.min())) < 0:
        raise ValueError("labels must be class indices >= 0")
    top = int(max(y_true.max(), y_pred.max()))
    if num_classes is None:
        num_classes = top + 1
    elif top >= num_classes:
        raise ValueError(f"a label is >= num_classes={num_classes}")
    flat = y_true * num_classes + y_pred
    counts = torch.bincount(flat, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def most_confused_pairs(cm: torch.Tensor, k: int = 5, labels: Sequence[str] | None = None,
                        symmetric: bool = False) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal entries of a confusion matrix as ``(true, predicted, count)``.

    With ``symmetric=True`` the two directions of a pair are added (``C[i, j] + C[j, i]``)
    and each unordered pair appears once: "which two classes does the model mix up?".
    Pairs with a count of zero are left out.
    """
    cm = torch.as_tensor(cm).cpu()
    n = cm.shape[0]
    if cm.ndim != 2 or cm.shape[1] != n:
        raise ValueError(f"a confusion matrix is square, not {tuple(cm.shape)}")
    names = list(labels) if labels is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} labels for a {n}x{n} matrix")
    off = cm.clone().long()
    off.fill_diagonal_(0)
    if symmetric:
        off = torch.triu(off + off.T, diagonal=1)
    counts, idx = off.flatten().sort(descending=True, stable=True)
    out = []
    for c, i in zip(counts.tolist(), idx.tolist()):
        if c == 0 or len(out) == k:
            break
        out.append((names[i // n], names[i % n], int(c)))
    return out


def plot_confusion_matrix(cm: torch.Tensor, labels: Sequence[str] | None = None,
                          normalize: bool = True, ax=None, figsize=(7.0, 6.0)):
    """Draw a confusion matrix as a heat map with the counts (or row shares) written in.

    ``normalize`` divides each row by its class size, so the diagonal reads as the
    per-class recall. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    cm = torch.as_tensor(cm).cpu().double()
    n = cm.shape[0]
    names = list(labels) if labels is not None else [str(i) for i in range(n)]
    shown = cm / cm.sum(1, keepdim=True).clamp(min=1) if normalize else cm
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    im = ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=11)
    ax.set_yticks(range(n), names, fontsize=11)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top = float(shown.max()) if shown.numel() else 1.0
    for i in range(n):
        for j in range(n):
            v = float(shown[i, j])
            text = f"{v:.2f}" if normalize else f"{int(v)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=10,
                    color="white" if v > 0.6 * top else "black")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def predict_ch6(net: nn.Module, data_iter: Iterable, n: int = 8, *, only_errors: bool = False,
                labels: Sequence[str] = FASHION_MNIST_LABELS, num_rows: int = 1,
                device: torch.device | str | None = None, scale: float = 1.5):
    """Show ``n`` test images titled with true and predicted label (d2l's ``predict_ch3``).

    d2l's helper only shows the first few images, which are mostly right; with
    ``only_errors=True`` it shows the first ``n`` *mistakes* instead, which teach more.
    Titles read ``true`` over ``pred``; a wrong prediction's title is red. Returns
    ``(titles, axes)`` so a cell can check what was drawn.
    """
    device = torch.device(device) if device is not None else model_device(net)
    was_training = net.training
    net.eval()
    imgs, trues, preds = [], [], []
    with torch.no_grad():
        for X, y in data_iter:
            p = net(X.to(device)).argmax(dim=1).cpu()
            X, y = X.cpu(), y.cpu()
            keep = (p != y) if only_errors else torch.ones_like(y, dtype=torch.bool)
            imgs.extend(X[keep]), trues.extend(y[keep].tolist()), preds.extend(p[keep].tolist())
            if len(imgs) >= n:
                break
    net.train(was_training)
    imgs, trues, preds = imgs[:n], trues[:n], preds[:n]
    if not imgs:
        raise ValueError("no image to show" + (" (the model makes no mistake here)"
                                                if only_errors else ""))
    true_names = [labels[i] for i in trues] if labels else get_fashion_mnist_labels(trues)
    pred_names = [labels[i] for i in preds] if labels else get_fashion_mnist_labels(preds)
    titles = [f"{t}\n{p}" for t, p in zip(true_names, pred_names)]
    num_cols = -(-len(imgs) // num_rows)
    axes = show_images([img.squeeze(0) for img in imgs], num_rows, num_cols, titles=titles,
                       scale=scale)
    for ax, t, p in zip(axes, trues, preds):
        if t != p:
            ax.title.set_color("tab:red")
    axes[0].figure.tight_layout(pad=0.3)  # two-line titles must not cover the row above
    return titles, axes


class Table:
    """A small results table: HTML in a notebook (and the book), aligned text elsewhere.

    Comparisons of runs belong in one table, not in scattered prints; this needs no
    pandas. Numbers are right-aligned; ``caption`` is a good place for the budget and
    device that produced the numbers.
    """

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[object]],
                 caption: str | None = None) -> None:
        self.headers = [str(h) for h in headers]
        self.rows = [[str(c) for c in r] for r in rows]
        if any(len(r) != len(self.headers) for r in self.rows):
            raise ValueError(f"every row needs {len(self.headers)} cells")
        self.caption = caption

    # A number, optionally approximate and with a unit: "1,004", "~36", "0.8 M", "5.30 MB",
    # "150×", "92%", "1.5e-03". Such cells line up on the right, as numbers should.
    _NUMBER = re.compile(r"[~≈]?[-+]?(\d[\d,]*)?\.?\d+(e[-+]?\d+)?"
                         r"( ?(×|x|%|[kMG]i?B|[kMG]|ms|s|min|h))?")

    @classmethod
    def _numeric(cls, cell: str) -> bool:
        return cls._NUMBER.fullmatch(cell.strip()) is not None

    def _numeric_columns(self) -> list[bool]:
        """Columns whose filled body cells are all numbers: their header aligns right too."""
        return [any(r[j] for r in self.rows)
                and all(self._numeric(r[j]) for r in self.rows if r[j])
                for j in range(len(self.headers))]

    def _shown(self) -> tuple[list[str], list[list[str]], str | None]:
        """Headers, rows and caption in the reader's language (``CNNCOURSE_LANG``, which a
        Chinese notebook's setup cell sets): the text refers to columns and rows by name."""
        from .messages import language, translate_cell

        if language() == "en":
            return self.headers, self.rows, self.caption
        return ([translate_cell(h) for h in self.headers],
                [[translate_cell(c) for c in r] for r in self.rows],
                translate_cell(self.caption) if self.caption else self.caption)

    def _repr_html_(self) -> str:
        numeric = self._numeric_columns()
        headers, rows, caption = self._shown()

        def cell(tag: str, text: str, j: int) -> str:
            right = numeric[j] or (tag == "td" and self._numeric(text))
            # numbers never break inside; long headers may, over two lines
            nowrap = "; white-space:nowrap" if tag == "td" else ""
            align = f' style="text-align:right{nowrap}"' if right else ""
            return f"<{tag}{align}>{html.escape(text)}</{tag}>"
        head = "".join(cell("th", h, j) for j, h in enumerate(headers))
        body = "".join("<tr>" + "".join(cell("td", c, j) for j, c in enumerate(r)) + "</tr>"
                       for r in rows)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        return (f'<table class="table" style="font-size:0.9em">{cap}'
                f"<thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")

    def __str__(self) -> str:
        from .messages import _width  # columns on screen: a CJK character takes two

        headers, rows, caption = self._shown()
        cols = list(zip(headers, *rows))
        widths = [max(_width(c) for c in col) for col in cols]
        numeric = self._numeric_columns()

        def line(cells):
            pads = [" " * (w - _width(c)) for c, w in zip(cells, widths)]
            return "  ".join(p + c if numeric[j] or self._numeric(c) else c + p
                             for j, (c, p) in enumerate(zip(cells, pads))).rstrip()
        out = [line(headers), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in rows]
        if caption:
            out.append(caption)
        return "\n".join(out)

    __repr__ = __str__
