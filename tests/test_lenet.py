"""The LeNet family (shape walks, sizes, FLOPs, training) and cnncourse.analysis."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402
from torch import nn  # noqa: E402

import cnncourse  # noqa: E402
from cnncourse.analysis import (confusion_matrix, most_confused_pairs,  # noqa: E402
                                plot_confusion_matrix, predict_ch6, predict_labels)
from cnncourse.data import TensorLoader  # noqa: E402
from cnncourse.models import lenet as zoo  # noqa: E402

# ------------------------------------------------------------------ shape walks
# (layer class, output shape) of every layer, for one 1x1x28x28 image.
WALKS = {
    "lenet": [("Conv2d", (1, 6, 28, 28)), ("Sigmoid", (1, 6, 28, 28)),
              ("AvgPool2d", (1, 6, 14, 14)), ("Conv2d", (1, 16, 10, 10)),
              ("Sigmoid", (1, 16, 10, 10)), ("AvgPool2d", (1, 16, 5, 5)),
              ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)),
              ("Linear", (1, 84)), ("Sigmoid", (1, 84)), ("Linear", (1, 10))],
    "lenet_gluon": [("Conv2d", (1, 6, 24, 24)), ("Sigmoid", (1, 6, 24, 24)),
                    ("MaxPool2d", (1, 6, 12, 12)), ("Conv2d", (1, 16, 8, 8)),
                    ("Sigmoid", (1, 16, 8, 8)), ("MaxPool2d", (1, 16, 4, 4)),
                    ("Flatten", (1, 256)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)),
                    ("Linear", (1, 84)), ("Sigmoid", (1, 84)), ("Linear", (1, 10))],
    "lenet_modern": [("Conv2d", (1, 6, 28, 28)), ("ReLU", (1, 6, 28, 28)),
                     ("MaxPool2d", (1, 6, 14, 14)), ("Conv2d", (1, 16, 10, 10)),
                     ("ReLU", (1, 16, 10, 10)), ("MaxPool2d", (1, 16, 5, 5)),
                     ("Flatten", (1, 400)), ("Linear", (1, 120)), ("ReLU", (1, 120)),
                     ("Linear", (1, 84)), ("ReLU", (1, 84)), ("Linear", (1, 10))],
    "lenet_paddle": [("Conv2d", (1, 6, 28, 28)), ("ReLU", (1, 6, 28, 28)),
                     ("MaxPool2d", (1, 6, 14, 14)), ("Conv2d", (1, 16, 10, 10)),
                     ("ReLU", (1, 16, 10, 10)), ("MaxPool2d", (1, 16, 5, 5)),
                     ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Linear", (1, 84)),
                     ("Linear", (1, 10))],
    "cnn_paddle": [("Conv2d", (1, 20, 28, 28)), ("ReLU", (1, 20, 28, 28)),
                   ("MaxPool2d", (1, 20, 14, 14)), ("Conv2d", (1, 20, 14, 14)),
                   ("ReLU", (1, 20, 14, 14)), ("MaxPool2d", (1, 20, 7, 7)),
                   ("Flatten", (1, 980)), ("Linear", (1, 10))],
}
# Parameters counted by hand: weights + biases of every conv and linear layer.
PARAMS = {
    "lenet": (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + 850,
    "lenet_gluon": (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 120 + 120) + (120 * 84 + 84) + 850,
    "lenet_modern": 61_706,
    "lenet_paddle": (6 * 9 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + 850,
    "cnn_paddle": (20 * 25 + 20) + (20 * 20 * 25 + 20) + (980 * 10 + 10),
}
# FLOPs counted by hand: 2 x multiply-adds of the convolutions and linear layers.
FLOPS = {
    "lenet": 2 * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10),
    "lenet_gluon": 2 * (6 * 24 * 24 * 25 + 16 * 8 * 8 * 150 + 256 * 120 + 120 * 84 + 84 * 10),
    "lenet_paddle": 2 * (6 * 28 * 28 * 9 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10),
    "cnn_paddle": 2 * (20 * 28 * 28 * 25 + 20 * 14 * 14 * 500 + 980 * 10),
}


@pytest.mark.parametrize("name", sorted(WALKS))
def test_shape_walk(name):
    rows = cnncourse.layer_summary(getattr(zoo, name)(), (1, 1, 28, 28), verbose=False)
    assert [(r.name, r.output_shape) for r in rows] == WALKS[name]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count(name):
    assert cnncourse.count_parameters(getattr(zoo, name)()) == PARAMS[name]


def test_published_parameter_counts():
    assert PARAMS["lenet"] == 61_706 and PARAMS["lenet_gluon"] == 44_426
    assert PARAMS["cnn_paddle"] == 20_350


@pytest.mark.parametrize("name", sorted(FLOPS))
def test_flops_match_hand_count(name):
    assert cnncourse.count_flops(getattr(zoo, name)(), (1, 1, 28, 28)) == FLOPS[name]


@pytest.mark.parametrize("name", sorted(WALKS))
def test_batch_and_num_classes(name):
    net = getattr(zoo, name)(num_classes=7)
    assert net(torch.rand(5, 1, 28, 28)).shape == (5, 7)


def test_builders_return_fresh_models():
    a, b = zoo.lenet(), zoo.lenet()
    assert a is not b and a[0].weight.data_ptr() != b[0].weight.data_ptr()


def test_paddle_head_has_no_activation():
    head = list(zoo.lenet_paddle())[7:]
    assert all(isinstance(m, nn.Linear) for m in head) and len(head) == 3


# -------------------------------------------------------------------- training
def _separable_data(n: int = 512, seed: int = 0) -> tuple[TensorLoader, TensorLoader]:
    """Images whose class is which quadrant is bright: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    X = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
    for i, c in enumerate(y.tolist()):
        r, col = divmod(c, 2)
        X[i, 14 * r:14 * r + 14, 14 * col:14 * col + 14] += 200
    return (TensorLoader(X, y, 64, shuffle=True, num_classes=4),
            TensorLoader(X[:128], y[:128], 64, num_classes=4))


