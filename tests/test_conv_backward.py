"""cnncourse.conv: the convolution's backward pass from scratch against autograd."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncourse.conv import (conv2d_backward_input, conv2d_backward_kernel, corr2d,
                            dilate2d)

FAST = settings(max_examples=40, deadline=None)


def autograd_grads(X, K, G, padding, stride):
    X, K = X.clone().requires_grad_(), K.clone().requires_grad_()
    F.conv2d(X, K, padding=padding, stride=stride).backward(G)
    return X.grad, K.grad


@FAST
@given(st.data())
def test_backward_matches_autograd_on_random_shapes(data):
    B, ci, co = (data.draw(st.integers(1, 3)) for _ in range(3))
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    ph, pw = data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kw - 1))
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    h = data.draw(st.integers(max(kh - 2 * ph, 1), 9))
    w = data.draw(st.integers(max(kw - 2 * pw, 1), 9))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    X = torch.randn(B, ci, h, w, generator=g, dtype=torch.float64)
    K = torch.randn(co, ci, kh, kw, generator=g, dtype=torch.float64)
    G = torch.randn(F.conv2d(X, K, padding=(ph, pw), stride=(sh, sw)).shape, generator=g,
                    dtype=torch.float64)
    dX, dK = autograd_grads(X, K, G, (ph, pw), (sh, sw))
    torch.testing.assert_close(conv2d_backward_input(X, K, G, (ph, pw), (sh, sw)), dX)
    torch.testing.assert_close(conv2d_backward_kernel(X, K, G, (ph, pw), (sh, sw)), dK)


def test_input_gradient_is_full_correlation_with_flipped_kernel():
    # one channel, stride 1, no padding: dX = corr2d(dY padded by k - 1, flipped K)
    g = torch.Generator().manual_seed(1)
    X, K = torch.randn(6, 7, generator=g), torch.randn(3, 2, generator=g)
    G = torch.randn(4, 6, generator=g)
    expected = corr2d(G, torch.flip(K, (0, 1)), padding=(2, 1))
    got = conv2d_backward_input(X[None, None], K[None, None], G[None, None])[0, 0]
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(conv2d_backward_kernel(X[None, None], K[None, None],
                                                      G[None, None])[0, 0], corr2d(X, G))


def test_dilate_inserts_zeros():
    Y = torch.tensor([[1., 2.], [3., 4.]])
    assert torch.equal(dilate2d(Y, 2), torch.tensor([[1., 0., 2.], [0., 0., 0.], [3., 0., 4.]]))
    assert torch.equal(dilate2d(Y, 1), Y)


def test_untouched_inputs_get_zero_gradient():
    # 6 wide, kernel 2, stride 3: rows and columns 2 and 5 are never inside a window
    X, K = torch.randn(1, 1, 6, 6), torch.randn(1, 1, 2, 2)
    dX = conv2d_backward_input(X, K, torch.ones(1, 1, 2, 2), stride=3)
    untouched = torch.zeros(6, 6, dtype=torch.bool)
    untouched[[2, 5], :] = True
    untouched[:, [2, 5]] = True
    assert torch.all(dX[0, 0][untouched] == 0)
    assert torch.all(dX[0, 0][~untouched] != 0)


def test_wrong_shapes_are_named():
    X, K = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="output has"):
        conv2d_backward_input(X, K, torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="channels or batch"):
        conv2d_backward_kernel(X, K, torch.randn(1, 2, 3, 3))
    with pytest.raises(ValueError, match="need X"):
        conv2d_backward_kernel(X[0], K, torch.randn(1, 3, 3, 3))
