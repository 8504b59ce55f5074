"""cnncourse.attribution and cnncourse.sanity: each from-scratch method against captum's,
the properties a learner can check by hand, and the two measurements' bookkeeping."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse import attribution as A
from cnncourse.models.lenet import lenet_modern
from cnncourse.models.modern import resnet_28
from cnncourse.sanity import deletion_curve, randomized_copies, rank, spearman

captum_attr = pytest.importorskip("captum.attr")


def _model(builder, seed=0):
    """A network with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = builder().double()
    with torch.no_grad():   # a few training-mode passes so running statistics are not 0/1
        for _ in range(3):
            net(torch.rand(16, 1, 28, 28, dtype=torch.float64))
    return net.eval()


NETS = {"lenet": (lenet_modern, "4", 4), "resnet": (resnet_28, "6.relu", 6)}
by_net = pytest.mark.parametrize("name", NETS)


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(3, 1, 28, 28, generator=g, dtype=torch.float64)


TARGET = torch.tensor([0, 3, 7])


@by_net
def test_saliency_is_captum_saliency(name, images):
    net = _model(NETS[name][0])
    ours = A.saliency(net, images, TARGET)
    ref = captum_attr.Saliency(net).attribute(images, target=TARGET, abs=False)
    torch.testing.assert_close(ours, ref)
    assert ours.abs().sum() > 0


@by_net
@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_smoothgrad_is_captum_noise_tunnel_with_the_same_noise(name, scale, images):
    # float32: captum draws its noise in float32 whatever the input's dtype
    net, images = _model(NETS[name][0]).float(), images.float()
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    images = scale * (images - low) / (high - low)       # each image spans exactly [0, scale]
    images[1] *= 0.25                     # ... except image 1, which spans [0, scale / 4]
    torch.manual_seed(5)
    # captum's stdevs is absolute, one per call; ours is relative to each image's range
    # (Smilkov et al.): image by image, with the noise drawn in the same order, they agree,
    # and a noise scale taken over the whole batch would fail here
    ref = torch.cat([captum_attr.NoiseTunnel(captum_attr.Saliency(net)).attribute(
        images[i:i + 1], nt_type="smoothgrad", nt_samples=6,
        stdevs=0.2 * (images[i].max() - images[i].min()).item(), target=TARGET[i:i + 1],
        abs=False) for i in range(len(images))])
    torch.manual_seed(5)
    ours = A.smoothgrad(net, images, TARGET, n=6, noise_level=0.2)
    torch.testing.assert_close(ours, ref)
    # and it is not the plain gradient
    assert not torch.allclose(ours, A.saliency(net, images, TARGET))


def test_smoothgrad_noise_follows_each_image_s_range():
    """A constant image has range 0, so it gets no noise: SmoothGrad is its saliency."""
    net = _model(lenet_modern)
    flat = torch.full((2, 1, 28, 28), 0.4, dtype=torch.float64)
    torch.testing.assert_close(A.smoothgrad(net, flat, 1, n=3, noise_level=0.5),
                               A.saliency(net, flat, 1))
    with pytest.raises(ValueError, match="noise_level"):
        A.smoothgrad(net, flat, 1, noise_level=-0.1)