@pytest.mark.parametrize("name,opt,lr", [("lenet_modern", "sgd", 0.1),
                                         ("lenet_paddle", "adam", 0.001),
                                         ("cnn_paddle", "sgd", 0.05)])
def test_short_training_reduces_loss(name, opt, lr):
    torch.manual_seed(0)
    train_iter, test_iter = _separable_data()
    net = getattr(zoo, name)(num_classes=4)
    hist = cnncourse.train_ch6(net, train_iter, test_iter, 3, lr, "cpu", optimizer=opt,
                               animate=False, verbose=False)
    assert hist.train_loss[-1] < hist.train_loss[0] < 1.6
    assert hist.test_acc[-1] > 0.5


def test_sigmoid_lenet_learns_with_published_lr():
    torch.manual_seed(0)
    train_iter, test_iter = _separable_data(1024)
    hist = cnncourse.train_ch6(zoo.lenet(num_classes=4), train_iter, test_iter, 4, 0.9, "cpu",
                               animate=False, verbose=False)
    assert hist.train_loss[-1] < hist.train_loss[0]


# -------------------------------------------------------------------- analysis
def test_confusion_matrix_small_example():
    cm = confusion_matrix([0, 1, 2, 2, 1, 0], [0, 2, 1, 2, 2, 0], num_classes=4)
    assert cm.tolist() == [[2, 0, 0, 0], [0, 0, 2, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert cm.dtype == torch.int64


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=60))
def test_confusion_matrix_matches_loop(pairs):
    y_true = torch.tensor([t for t, _ in pairs])
    y_pred = torch.tensor([p for _, p in pairs])
    cm = confusion_matrix(y_true, y_pred, num_classes=6)
    ref = torch.zeros(6, 6, dtype=torch.long)
    for t, p in pairs:
        ref[t, p] += 1
    assert torch.equal(cm, ref)
    assert cm.sum() == len(pairs)
    assert cm.trace() == (y_true == y_pred).sum()


