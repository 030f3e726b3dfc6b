"""MMFRN (paper 000): the relation module (Eq. 7-11) against direct computations, the feature amplification
network (Fig. 4) against Oh et al.'s network, the frame geometry, the α conversion."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from merlib.magnify.convention import from_oh_factor
from merlib.magnify.oh2018 import OhConfig, OhMagnifier, OhManipulator
from merlib.models.relation import RelationModule, box_relative_geometry, position_embedding
from merlib.papers.mmfrn2022.model import (MMFRN, FeatureDecoder, FeatureManipulator, MMFRNFactory, ShapeEncoder,
                                           frame_relative_geometry, load_oh_trunk)

torch.set_num_threads(1)


def _module(d=8, heads=2, dk=3, dg=8, geometry=True, seed=0):
    torch.manual_seed(seed)
    m = RelationModule(d, num_heads=heads, key_dim=dk, geo_dim=dg, geometry=geometry).double()
    return m


def _embed_by_hand(r, dim, wave=1000.0):
    """Hu et al.'s extract_position_embedding written out with numpy, one coordinate at a time."""
    g = len(r)
    n_freq = dim // (2 * g)
    out = []
    for c in range(g):
        x = [100.0 * r[c] / wave ** (2 * g * j / dim) for j in range(n_freq)]
        out += [math.sin(v) for v in x] + [math.cos(v) for v in x]
    return np.array(out)


def test_position_embedding_matches_formula():
    rel = torch.tensor([[0.3, -1.2, 0.05, 2.0]], dtype=torch.float64)
    got = position_embedding(rel, 16).numpy()[0]
    np.testing.assert_allclose(got, _embed_by_hand(rel[0].tolist(), 16), rtol=0, atol=1e-12)
    with pytest.raises(ValueError):
        position_embedding(rel, 12)


def test_box_relative_geometry_matches_hu():
    boxes = torch.tensor([[10.0, 20.0, 4.0, 8.0], [13.0, 20.0, 2.0, 16.0]], dtype=torch.float64)
    r = box_relative_geometry(boxes)
    assert r.shape == (2, 2, 4)
    m, n = 0, 1
    ref = [math.log(3 / 4), math.log(1e-3), math.log(2 / 4), math.log(16 / 8)]
    np.testing.assert_allclose(r[m, n].numpy(), ref, atol=1e-12)


def test_relation_module_equations_7_to_11_by_hand():
    b, n, d, heads, dk, dg = 2, 4, 8, 2, 3, 8
    m = _module(d, heads, dk, dg)
    with torch.no_grad():  # positive geometry weights for most pairs, so Eq. 9's normaliser is > 0
        m.w_g.weight.copy_(m.w_g.weight.abs())
    g = torch.Generator().manual_seed(1)
    f = torch.randn(b, n, d, generator=g, dtype=torch.float64)
    rel = torch.randn(b, n, n, 4, generator=g, dtype=torch.float64) * 0.001   # cos terms ≈ 1 dominate
    out = m(f, rel)
    wk, wq, wv, wg = (x.weight.detach().numpy() for x in (m.w_k, m.w_q, m.w_v, m.w_g))
    fn = f.numpy()
    dv = d // heads
    for bi in range(b):
        for nn_ in range(n):
            concat = []
            for r in range(heads):
                ka = [wk[r * dk:(r + 1) * dk] @ fn[bi, mm] for mm in range(n)]
                qa = wq[r * dk:(r + 1) * dk] @ fn[bi, nn_]
                w_a = np.array([ka[mm] @ qa / math.sqrt(dk) for mm in range(n)])                    # Eq. 7
                w_g = np.array([max(0.0, wg[r] @ _embed_by_hand(rel[bi, mm, nn_].tolist(), dg))     # Eq. 8
                                for mm in range(n)])
                assert (w_g > 0).all()
                w = w_g * np.exp(w_a) / np.sum(w_g * np.exp(w_a))                                   # Eq. 9
                np.testing.assert_allclose(m.weights(f, rel)[bi, r, :, nn_].detach().numpy(), w, atol=1e-9)
                f_r = sum(w[mm] * (wv[r * dv:(r + 1) * dv] @ fn[bi, mm]) for mm in range(n))       # Eq. 10
                concat.append(f_r)
            ref = fn[bi, nn_] + np.concatenate(concat)                                               # Eq. 11
            np.testing.assert_allclose(out[bi, nn_].detach().numpy(), ref, atol=1e-9)


