"""cnncourse.input_norm: normalising a loader's batches, and the statistics behind it."""
from __future__ import annotations

import pytest
import torch

import cnncourse as d2l
from cnncourse.data import TensorLoader


def loader(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 4, 4), generator=g, dtype=torch.uint8)
    return TensorLoader(images, torch.arange(n) % 10, batch_size=16, num_classes=10)


def test_paddle_normalize_maps_to_minus_one_one():
    raw = loader()
    for (X, y), (Xn, yn) in zip(raw, d2l.NormalizedLoader(raw, 0.5, 0.5)):
        # Normalize(127.5, 127.5) on 0..255 pixels == (x - 0.5) / 0.5 on [0, 1] pixels
        torch.testing.assert_close(Xn, (X * 255 - 127.5) / 127.5)
        assert torch.equal(y, yn)
    assert Xn.min() >= -1 and Xn.max() <= 1


def test_standardised_training_set_has_mean_zero_std_one():
    raw = loader(200)
    mean, std = d2l.pixel_stats(raw)
    batches = torch.cat([X for X, _ in d2l.NormalizedLoader(raw, mean, std)])
    assert abs(batches.mean().item()) < 1e-5
    assert abs(batches.std(unbiased=False).item() - 1) < 1e-4


def test_pixel_stats_from_batches_equals_from_images():
    raw = loader(64)
    batches_only = [(X, y) for X, y in raw]     # a plain iterable: no .images
    a, b = d2l.pixel_stats(raw), d2l.pixel_stats(batches_only)
    assert a == pytest.approx(b, rel=1e-6)   # batches are float32
    with pytest.raises(ValueError, match="no images"):
        d2l.pixel_stats([])


def test_wrapper_forwards_what_train_ch6_needs():
    raw = loader()
    wrapped = d2l.NormalizedLoader(raw, 0.3, 0.4)
    assert len(wrapped) == len(raw) and wrapped.num_classes == 10
    assert wrapped.images is raw.images and wrapped.to("cpu") is wrapped
    with pytest.raises(ValueError, match="std must be positive"):
        d2l.NormalizedLoader(raw, 0.0, 0.0)


def test_pixel_stats_of_a_wrapper_measures_its_batches_not_the_raw_images():
    # A wrapper forwards `images`, so a shortcut through them would report the raw pixels'
    # statistics for a normalised loader.
    raw = loader(64)
    mean, std = d2l.pixel_stats(d2l.NormalizedLoader(raw, 0.5, 0.5))
    batches = torch.cat([X for X, _ in d2l.NormalizedLoader(raw, 0.5, 0.5)]).double()
    assert mean == pytest.approx(batches.mean().item(), abs=1e-6)
    assert std == pytest.approx(batches.std(unbiased=False).item(), rel=1e-5)
    raw_mean, raw_std = d2l.pixel_stats(raw)
    assert mean == pytest.approx((raw_mean - 0.5) / 0.5, abs=1e-5)
    assert std == pytest.approx(raw_std / 0.5, rel=1e-5)


def test_pixel_stats_of_a_resizing_loader_measures_the_resized_batches():
    images = torch.zeros(8, 4, 4, dtype=torch.uint8)
    images[:, 0, 0] = 255     # one bright corner pixel: resizing to 8x8 blurs it (std 0.24 -> 0.19)
    resized = TensorLoader(images, torch.zeros(8, dtype=torch.long), batch_size=4, resize=8)
    batches = torch.cat([X for X, _ in resized]).double()
    mean, std = d2l.pixel_stats(resized)
    assert mean == pytest.approx(batches.mean().item(), abs=1e-6)
    assert std == pytest.approx(batches.std(unbiased=False).item(), rel=1e-5)
