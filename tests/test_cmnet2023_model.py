"""CMNet's ID loss (Eq. 1), total loss (Eq. 10), inputs (16 frames, two views) and model."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from merlib.papers.cmnet2023 import losses as L
from merlib.papers.cmnet2023.model import CMNet
from merlib.papers.cmnet2023.views import augment_views, cmnet_views, resample_clip, sample_positions, split_views


def _eq1_numpy(z1, z2, zn, tau):
    """Eq. 1 written out with exp and sums (no log-sum-exp), one clip."""
    n = z1.shape[0]
    sim = lambda a, b: math.exp(float(np.dot(a, b)) / tau)
    total = 0.0
    for i in range(n):
        s12 = sim(z1[i], z2[i])
        d1 = s12 + sum(sim(z1[i], zn[i, m]) for m in range(zn.shape[1]))
        d2 = s12 + sum(sim(z2[i], zn[i, m]) for m in range(zn.shape[1]))
        total += math.log(s12 / d1) + math.log(s12 / d2)
    return -total / n


def test_id_loss_is_eq1():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 16, 8, generator=g, dtype=torch.float64), torch.randn(2, 16, 8, generator=g, dtype=torch.float64)
    zn = torch.randn(2, 16, 15, 8, generator=g, dtype=torch.float64)
    tau = 0.5
    got = float(L.id_loss(z1, z2, zn, tau=tau))
    n1, n2, nn_ = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1), F.normalize(zn, dim=-1)
    ref = np.mean([_eq1_numpy(n1[b].numpy(), n2[b].numpy(), nn_[b].numpy(), tau) for b in range(2)])
    assert got == pytest.approx(ref, rel=1e-10)
    raw = float(L.id_loss(z1 * 0.3, z2 * 0.3, zn * 0.3, tau=tau, normalize=False))
    ref_raw = np.mean([_eq1_numpy(0.3 * z1[b].numpy(), 0.3 * z2[b].numpy(), 0.3 * zn[b].numpy(), tau) for b in range(2)])
    assert raw == pytest.approx(ref_raw, rel=1e-10)


def test_id_loss_rewards_matching_views_and_distinct_negatives():
    eye = torch.eye(16, dtype=torch.float64).unsqueeze(0)                # 16 orthogonal frame features
    neg = eye[:, torch.tensor([[j for j in range(16) if j != n] for n in range(16)])]   # (1, 16, 15, 16)
    good = float(L.id_loss(eye, eye, neg, tau=0.1))
    assert good == pytest.approx(2 * math.log(1 + 15 * math.exp(-10)), rel=1e-9)  # the bound of Eq. 1
    noisy = float(L.id_loss(eye, torch.roll(eye, 1, dims=1), neg, tau=0.1))
    assert noisy > good + 5


def test_total_loss_weights():
    terms = {"L_ID": torch.tensor(2.0), "L_Wrst": torch.tensor(0.05), "L_C": torch.tensor(1.5)}
    assert sum(L.LAMBDAS.values()) == pytest.approx(1.0)
    assert float(L.total_loss(terms)) == pytest.approx(0.07 * 2 + 0.71 * 0.05 + 0.22 * 1.5)
    assert float(L.total_loss({"L_C": torch.tensor(1.5)}, L.ABLATIONS["L_C"])) == pytest.approx(0.22 * 1.5)
    with pytest.raises(ValueError, match="no such term"):
        L.total_loss({"L_C": torch.tensor(1.0)})


def test_resample_clip_picks_or_interpolates():
    clip = torch.arange(20, dtype=torch.float32).reshape(20, 1, 1, 1).expand(20, 1, 2, 2)
    out = resample_clip(clip, 16)
    np.testing.assert_allclose(out[:, 0, 0, 0].numpy(), np.round(np.linspace(0, 19, 16)))
    short = clip[:6]
    out = resample_clip(short, 16)
    np.testing.assert_allclose(out[:, 0, 0, 0].numpy(), np.linspace(0, 5, 16), atol=1e-6)   # linear in time
    assert sample_positions(6, 16)[-1] == 5.0 and sample_positions(40, 16)[0] == 0.0


def test_views_are_seeded_and_differ():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(16, 3, 32, 32, generator=g)
    a1, a2 = augment_views(frames, seed=3)
    b1, b2 = augment_views(frames, seed=3)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.equal(a1, a2)
    assert a1.min() >= 0 and a1.max() <= 1
    state = torch.get_rng_state()
    x = cmnet_views(torch.rand(23, 3, 32, 32, generator=g))
    assert torch.equal(state, torch.get_rng_state())                  # caller's random state untouched
    f, v1, v2 = split_views(x.unsqueeze(0))
    assert x.shape == (48, 3, 32, 32) and f.shape == v1.shape == v2.shape == (1, 16, 3, 32, 32)
    grey = augment_views(frames[:, :1], seed=1)[0]
    assert grey.shape == (16, 1, 32, 32)


def test_model_shapes_ablations_and_gradients():
    torch.manual_seed(0)
    m = CMNet(5, 24, hidden=16, ice_dim=8, ice_hidden=16, ffe_dim=12)
    x = torch.randn(3, 48, 24)
    y = torch.tensor([0, 3, 4])
    apex = torch.tensor([2, 8, 15])
    logits = m(x)
    assert logits.shape == (3, 5)
    m.eval()
    assert torch.allclose(m(x), m(x[:, :16]))                         # views are not used to classify
    m.train()
    total, terms = m.loss(x, y, apex, generator=torch.Generator().manual_seed(0))
    assert set(terms) >= {"L_ID", "L_Wrst", "L_C", "logits", "k", "q"} and terms["k"].shape == (3, 16)
    total.backward()
    assert m.ice[0].weight.grad.abs().sum() > 0 and m.prototype.theta.grad is not None
    base = CMNet(5, 24, weights=L.ABLATIONS["L_C"])
    _, t = base.loss(x, y, apex)
    assert "L_ID" not in t and "L_Wrst" not in t
    with pytest.raises(ValueError, match="two views"):
        m.loss(x[:, :16], y, apex)


def test_onset_relative_inputs_see_motion_not_appearance():
    torch.manual_seed(0)
    m = CMNet(5, 24, hidden=16, ice_dim=8, ice_hidden=16, ffe_dim=12, inputs="onset_relative", relative_gain=30.0).eval()
    a = CMNet(5, 24, hidden=16, ice_dim=8, ice_hidden=16, ffe_dim=12).eval()
    x = torch.randn(2, 48, 24)
    # the stage: per-vector standardisation, then each view minus its own first frame, times the gain
    z = F.layer_norm(x, (24,)).reshape(2, 3, 16, 24)
    want = ((z - z[:, :, :1]) * 30.0).reshape(2, 48, 24)
    torch.testing.assert_close(m.input_norm(x), want)
    torch.testing.assert_close(a.input_norm(x), F.layer_norm(x, (24,)))
    assert float(m.input_norm(x).reshape(2, 3, 16, 24)[:, :, 0].abs().max()) == 0.0
    # two still clips of different faces (every frame equal) are the same input: only motion is seen
    still1, still2 = (torch.randn(1, 24).expand(16, 24).unsqueeze(0) for _ in range(2))
    torch.testing.assert_close(m(still1), m(still2))
    assert not torch.allclose(a(still1), a(still2))
    # the intensity clue reads the frames' own block only (the views are relative to their own onsets)
    torch.testing.assert_close(m.intensity(x[:, :16]), m.intensity(x))
    with pytest.raises(ValueError, match="inputs"):
        CMNet(5, 24, inputs="relative")
    with pytest.raises(ValueError, match="relative_gain"):
        CMNet(5, 24, inputs="onset_relative", relative_gain=0)


def test_id_training_separates_frames_of_a_clip():
    """A few steps of L_ID alone make a frame's views closer to each other than to the other frames."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    base = torch.randn(8, 16, 24, generator=g) * 0.2 + torch.randn(8, 1, 24, generator=g)      # frames of 8 clips
    x = torch.cat([base, base + 0.3 * torch.randn(8, 16, 24, generator=g),
                   base + 0.3 * torch.randn(8, 16, 24, generator=g)], dim=1)
    m = CMNet(3, 24, weights={"L_ID": 1.0, "L_Wrst": 0.0, "L_C": 0.0}, sampler="deterministic")
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        total, _ = m.loss(x, torch.zeros(8, dtype=torch.long), torch.zeros(8, dtype=torch.long))
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
