"""AMAN (ICASSP 2022): MA / FA modules against direct computations, the amp convention, the FER+ loader."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torchvision

from merlib.models import backbones
from merlib.papers.aman2022 import experiment as X
from merlib.papers.aman2022 import pipeline as P
from merlib.papers.aman2022.model import AMAN, AttentionPool, resnet_layer4

torch.set_num_threads(1)


# -- Eq. 2 / Eq. 3: the factor convention ------------------------------------------------------------------
def test_amp_factors_and_convention():
    assert P.amp_factors(9) == [float(i) for i in range(1, 10)]
    for amp in (1.0, 2.0, 9.0):
        assert P.merlib_alpha(amp) == amp - 1           # Oh's amp = 1 + merlib alpha
        assert P.oh_gain(amp) == amp                     # what AMAN's code (Oh's manipulator) shows
        assert P.printed_eq2_gain(amp) == amp + 1        # what the printed Eq. 2 says: off by one
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            P.amp_factors(bad)


# -- Eq. 5-7 / Eq. 8-10 ------------------------------------------------------------------------------------
def test_attention_pool_matches_the_equations():
    torch.manual_seed(0)
    pool = AttentionPool(6).double()
    f = torch.randn(3, 5, 6, dtype=torch.float64)            # (B, k, D)
    out, w = pool(f)
    q, b = pool.fc.weight[0], pool.fc.bias[0]
    for s in range(3):
        alpha = [torch.sigmoid(f[s, i] @ q + b) for i in range(5)]                   # Eq. 5
        attn = [alpha[i] * f[s, i] for i in range(5)]                                 # Eq. 6
        fm = sum(attn) / sum(alpha)                                                   # Eq. 7
        torch.testing.assert_close(out[s], fm)
        torch.testing.assert_close(w[s], torch.stack(alpha))
    # the log-space division is finite where every sigmoid underflows to 0 (float32 scores < -88)
    big = AttentionPool(2)
    with torch.no_grad():
        big.fc.weight.copy_(torch.tensor([[-150.0, 0.0]])); big.fc.bias.zero_()
    fx = torch.tensor([[[1.0, 1.0], [2.0, 5.0]]])
    pooled, w = big(fx)
    assert float(w.sum()) == 0.0 and torch.isfinite(pooled).all()
    wd = torch.sigmoid(torch.tensor([-150.0, -300.0], dtype=torch.float64))
    torch.testing.assert_close(pooled.double()[0], (wd[:, None] * fx[0].double()).sum(0) / wd.sum(), atol=1e-6, rtol=1e-5)
    # a weighted mean: equal features in -> that feature out, whatever the weights
    same = torch.randn(1, 1, 6, dtype=torch.float64).expand(2, 4, 6)
    torch.testing.assert_close(pool(same)[0], same[:, 0])


def _aman_reference(model: AMAN, x: torch.Tensor) -> torch.Tensor:
    """AMAN's main/network.py forward on vectors, written with its loops over frames j and factors i."""
    vms, betas = [], []
    for j in range(x.shape[1]):
        alphas = [model.ma.fc(x[:, j, i]).sigmoid() for i in range(x.shape[2])]       # (B, 1) each
        a = torch.stack(alphas, dim=2)                                                  # (B, 1, k)
        v = torch.stack([x[:, j, i] for i in range(x.shape[2])], dim=2)                 # (B, D, k)
        vm = v.mul(a).sum(2).div(a.sum(2))
        vms.append(vm)
        betas.append(model.fa.fc(vm).sigmoid())
        # Eq. 8: beta_j = sigma(F_mj p0)
    bs, vs = torch.stack(betas, 0), torch.stack(vms, 0)
    return model.fc(vs.mul(bs).sum(0).div(bs.sum(0)))


def test_aman_forward_matches_amans_loops_and_shapes():
    torch.manual_seed(1)
    model = AMAN(4, 8).double().eval()
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)          # (B, n, k, D)
    out = model(x)
    assert out["logits"].shape == (2, 4) and out["alpha"].shape == (2, 3, 5) and out["beta"].shape == (2, 3)
    torch.testing.assert_close(out["logits"], _aman_reference(model, x))
    assert float(out["alpha"].detach().min()) > 0 and float(out["alpha"].detach().max()) < 1
    torch.testing.assert_close(out["alpha_norm"], out["alpha"] / out["alpha"].sum(-1, keepdim=True))
    torch.testing.assert_close(out["beta_norm"].sum(-1), torch.ones(2, dtype=torch.float64))


def test_ablations_use_equal_weights():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 4, 8)
    fa_only = AMAN(3, 8, magnification_attention=False)
    out = fa_only(x)
    assert torch.equal(out["alpha"], torch.ones(2, 3, 4))
    fv, _ = fa_only.fa(x.mean(2))
    torch.testing.assert_close(out["logits"], fa_only.fc(fv))
    ma_only = AMAN(3, 8, frame_attention=False)
    out = ma_only(x)
    assert torch.equal(out["beta"], torch.ones(2, 3))
    fm, _ = ma_only.ma(x)
    torch.testing.assert_close(out["logits"], ma_only.fc(fm.mean(1)))


