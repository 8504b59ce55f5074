"""AlexNet models, their cost estimates, batched augmentation, and the GPU-run recording script."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

import cnncourse
from cnncourse.augment import AugmentedLoader, crop_at, flip_where, random_crop, random_hflip
from cnncourse.data import TensorLoader
from cnncourse.models.alexnet import (PUBLISHED_SETTINGS, alexnet, alexnet_28,
                                      forward_activation_elements, training_memory_estimate)

from conftest import needs_real_data

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ models
def test_alexnet_shape_walk_at_224():
    rows = cnncourse.layer_summary(alexnet(), (1, 1, 224, 224), verbose=False)
    shapes = [r.output_shape for r in rows]
    assert shapes[0] == (1, 96, 54, 54)      # (224 + 2 - 11) // 4 + 1
    assert shapes[2] == (1, 96, 26, 26)
    assert shapes[3] == (1, 256, 26, 26) and shapes[5] == (1, 256, 12, 12)
    assert shapes[6] == shapes[8] == (1, 384, 12, 12) and shapes[10] == (1, 256, 12, 12)
    assert shapes[12] == (1, 256, 5, 5) and shapes[13] == (1, 6400)
    assert shapes[14] == (1, 4096) and shapes[17] == (1, 4096) and shapes[-1] == (1, 10)
    assert sum(r.num_params for r in rows) == 46_764_746


def test_alexnet_rejects_other_sizes():
    with pytest.raises(RuntimeError):
        alexnet()(torch.zeros(1, 1, 112, 112))


def test_alexnet_activation_is_swappable():
    net = alexnet(activation=nn.Sigmoid)
    assert sum(isinstance(m, nn.Sigmoid) for m in net) == 7
    assert not any(isinstance(m, nn.ReLU) for m in net)
    assert cnncourse.count_parameters(net) == cnncourse.count_parameters(alexnet())


@pytest.mark.parametrize("divisor, flat", [(8, 128), (4, 256), (1, 1024)])
def test_alexnet_28_shapes(divisor, flat):
    rows = cnncourse.layer_summary(alexnet_28(width_divisor=divisor), (2, 1, 28, 28),
                                   verbose=False)
    shapes = [r.output_shape for r in rows]
    assert shapes[0] == (2, 96 // divisor, 28, 28)
    assert shapes[2][-1] == 13 and shapes[5][-1] == 6 and shapes[12][-1] == 2
    assert shapes[13] == (2, flat) and shapes[-1] == (2, 10)


def test_alexnet_28_validates_width():
    with pytest.raises(ValueError, match="width_divisor"):
        alexnet_28(width_divisor=5)


def test_activation_elements_and_memory_estimate():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 5))
    # input 16 + conv 32 + relu 32 + flatten 32 + linear 5
    assert forward_activation_elements(net, (1, 4, 4)) == 16 + 32 + 32 + 32 + 5
    est = training_memory_estimate(net, (1, 4, 4), batch_size=10)
    params = 2 * 9 + 2 + 32 * 5 + 5
    assert est["weights"] == est["gradients"] == 4 * params
    assert est["optimizer"] == 8 * params
    assert est["activations"] == 4 * 10 * 117
    assert est["total"] == est["weights"] * 4 + est["activations"]
    assert training_memory_estimate(net, (1, 4, 4), 10, optimizer_states=0)["optimizer"] == 0


def test_published_settings_are_the_seeds():
    assert PUBLISHED_SETTINGS == {"optimizer": "adam", "lr": 0.001, "batch_size": 128,
                                  "num_epochs": 5, "resize": 224, "init": None}


def test_gpu_path_on_cpu_channels_last_and_bf16():
    """What train_ch6 switches on for CUDA (channels-last, bf16 autocast), run on the CPU."""
    torch.manual_seed(0)
    net = alexnet().eval()
    X = torch.rand(2, 1, 224, 224)
    with torch.no_grad():
        ref = net(X)
        net_cl = net.to(memory_format=torch.channels_last)
        out_cl = net_cl(X.contiguous(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out_bf = net_cl(X.contiguous(memory_format=torch.channels_last))
    assert out_bf.dtype == torch.bfloat16
    torch.testing.assert_close(out_cl, ref, rtol=1e-4, atol=1e-5)
    scale = ref.abs().max()
    assert (out_bf.float() - ref).abs().max() < 0.05 * scale


def test_resize_happens_on_whole_batches():
    X = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    loader = TensorLoader(X, torch.zeros(5, dtype=torch.long), 4, resize=224)
    batch, _ = next(iter(loader))
    assert batch.shape == (4, 1, 224, 224) and batch.device == X.device
    # a flat image stays flat: interpolation invents no structure
    flat = TensorLoader(torch.full((2, 28, 28), 51, dtype=torch.uint8),
                        torch.zeros(2, dtype=torch.long), 2, resize=224)
    torch.testing.assert_close(next(iter(flat))[0], torch.full((2, 1, 224, 224), 0.2))


# ------------------------------------------------------------------ augmentation
images = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(2, 7), st.integers(2, 7))


@settings(max_examples=40, deadline=None)
@given(shape=images, seed=st.integers(0, 2**16))
def test_flip_where_matches_per_image_flip(shape, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(shape, generator=g)
    mask = torch.rand(shape[0], generator=g) < 0.5
    out = flip_where(X, mask)
    for i in range(shape[0]):
        expect = torch.flip(X[i], dims=[-1]) if mask[i] else X[i]
        assert torch.equal(out[i], expect)


@settings(max_examples=40, deadline=None)
@given(shape=images, pad=st.integers(0, 3), data=st.data())
def test_crop_at_matches_pad_and_slice(shape, pad, data):
    B, C, H, W = shape
    h = data.draw(st.integers(1, H + 2 * pad))
    w = data.draw(st.integers(1, W + 2 * pad))
    top = data.draw(st.lists(st.integers(0, H + 2 * pad - h), min_size=B, max_size=B))
    left = data.draw(st.lists(st.integers(0, W + 2 * pad - w), min_size=B, max_size=B))
    X = torch.rand(shape)
    out = crop_at(X, torch.tensor(top), torch.tensor(left), (h, w), padding=pad)
    padded = F.pad(X, (pad,) * 4)
    assert out.shape == (B, C, h, w)
    for i in range(B):
        assert torch.equal(out[i], padded[i, :, top[i]:top[i] + h, left[i]:left[i] + w])


def test_crop_at_rejects_bad_offsets():
    X = torch.zeros(2, 1, 5, 5)
    with pytest.raises(ValueError, match="offsets"):
        crop_at(X, torch.tensor([0, 3]), torch.tensor([0, 0]), 3)
    with pytest.raises(ValueError, match="one top"):
        crop_at(X, torch.tensor([0]), torch.tensor([0, 0]), 3)
    with pytest.raises(ValueError, match="does not fit"):
        crop_at(X, torch.tensor([0, 0]), torch.tensor([0, 0]), 6)


@settings(max_examples=25, deadline=None)
@given(shape=images, pad=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_random_crop_is_a_shift_of_the_padded_image(shape, pad, seed):
    X = torch.rand(shape) + 0.5  # no zeros inside, so the padding is recognisable
    out = random_crop(X, padding=pad, generator=torch.Generator().manual_seed(seed))
    assert out.shape == X.shape
    padded = F.pad(X, (pad,) * 4)
    H, W = shape[-2:]
    for i in range(shape[0]):
        assert any(torch.equal(out[i], padded[i, :, top:top + H, left:left + W])
                   for top in range(2 * pad + 1) for left in range(2 * pad + 1))


def test_random_choices_are_per_image_and_seeded():
    X = torch.rand(64, 1, 6, 6)
    flipped = random_hflip(X, generator=torch.Generator().manual_seed(1))
    same = [torch.equal(flipped[i], X[i]) for i in range(64)]
    assert 10 < sum(same) < 54                      # some flipped, some not
    assert torch.equal(flipped, random_hflip(X, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(random_hflip(X, p=0.0), X)
    assert torch.equal(random_hflip(X, p=1.0), X.flip(-1))
    crops = random_crop(X, padding=2, generator=torch.Generator().manual_seed(2))
    assert len({crops[i].sum().item() for i in range(64)}) > 1
    assert torch.equal(random_crop(X, padding=0), X)
    with pytest.raises(ValueError):
        random_hflip(X, p=1.5)


def test_augmented_loader_is_a_drop_in_for_train_ch6():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (96,), generator=g)
    X = torch.zeros(96, 28, 28, dtype=torch.uint8)
    for i, c in enumerate(y.tolist()):
        X[i, 5 * c + 2: 5 * c + 5, :] = 250  # class = which horizontal band is bright
    base = TensorLoader(X, y, 32, shuffle=True, num_classes=10)
    aug = AugmentedLoader(base, flip=True, crop_padding=1, seed=3)
    assert len(aug) == 3 and aug.num_classes == 10 and aug.images is base.images
    assert aug.to("cpu") is aug
    batches = [b for b, _ in aug]
    assert all(b.shape == (32, 1, 28, 28) for b in batches)
    # A shift of one pixel moves a band by less than the bands' spacing: still learnable.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    te = TensorLoader(X.clone(), y.clone(), 32, num_classes=10)
    hist = cnncourse.train_ch6(net, aug, te, 6, 0.003, "cpu", optimizer="adam", animate=False,
                               verbose=False)
    assert hist.test_acc[-1] > 0.8


def test_augmented_loader_seed_repeats_a_run_and_another_seed_varies_it():
    # The chapter's claims survey reruns the regularisation experiment with other seeds:
    # the same seed must give the same augmented batches, another seed other ones.
    base = TensorLoader(torch.randint(0, 256, (64, 8, 8), dtype=torch.uint8),
                        torch.zeros(64, dtype=torch.long), 64, num_classes=10)

    def first_batch(seed):
        return next(iter(AugmentedLoader(base, flip=True, crop_padding=2, seed=seed)))[0]

    assert torch.equal(first_batch(1), first_batch(1))
    assert not torch.equal(first_batch(1), first_batch(2))


# ------------------------------------------------------------------ the recording script
def _load_script():
    spec = importlib.util.spec_from_file_location("train_alexnet",
                                                  ROOT / "scripts" / "train_alexnet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_script_refuses_the_book_slot_without_a_gpu(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    with pytest.raises(SystemExit):
        _load_script().main(["--device", "cpu"])
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")
    with pytest.raises(SystemExit):
        _load_script().main(["--device", "cpu"])


def test_script_full_settings_are_published():
    s = _load_script().settings_for("full")
    assert {k: s[k] for k in PUBLISHED_SETTINGS} == PUBLISHED_SETTINGS
    assert s["subset"] is None and s["test_subset"] is None


@needs_real_data
def test_script_smoke_run_writes_what_the_chapter_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    out = tmp_path / "r.json"
    assert _load_script().main(["--out", str(out), "--device", "cpu"]) == 0
    rec = json.loads(out.read_text())
    for key in ("schema", "command", "date_utc", "device", "device_name", "torch", "settings",
                "mixed_precision", "runs", "commit"):
        assert key in rec
    assert rec["commit"] is None or len(rec["commit"]) >= 7  # the page names it
    assert rec["budget"] == "smoke" and set(rec["runs"]) == {"alexnet_224", "alexnet_28"}
    for run in rec["runs"].values():
        for key in ("train_loss", "train_acc", "test_acc", "epoch_seconds"):
            assert len(run[key]) == rec["settings"]["num_epochs"]
        assert run["train_examples"] == 16 and run["peak_memory_bytes"] is None
        assert run["memory_estimate_bytes"] > 0 and run["examples_per_sec"] > 0
    runs = rec["runs"]
    assert runs["alexnet_224"]["flops_per_image"] > 200 * runs["alexnet_28"]["flops_per_image"]
    assert not list(tmp_path.glob("*.tmp"))