def test_smoothgrad_generator_makes_it_repeatable(images):
    net = _model(lenet_modern)
    runs = [A.smoothgrad(net, images, 2, n=4, generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


@by_net
def test_integrated_gradients_is_captum_riemann_right(name, images):
    net = _model(NETS[name][0])
    ours = A.integrated_gradients(net, images, TARGET, steps=16)
    ref = captum_attr.IntegratedGradients(net).attribute(
        images, baselines=0.0, target=TARGET, n_steps=16, method="riemann_right")
    torch.testing.assert_close(ours, ref)


@by_net
@pytest.mark.parametrize("window, stride", [(4, 2), (7, 7), (5, 3)])
def test_occlusion_is_captum_occlusion(name, window, stride, images):
    net = _model(NETS[name][0])
    ours = A.occlusion(net, images, TARGET, window=window, stride=stride, fill=0.25)
    ref = captum_attr.Occlusion(net).attribute(
        images, sliding_window_shapes=(1, window, window), strides=(1, stride, stride),
        baselines=0.25, target=TARGET)
    torch.testing.assert_close(ours.float(), ref)   # captum divides in float32


@by_net
def test_grad_cam_is_captum_layer_grad_cam_upsampled(name, images):
    builder, node, index = NETS[name]
    net = _model(builder)
    ours = A.grad_cam(net, images, TARGET, layer=node)
    cam = captum_attr.LayerGradCam(net, net[index]).attribute(
        images, target=TARGET, relu_attributions=True)
    ref = captum_attr.LayerAttribution.interpolate(cam, (28, 28), interpolate_mode="bilinear")
    torch.testing.assert_close(ours, ref)
    assert ours.shape == (3, 1, 28, 28) and (ours >= 0).all() and ours.sum() > 0


@by_net
def test_input_x_gradient_is_captum_input_x_gradient(name, images):
    net = _model(NETS[name][0])
    ours = A.input_x_gradient(net, images, TARGET)
    ref = captum_attr.InputXGradient(net).attribute(images, target=TARGET)
    torch.testing.assert_close(ours, ref)
    # and it is integrated gradients with one step
    torch.testing.assert_close(ours, A.integrated_gradients(net, images, TARGET, steps=1))


def test_grad_cam_grid_puts_each_position_at_its_receptive_field_centre():
    """LeNet's 10x10 second-conv grid: position i centred on pixel 4.5 + 2i, not stretched."""
    cam = torch.arange(100, dtype=torch.float64).view(1, 1, 10, 10) + 1
    placed = A.place_grid(cam, (28, 28), step=2, first=4.5)
    # pixels 5 and 6 lie a quarter and three quarters of the way from position 0 to 1
    torch.testing.assert_close(placed[0, 0, 5, 5], 0.75 * 0.75 * cam[0, 0, 0, 0]
                               + 0.25 * 0.75 * (cam[0, 0, 0, 1] + cam[0, 0, 1, 0])
                               + 0.25 * 0.25 * cam[0, 0, 1, 1])
    assert placed[0, 0, :3].eq(0).all() and placed[0, 0, :, 25:].eq(0).all()  # no centre there
    assert placed[0, 0, 4, 4] > 0                       # half a pixel from position 0's centre
    # an exact-fit grid: step 1, first 0 is the map itself
    torch.testing.assert_close(A.place_grid(cam, (10, 10), 1, 0), cam)
    net = _model(lenet_modern)
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(A.grad_cam(net, x, 3, "4", grid=(2, 4.5)),
                               A.place_grid(_raw_cam(net, x, 3), (28, 28), 2, 4.5))
    with pytest.raises(ValueError, match="step"):
        A.place_grid(cam, (28, 28), 0, 4.5)
    # grid="layer": the map on the layer's own 10x10 grid, before any placing
    torch.testing.assert_close(A.grad_cam(net, x, 3, "4", grid="layer"), _raw_cam(net, x, 3))
    with pytest.raises(ValueError, match='grid must be None, .*"layer"'):
        A.grad_cam(net, x, 3, "4", grid="layers")


def _raw_cam(net, x, target):
    """LeNet's Grad-CAM at layer "4" before upsampling, via captum."""
    return captum_attr.LayerGradCam(net, net[4]).attribute(x, target=target,
                                                           relu_attributions=True)


# ------------------------------------------------- properties to check by hand
def _linear(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).double().eval()


def test_saliency_of_a_linear_model_is_the_target_s_weight_row(images):
    net = _linear()
    W = net[1].weight.detach()
    ours = A.saliency(net, images, TARGET)
    for i, t in enumerate(TARGET):
        torch.testing.assert_close(ours[i, 0], W[t].view(28, 28))


def test_integrated_gradients_are_complete(images):
    """The map adds up to score(x) - score(baseline), up to the Riemann sum's error."""
    net = _model(lenet_modern)
    baseline = torch.full_like(images, 0.3)
    ig = A.integrated_gradients(net, images, TARGET, baseline=baseline, steps=256)
    gap = A.class_scores(net, images, TARGET) - A.class_scores(net, baseline, TARGET)
    torch.testing.assert_close(ig.sum(dim=(1, 2, 3)), gap.detach(), rtol=0.02, atol=1e-3)
    # exact for a linear model, with any number of steps
    lin = _linear()
    ig = A.integrated_gradients(lin, images, TARGET, steps=2)
    gap = A.class_scores(lin, images, TARGET) - A.class_scores(lin, torch.zeros_like(images),
                                                               TARGET)
    torch.testing.assert_close(ig.sum(dim=(1, 2, 3)), gap.detach())


def test_occlusion_of_a_linear_model_is_weight_times_pixel_averaged(images):
    """With non-overlapping 1x1 windows and fill 0, the drop is exactly w_t * x."""
    net = _linear()
    ours = A.occlusion(net, images, 4, window=1, stride=1)
    torch.testing.assert_close(ours, images * net[1].weight[4].detach().view(1, 1, 28, 28))


def test_clear_errors_for_bad_input(images):
    net = _model(lenet_modern)
    with pytest.raises(ValueError, match="model.eval"):
        A.saliency(net.train(), images, 0)
    net.eval()
    with pytest.raises(ValueError, match=r"x\[None\]"):
        A.saliency(net, images[0], 0)
    with pytest.raises(ValueError, match="one class per image"):
        A.saliency(net, images, torch.tensor([1, 2]))


def test_a_submodule_left_in_training_mode_is_named(images):
    net = _model(resnet_28)
    net[2].train()                                   # eval() on the model, one block not
    assert not net.training
    with pytest.raises(ValueError, match="model.eval.*'2' is in training mode"):
        A.saliency(net, images, 0)


def test_numpy_integer_settings_work_and_an_int_layer_is_named(images):
    np = pytest.importorskip("numpy")
    net = _model(lenet_modern)
    torch.testing.assert_close(A.integrated_gradients(net, images, 0, steps=np.int64(4)),
                               A.integrated_gradients(net, images, 0, steps=4))
    torch.testing.assert_close(A.occlusion(net, images, 0, window=np.int32(14), stride=14),
                               A.occlusion(net, images, 0, window=14, stride=14))
    with pytest.raises(ValueError, match="layer names are strings, such as '4'"):
        A.grad_cam(net, images, 0, 4)


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}, [m.training for m in net.modules()]


def _same_state(net, before):
    params, modes = before
    return (all(torch.equal(v, net.state_dict()[k]) for k, v in params.items())
            and modes == [m.training for m in net.modules()])


ALL = {"saliency": lambda net, x, t: A.saliency(net, x, t),
       "input_x_gradient": lambda net, x, t: A.input_x_gradient(net, x, t),
       "smoothgrad": lambda net, x, t: A.smoothgrad(
           net, x, t, n=2, generator=torch.Generator().manual_seed(0)),
       "integrated_gradients": lambda net, x, t: A.integrated_gradients(net, x, t, steps=2),
       "occlusion": lambda net, x, t: A.occlusion(net, x, t, window=14, stride=14),
       "grad_cam": lambda net, x, t: A.grad_cam(net, x, t, "6.relu"),
       "deletion": lambda net, x, t: deletion_curve(net, x, t, x, [0.5])}
every_method = pytest.mark.parametrize("method", ALL)


@every_method
@pytest.mark.parametrize("target, message", [(10, "not a class of this model"),
                                             (-1, "class index >= 0"),
                                             (3.7, "integers"),
                                             (torch.tensor([1.0, 2.0, 3.0]), "integers")])
def test_a_target_that_is_no_class_is_named(method, target, message, images):
    net = _model(resnet_28)
    before = _state(net)
    with pytest.raises(ValueError, match=f"target.*{message}|{message}.*target"):
        ALL[method](net, images, target)
    assert _same_state(net, before)


@every_method
def test_an_image_with_nan_pixels_is_refused(method, images):
    net = _model(resnet_28)
    bad = images.clone()
    bad[1] = float("nan")
    with pytest.raises(ValueError, match="x has NaN"):
        ALL[method](net, bad, 1)


@every_method
@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_maps_are_computed_inside_no_grad_and_inference_mode(method, context, images):
    net = _model(resnet_28)
    expected = ALL[method](net, images, TARGET)
    with context():
        torch.testing.assert_close(ALL[method](net, images, TARGET), expected)


@every_method
@pytest.mark.parametrize("target", [3, [0, 3, 7]])
def test_an_int_or_list_target_works_inside_inference_mode(method, target, images):
    net = _model(resnet_28)
    expected = ALL[method](net, images, target)
    with torch.inference_mode():
        torch.testing.assert_close(ALL[method](net, images, target), expected)


def test_a_number_or_a_single_image_is_a_baseline(images):
    net = _model(lenet_modern)
    grey = torch.full_like(images, 0.5)
    for method in (A.input_x_gradient, A.integrated_gradients):
        expected = method(net, images, TARGET, grey)
        torch.testing.assert_close(method(net, images, TARGET, 0.5), expected)
        torch.testing.assert_close(method(net, images, TARGET, grey[0]), expected)


@every_method
def test_maps_of_a_frozen_model_are_the_same(method, images):
    net = _model(resnet_28)
    expected = ALL[method](net, images, TARGET)
    net.requires_grad_(False)
    torch.testing.assert_close(ALL[method](net, images, TARGET), expected)


@pytest.mark.parametrize("call, message", [
    (lambda net, x: A.occlusion(net, x, 0, stride=-2), "stride must be an integer >= 1"),
    (lambda net, x: A.occlusion(net, x, 0, stride=0), "stride must be an integer >= 1"),
    (lambda net, x: A.occlusion(net, x, 0, window=0), "window must be an integer >= 1"),
    (lambda net, x: A.occlusion(net, x, 0, window=2.5), "window must be an integer >= 1"),
    (lambda net, x: A.integrated_gradients(net, x, 0, steps=0), "steps must be"),
    (lambda net, x: A.integrated_gradients(net, x, 0, steps=-3), "steps must be"),
    (lambda net, x: A.smoothgrad(net, x, 0, n=0), "n .*must be an integer >= 1"),
    (lambda net, x: A.smoothgrad(net, x, 0, noise_level=float("nan")), "noise_level"),
    (lambda net, x: deletion_curve(net, x, 0, x, [0.5, 1.5]), "fractions"),
    (lambda net, x: deletion_curve(net, x, 0, x * float("nan"), [0.5]), "heat has NaN"),
    (lambda net, x: deletion_curve(net, x, 0, x, [0.5], fill=float("nan")), "fill must be"),
    (lambda net, x: A.input_x_gradient(net, x, 0, x * float("nan")), "baseline has NaN"),
    (lambda net, x: A.integrated_gradients(net, x, 0, x * float("nan")), "baseline has NaN"),
    (lambda net, x: A.integrated_gradients(net, x, 0, x[:, :, :14]), "baseline must have"),
    (lambda net, x: A.input_x_gradient(net, x, 0, x[:2]), "baseline must have"),
    (lambda net, x: randomized_copies(net, ["99"]), "block '99' is not a submodule"),
    (lambda net, x: randomized_copies(net, "11"), "blocks must be a list.*\\['11'\\]"),
    (lambda net, x: A.occlusion(net, x, 0, fill=float("nan")), "fill .*must be a finite"),
    (lambda net, x: A.occlusion(net, x, 0, fill=float("inf")), "fill .*must be a finite"),
    (lambda net, x: A.smoothgrad(net, x, 0, noise_level=float("inf")), "noise_level must be"),
    (lambda net, x: A.grad_cam(net, x, 0, "4", grid=(2, float("nan"))), "first .*finite"),
    (lambda net, x: A.grad_cam(net, x, 0, "4", grid=(float("inf"), 4.5)), "step .*finite"),
    (lambda net, x: deletion_curve(net, x, 0, x, []), "fractions is empty"),
    (lambda net, x: A.saliency(net, (x * 255).to(torch.uint8), 0), "floating-point.*float"),
    (lambda net, x: A.integrated_gradients(net, (x * 255).to(torch.uint8), 0), "floating-po"),
])
def test_settings_out_of_range_are_named(call, message, images):
    net = _model(lenet_modern)
    with pytest.raises(ValueError, match=message):
        call(net, images)


@pytest.mark.parametrize("layer, message", [("6.rleu", "not a node of this model.*6.relu"),
                                            ("9", "model's output"),
                                            ("8", "feature maps")])
def test_grad_cam_names_a_wrong_layer_and_leaves_the_model_as_it_was(layer, message, images):
    net = _model(resnet_28)
    before = _state(net)
    with pytest.raises(ValueError, match=message):
        A.grad_cam(net, images, TARGET, layer)
    assert _same_state(net, before)
    A.grad_cam(net, images, TARGET, "6.relu")            # and the next call works
    assert _same_state(net, before)


def test_grad_cam_traces_the_model_once_and_follows_its_weights(images):
    net = _model(lenet_modern)
    first = A.grad_cam(net, images, TARGET, "4")
    assert A._extractor(net, "4") is A._extractor(net, "4")      # kept, not traced again
    with torch.no_grad():
        net[3].weight.mul_(-1)
    assert not torch.allclose(A.grad_cam(net, images, TARGET, "4"), first)
    net[3] = nn.Conv2d(6, 16, 5).double()            # a new submodule: traced afresh
    assert A._extractor(net, "4").get_submodule("3") is net[3]


def test_an_int_target_means_that_class_for_every_image(images):
    net = _model(lenet_modern)
    torch.testing.assert_close(A.saliency(net, images, 2),
                               A.saliency(net, images, torch.tensor([2, 2, 2])))


# -------------------------------------------------------------------- measurements
def test_rank_averages_ties():
    v = torch.tensor([[3.0, 1.0, 3.0, 2.0, 1.0]])
    assert rank(v).tolist() == [[3.5, 0.5, 3.5, 2.0, 0.5]]


def test_spearman_without_ties_is_the_textbook_formula():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 50, generator=g), torch.randn(4, 50, generator=g)
    d = rank(a) - rank(b)
    n = 50
    torch.testing.assert_close(spearman(a, b), (1 - 6 * (d ** 2).sum(1) / (n * (n * n - 1)))
                               .float())
    torch.testing.assert_close(spearman(a, a.exp()), torch.ones(4))     # monotone: 1
    torch.testing.assert_close(spearman(a, -a), -torch.ones(4))
    assert spearman(a, torch.zeros_like(a)).isnan().all()     # constant: undefined, not 0
    mixed = torch.cat([a[:2], torch.zeros_like(a[2:])])
    assert spearman(a, mixed)[:2].eq(1).all() and spearman(a, mixed)[2:].isnan().all()
    with pytest.raises(ValueError, match="one shape"):
        spearman(a, b[:, :10])


