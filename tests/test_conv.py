"""cnncourse.conv: the from-scratch convolution and pooling against PyTorch's own kernels."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import cnncourse
from cnncourse.conv import (comp_conv2d, conv_output_size, corr2d, corr2d_multi_in,
                            corr2d_multi_in_out, corr2d_multi_in_out_1x1, pool2d,
                            pool2d_backward, receptive_field)
from cnncourse.models.lenet import lenet, lenet_modern

FAST = settings(max_examples=40, deadline=None)


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ------------------------------------------------------------------ hand-checked cases
def test_corr2d_small_example_by_hand():
    X = torch.tensor([[1., 2., 0.], [3., 1., 4.], [0., 2., 5.]])
    K = torch.tensor([[2., -1.], [0., 1.]])
    # top-left: 1*2 + 2*(-1) + 3*0 + 1*1 = 1, etc.
    expected = torch.tensor([[1., 8.], [7., 3.]])
    assert torch.equal(corr2d(X, K), expected)


def test_corr2d_is_not_convolution_for_asymmetric_kernel():
    X, K = randn(5, 6), torch.tensor([[1., 2.], [3., 4.]], dtype=torch.float64)
    flipped = torch.flip(K, dims=(0, 1))
    assert not torch.allclose(corr2d(X, K), corr2d(X, flipped))
    # true convolution (valid part), straight from its definition
    oh, ow = 4, 5
    conv = torch.zeros(oh, ow, dtype=torch.float64)
    for i in range(oh):
        for j in range(ow):
            for a in range(2):
                for b in range(2):
                    conv[i, j] += X[i + 1 - a, j + 1 - b] * K[a, b]
    assert torch.allclose(conv, corr2d(X, flipped))


def test_corr2d_multi_in_sums_channels():
    X, K = randn(3, 4, 5), randn(3, 2, 2, seed=1)
    per_channel = [corr2d(X[c], K[c]) for c in range(3)]
    assert torch.allclose(corr2d_multi_in(X, K), per_channel[0] + per_channel[1] + per_channel[2])
    with pytest.raises(ValueError, match="channels"):
        corr2d_multi_in(X, K[:2])


def test_corr2d_is_differentiable():
    X, K = randn(6, 6), randn(3, 3, seed=1).requires_grad_()
    corr2d(X, K).sum().backward()
    # d/dK[a,b] of sum(Y) = sum of the inputs that K[a,b] meets
    assert torch.allclose(K.grad[0, 0], X[:4, :4].sum())


def test_conv_output_size_examples_and_errors():
    assert conv_output_size(28, 5, 2, 1) == 28
    assert conv_output_size(28, 2, 0, 2) == 14
    assert conv_output_size(224, 11, 0, 4) == 54      # AlexNet's first layer
    assert conv_output_size(8, 3, 1, 2) == 4
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError):
        conv_output_size(8, 3, s=0)


def test_comp_conv2d_returns_the_map():
    conv = nn.Conv2d(1, 1, kernel_size=3, padding=1, stride=2)
    assert comp_conv2d(conv, torch.rand(8, 8)).shape == (4, 4)


def test_pool2d_small_example_and_errors():
    X = torch.arange(16.).reshape(4, 4)
    assert torch.equal(pool2d(X, 2), torch.tensor([[5., 7.], [13., 15.]]))
    assert torch.equal(pool2d(X, 2, "avg"), torch.tensor([[2.5, 4.5], [10.5, 12.5]]))
    assert pool2d(X, 2, stride=1).shape == (3, 3)
    with pytest.raises(ValueError, match="mode"):
        pool2d(X, 2, "median")
    with pytest.raises(ValueError, match="half the window"):
        pool2d(X, 2, padding=2)


def test_pool2d_backward_by_hand():
    X = torch.tensor([[1., 9., 2., 0.], [3., 4., 8., 5.]])
    dY = torch.tensor([[10., 20.]])
    assert torch.equal(pool2d_backward(X, dY, 2, "max"),
                       torch.tensor([[0., 10., 0., 0.], [0., 0., 20., 0.]]))
    assert torch.equal(pool2d_backward(X, dY, 2, "avg"),
                       torch.tensor([[2.5, 2.5, 5., 5.], [2.5, 2.5, 5., 5.]]))
    with pytest.raises(ValueError, match="spatial shape"):
        pool2d_backward(X, torch.ones(2, 2), 2)


def test_receptive_field_of_the_lenets():
    sizes = [r.size for r in receptive_field(lenet_modern())]
    assert sizes == [5, 6, 14, 16]
    assert [r.jump for r in receptive_field(lenet())] == [1, 2, 2, 4]
    assert receptive_field([(3, 1)] * 4)[-1].size == 9
    dilated = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)))
    assert dilated[0].size == 5


def test_exported_from_package():
    for name in ("corr2d", "corr2d_multi_in_out_1x1", "pool2d", "receptive_field"):
        assert hasattr(cnncourse, name)


# ------------------------------------------------------------------ properties vs PyTorch
conv_cases = st.tuples(
    st.integers(1, 3), st.integers(1, 3),     # batch, channels
    st.integers(1, 12), st.integers(1, 12),   # h, w
    st.integers(1, 5), st.integers(1, 5),     # kh, kw
    st.integers(0, 2), st.integers(0, 2),     # ph, pw
    st.integers(1, 3), st.integers(1, 3),     # sh, sw
    st.integers(0, 2**31 - 1))


@FAST
@given(conv_cases)
def test_corr2d_matches_F_conv2d(case):
    n, c, h, w, kh, kw, ph, pw, sh, sw, seed = case
    assume(h + 2 * ph >= kh and w + 2 * pw >= kw)  # the window fits the padded input
    X, K = randn(n, c, h, w, seed=seed), randn(kh, kw, seed=seed + 1)
    ours = corr2d(X, K, padding=(ph, pw), stride=(sh, sw))
    ref = F.conv2d(X.reshape(n * c, 1, h, w), K[None, None], padding=(ph, pw), stride=(sh, sw))
    assert ours.shape == (n, c, conv_output_size(h, kh, ph, sh), conv_output_size(w, kw, pw, sw))
    assert torch.allclose(ours, ref.reshape(ours.shape))


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9),
       st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_multi_channel_matches_F_conv2d(c_i, c_o, h, w, k, seed):
    assume(k <= min(h, w))  # the kernel fits the input
    X, K = randn(c_i, h, w, seed=seed), randn(c_o, c_i, k, k, seed=seed + 1)
    ref = F.conv2d(X[None], K)[0]
    assert torch.allclose(corr2d_multi_in_out(X, K), ref)
    assert torch.allclose(corr2d_multi_in(X, K[0]), ref[0])
    K1 = randn(c_o, c_i, 1, 1, seed=seed + 2)
    assert torch.allclose(corr2d_multi_in_out_1x1(X, K1), F.conv2d(X[None], K1)[0])
    assert torch.allclose(corr2d_multi_in_out_1x1(X, K1), corr2d_multi_in_out(X, K1))


def test_conv_output_size_matches_nn_conv2d_on_a_grid():
    for n in range(1, 12):
        for k in range(1, 6):
            for p in range(3):
                for s in range(1, 4):
                    if n + 2 * p < k:
                        continue
                    conv = nn.Conv2d(1, 1, k, padding=p, stride=s, bias=False)
                    with torch.no_grad():
                        out = conv(torch.zeros(1, 1, n, n))
                    assert out.shape[-1] == conv_output_size(n, k, p, s), (n, k, p, s)


pool_cases = st.tuples(
    st.integers(1, 2), st.integers(1, 3),     # batch, channels
    st.integers(1, 10), st.integers(1, 10),   # h, w
    st.integers(1, 4), st.integers(1, 4),     # kh, kw
    st.integers(0, 2), st.integers(0, 2),     # ph, pw (clipped to half the window below)
    st.integers(1, 3), st.integers(1, 3),     # sh, sw
    st.sampled_from(["max", "avg"]),
    st.integers(0, 2**31 - 1))


def _pool_case(case):
    n, c, h, w, kh, kw, ph, pw, sh, sw, mode, seed = case
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return None
    X = randn(n, c, h, w, seed=seed)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    return X, (kh, kw), (ph, pw), (sh, sw), mode, fn


@FAST
@given(pool_cases)
def test_pool2d_matches_torch(case):
    args = _pool_case(case)
    assume(args is not None)  # the window fits the padded input
    X, k, p, s, mode, fn = args
    ours = pool2d(X, k, mode, padding=p, stride=s)
    ref = fn(X, k, stride=s, padding=p)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref)


@FAST
@given(pool_cases)
def test_pool2d_backward_matches_autograd(case):
    args = _pool_case(case)
    assume(args is not None)  # the window fits the padded input
    X, k, p, s, mode, fn = args
    Xg = X.clone().requires_grad_()
    out = fn(Xg, k, stride=s, padding=p)
    dY = randn(*out.shape, seed=case[-1] + 7)
    out.backward(dY)
    assert torch.allclose(pool2d_backward(X, dY, k, mode, padding=p, stride=s), Xg.grad)


def test_pool2d_default_stride_is_the_window():
    X = randn(2, 3, 8, 8)
    assert torch.equal(pool2d(X, 2), F.max_pool2d(X, 2))
    assert torch.equal(pool2d(X, 3, "max"), nn.MaxPool2d(3)(X))


@FAST
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 2)), min_size=1, max_size=4))
def test_receptive_field_matches_the_gradient_footprint(layers):
    """Autograd's view: the input pixels one output unit depends on form a size x size square."""
    rows = receptive_field(layers)
    size = rows[-1].size
    net = nn.Sequential(*[nn.AvgPool2d(k, stride=s) for k, s in layers])
    n = size + 40
    X = torch.ones(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    Y = net(X)
    Y[0, 0, 0, 0].backward()        # the top-left unit: its field starts at pixel (0, 0)
    rows_hit = (X.grad[0, 0] != 0).any(dim=1).nonzero().flatten()
    assert rows_hit.min() == 0 and rows_hit.max() + 1 == size
