"""cnncourse.norm and cnncourse.models.modern: batch norm from scratch, blocks, deep nets."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cnncourse as d2l
from cnncourse.models import modern
from cnncourse.models.lenet import lenet
from cnncourse.norm import BatchNorm, batch_norm

FAST = settings(max_examples=30, deadline=None)



@FAST
@given(st.data())
def test_batch_norm_matches_pytorch_in_both_modes(data):
    image = data.draw(st.booleans())
    B, C = data.draw(st.integers(2, 5)), data.draw(st.integers(1, 4))
    shape = (B, C, data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))) if image else (B, C)
    momentum = data.draw(st.sampled_from([0.1, 0.5, 0.9]))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    ours = BatchNorm(C, momentum=momentum).double()
    ref = (nn.BatchNorm2d if image else nn.BatchNorm1d)(C, momentum=momentum).double()
    with torch.no_grad():
        w, b = torch.randn(C, generator=g, dtype=torch.float64), torch.randn(C, generator=g,
                                                                              dtype=torch.float64)
        for m in (ours, ref):
            m.weight.copy_(w), m.bias.copy_(b)
    for step in range(3):   # three training batches: the running statistics must track
        X = 3 * torch.randn(shape, generator=g, dtype=torch.float64) + step
        Xa, Xb = X.clone().requires_grad_(), X.clone().requires_grad_()
        ya, yb = ours(Xa), ref(Xb)
        torch.testing.assert_close(ya, yb)
        G = torch.randn(ya.shape, generator=g, dtype=torch.float64)
        ya.backward(G), yb.backward(G)
        torch.testing.assert_close(Xa.grad, Xb.grad)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
        torch.testing.assert_close(ours.running_mean, ref.running_mean)
        torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    X = torch.randn(shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ours(X), ref(X))
    # evaluation mode: each example on its own, whatever else is in the batch
    torch.testing.assert_close(ours(X[:1]), ours(X)[:1])


def test_training_mode_output_has_zero_mean_unit_variance():
    X = 5 * torch.randn(64, 3, 4, 4) + 7
    Y = BatchNorm(3)(X)
    assert Y.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert (Y.var(dim=(0, 2, 3), unbiased=False) - 1).abs().max() < 1e-3


def test_batch_norm_rejects_bad_input():
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match="more than one value"):
        bn(torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"\(B, C\) or \(B, C, H, W\)"):
        batch_norm(torch.randn(2, 3, 4), bn.weight, bn.bias, bn.running_mean, bn.running_var,
                   training=True)


def test_lenet_bn_scratch_equals_torch():
    torch.manual_seed(0)
    a = modern.lenet_bn(norm="torch")
    b = modern.lenet_bn(norm="scratch")
    b.load_state_dict(a.state_dict(), strict=False)
    X = torch.rand(8, 1, 28, 28)
    torch.testing.assert_close(a(X), b(X))
    a.eval(), b.eval()
    torch.testing.assert_close(a(X), b(X))
    # same convolutions and dense layers as d2l's LeNet
    shapes = lambda n: [tuple(p.shape) for m in n if isinstance(m, (nn.Conv2d, nn.Linear))
                        for p in m.parameters()]
    assert shapes(a) == shapes(lenet())
    with pytest.raises(ValueError, match="norm must be"):
        modern.lenet_bn(norm="layer")


@pytest.mark.parametrize("builder", [modern.vgg_28, modern.nin_28, modern.resnet_28,
                                     modern.lenet_bn, modern.deep_cnn])
def test_models_map_images_to_ten_scores(builder):
    net = builder()
    assert isinstance(net, nn.Sequential)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_nin_has_no_dense_layer_and_vgg_blocks_halve():
    assert not any(isinstance(m, nn.Linear) for m in modern.nin_28().modules())
    assert modern.vgg_block(2, 3, 8)(torch.rand(1, 3, 10, 10)).shape == (1, 8, 5, 5)
    with pytest.raises(ValueError, match="at most 4"):
        modern.vgg_28(arch=((1, 4),) * 5)


def test_residual_block_shortcut():
    block = modern.Residual(4, 8, stride=2)
    assert isinstance(block.shortcut, nn.Conv2d)
    assert block(torch.rand(2, 4, 8, 8)).shape == (2, 8, 4, 4)
    # with f's last conv zeroed, the block passes relu(x) through
    same = modern.Residual(4, 4, batch_norm=False)
    nn.init.zeros_(same.f[3].weight), nn.init.zeros_(same.f[3].bias)
    X = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(same(X), torch.relu(X))


def test_deep_cnn_counts_weight_layers_and_differs_only_by_skips():
    for residual in (True, False):
        net = modern.deep_cnn(20, residual=residual)
        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert len(layers) == 20
    assert d2l.count_parameters(modern.deep_cnn(20, True)) == \
        d2l.count_parameters(modern.deep_cnn(20, False))
    with pytest.raises(ValueError, match="even number"):
        modern.deep_cnn(7)


def test_deep_cnn_batch_norm_follows_every_convolution():
    for depth in (8, 20):
        for residual in (True, False):
            net = modern.deep_cnn(depth, residual=residual, batch_norm=True)
            convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
            norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
            assert len(norms) == len(convs) == depth - 1
            assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in modern.deep_cnn(depth).modules())
    assert d2l.count_parameters(modern.deep_cnn(20, True, batch_norm=True)) == \
        d2l.count_parameters(modern.deep_cnn(20, False, batch_norm=True))


def test_kaiming_init_keeps_the_plain_deep_cnn_gradient():
    # the chapter's lesson: the default init starves the first layer, Kaiming does not
    X, y = torch.rand(32, 1, 28, 28), torch.arange(32) % 10
    torch.manual_seed(0)
    net = modern.deep_cnn(20, residual=False)
    net.apply(lambda m: d2l.init_weights(m, "kaiming"))
    g = d2l.layer_grad_norms(net, X, y)
    assert g[0] > 1e-2 * g[-1], g


def test_scratch_batch_norm_trains_like_torch():
    # a few SGD steps from the same weights: same parameters afterwards, to float rounding
    torch.manual_seed(0)
    a = modern.lenet_bn(norm="torch")
    b = modern.lenet_bn(norm="scratch")
    b.load_state_dict(a.state_dict(), strict=False)
    opts = [torch.optim.SGD(n.parameters(), lr=0.9) for n in (a, b)]
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        X, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
        for net, opt in zip((a, b), opts):
            opt.zero_grad()
            nn.functional.cross_entropy(net(X), y).backward()
            opt.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(a[1].running_var, b[1].running_var)


def test_plain_deep_cnn_gradients_vanish_residual_do_not():
    X, y = torch.rand(32, 1, 28, 28), torch.arange(32) % 10
    torch.manual_seed(0)
    plain = d2l.layer_grad_norms(modern.deep_cnn(20, residual=False), X, y)
    torch.manual_seed(0)
    res = d2l.layer_grad_norms(modern.deep_cnn(20, residual=True), X, y)
    assert plain[0] < 1e-4 * plain[-1]
    assert res[0] > 1e-2 * res[-1]
