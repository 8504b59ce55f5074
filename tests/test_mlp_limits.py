"""MLP baselines, the small CNN, and the probes of the MLP-limits chapter."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

import cnncourse
from cnncourse import probes
from cnncourse.data import TensorLoader
from cnncourse.models.mlp import ACTIVATIONS, mlp, small_cnn

FAST = settings(max_examples=40, deadline=None)


# ------------------------------------------------------------------ models
@given(hidden=st.lists(st.integers(1, 40), max_size=3), act=st.sampled_from(sorted(ACTIVATIONS)))
@FAST
def test_mlp_parameter_count_matches_formula(hidden, act):
    net = mlp(hidden, act)
    widths = [784, *hidden, 10]
    expected = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    assert cnncourse.count_parameters(net) == expected
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert sum(isinstance(m, ACTIVATIONS[act]) for m in net) == len(hidden)


def test_mlp_flops_are_twice_the_weights():
    net = mlp((256,))
    weights = 784 * 256 + 256 * 10
    assert cnncourse.count_flops(net, (1, 1, 28, 28)) == 2 * weights


def test_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        mlp((8,), "gelu")
    with pytest.raises(ValueError, match="positive"):
        mlp((0,))


def test_softmax_regression_is_one_linear_layer():
    net = mlp(())
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear]


def test_small_cnn_shapes_and_size():
    net = small_cnn()
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert cnncourse.count_parameters(net) == 20_490
    rows = cnncourse.layer_summary(net, (1, 1, 28, 28), verbose=False)
    assert rows[5].output_shape == (1, 32, 7, 7)
    assert cnncourse.count_parameters(small_cnn(channels=(4, 8))) == (
        (9 * 4 + 4) + (4 * 9 * 8 + 8) + (8 * 49 * 10 + 10))


def test_small_cnn_without_pooling_keeps_the_convolutions_and_reads_the_full_grid():
    pooled, flat = small_cnn(), small_cnn(pool=False)
    assert not any(isinstance(m, nn.MaxPool2d) for m in flat)
    convs = [m for m in flat if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] \
        == [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
            for c in pooled if isinstance(c, nn.Conv2d)]
    assert flat(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert flat[-1].in_features == 32 * 28 * 28
    assert cnncourse.count_parameters(flat) == ((9 * 16 + 16) + (16 * 9 * 32 + 32)
                                                + (32 * 784 * 10 + 10))


def test_small_cnn_without_pooling_is_shift_equivariant_up_to_its_last_layer():
    torch.manual_seed(0)
    features = small_cnn(pool=False)[:-2]
    X = torch.zeros(1, 1, 28, 28)
    X[..., 10:16, 9:14] = torch.rand(6, 5)
    moved = features(probes.shift_images(X, 2, 3))
    # away from the border (zero padding is not zero after a bias), the maps move with the image
    assert torch.allclose(moved[..., 4:26, 5:26], features(X)[..., 2:24, 2:23], atol=1e-6)
    assert not torch.allclose(moved[..., 2:24, 2:23], features(X)[..., 2:24, 2:23], atol=1e-3)


# ------------------------------------------------------------ permutations
def test_pixel_permutation_is_a_seeded_permutation_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    p = probes.pixel_permutation(784, seed=0)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(p.sort().values, torch.arange(784))
    assert torch.equal(p, probes.pixel_permutation(784, seed=0))
    assert not torch.equal(p, probes.pixel_permutation(784, seed=1))
    with pytest.raises(ValueError):
        probes.pixel_permutation(0)


@given(h=st.integers(1, 7), w=st.integers(1, 7), lead=st.lists(st.integers(1, 3), max_size=2),
       seed=st.integers(0, 10_000))
@FAST
def test_permute_pixels_matches_flat_indexing_and_inverts(h, w, lead, seed):
    X = torch.randint(0, 256, (*lead, h, w), dtype=torch.uint8)
    perm = probes.pixel_permutation(h * w, seed)
    Y = probes.permute_pixels(X, perm)
    assert Y.shape == X.shape and Y.dtype == X.dtype
    assert torch.equal(Y.flatten(-2), X.flatten(-2)[..., perm])
    inv = probes.inverse_permutation(perm)
    assert torch.equal(probes.permute_pixels(Y, inv), X)
    assert torch.equal(perm[inv], torch.arange(h * w))


def test_permute_pixels_rejects_mismatched_permutation():
    with pytest.raises(ValueError, match="784 pixels but the permutation has 10"):
        probes.permute_pixels(torch.zeros(2, 28, 28), torch.arange(10))


def test_an_mlp_cannot_tell_permuted_pixels_from_reordered_weights():
    torch.manual_seed(0)
    perm = probes.pixel_permutation(784, 3)
    net, net_p = mlp((32,)), mlp((32,))
    net_p.load_state_dict(net.state_dict())
    with torch.no_grad():
        net_p[1].weight.copy_(net[1].weight[:, perm])
    X = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(net(X), net_p(probes.permute_pixels(X, perm)))


def test_permuted_loader_keeps_batch_order_and_settings():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(50) % 10
    perm = probes.pixel_permutation(784, 0)
    plain = TensorLoader(images, labels, 16, shuffle=True, seed=0, num_classes=10)
    shuffled = probes.permuted_loader(TensorLoader(images, labels, 16, shuffle=True, seed=0,
                                                   num_classes=10), perm)
    assert shuffled.num_classes == 10 and len(shuffled) == len(plain)
    for (Xa, ya), (Xb, yb) in zip(plain, shuffled):
        assert torch.equal(ya, yb)
        assert torch.equal(probes.permute_pixels(Xa, perm), Xb)


# ------------------------------------------------------------------ shifts
def _shift_by_padding(X: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference: zero-pad with F.pad, then crop the window that the shift selects."""
    h, w = X.shape[-2:]
    P = F.pad(X, (abs(dx), abs(dx), abs(dy), abs(dy)))
    top, left = abs(dy) - dy, abs(dx) - dx
    return P[..., top:top + h, left:left + w]


