"""d2l's tensor aliases: ``cnncourse.tensor``, ``cnncourse.reduce_sum``, ... mean what they mean in d2l.

d2l's chapters spell tensor calls through these names, so ``import cnncourse as d2l``
must provide them; the package serves them without listing them to a reader.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.d2l_aliases import ALIASES

# The aliases of d2l-zh's d2l/torch.py, and the ones d2l-en's adds.
D2L_ZH = ["ones", "zeros", "tensor", "arange", "meshgrid", "sin", "sinh", "cos", "cosh", "tanh",
          "linspace", "exp", "log", "normal", "rand", "randn", "matmul", "int32", "float32",
          "concat", "stack", "abs", "eye", "numpy", "size", "reshape", "to", "reduce_sum",
          "argmax", "astype", "transpose", "reduce_mean", "nn_Module"]
D2L_EN_EXTRA = ["ones_like", "zeros_like", "int64", "sigmoid", "batch_matmul", "expand_dims",
                "swapaxes", "repeat"]

# d2l's name -> the torch object it is.
SAME_OBJECT = {
    "ones": torch.ones, "ones_like": torch.ones_like, "zeros": torch.zeros,
    "zeros_like": torch.zeros_like, "tensor": torch.tensor, "arange": torch.arange,
    "meshgrid": torch.meshgrid, "sin": torch.sin, "sinh": torch.sinh, "cos": torch.cos,
    "cosh": torch.cosh, "tanh": torch.tanh, "linspace": torch.linspace, "exp": torch.exp,
    "log": torch.log, "normal": torch.normal, "rand": torch.rand, "randn": torch.randn,
    "matmul": torch.matmul, "batch_matmul": torch.bmm, "int32": torch.int32,
    "int64": torch.int64, "float32": torch.float32, "concat": torch.cat, "stack": torch.stack,
    "abs": torch.abs, "eye": torch.eye, "sigmoid": torch.sigmoid, "nn_Module": nn.Module,
    "plt": plt,
}


def x23() -> torch.Tensor:
    return torch.arange(6, dtype=torch.float32).reshape(2, 3)


# d2l's name, its arguments after the tensor, and the torch call on x23() it must equal.
METHOD_CASES = [
    ("reshape", ((3, 2),), {}, lambda x: x.reshape(3, 2)),
    ("reshape", (-1,), {}, lambda x: x.reshape(-1)),
    ("to", (torch.float64,), {}, lambda x: x.to(torch.float64)),
    ("to", (torch.device("cpu"),), {}, lambda x: x.to("cpu")),
    ("reduce_sum", (), {}, lambda x: x.sum()),
    ("reduce_sum", (), {"axis": 1}, lambda x: x.sum(dim=1)),
    ("reduce_sum", (), {"dim": 0, "keepdim": True}, lambda x: x.sum(dim=0, keepdim=True)),
    ("reduce_mean", (), {}, lambda x: x.mean()),
    ("reduce_mean", (), {"axis": 0}, lambda x: x.mean(dim=0)),
    ("argmax", (), {"axis": 1}, lambda x: x.argmax(dim=1)),
    ("argmax", (), {}, lambda x: x.argmax()),
    ("astype", (torch.int32,), {}, lambda x: x.type(torch.int32)),
    ("transpose", (), {}, lambda x: x.t()),
    ("expand_dims", (0,), {}, lambda x: x.unsqueeze(0)),
    ("swapaxes", (0, 1), {}, lambda x: x.swapaxes(0, 1)),
    ("repeat", (2, 1), {}, lambda x: x.repeat(2, 1)),
]


def test_every_d2l_alias_is_provided():
    missing = [n for n in D2L_ZH + D2L_EN_EXTRA if not hasattr(cnncourse, n)]
    assert missing == []
    assert set(ALIASES) == set(D2L_ZH + D2L_EN_EXTRA + ["plt"])


@pytest.mark.parametrize("name", sorted(SAME_OBJECT))
def test_function_alias_is_the_torch_object_d2l_maps_it_to(name):
    assert getattr(cnncourse, name) is SAME_OBJECT[name]


@pytest.mark.parametrize("name,args,kwargs,expected", METHOD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(METHOD_CASES)])
def test_method_alias_equals_the_tensor_method(name, args, kwargs, expected):
    got, want = getattr(cnncourse, name)(x23(), *args, **kwargs), expected(x23())
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(got, want)


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
    x = cnncourse.to(x23(), torch.device("cuda"))
    assert x.is_cuda
    assert cnncourse.numpy(x).tolist() == x23().tolist()


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
        cnncourse.reduce_max
    assert not hasattr(cnncourse, "__wrapped__")
