"""cnncourse.filters: the orientation measure of the interpret chapter's first-layer kernels."""
from __future__ import annotations

import math

import pytest
import torch

from cnncourse.filters import gabor_bank, gabor_energy, orientedness, random_kernels_like


def _grid(k):
    c = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    return torch.meshgrid(c, c, indexing="ij")


def _patterns(k):
    rows, cols = _grid(k)
    return {"vertical edge": (cols > 0).double(), "diagonal edge": (cols + rows > 0).double(),
            "bar": (cols.abs() < 0.6).double(), "ramp": cols + 0.5 * rows,
            "odd Gabor, wavelength 4": torch.sin(2 * math.pi * rows / 4)
            * torch.exp(-(rows**2 + cols**2) / 4)}


@pytest.mark.parametrize("k", [3, 5])
def test_bank_pairs_are_zero_mean_unit_and_orthogonal(k):
    bank = gabor_bank(k)
    assert bank.shape == (5 * 8, 2, k, k)
    flat = bank.flatten(2)
    torch.testing.assert_close(flat.mean(-1), torch.zeros(40, 2, dtype=torch.float64))
    torch.testing.assert_close(flat.norm(dim=-1), torch.ones(40, 2, dtype=torch.float64))
    assert (flat[:, 0] * flat[:, 1]).sum(-1).abs().max() < 1e-12


@pytest.mark.parametrize("k", [3, 5])
def test_oriented_patterns_score_high_and_blob_checkerboard_zero(k):
    bank = gabor_bank(k)
    rows, cols = _grid(k)
    for name, p in _patterns(k).items():
        assert orientedness(p[None], bank).item() > 0.75, name
    blob = torch.exp(-(rows**2 + cols**2))
    checker = ((rows + cols).round() % 2 == 0).double()
    for name, p in (("blob", blob), ("checkerboard", checker)):
        assert orientedness(p[None], bank).item() < 1e-9, name


def test_measure_ignores_sign_scale_offset_and_knows_the_direction():
    bank = gabor_bank(5)
    edge = _patterns(5)["vertical edge"]
    base = orientedness(edge[None], bank)
    for v in (-edge, 7 * edge, edge + 3):
        torch.testing.assert_close(orientedness(v[None], bank), base)
    energy = gabor_energy(torch.stack([edge, edge.T]), bank)
    assert energy[0].argmax() == 0 and energy[1].argmax() == 4   # 0 and 90 degrees


def test_a_plane_fit_missed_the_bar_this_measure_does_not():
    bank = gabor_bank(5)
    bar = _patterns(5)["bar"]
    assert orientedness(bar[None], bank) > 0.75


def test_random_kernels_are_the_control():
    w = torch.rand(6, 1, 5, 5) - 0.5
    rnd = random_kernels_like(w, 2000, seed=1)
    assert rnd.shape == (2000, 1, 5, 5)
    torch.testing.assert_close(rnd.flatten(1).norm(dim=1)[:6], w.flatten(1).norm(dim=1).double())
    again = random_kernels_like(w, 2000, seed=1)
    assert torch.equal(rnd, again)
    score = orientedness(rnd, gabor_bank(5))
    # random kernels are oriented by chance, less than an edge; they are the control
    assert 0.05 < score.median() < 0.4 and score.quantile(0.95) < 0.6
    edge = _patterns(5)["vertical edge"]
    assert (score >= orientedness(edge[None], gabor_bank(5))).float().mean() < 0.01


def test_clear_errors():
    with pytest.raises(ValueError, match="bank of that size"):
        orientedness(torch.rand(4, 1, 3, 3), gabor_bank(5))
    with pytest.raises(ValueError, match="one input channel"):
        orientedness(torch.rand(4, 3, 5, 5), gabor_bank(5))
    with pytest.raises(ValueError, match="even number"):
        gabor_bank(5, orientations=3)
    with pytest.raises(ValueError, match="longer than 2"):
        gabor_bank(5, wavelengths=(2,))
    with pytest.raises(ValueError, match="orientations"):
        gabor_energy(torch.rand(4, 1, 5, 5), gabor_bank(5, orientations=6), orientations=8)
    with pytest.raises(ValueError, match="at least 1"):
        random_kernels_like(torch.rand(4, 1, 5, 5), 0)


def test_a_constant_kernel_scores_zero():
    assert orientedness(torch.ones(1, 1, 5, 5), gabor_bank(5)).item() == 0