@given(h=st.integers(1, 8), w=st.integers(1, 8), dy=st.integers(-9, 9), dx=st.integers(-9, 9),
       c=st.integers(1, 3))
@FAST
def test_shift_images_matches_pad_and_crop(h, w, dy, dx, c):
    X = torch.rand(2, c, h, w)
    torch.testing.assert_close(probes.shift_images(X, dy, dx), _shift_by_padding(X, dy, dx),
                               rtol=0, atol=0)


def test_shift_images_direction_and_uint8():
    X = torch.zeros(3, 3, dtype=torch.uint8)
    X[1, 1] = 7
    assert probes.shift_images(X, 1, 0)[2, 1] == 7      # down
    assert probes.shift_images(X, 0, -1)[1, 0] == 7     # left
    assert probes.shift_images(X, 0, 3).sum() == 0      # out of frame: nothing wraps
    assert torch.equal(probes.shift_images(X, 0, 0), X)


def test_accuracy_under_shift_of_a_constant_classifier():
    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.tensor([0.0, 5.0]))

        def forward(self, X):
            return self.bias.expand(X.shape[0], 2)

    images = torch.randint(0, 256, (40, 6, 6), dtype=torch.uint8)
    labels = (torch.arange(40) < 10).long()          # a quarter are class 1
    acc = probes.accuracy_under_shift(Constant(), images, labels, shifts=range(3), batch_size=16)
    assert list(acc) == [0, 1, 2]
    assert all(math.isclose(a, 0.25) for a in acc.values())
    with pytest.raises(ValueError, match="directions"):
        probes.accuracy_under_shift(Constant(), images, labels, directions=("sideways",))


