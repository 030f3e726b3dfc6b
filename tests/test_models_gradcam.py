"""Grad-CAM: equals CAM where theory says so, matches a hook-free computation through the Bi-LSTM, and
finds the known evidence region of a model whose class depends on one image quadrant."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from merlib.env import seed_everything
from merlib.models import backbones
from merlib.papers.bai2021.model import Bai2021
from merlib.models.gradcam import grad_cam


class ImageClassifier(nn.Module):
    def __init__(self, backbone, k):
        super().__init__()
        self.backbone, self.head = backbone, nn.Linear(backbone.feature_dim, k)

    def forward(self, x):
        return self.head(self.backbone(x))


def test_equals_cam_for_global_average_pooling_plus_linear():
    """Selvaraju et al. Sec. 3.1: with GAP + linear after the layer, Grad-CAM = ReLU(sum_k w_ck A_k) / (h w)."""
    torch.manual_seed(0)
    model = ImageClassifier(backbones.load("small_cnn", device="cpu"), 3).eval()
    x = torch.rand(2, 3, 20, 20)
    maps = grad_cam(model, x, target=2, layer="B3", normalize="none")
    with torch.no_grad():
        acts = model.backbone.feature_maps(x)  # (2, 64, 5, 5)
        cam = F.relu(torch.einsum("k,bkhw->bhw", model.head.weight[2], acts)) / (acts.shape[-2] * acts.shape[-1])
        expected = F.interpolate(cam[:, None], size=(20, 20), mode="bilinear", align_corners=False)[:, 0]
    assert maps.shape == (2, 20, 20)
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7)


def test_through_the_bilstm_matches_a_hook_free_computation():
    torch.manual_seed(0)
    model = Bai2021("small_cnn", hidden=8, num_classes=3, device="cpu")
    segment = torch.rand(6, 3, 16, 16)  # (N, C, H, W)
    maps = grad_cam(model, segment, target=1, layer="B2", normalize="none")
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated
    model.eval()
    bb = model.backbone
    x = bb.norm(segment)
    for name in ("stem", "B1", "B2"):
        x = bb.blocks[name](x)
    acts = x.detach().requires_grad_(True)
    feats = bb.blocks["B3"](acts).mean(dim=(-2, -1))[None]  # (1, N, D)
    _, (h, _) = model.lstm(feats)
    score = model.classifier(torch.cat([h[-2], h[-1]], 1))[0, 1]
    grads, = torch.autograd.grad(score, acts)
    cam = F.relu((grads.mean(dim=(-2, -1), keepdim=True) * acts).sum(1)).detach()
    expected = F.interpolate(cam[:, None], size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    assert maps.shape == (6, 16, 16)
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-8)
    # frames differ: the per-frame maps are not one map repeated
    assert not torch.allclose(maps[0], maps[-1])


def _quadrant_data(n, g, corner="top_left"):
    """Segments (n, 4, 3, 16, 16): noise + a dark distractor anywhere; class 1 adds a bright 3x3 patch in
    the top-left quadrant (or, for the control, the bottom-right one)."""
    x = 0.3 + 0.2 * torch.rand(n, 4, 3, 16, 16, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    boxes = []
    for i in range(n):
        r, c = torch.randint(0, 14, (2,), generator=g).tolist()
        x[i, :, :, r:r + 3, c:c + 3] = 0.0
        box = None
        if y[i] == 1:
            r, c = torch.randint(0, 5, (2,), generator=g).tolist()
            if corner == "bottom_right":
                r, c = r + 8, c + 8
            x[i, :, :, r:r + 3, c:c + 3] = 1.0
            box = (r, c)
        boxes.append(box)
    return x, y, boxes


@pytest.fixture(scope="module")
def quadrant_model():
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    x, y, _ = _quadrant_data(64, g)
    model = Bai2021("small_cnn", hidden=16, num_classes=2, dropout=0.0, device="cpu")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        idx = torch.randint(0, 64, (16,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), g


def test_map_concentrates_on_the_quadrant_that_decides_the_class(quadrant_model):
    model, g = quadrant_model
    x, y, boxes = _quadrant_data(24, g)
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() >= 0.9
    positives = [i for i in range(len(y)) if y[i] == 1]
    assert len(positives) >= 5
    shares = []
    for i in positives:
        maps = grad_cam(model, x[i], target=1, layer="B1")  # (N, 16, 16) in [0, 1]
        assert maps.shape == (4, 16, 16) and maps.min() >= 0 and maps.max() <= 1
        share = maps[:, :8, :8].sum() / maps.sum()  # the quadrant is 1/4 of the image
        shares.append(float(share))
        r, c = boxes[i]
        peak = divmod(int(maps.mean(0).argmax()), 16)
        assert r - 2 <= peak[0] <= r + 4 and c - 2 <= peak[1] <= c + 4, (peak, boxes[i])
    # a map spread evenly would put 1/4 of its mass there (measured over seeds 0-3: means 0.74-0.84)
    assert min(shares) > 0.4 and sum(shares) / len(shares) > 0.6, shares


def test_map_follows_the_evidence_not_a_fixed_prior(quadrant_model):
    """Control: put the bright patch in the bottom-right quadrant; the class-1 map moves there."""
    model, g = quadrant_model
    x, y, boxes = _quadrant_data(16, g, corner="bottom_right")
    shares = [float((lambda m: m[:, 8:, 8:].sum() / m.sum())(grad_cam(model, x[i], target=1, layer="B1")))
              for i in range(len(y)) if y[i] == 1]
    assert shares and min(shares) > 0.4 and sum(shares) / len(shares) > 0.6, shares


@pytest.mark.parametrize("name", ["fer_minixception", "mobilenet_v2"])
def test_frozen_pretrained_backbones_by_block_name(name):
    torch.manual_seed(0)
    bb = backbones.load(name, freeze=True, device="cpu", input_size=(64, 64))
    model = Bai2021(bb, hidden=4, num_classes=3, device="cpu")
    segment = torch.rand(3, 3, 40, 48)
    frozen = grad_cam(model, segment, target=0, layer=bb.block_names[-2])
    assert frozen.shape == (3, 40, 48) and frozen.max() == 1 and frozen.min() == 0
    bb.freeze(None)  # same weights, nothing frozen: same maps
    torch.testing.assert_close(grad_cam(model, segment, target=0, layer=bb.block_names[-2]), frozen)
    assert grad_cam(model, segment, target=0).shape == (3, 40, 48)  # default: the last block


def test_segment_normalisation_keeps_relative_frame_strength():
    torch.manual_seed(0)
    model = Bai2021("small_cnn", hidden=4, num_classes=2, device="cpu")
    segment = torch.rand(5, 3, 12, 12)
    raw = grad_cam(model, segment, target=0, layer="B1", normalize="none")
    seg = grad_cam(model, segment, target=0, layer="B1", normalize="segment")
    torch.testing.assert_close(seg, (raw - raw.min()) / (raw.max() - raw.min()))


def test_bad_arguments():
    model = Bai2021("small_cnn", hidden=4, num_classes=2, device="cpu")
    segment = torch.rand(3, 3, 12, 12)
    with pytest.raises(ValueError, match="no layer 'B9'"):
        grad_cam(model, segment, layer="B9")
    with pytest.raises(ValueError, match="class in 0..1"):
        grad_cam(model, segment, target=5)
    with pytest.raises(ValueError, match="normalize"):
        grad_cam(model, segment, normalize="max")
    with pytest.raises(ValueError, match=r"\(M, K, h, w\)"):
        grad_cam(model, segment, layer=model.lstm)
    with pytest.raises(ValueError, match="not part of"):
        grad_cam(model, segment, layer=nn.Conv2d(3, 3, 1))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_step_and_grad_cam_with_cudnn_lstm():
    torch.manual_seed(0)
    model = Bai2021("fer_minixception", hidden=8, num_classes=3, freeze_until=3, device="cuda")
    segments = torch.rand(2, 4, 3, 64, 64, device="cuda")
    loss = F.cross_entropy(model(segments), torch.tensor([0, 2], device="cuda"))
    loss.backward()
    maps = grad_cam(model.eval(), segments[0], target=1, layer="B3")
    assert maps.device.type == "cuda" and maps.shape == (4, 64, 64)
    torch.testing.assert_close(maps.cpu(), grad_cam(model.cpu(), segments[0].cpu(), target=1, layer="B3"),
                               rtol=1e-3, atol=1e-3)
