"""d2l's tensor aliases: ``cnncourse.tensor``, ``cnncourse.reduce_sum``, ... mean what d2l means.

d2l's chapters spell tensor calls through these names, so ``import cnncourse as d2l``
must provide them; the package serves them without listing them to a reader.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import cnncourse
from cnncourse.d2l_aliases import ALIASES

# The aliases of d2l-zh's d2l/torch.py, and the ones d2l-en's adds.
D2L_ZH = ["ones", "zeros", "tensor", "arange", "meshgrid", "sin", "sinh", "cos", "cosh", "tanh",
          "linspace", "exp", "log", "normal", "rand", "randn", "matmul", "int32", "float32",
          "concat", "stack", "abs", "eye", "numpy", "size", "reshape", "to", "reduce_sum",
          "argmax", "astype", "transpose", "reduce_mean", "nn_Module"]
D2L_EN_EXTRA = ["ones_like", "zeros_like", "int64", "sigmoid", "batch_matmul", "expand_dims",
                "swapaxes", "repeat"]


def run_d2l_style_code(d2l) -> None:
    """Cells in the manner of d2l's chapters (data manipulation, linear algebra, calculus,
    a custom module), each followed by the value d2l's text says it prints."""
    torch.manual_seed(0)
    # tensors: creation, shape, elementwise operations
    x = d2l.arange(12, dtype=d2l.float32)
    assert d2l.size(x) == 12  # NumPy's size: the number of elements
    X = d2l.reshape(x, (3, 4))
    assert X.shape == (3, 4) and X[2, 3] == 11
    assert d2l.reduce_sum(d2l.zeros((2, 3, 4))) == 0 and d2l.reduce_sum(d2l.ones((2, 3))) == 6
    assert torch.equal(d2l.zeros_like(X), X * 0) and torch.equal(d2l.ones_like(X), X ** 0)
    assert d2l.randn(3, 4).shape == (3, 4) and float(d2l.rand(1000).max()) < 1
    assert d2l.normal(0, 0.01, size=(2, 5)).abs().max() < 0.1
    Y = d2l.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    assert d2l.concat((X, Y), 0).shape == (6, 4) and d2l.concat((X, Y), 1).shape == (3, 8)
    assert d2l.stack([X, Y], 0).shape == (2, 3, 4)
    assert torch.allclose(d2l.exp(d2l.log(Y)), Y)
    assert torch.equal(d2l.abs(-X), X)
    t = d2l.linspace(-1, 1, 5)
    assert t.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert torch.allclose(d2l.sin(t) ** 2 + d2l.cos(t) ** 2, d2l.ones(5))
    assert torch.allclose(d2l.cosh(t) ** 2 - d2l.sinh(t) ** 2, d2l.ones(5))
    assert torch.allclose(d2l.tanh(t), d2l.sinh(t) / d2l.cosh(t))
    assert d2l.sigmoid(d2l.tensor(0.0)) == 0.5
    # linear algebra: reductions along an axis, products, transposes
    A = d2l.reshape(d2l.arange(6, dtype=d2l.float32), (2, 3))
    assert d2l.reduce_sum(A, axis=0).tolist() == [3.0, 5.0, 7.0]
    assert d2l.reduce_mean(A, axis=1).tolist() == [1.0, 4.0]
    assert d2l.argmax(A, axis=1).tolist() == [2, 2]
    assert torch.equal(d2l.transpose(d2l.transpose(A)), A) and d2l.transpose(A).shape == (3, 2)
    assert torch.equal(d2l.matmul(A, d2l.eye(3)), A)
    B = d2l.ones((4, 2, 3))
    assert d2l.batch_matmul(B, d2l.ones((4, 3, 5))).shape == (4, 2, 5)
    assert d2l.expand_dims(A, 0).shape == (1, 2, 3)
    assert d2l.swapaxes(B, 0, 2).shape == (3, 2, 4)
    assert d2l.repeat(A, 2, 1).shape == (4, 3)
    # dtypes and devices
    assert d2l.astype(d2l.tensor([1.7, -1.2]), d2l.int32).tolist() == [1, -1]
    assert d2l.astype(A, d2l.int64).dtype == torch.int64
    assert d2l.to(A, torch.device("cpu")).device.type == "cpu"
    assert isinstance(d2l.numpy(A), np.ndarray)
    xs, ys = d2l.meshgrid(d2l.arange(3), d2l.arange(2), indexing="ij")
    assert xs.shape == ys.shape == (3, 2)

    # a module of one's own, on d2l's base class name
    class Scale(d2l.nn_Module):
        def forward(self, z):
            return 2 * z

    assert torch.equal(Scale()(A), 2 * A)
    # a plot, as d2l's cells draw one
    fig = d2l.plt.figure()
    d2l.plt.plot(d2l.numpy(t), d2l.numpy(d2l.tanh(t)))
    d2l.plt.close(fig)