def test_randomized_copies_cascade_from_the_top():
    net = _model(lenet_modern).float()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = torch.get_rng_state()
    copies = randomized_copies(net, ["11", "9", "7", "3", "0"], seed=4)
    assert torch.equal(torch.get_rng_state(), state)                   # global RNG untouched
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # original too
    assert [name for name, _ in copies] == ["11", "9", "7", "3", "0"]
    for i, (_, copy) in enumerate(copies):
        changed = {k.split(".")[0] for k, v in copy.state_dict().items()
                   if not torch.equal(v, before[k])}
        assert changed == {"11", "9", "7", "3", "0"}.intersection(["11", "9", "7", "3", "0"]
                                                                   [:i + 1])
    again = randomized_copies(net, ["11", "9"], seed=4)[1][1]
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), copies[1][1].parameters()))
    with pytest.raises(ValueError, match="no convolution"):
        randomized_copies(net, ["1"])


def test_deletion_curve_removes_the_top_ranked_pixels_first(images):
    net = _linear()
    x = images[:1]
    heat = torch.arange(28 * 28, dtype=torch.float64).view(1, 1, 28, 28)  # last pixel first
    probs = deletion_curve(net, x, 5, heat, [0.0, 0.5, 1.0])
    assert probs.shape == (3, 1)
    p = lambda z: net(z).softmax(1)[0, 5]
    kept = x.clone().flatten()
    kept[392:] = 0
    torch.testing.assert_close(probs[:, 0], torch.stack([p(x), p(kept.view_as(x)),
                                                         p(torch.zeros_like(x))]).detach())
    with pytest.raises(ValueError, match="one map per image"):
        deletion_curve(net, x, 5, heat[..., :10], [0.5])
