"""CMNet's negative samplers (Table 2): deterministic, random, probabilistic."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from merlib.papers.cmnet2023.sampling import other_frames, sample_negatives


def _z(b=2, n=16, d=8, seed=0):
    return F.normalize(torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_deterministic_takes_every_other_frame_once():
    idx = sample_negatives(_z(), "deterministic")
    assert idx.shape == (2, 16, 15)
    for n in range(16):
        assert sorted(idx[0, n].tolist()) == [j for j in range(16) if j != n]
    assert torch.equal(other_frames(4), torch.tensor([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]))
    with pytest.raises(ValueError, match="all N - 1"):
        sample_negatives(_z(), "deterministic", m=5)


def test_random_is_uniform_over_the_other_frames():
    z = _z(b=200)
    idx = sample_negatives(z, "random", generator=torch.Generator().manual_seed(1))
    assert idx.shape == (200, 16, 15)
    anchors = torch.arange(16).reshape(1, 16, 1)
    assert not (idx == anchors).any()
    counts = np.bincount(idx[:, 3].reshape(-1).numpy(), minlength=16)
    assert counts[3] == 0
    others = np.delete(counts, 3)
    assert stats.chisquare(others).pvalue > 1e-3              # each other frame has probability 1/15
    # draws are with replacement: some anchor sees a frame twice
    assert any(len(set(row.tolist())) < 15 for row in idx[:, 0])


def test_probabilistic_follows_the_softmax_of_similarities():
    b, n, d, tau = 1, 16, 8, 0.5
    z = _z(b, n, d, seed=2)
    g = torch.Generator().manual_seed(3)
    draws = torch.cat([sample_negatives(z, "probabilistic", tau=tau, generator=g) for _ in range(400)], dim=0)
    anchor = 5
    freq = np.bincount(draws[:, anchor].reshape(-1).numpy(), minlength=n) / draws[:, anchor].numel()
    sims = (z[0] @ z[0, anchor]).numpy() / tau
    others = [j for j in range(n) if j != anchor]
    p = np.exp(sims[others] - sims[others].max())
    p /= p.sum()
    assert freq[anchor] == 0
    np.testing.assert_allclose(freq[others], p, atol=0.012)
    # the most similar candidate is picked more often than under random sampling
    assert freq[others][np.argmax(p)] > 1 / 15


def test_probabilistic_prefers_a_near_duplicate_of_the_anchor():
    z = _z(1, 16, 8, seed=4).clone()
    z[0, 9] = F.normalize(z[0, 2] + 0.01, dim=-1)
    idx = sample_negatives(z, "probabilistic", tau=0.05, generator=torch.Generator().manual_seed(0))
    assert (idx[0, 2] == 9).float().mean() > 0.5


def test_reproducible_with_a_generator():
    z = _z()
    a = sample_negatives(z, "random", generator=torch.Generator().manual_seed(7))
    b = sample_negatives(z, "random", generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="method"):
        sample_negatives(z, "hard")
