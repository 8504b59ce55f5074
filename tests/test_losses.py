"""cnncourse.losses against PyTorch: values, stability on huge logits, gradients."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncourse import losses as L

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def logits_and_labels(draw, scale_max: float = 30.0, dtype=torch.float64):
    """A (batch, classes) logit matrix of random size and scale, and valid labels."""
    n = draw(st.integers(1, 8))
    k = draw(st.integers(2, 12))
    scale = draw(st.floats(0.01, scale_max))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, k, generator=g, dtype=dtype) * scale)
    y = torch.randint(0, k, (n,), generator=g)
    return z, y


# ------------------------------------------------------------------ values
@SETTINGS
@given(logits_and_labels())
def test_softmax_matches_torch(zy):
    z, _ = zy
    p = L.softmax(z, dim=1)
    torch.testing.assert_close(p, F.softmax(z, dim=1))
    torch.testing.assert_close(p.sum(1), torch.ones(len(z), dtype=z.dtype))
    torch.testing.assert_close(L.log_softmax(z, dim=1), F.log_softmax(z, dim=1))
    torch.testing.assert_close(L.logsumexp(z, dim=1), torch.logsumexp(z, dim=1))


@SETTINGS
@given(logits_and_labels(), st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_matches_torch(zy, reduction):
    z, y = zy
    ours = L.cross_entropy(z, y, reduction=reduction)
    torch.testing.assert_close(ours, F.cross_entropy(z, y, reduction=reduction))
    torch.testing.assert_close(ours, torch.nn.CrossEntropyLoss(reduction=reduction)(z, y))


@SETTINGS
@given(logits_and_labels(scale_max=5.0))
def test_naive_agrees_on_moderate_logits(zy):
    z, y = zy
    torch.testing.assert_close(L.naive_softmax_cross_entropy(z, y), F.cross_entropy(z, y))
    torch.testing.assert_close(L.naive_softmax(z, dim=1), F.softmax(z, dim=1))


@SETTINGS
@given(logits_and_labels(), st.floats(-1e4, 1e4))
def test_cross_entropy_is_shift_invariant(zy, c):
    z, y = zy
    torch.testing.assert_close(L.cross_entropy(z + c, y), L.cross_entropy(z, y),
                               rtol=1e-6, atol=1e-6)


def test_one_hot():
    y = torch.tensor([2, 0, 1])
    expected = torch.tensor([[0., 0., 1.], [1., 0., 0.], [0., 1., 0.]])
    assert torch.equal(L.one_hot(y, 3), expected)
    assert torch.equal(L.one_hot(y, 3), F.one_hot(y, 3).float())
    assert L.one_hot(y, 4, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(RuntimeError):
        L.one_hot(torch.tensor([3]), 3)
    with pytest.raises(TypeError):
        L.one_hot(torch.tensor([1.0]), 3)


def test_cross_entropy_rejects_float_labels_and_bad_shapes():
    z = torch.zeros(2, 3)
    with pytest.raises(TypeError):
        L.cross_entropy(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError):
        L.cross_entropy(z, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError):
        L.cross_entropy(z[0], torch.tensor([0]))
    with pytest.raises(ValueError):
        L.cross_entropy(z, torch.tensor([0, 1]), reduction="avg")


# ------------------------------------------------------------------ stability
@SETTINGS
@given(logits_and_labels(dtype=torch.float32), st.floats(1e3, 1e30))
def test_cross_entropy_finite_on_huge_logits(zy, big):
    z, y = zy
    z = z.clone()
    z[:, 0] += big                      # one class far ahead: exp overflows in float32
    ours = L.cross_entropy(z, y, reduction="none")
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, F.cross_entropy(z, y, reduction="none"))
    assert torch.isfinite(L.softmax(z, dim=1)).all()
    assert torch.isfinite(L.log_softmax(z, dim=1)).all()


def test_naive_overflows_where_log_sum_exp_does_not():
    z = torch.tensor([[1000.0, 0.0, -1000.0]])
    # label 0: inf/inf = nan; label 1: exp(0)/inf = 0 and -log 0 = inf
    assert math.isnan(L.naive_softmax_cross_entropy(z, torch.tensor([0])).item())
    assert math.isinf(L.naive_softmax_cross_entropy(z, torch.tensor([1])).item())
    assert L.cross_entropy(z, torch.tensor([0])).item() == 0.0
    assert L.cross_entropy(z, torch.tensor([1])).item() == pytest.approx(1000.0)
    assert L.cross_entropy(z, torch.tensor([2])).item() == pytest.approx(2000.0)


# ------------------------------------------------------------------ gradients
@SETTINGS
@given(logits_and_labels(), st.sampled_from(["mean", "sum"]))
def test_gradient_is_softmax_minus_one_hot(zy, reduction):
    z, y = zy
    z = z.clone().requires_grad_(True)
    F.cross_entropy(z, y, reduction=reduction).backward()
    closed = L.softmax_cross_entropy_grad(z.detach(), y, reduction=reduction)
    torch.testing.assert_close(closed, z.grad)
    # each row of softmax - one_hot sums to zero and lies in [-1, 1]
    row = closed * (len(y) if reduction == "mean" else 1)
    torch.testing.assert_close(row.sum(1), torch.zeros(len(y), dtype=z.dtype))
    assert (row.abs() <= 1 + 1e-12).all()


@settings(max_examples=10, deadline=None)
@given(logits_and_labels(scale_max=3.0))
def test_our_cross_entropy_gradients_pass_gradcheck(zy):
    z, y = zy
    z = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: L.cross_entropy(t, y), (z,))


# ------------------------------------------------------------------ binary
@SETTINGS
@given(st.integers(1, 20), st.floats(0.01, 40.0), st.integers(0, 2**31 - 1))
def test_binary_cross_entropy_matches_torch(n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, 2, (n,), generator=g).double()
    torch.testing.assert_close(L.binary_cross_entropy_with_logits(z, y),
                               F.binary_cross_entropy_with_logits(z, y))
    p = torch.sigmoid(z).clamp(1e-12, 1 - 1e-12)
    torch.testing.assert_close(L.binary_cross_entropy(p, y), F.binary_cross_entropy(p, y))


def test_binary_cross_entropy_with_logits_finite_on_huge_logits():
    z = torch.tensor([500.0, -500.0, 1e30, -1e30])
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    out = L.binary_cross_entropy_with_logits(z, y, reduction="none")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([500.0, 500.0, 0.0, 0.0]))
    # the probability form breaks: sigmoid(500) == 1.0 in float32, log(1 - 1) = -inf
    assert math.isinf(L.binary_cross_entropy(torch.sigmoid(z[:1]), y[:1]).item())


def test_binary_equals_two_class_softmax_cross_entropy():
    # a sigmoid on z is a softmax on (0, z): the two losses are one loss
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, generator=g, dtype=torch.float64) * 4
    y = torch.randint(0, 2, (16,), generator=g)
    two = torch.stack([torch.zeros_like(z), z], dim=1)
    torch.testing.assert_close(L.binary_cross_entropy_with_logits(z, y), L.cross_entropy(two, y))


# ------------------------------------------------------------------ one-hot MSE
@SETTINGS
@given(logits_and_labels(scale_max=5.0))
def test_one_hot_mse_loss(zy):
    z, y = zy
    k = z.shape[1]
    target = F.one_hot(y, k).to(z.dtype)
    loss = L.OneHotMSELoss()
    # summed over classes, averaged over examples = K x nn.MSELoss's mean
    torch.testing.assert_close(loss(z, y), F.mse_loss(z.float(), target.float()) * k)
    brier = L.OneHotMSELoss(softmax=True, reduction="sum")(z, y)
    torch.testing.assert_close(brier, F.mse_loss(F.softmax(z.float(), 1), target.float(),
                                                 reduction="sum"))
    # the gradient it feeds back: 2 (z - one_hot) / batch
    zz = z.float().clone().requires_grad_(True)
    loss(zz, y).backward()
    torch.testing.assert_close(zz.grad, 2 * (z.float() - target.float()) / len(y))


def test_one_hot_mse_drops_into_train_ch6():
    import cnncourse as d2l
    from torch import nn

    torch.manual_seed(0)
    X = torch.randint(0, 256, (64, 4, 4), dtype=torch.uint8)
    y = torch.arange(64) % 3
    tr = d2l.TensorLoader(X, y, batch_size=16, shuffle=True, num_classes=3)
    te = d2l.TensorLoader(X, y, batch_size=16, num_classes=3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    h = d2l.train_ch6(net, tr, te, 2, 0.05, "cpu", loss=L.OneHotMSELoss(), animate=False,
                      verbose=False)
    assert h.epochs == 2 and all(math.isfinite(v) for v in h.train_loss)
    assert "softmax=False" in repr(L.OneHotMSELoss())


@SETTINGS
@given(logits_and_labels(scale_max=10.0))
def test_curvature_in_the_logits(zy):
    """The chapter's learning-rate argument: Hessians 2I (square error) and <= 1/2
    (cross-entropy)."""
    from torch.autograd.functional import hessian

    z, y = zy
    z0, y0 = z[0], y[:1]
    H_ce = hessian(lambda v: L.cross_entropy(v[None], y0, reduction="sum"), z0)
    p = L.softmax(z0)
    torch.testing.assert_close(H_ce, torch.diag(p) - torch.outer(p, p))
    assert torch.linalg.eigvalsh(H_ce).max() <= 0.5 + 1e-12
    H_sq = hessian(lambda v: L.OneHotMSELoss(reduction="sum")(v[None], y0), z0.float())
    torch.testing.assert_close(H_sq, 2 * torch.eye(len(z0)))