def test_accuracy_under_shift_sees_a_position_dependent_model_fail():
    # Class 1 iff the centre pixel is bright: shifting a centred dot moves it off the centre.
    class Centre(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(1.0))

        def forward(self, X):
            v = X[:, 0, 2, 2] * self.w
            return torch.stack([0.5 - v, v - 0.5], dim=1)

    images = torch.zeros(10, 5, 5, dtype=torch.uint8)
    images[:, 2, 2] = 255
    labels = torch.ones(10, dtype=torch.long)
    acc = probes.accuracy_under_shift(Centre(), images, labels, shifts=(0, 1))
    assert acc == {0: 1.0, 1: 0.0}


# -------------------------------------------------------------- gradients
def test_layer_grad_norms_match_autograd():
    torch.manual_seed(0)
    net = mlp((16, 8), "sigmoid")
    X, y = torch.rand(12, 1, 28, 28), torch.randint(0, 10, (12,))
    norms = probes.layer_grad_norms(net, X, y)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    grads = torch.autograd.grad(F.cross_entropy(net(X), y), [m.weight for m in linears])
    assert len(norms) == 3
    for n, g in zip(norms, grads):
        assert math.isclose(n, g.norm().item(), rel_tol=1e-5)
    # called twice, the result does not accumulate
    assert probes.layer_grad_norms(net, X, y) == pytest.approx(norms, rel=1e-6)


def _deep_sigmoid_and_kaiming_relu(probe):
    """``probe(net, X, y)`` of an 8-layer sigmoid MLP and of the same with ReLU + Kaiming."""
    X, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    torch.manual_seed(0)
    sig = probe(mlp((64,) * 8, "sigmoid"), X, y)
    torch.manual_seed(0)
    relu = mlp((64,) * 8, "relu")
    relu.apply(lambda m: cnncourse.init_weights(m, "kaiming"))
    return sig, probe(relu, X, y)


def test_deep_sigmoid_gradients_vanish_and_relu_kaiming_ones_do_not():
    sig, rel = _deep_sigmoid_and_kaiming_relu(probes.layer_grad_norms)
    assert sig[0] / sig[-1] < 1e-3
    assert 0.05 < rel[0] / rel[-1] < 20


def test_activation_grad_rms_matches_autograd_on_the_hidden_outputs():
    torch.manual_seed(0)
    net = mlp((16, 8), "tanh")
    X, y = torch.rand(12, 1, 28, 28), torch.randint(0, 10, (12,))
    rms = probes.activation_grad_rms(net, X, y)
    # recompute by hand: the hidden outputs are the inputs of the 2nd and 3rd Linear layers
    h1 = net[2](net[1](net[0](X)))
    h2 = net[4](net[3](h1))
    g1, g2 = torch.autograd.grad(F.cross_entropy(net[5](h2), y), [h1, h2])
    assert rms == pytest.approx([g1.pow(2).mean().sqrt().item(), g2.pow(2).mean().sqrt().item()],
                                rel=1e-5)
    # no hooks are left behind: a second call gives the same numbers
    assert probes.activation_grad_rms(net, X, y) == pytest.approx(rms, rel=1e-6)
    assert not any(m._forward_hooks for m in net.modules())


def test_activation_grad_rms_sees_deep_sigmoid_gradients_vanish():
    sig, rel = _deep_sigmoid_and_kaiming_relu(probes.activation_grad_rms)
    assert len(sig) == len(rel) == 8
    assert sig[0] / sig[-1] < 1e-3
    assert 0.1 < rel[0] / rel[-1] < 10


def test_activation_grad_rms_needs_an_activation():
    with pytest.raises(ValueError, match="no activation module"):
        probes.activation_grad_rms(mlp(()), torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))


def test_layer_grad_norms_needs_a_layer():
    with pytest.raises(ValueError, match="no Linear or Conv"):
        probes.layer_grad_norms(nn.Sequential(nn.Flatten()), torch.rand(2, 3), torch.tensor([0, 1]))


def test_probes_are_exported_from_the_package():
    for name in probes.__all__:
        assert getattr(cnncourse, name) is getattr(probes, name)