def test_relation_zero_geometry_weight_drops_the_pair():
    m = _module()                            # d_g = 8, g = 4: one frequency, [sin(100 r_c), cos(100 r_c)] per coordinate
    f = torch.randn(1, 3, 8, dtype=torch.float64)
    with torch.no_grad():
        m.w_g.weight.zero_()
    # every ω_G = max(0, 0) = 0: the official clamp turns Eq. 9 into softmax over ω_A (every pair kept alike)
    w = m.weights(f, torch.zeros(1, 3, 3, 4, dtype=torch.float64))
    torch.testing.assert_close(w, torch.softmax(m.appearance_logits(f), dim=-2))
    with torch.no_grad():
        m.w_g.weight[:, 0] = 1.0             # ω_G = max(0, sin(100 r_0)): > 0 only where r_0 > 0
    rel = torch.full((1, 3, 3, 4), -0.001, dtype=torch.float64)
    rel[0, 1, 2, 0] = 0.001                  # only frame m = 1 relative to n = 2 has ω_G > 0
    w2 = m.weights(f, rel)
    np.testing.assert_allclose(w2[0, :, 1, 2].detach().numpy(), 1.0, atol=1e-3)
    assert float(w2[0, :, [0, 2], 2].detach().max()) < 1e-3
    torch.testing.assert_close(w2.sum(dim=-2), torch.ones(1, 2, 3, dtype=torch.float64))


def test_relation_without_geometry_is_scaled_dot_product_attention():
    b, n, d, heads, dk = 2, 4, 8, 2, 4
    m = _module(d, heads, dk, geometry=False)
    f = torch.randn(b, n, d, dtype=torch.float64)
    q = m.w_q(f).view(b, n, heads, dk).transpose(1, 2)
    k = m.w_k(f).view(b, n, heads, dk).transpose(1, 2)
    v = m.w_v(f).view(b, n, heads, d // heads).transpose(1, 2)
    ref = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)   # query n attends to keys m
    torch.testing.assert_close(m(f) - f, ref, atol=1e-10, rtol=0)
    with pytest.raises(ValueError):
        _module()(f)          # geometry=True needs rel


def test_relation_is_permutation_equivariant():
    m = _module()
    f = torch.randn(2, 4, 8, dtype=torch.float64)
    rel = torch.randn(2, 4, 4, 4, dtype=torch.float64)
    p = torch.tensor([2, 0, 3, 1])
    out = m(f, rel)
    out_p = m(f[:, p], rel[:, p][:, :, p])
    torch.testing.assert_close(out_p, out[:, p])


def test_frame_relative_geometry_definition():
    tau = torch.tensor([[0.0, 0.2, 0.4, 1.0]], dtype=torch.float64)
    r = frame_relative_geometry(tau)
    assert r.shape == (1, 4, 4, 4)
    k = np.array([0, 1, 2, 3]) / 3
    for m in range(4):
        for n in range(4):
            dt, dk = float(tau[0, m] - tau[0, n]), k[m] - k[n]
            ref = [dt, math.log(max(abs(dt), 1e-3)), dk, math.log(max(abs(dk), 1e-3))]
            np.testing.assert_allclose(r[0, m, n].numpy(), ref, atol=1e-12)
    torch.testing.assert_close(r[..., 0], -r[..., 0].transpose(1, 2))
    s = frame_relative_geometry(torch.tensor([[0.0, 0.1, 0.2, 1.0], [0.0, 0.4, 0.8, 1.0]]), mode="slot")
    torch.testing.assert_close(s[0], s[1])                         # the same for every clip
    with pytest.raises(ValueError):
        frame_relative_geometry(tau, "boxes")


def test_shape_encoder_fig4b_shapes_and_oh_trunk():
    torch.manual_seed(0)
    oh = OhMagnifier()                                              # official config: the trunk MMFRN keeps
    enc = ShapeEncoder()
    names = load_oh_trunk(enc, oh)
    assert {n.split(".")[0] for n in names} == {"conv1", "conv2", "blocks"} and len(names) == 2 + 2 * 3
    x = torch.rand(2, 3, 32, 32)
    ref = oh.encoder.blocks(oh.encoder.conv2(oh.encoder.conv1(x * 2 - 1)))
    torch.testing.assert_close(enc.trunk(x), ref)
    assert enc(x).shape == (2, 64, 8, 8)                          # stride-2 shape conv, 64 channels
    assert enc.shape_conv.stride == 2 and enc.shape_conv.conv.out_channels == 64
    with pytest.raises(ValueError):
        load_oh_trunk(ShapeEncoder(channels=1), oh)               # 1-channel conv1 vs 3-channel checkpoint
    with pytest.raises(ValueError):
        enc(torch.rand(1, 3, 30, 30))


