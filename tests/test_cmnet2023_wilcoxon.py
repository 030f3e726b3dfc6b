"""CMNet's rank-sum test (Eq. 5-9): hard statistic against scipy, the soft-rank surrogate's convergence."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from merlib.papers.cmnet2023 import wilcoxon as W


def _pair(seed, n=16, shift=0.0, ties=False):
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.2, 1.0, n)
    k = rng.normal(0.6 + shift, 0.3, n)
    if ties:
        q = np.round(q, 1)
        k = np.round(k, 1)
        k[:3] = q[:3]
    return torch.tensor(q, dtype=torch.float64), torch.tensor(k, dtype=torch.float64)


@pytest.mark.parametrize("ties", [False, True])
def test_hard_rank_is_scipy_rankdata(ties):
    q, k = _pair(1, ties=ties)
    pooled = torch.cat([q, k])
    np.testing.assert_allclose(W.hard_rank(pooled).numpy(), stats.rankdata(pooled.numpy()), atol=0)


@pytest.mark.parametrize("seed,shift,ties", [(0, 0.0, False), (1, 0.5, False), (2, -0.4, False), (3, 0.1, True),
                                             (4, 2.0, False)])
def test_statistic_and_p_match_scipy_ranksums(seed, shift, ties):
    q, k = _pair(seed, shift=shift, ties=ties)
    ref = stats.ranksums(k.numpy(), q.numpy())
    out = W.rank_sum_test(q, k)
    n = q.numel()
    assert float(out["T1"] + out["T2"]) == pytest.approx(n * (2 * n + 1))          # all ranks 1..2N
    assert float(out["Z"]) == pytest.approx(ref.statistic, abs=1e-12)
    assert float(out["p_two_sided"]) == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert float(out["p_paper"]) == pytest.approx(stats.norm.pdf(ref.statistic), rel=1e-12)   # Eq. 8 = density


def test_eq7_moments_from_enumeration():
    # mu_T and sigma_T of Eq. 7: the exact mean/variance of T2 under H0 (all rank splits equally likely),
    # checked by Monte Carlo over random splits of 1..2N
    n = 16
    rng = np.random.default_rng(0)
    t2 = np.array([rng.permutation(2 * n)[:n].sum() + n for _ in range(40000)], dtype=float)
    assert t2.mean() == pytest.approx(n * (2 * n + 1) / 2, rel=2e-3)
    assert t2.std() == pytest.approx(math.sqrt(n * n * (2 * n + 1) / 12), rel=2e-2)


def test_batched_equals_one_by_one():
    pairs = [_pair(s, shift=0.2 * s) for s in range(5)]
    q = torch.stack([p[0] for p in pairs])
    k = torch.stack([p[1] for p in pairs])
    z = W.rank_sum_z(q, k)
    for i, (qi, ki) in enumerate(pairs):
        assert float(z[i]) == pytest.approx(float(W.rank_sum_z(qi, ki)), abs=1e-12)


def test_soft_rank_converges_to_hard_rank_as_temperature_falls():
    q, k = _pair(5, shift=0.3)
    pooled = torch.cat([q, k])
    hard = W.hard_rank(pooled)
    gaps = (pooled[:, None] - pooled[None, :]).abs()
    min_gap = float(gaps[gaps > 0].min())
    errs = []
    for t in [1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5]:
        soft = W.soft_rank(pooled, t)
        err = float((soft - hard).abs().max())
        bound = float(torch.sigmoid(-gaps / t).sum(-1).max() - 0.5)   # sum over j != i of sigmoid(-|d|/t)
        assert err <= bound + 1e-9
        errs.append(err)
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert min_gap > 20 * 1e-5 and errs[-1] < 1e-6, (min_gap, errs)   # t = 1e-5 << smallest gap: ranks exact
    z_hard = float(W.rank_sum_z(q, k))
    z_err = [abs(float(W.rank_sum_z(q, k, temperature=t)) - z_hard) for t in [1.0, 0.1, 0.01, 1e-3]]
    assert all(b < a for a, b in zip(z_err, z_err[1:])) and z_err[-1] < 0.05, z_err


def test_soft_rank_gives_midranks_at_ties_for_any_temperature():
    x = torch.tensor([0.3, 0.5, 0.5, 0.9], dtype=torch.float64)
    for t in [1e-4, 1e-2]:
        soft = W.soft_rank(x, t)
        assert float(soft[1]) == pytest.approx(2.5, abs=1e-6) and float(soft[2]) == pytest.approx(2.5, abs=1e-6)


def test_statistic_ignores_temporal_order():
    q, k = _pair(6, shift=0.3)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    assert float(W.rank_sum_z(q, k[perm])) == float(W.rank_sum_z(q, k))
    assert float(W.wrst_loss(q, k[perm])) == pytest.approx(float(W.wrst_loss(q, k)), abs=1e-12)


def test_hinge_loss_eq9_values():
    q = torch.linspace(0.2, 1.0, 16, dtype=torch.float64)
    same = W.wrst_loss(q, q.flip(0), temperature=None)            # identical sets: Z = 0, p = 0.399 > alpha + xi
    assert float(same) == 0.0
    far = W.wrst_loss(q, q + 10.0, temperature=None)                 # k above every q: Z = sqrt(...) large, p ~ 0
    z = float(W.rank_sum_z(q, q + 10.0))
    p = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    assert z == pytest.approx((16 * 16 + 16 * 17 / 2 - 16 * 33 / 2) / math.sqrt(16 * 16 * 33 / 12))
    assert float(far) == pytest.approx(max(0.0, W.XI - (p - W.ALPHA)), abs=1e-15)
    assert float(far) == pytest.approx(0.06, abs=1e-3)
    two = W.wrst_loss(q, q + 10.0, temperature=None, p_mode="two_sided")
    assert float(two) == pytest.approx(W.XI + W.ALPHA - stats.ranksums((q + 10).numpy(), q.numpy()).pvalue)


def test_soft_loss_gradient_pulls_k_towards_the_prototype():
    q = torch.linspace(0.2, 1.0, 16, dtype=torch.float64)
    k = (q + 0.6).clone().requires_grad_(True)
    loss = W.wrst_loss(q, k, temperature=0.05)
    loss.backward()
    assert float(loss.detach()) > 0 and k.grad is not None and float(k.grad.abs().sum()) > 0
    k2 = (k - 0.5 * k.grad / k.grad.abs().max()).detach()
    assert abs(float(W.rank_sum_z(q, k2))) < abs(float(W.rank_sum_z(q, k.detach())))
    assert float(k.grad.sum()) > 0        # a descent step lowers k, towards the prototype's values


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        W.rank_sum_z(torch.zeros(16), torch.zeros(15))
    with pytest.raises(ValueError, match="temperature"):
        W.soft_rank(torch.zeros(4), 0.0)
    with pytest.raises(ValueError, match="p_mode"):
        W.wrst_loss(torch.zeros(4), torch.zeros(4), p_mode="x")