def test_d2l_style_code_runs_and_uses_every_alias_d2l_defines(monkeypatch):
    used = []
    lookup = cnncourse.d2l_aliases.lookup

    def recording(name):
        value = lookup(name)  # raises AttributeError for a name d2l does not alias
        used.append(name)
        return value

    monkeypatch.setattr(cnncourse.d2l_aliases, "lookup", recording)
    run_d2l_style_code(cnncourse)
    assert set(used) == set(D2L_ZH + D2L_EN_EXTRA + ["plt"])


def test_size_is_the_number_of_elements_not_the_shape():
    assert cnncourse.size(torch.zeros(2, 3, 4)) == 24
    assert cnncourse.size(torch.tensor([1, 2, 3])) == 3


def test_numpy_detaches_and_keeps_the_values():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        w.numpy()  # why d2l's numpy detaches
    a = cnncourse.numpy(w * 2)
    assert isinstance(a, np.ndarray) and a.tolist() == [2.0, -4.0]


def test_numpy_shares_memory_with_a_cpu_tensor_as_tensor_numpy_does():
    x = torch.zeros(3)
    a = cnncourse.numpy(x)
    x[0] = 5.0
    assert a[0] == 5.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_numpy_and_to_work_on_cuda():
    a = torch.arange(6.0).reshape(2, 3)
    x = cnncourse.to(a, torch.device("cuda"))
    assert x.is_cuda
    assert cnncourse.numpy(x).tolist() == a.tolist()


def test_transpose_is_the_matrix_transpose_as_in_d2l():
    assert torch.equal(cnncourse.transpose(torch.tensor([1, 2])), torch.tensor([1, 2]))
    with pytest.raises(RuntimeError):
        cnncourse.transpose(torch.zeros(2, 3, 4))


def test_astype_converts_the_values():
    y = cnncourse.astype(torch.tensor([1.7, -1.2]), cnncourse.int32)
    assert y.dtype == torch.int32 and y.tolist() == [1, -1]


def test_d2l_style_code_runs():
    # The shape of d2l's own cells: a cross-correlation and a check of two results.
    d2l = cnncourse
    X = d2l.reshape(d2l.arange(9, dtype=d2l.float32), (3, 3))
    K = d2l.tensor([[0.0, 1.0], [2.0, 3.0]])
    Y = d2l.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            Y[i, j] = d2l.reduce_sum(X[i:i + 2, j:j + 2] * K)
    assert Y.tolist() == [[19.0, 25.0], [37.0, 43.0]]
    Z = d2l.stack([Y, Y], 0)
    assert float(d2l.reduce_sum(d2l.abs(Z[0] - d2l.concat([Y], 0)))) < 1e-6
    assert d2l.matmul(d2l.ones((1, 2)), Y).tolist() == [[56.0, 68.0]]


@pytest.mark.parametrize("name", D2L_ZH + D2L_EN_EXTRA + ["plt"])
def test_aliases_stay_out_of_the_readers_view(name):
    assert name not in dir(cnncourse)
    assert name not in getattr(cnncourse, "__all__", ())
    star: dict = {}
    exec("from cnncourse import *", star)
    assert name not in star


def test_the_courses_own_names_are_untouched():
    from cnncourse.conv import corr2d
    from cnncourse.train import train_ch6
    assert cnncourse.corr2d is corr2d and cnncourse.train_ch6 is train_ch6
    assert not set(ALIASES) & set(vars(cnncourse))


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'reduce_max'"):
        _ = cnncourse.reduce_max
    assert not hasattr(cnncourse, "__wrapped__")