def test_shipped_oh_checkpoint_loads_into_the_trunk():
    from merlib.magnify import load_magnifier

    oh = load_magnifier("oh2018", device="cpu")
    enc = ShapeEncoder()
    load_oh_trunk(enc, oh)
    torch.testing.assert_close(enc.conv1.conv.weight, oh.encoder.conv1.conv.weight)
    torch.testing.assert_close(enc.blocks[2].c2.conv.weight, oh.encoder.blocks[2].c2.conv.weight)


def test_manipulator_is_oh_without_the_original():
    torch.manual_seed(0)
    man = FeatureManipulator(64)
    oh = OhManipulator(OhConfig(enc_dims=64, shape_dims=64))
    sd = {k.replace("g.conv", "g.0.conv").replace("after.conv", "after.0.conv"): v for k, v in man.state_dict().items()}
    oh.load_state_dict(sd)
    a, b = torch.randn(2, 64, 6, 6), torch.randn(2, 64, 6, 6)
    for alpha_oh in (1.0, 10.0, 80.0):
        alpha = from_oh_factor(alpha_oh)
        torch.testing.assert_close(man(a, b, alpha), oh(a, b, alpha) - a)   # Oh's output minus the original M_a
    torch.testing.assert_close(man(a, b, 0.0), b - a)                        # α_oh = 1: the unmagnified ΔM
    zero = FeatureManipulator(64, keep_difference=False)
    assert float(zero(a, b, 0.0).detach().abs().max()) == 0.0                         # the other reading: 0 at α_oh = 1
    man, a, b = man.double(), a.double(), b.double()
    per = man(a, b, torch.tensor([0.0, 79.0]))                               # a (B,) tensor of factors
    torch.testing.assert_close(per[1], man(a[1:], b[1:], 79.0)[0])
    torch.testing.assert_close(per[0], (b - a)[0])


def test_decoder_fig4e():
    dec = FeatureDecoder(64)
    out = dec(torch.randn(3, 64, 8, 8))
    assert out.shape == (3, 256 * 2 * 2)
    assert [c.conv.out_channels for c in dec.convs] == [128, 256] and all(c.stride == 2 for c in dec.convs)
    assert dec(torch.randn(1, 64, 7, 7)).shape == (1, 256 * 2 * 2)   # SAME padding: ceil


def test_mmfrn_forward_alpha_and_factory():
    torch.manual_seed(0)
    local, glob, tau = torch.randn(2, 4, 64, 8, 8), torch.randn(2, 4, 32), torch.tensor([[0, .2, .4, 1.]] * 2)
    fac = MMFRNFactory(alpha_oh=80, num_heads=2, key_dim=4, geo_dim=8, g_kernel=3)
    m = fac(5, ((4, 64, 8, 8), (4, 32), (4,)))
    assert m.alpha == 79.0 and m.alpha_oh == 80.0
    out = m(local, glob, tau)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    m1 = MMFRN.from_oh(5, (64, 8, 8), 32, 1.0, relation={"num_heads": 2, "key_dim": 4, "geo_dim": 8}, g_kernel=3)
    m1.load_state_dict(m.state_dict())
    assert m1.alpha == 0.0
    assert not torch.allclose(m1(local, glob, tau), out)                    # α enters the manipulator only ...
    m1.alpha = 79.0
    torch.testing.assert_close(m1(local, glob, tau), out)                   # ... and nothing else
    # the onset's local slot is the decoder of zero motion: the same for every clip
    z = m.local_features(local)
    torch.testing.assert_close(z[0, 0], z[1, 0])
    torch.testing.assert_close(z, m.local_features(local, skip_onset=False))  # the shortcut is exact
    none = MMFRNFactory(geometry="none", num_heads=2, key_dim=4, geo_dim=8, g_kernel=3)(5, ((4, 64, 8, 8), (4, 32), (4,)))
    assert none.local_relation.w_g is None and none(local, glob, tau).shape == (2, 5)
    with pytest.raises(ValueError):
        m(local[:, :3], glob, tau)
    with pytest.raises(ValueError):
        MMFRN(5, (64, 8, 8), 32, geometry="boxes")