def test_layer4_tail_trains_on_layer3_maps():
    torch.manual_seed(3)
    bb = backbones.load("resnet18", pretrained=False, device="cpu", input_size=None)
    tail = resnet_layer4(bb)
    assert all(p.requires_grad for p in tail.parameters())
    model = AMAN(3, 512, tail=tail)
    x = torch.randn(1, 2, 3, 256, 2, 2)                       # (B, n, k, 256, h, w) as AMAN caches them
    out = model(x)
    out["logits"].sum().backward()
    assert out["logits"].shape == (1, 3) and model.tail[0].conv1.weight.grad is not None
    with pytest.raises(ValueError):
        model(torch.randn(1, 2, 3, 512))


def test_expected_factor():
    alpha = np.array([[1.0, 1.0, 2.0], [0.5, 0.0, 0.5]])
    beta = np.array([1.0, 3.0])
    amps = [1.0, 2.0, 3.0]
    per_frame = [(1 + 2 + 6) / 4, (0.5 + 1.5) / 1.0]
    assert X.expected_factor(alpha, beta, amps) == pytest.approx(0.25 * per_frame[0] + 0.75 * per_frame[1])
    with pytest.raises(ValueError):
        X.expected_factor(alpha, beta, [1.0, 2.0])


def test_select_cells():
    bank = torch.arange(6 * 5 * 2, dtype=torch.float32).reshape(6, 5, 2)
    cells = X.SelectCells(n=3, k=4)((bank, torch.zeros(2)))
    assert cells.shape == (1, 3, 4, 2) and torch.equal(cells[0], bank[:3, :4])
    single = X.SelectCells(n=2, k=5, single_amp=3.0)(bank)
    assert single.shape == (1, 2, 1, 2) and torch.equal(single[0, :, 0], bank[:2, 2])
    with pytest.raises(ValueError):
        X.SelectCells(n=7, k=4)(bank)


# -- FER+ ResNet-18 loader ---------------------------------------------------------------------------------
def _fake_ferplus_file(path):
    torch.manual_seed(4)
    net = torchvision.models.resnet18(weights=None, num_classes=8)   # FER+ has 8 classes
    sd = {f"module.{k}": v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"epoch": 10, "state_dict": sd}, path)
    return net


def test_ferplus_mapper_on_a_constructed_file(tmp_path):
    path = tmp_path / "Resnet18_FER+_pytorch.pth.tar"
    net = _fake_ferplus_file(path)
    mapped = backbones.map_ferplus_resnet18_state_dict(torch.load(path, weights_only=True))
    assert not any(k.startswith(("fc.", "module.")) for k in mapped)
    torch.testing.assert_close(mapped["layer3.1.conv2.weight"], net.state_dict()["layer3.1.conv2.weight"])
    bb = backbones.load("resnet18_ferplus", pretrained=str(path), device="cpu", input_size=None)
    assert bb.pretrained_source == str(path)
    x = torch.rand(2, 3, 32, 32)
    ref = torchvision.models.resnet18(weights=None, num_classes=8)
    ref.load_state_dict(net.state_dict())
    ref.eval(), bb.eval()
    mean = torch.tensor(backbones.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(backbones.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        h = (x - mean) / std
        h = ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(h)))))))
        torch.testing.assert_close(bb.feature_maps(x, until="B6"), h)
    bad = {"state_dict": {"module.conv1.weight": torch.zeros(64, 3, 3, 3)}}
    with pytest.raises(ValueError, match="FER\\+ ResNet-18"):
        backbones.map_ferplus_resnet18_state_dict(bad)
    with pytest.raises(ValueError):
        backbones.map_ferplus_resnet18_state_dict([1, 2])


def test_ferplus_env_variable(tmp_path, monkeypatch):
    path = tmp_path / "f.pth.tar"
    _fake_ferplus_file(path)
    monkeypatch.setenv(backbones.FERPLUS_RESNET18_ENV, str(path))
    assert backbones.ferplus_resnet18_weights_path() == path
    stage = X.make_stage(backbone="auto")
    assert stage.backbone.name == "resnet18_ferplus" and stage.backbone.pretrained_source == str(path)
    monkeypatch.setenv(backbones.FERPLUS_RESNET18_ENV, str(tmp_path / "missing.pth.tar"))
    with pytest.raises(FileNotFoundError):
        X.make_stage(backbone="auto")


@pytest.mark.skipif(not os.environ.get("MERLIB_AMAN_FERPLUS_RESNET18"),
                    reason="set MERLIB_AMAN_FERPLUS_RESNET18 to AMAN's Resnet18_FER+_pytorch.pth.tar to test it")
def test_ferplus_real_file():
    path = os.environ["MERLIB_AMAN_FERPLUS_RESNET18"]
    bb = backbones.load("resnet18_ferplus", pretrained=path, device="cpu", input_size=None).eval()
    with torch.no_grad():
        f = bb.feature_maps(torch.rand(1, 3, 224, 224), until="B6")
    assert f.shape == (1, 256, 14, 14) and torch.isfinite(f).all()   # AMAN's cached (256, 14, 14) maps
