"""CMNet's intensity prototype (Eq. 2-4) against a direct transcription of the equations."""
import math

import numpy as np
import pytest
import torch

from merlib.papers.cmnet2023.prototype import (IntensityPrototype, apex_position, prototype_base_stds,
                                               prototype_means)


def _eq234(apex0, n=16, eps=0.2):
    """Eq. 2-4 transcribed frame by frame (1-based n, apex at N1 + 1)."""
    n1 = apex0
    n2 = n - 1 - n1
    means, sds = [], []
    for j in range(1, n + 1):
        if j <= n1:
            means.append(eps + (j - 1) * (1 - eps) / n1)
            sds.append((1 - eps) / (3 * n1))
        elif j == n1 + 1:
            means.append(1.0)
            sds.append(min((1 - eps) / (3 * n1) if n1 else math.inf, (1 - eps) / (3 * n2) if n2 else math.inf))
        else:
            means.append(1 - (j - n1 - 1) * (1 - eps) / n2)
            sds.append((1 - eps) / (3 * n2))
    return np.array(means), np.array(sds)


@pytest.mark.parametrize("apex", [0, 1, 5, 7, 14, 15])
def test_means_and_stds_match_the_equations(apex):
    m_ref, s_ref = _eq234(apex)
    np.testing.assert_allclose(prototype_means(apex).numpy(), m_ref, atol=1e-6)
    np.testing.assert_allclose(prototype_base_stds(apex).numpy(), s_ref, rtol=1e-6)


def test_shape_of_the_tendency():
    m = prototype_means(6).numpy()
    assert m[0] == pytest.approx(0.2) and m[6] == 1.0 and m[-1] == pytest.approx(0.2)
    assert np.all(np.diff(m[:7]) > 0) and np.all(np.diff(m[6:]) < 0)
    # 3-sigma principle: neighbouring means are 3 (base) sd apart on each segment
    s = prototype_base_stds(6).numpy()
    np.testing.assert_allclose(np.diff(m[:7]), 3 * s[:6], rtol=1e-5)
    np.testing.assert_allclose(-np.diff(m[7:]), 3 * s[8:], rtol=1e-5)


def test_batched_means():
    apex = torch.tensor([2, 9, 15])
    mb = prototype_means(apex)
    for i, a in enumerate(apex.tolist()):
        np.testing.assert_allclose(mb[i].numpy(), prototype_means(a).numpy())


def test_samples_have_the_stated_distribution_and_eta_learns():
    proto = IntensityPrototype(16, eps=0.2, eta_init=0.5)
    assert torch.allclose(proto.eta, torch.full((16,), 0.5))
    g = torch.Generator().manual_seed(0)
    q = torch.stack([proto.sample(7, generator=g) for _ in range(4000)]).detach()
    mu, sd = proto.means(7), proto.stds(7).detach()
    # mean within 4 standard errors, sd within 5 %
    assert torch.all((q.mean(0) - mu).abs() < 4 * sd / math.sqrt(4000))
    np.testing.assert_allclose(q.std(0).numpy(), sd.numpy(), rtol=0.05)
    draw = proto.sample(torch.tensor([7, 3]), generator=g)
    ((draw - 1.0) ** 2).sum().backward()
    assert proto.theta.grad is not None and float(proto.theta.grad.abs().sum()) > 0
    assert torch.all((proto.eta > 0) & (proto.eta < 1))


def test_fixed_eta_and_bad_input():
    p = IntensityPrototype(16, learn_eta=False)
    assert not any(True for _ in p.parameters())
    with pytest.raises(ValueError, match="apex"):
        prototype_means(16)
    with pytest.raises(ValueError, match="eta_init"):
        IntensityPrototype(16, eta_init=1.0)


def test_apex_position():
    assert apex_position(10, 20, 40, np.linspace(10, 40, 16).round()) == int(np.argmin(np.abs(np.linspace(10, 40, 16).round() - 20)))
    assert apex_position(0, float("nan"), 10, range(16)) == 8
    with pytest.raises(ValueError, match="onset <= apex"):
        apex_position(10, 5, 20, range(16))