def test_confusion_matrix_infers_size_and_validates():
    assert confusion_matrix(torch.tensor([0, 3]), torch.tensor([1, 3])).shape == (4, 4)
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix([0, 5], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        confusion_matrix([0, -1], [0, 1])


def test_most_confused_pairs():
    cm = torch.tensor([[5, 3, 0], [1, 7, 4], [0, 2, 9]])
    assert most_confused_pairs(cm, k=2, labels=["a", "b", "c"]) == [("b", "c", 4), ("a", "b", 3)]
    # both directions added: a<->b 4, b<->c 6
    assert most_confused_pairs(cm, k=5, labels=["a", "b", "c"], symmetric=True) == [
        ("b", "c", 6), ("a", "b", 4)]
    assert most_confused_pairs(torch.eye(3, dtype=torch.long) * 4) == []   # no mistakes
    with pytest.raises(ValueError, match="labels"):
        most_confused_pairs(cm, labels=["a"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=16, max_size=16))
def test_most_confused_pairs_sorted_and_off_diagonal(values):
    cm = torch.tensor(values).reshape(4, 4)
    pairs = most_confused_pairs(cm, k=20)
    counts = [c for _, _, c in pairs]
    assert counts == sorted(counts, reverse=True)
    assert all(a != b and c > 0 for a, b, c in pairs)
    off = cm.clone()
    off.fill_diagonal_(0)
    assert sum(counts) == int(off.sum())


class _Oracle(nn.Module):
    """Predicts the class stored in pixel (0, 0), except class 1, which it calls 2."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        cls = (X[:, 0, 0, 0] * 255).round().long()
        cls = torch.where(cls == 1, torch.full_like(cls, 2), cls)
        return nn.functional.one_hot(cls, 10).float() + self.dummy


def _oracle_loader(n: int = 40) -> TensorLoader:
    y = torch.arange(n) % 10
    X = torch.zeros(n, 28, 28, dtype=torch.uint8)
    X[:, 0, 0] = y.to(torch.uint8)
    return TensorLoader(X, y, 16, num_classes=10)


def test_predict_labels_order_and_values():
    preds, trues = predict_labels(_Oracle(), _oracle_loader())
    assert torch.equal(trues, torch.arange(40) % 10)
    expected = trues.clone()
    expected[expected == 1] = 2
    assert torch.equal(preds, expected)
    cm = confusion_matrix(trues, preds, 10)
    assert most_confused_pairs(cm, k=1, labels=cnncourse.FASHION_MNIST_LABELS) == [
        ("trouser", "pullover", 4)]


def test_predict_ch6_titles_and_errors():
    titles, axes = predict_ch6(_Oracle(), _oracle_loader(), n=6)
    assert titles[0] == "t-shirt\nt-shirt" and titles[1] == "trouser\npullover"
    assert axes[1].title.get_color() == "tab:red" and axes[0].title.get_color() != "tab:red"
    err_titles, _ = predict_ch6(_Oracle(), _oracle_loader(), n=3, only_errors=True)
    assert err_titles == ["trouser\npullover"] * 3
    plt.close("all")


def test_predict_ch6_without_errors_raises():
    y = torch.zeros(8, dtype=torch.long)
    loader = TensorLoader(torch.zeros(8, 28, 28, dtype=torch.uint8), y, 4)
    with pytest.raises(ValueError, match="no mistake"):
        predict_ch6(_Oracle(), loader, n=2, only_errors=True)


def test_plot_confusion_matrix_normalises_rows():
    cm = torch.tensor([[3, 1], [0, 4]])
    ax = plot_confusion_matrix(cm, ["x", "y"])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.75", "0.25", "0.00", "1.00"]
    plt.close("all")


def test_confusion_matrix_empty():
    assert torch.equal(confusion_matrix([], [], num_classes=3), torch.zeros(3, 3, dtype=torch.long))


def test_table_text_and_html():
    t = cnncourse.Table(["model", "acc"], [["a<b", 0.5], ["bb", "~36"]], caption="cpu budget")
    text = str(t).splitlines()
    assert text[0].split() == ["model", "acc"] and text[-1] == "cpu budget"
    assert text[2].endswith("0.5") and text[3].endswith("~36")
    html = t._repr_html_()
    assert "<caption>cpu budget</caption>" in html and "a&lt;b" in html
    assert html.count("<tr>") == 3 and 'style="text-align:right; white-space:nowrap">0.5<' in html
    with pytest.raises(ValueError, match="2 cells"):
        cnncourse.Table(["a", "b"], [[1]])
