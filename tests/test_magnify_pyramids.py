"""Laplacian and complex steerable pyramids (merlib.magnify.pyramids)."""
import math

import pytest
import torch

from merlib.magnify.pyramids import (LaplacianPyramid, SteerablePyramid, laplacian_max_levels,
                                     steerable_max_levels)


@pytest.mark.parametrize("size", [(64, 64), (67, 53)])
@pytest.mark.parametrize("bandwidth", ["octave", "half_octave"])
@pytest.mark.parametrize("orientations", [3, 8])
def test_steerable_reconstruction_is_exact(size, bandwidth, orientations):
    h, w = size
    pyr = SteerablePyramid(h, w, orientations=orientations, bandwidth=bandwidth)
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    coeffs = pyr.decompose(x)
    assert len(coeffs["bands"]) == pyr.n_bands == pyr.levels * (1 if bandwidth == "octave" else 2)
    assert all(c.shape[:3] == (2, 3, orientations) and c.is_complex() for c in coeffs["bands"])
    rec = pyr.reconstruct(coeffs)
    assert float((rec - x).norm() / x.norm()) < 1e-4
    # float64: exact to rounding
    pyr64 = SteerablePyramid(h, w, orientations=orientations, bandwidth=bandwidth, dtype=torch.float64)
    x64 = x.double()
    assert float((pyr64.reconstruct(pyr64.decompose(x64)) - x64).norm() / x64.norm()) < 1e-12


def test_filters_partition_unity():
    """|H0|² + Σ |B_j A_k|²(ω) + |B_j A_k|²(−ω) + |L|² = 1 at every frequency (what makes it invertible)."""
    h, w = 48, 45
    pyr = SteerablePyramid(h, w, orientations=4, bandwidth="half_octave", dtype=torch.float64)
    total = pyr.residual_mask.clone()
    for b in pyr.bands:
        full = torch.zeros(b.filters.shape[0], h, w, dtype=torch.float64)
        rows = b.rows if b.rows is not None else torch.arange(h)
        cols = b.cols if b.cols is not None else torch.arange(w)
        full[:, rows[:, None], cols[None, :]] = b.filters
        sq = (full ** 2).sum(0)
        mirrored = torch.roll(torch.flip(sq, dims=(0, 1)), shifts=(1, 1), dims=(0, 1))  # value at −ω
        total += sq + mirrored
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-12, rtol=0)


def test_band_phase_encodes_translation():
    """Fourier shift theorem: translating a sinusoid by δ rotates its band coefficients by ω·δ."""
    n, cycles, delta = 64, 6, 0.7
    omega = 2 * math.pi * cycles / n
    x = torch.arange(n, dtype=torch.float64)
    img = lambda d: (0.5 + 0.4 * torch.cos(omega * (x - d)))[None, :].expand(n, n)  # noqa: E731
    pyr = SteerablePyramid(n, n, orientations=4, dtype=torch.float64)
    # the vertical-stripe sinusoid lives in orientation 0 of the band whose radius contains it
    energies = [float(c.abs().pow(2).sum()) for c in pyr.decompose(img(0.0))["bands"]]
    j = max(range(len(energies)), key=energies.__getitem__)
    c0 = pyr.decompose(img(0.0))["bands"][j][0]
    c1 = pyr.decompose(img(delta))["bands"][j][0]
    assert float(c0.abs().max()) > 10 * float(pyr.decompose(img(0.0))["bands"][j][2].abs().max())
    dphi = torch.angle(c0 * c1.conj())
    big = c0.abs() > 0.5 * c0.abs().max()
    torch.testing.assert_close(dphi[big], torch.full_like(dphi[big], omega * delta), atol=1e-9, rtol=0)


def test_steerable_rejects_too_many_levels():
    assert steerable_max_levels(64, 64) == 4
    with pytest.raises(ValueError, match="levels"):
        SteerablePyramid(64, 64, levels=5)
    with pytest.raises(ValueError, match="bandwidth"):
        SteerablePyramid(64, 64, bandwidth="third")
    with pytest.raises(ValueError, match="orientations"):
        SteerablePyramid(64, 64, orientations=0)


@pytest.mark.parametrize("size", [(64, 64), (67, 53)])
def test_laplacian_pyramid_exact_and_bandpass(size):
    h, w = size
    levels = laplacian_max_levels(h, w)
    lp = LaplacianPyramid(levels)
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(1))
    pyr = lp.decompose(x)
    assert [p.shape[-2:] for p in pyr] == [(math.ceil(h / 2**l), math.ceil(w / 2**l)) for l in range(levels + 1)]
    torch.testing.assert_close(lp.reconstruct(pyr), x, atol=1e-6, rtol=0)
    const = torch.full((1, h, w), 0.3)
    cp = lp.decompose(const)
    assert all(float(p.abs().max()) < 1e-6 for p in cp[:-1])  # band-pass levels of a constant vanish
    torch.testing.assert_close(cp[-1], torch.full_like(cp[-1], 0.3))
