"""VGGFace2 ResNet-50: key mapping from both public weight layouts, checked against a Caffe-named forward pass."""
from __future__ import annotations

import functools
import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from merlib.models import backbones
from merlib.models.layers import vggface2_resnet50 as vgg

STAGES = {2: (3, 64), 3: (4, 128), 4: (6, 256), 5: (3, 512)}  # Caffe stage: (blocks, width), ResNet-50


def _bn(rng, prefix, c, state):
    state[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, c)
    state[f"{prefix}.bias"] = rng.normal(0, 0.1, c)
    state[f"{prefix}.running_mean"] = rng.normal(0, 0.1, c)
    state[f"{prefix}.running_var"] = rng.uniform(0.5, 1.5, c)


@functools.lru_cache(maxsize=2)
def caffe_state(seed=0, classes=10):
    """A synthetic state dict with Albanie's Caffe names and ResNet-50 shapes (random values; cached, read-only)."""
    rng = np.random.default_rng(seed)
    s = {}

    def conv(name, cout, cin, k):
        s[f"{name}.weight"] = rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k))

    conv("conv1_7x7_s2", 64, 3, 7)
    _bn(rng, "conv1_7x7_s2_bn", 64, s)
    cin = 64
    for stage, (n, w) in STAGES.items():
        for b in range(1, n + 1):
            p = f"conv{stage}_{b}"
            conv(f"{p}_1x1_reduce", w, cin, 1); _bn(rng, f"{p}_1x1_reduce_bn", w, s)
            conv(f"{p}_3x3", w, w, 3); _bn(rng, f"{p}_3x3_bn", w, s)
            conv(f"{p}_1x1_increase", 4 * w, w, 1); _bn(rng, f"{p}_1x1_increase_bn", 4 * w, s)
            if b == 1:
                conv(f"{p}_1x1_proj", 4 * w, cin, 1); _bn(rng, f"{p}_1x1_proj_bn", 4 * w, s)
            cin = 4 * w
    s["classifier.weight"] = rng.normal(0, 0.01, (classes, 2048, 1, 1))
    s["classifier.bias"] = rng.normal(0, 0.01, classes)
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in s.items()}


def caffe_forward(s, x):
    """Independent functional forward of the Caffe ResNet-50 by Caffe names: stride in the 1x1 reduce,
    3x3/2 max-pool without padding, ceil mode. x: (B, 3, H, W) already mean-subtracted → (B, 2048)."""
    def bn(t, p):
        return F.batch_norm(t, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"],
                            training=False, eps=1e-5)

    x = F.relu(bn(F.conv2d(x, s["conv1_7x7_s2.weight"], stride=2, padding=3), "conv1_7x7_s2_bn"))
    x = F.max_pool2d(x, 3, stride=2, padding=0, ceil_mode=True)
    for stage, (n, _) in STAGES.items():
        for b in range(1, n + 1):
            p = f"conv{stage}_{b}"
            stride = 2 if (b == 1 and stage > 2) else 1
            y = F.relu(bn(F.conv2d(x, s[f"{p}_1x1_reduce.weight"], stride=stride), f"{p}_1x1_reduce_bn"))
            y = F.relu(bn(F.conv2d(y, s[f"{p}_3x3.weight"], padding=1), f"{p}_3x3_bn"))
            y = bn(F.conv2d(y, s[f"{p}_1x1_increase.weight"]), f"{p}_1x1_increase_bn")
            short = bn(F.conv2d(x, s[f"{p}_1x1_proj.weight"], stride=stride), f"{p}_1x1_proj_bn") if b == 1 else x
            x = F.relu(y + short)
    return x.mean(dim=(-2, -1))


def test_caffe_key_mapping_covers_every_resnet50_tensor():
    state = caffe_state()
    converted, order = vgg.convert_vggface2_state_dict(state)
    assert order == "rgb"
    model = vgg.caffe_resnet50(num_classes=10)
    own = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(converted) == own
    model.load_state_dict(converted, strict=False)
    assert vgg.caffe_to_torchvision_key("conv4_6_1x1_increase_bn.running_var") == "layer3.5.bn3.running_var"
    assert vgg.caffe_to_torchvision_key("conv3_1_1x1_proj.weight") == "layer2.0.downsample.0.weight"
    assert vgg.caffe_to_torchvision_key("conv5_4_3x3.weight") is None  # stage 5 has 3 blocks
    assert converted["fc.weight"].shape == (10, 2048)


def test_mapped_model_reproduces_the_caffe_forward_pass(tmp_path):
    torch.manual_seed(0)
    state = caffe_state()
    path = tmp_path / "resnet50_ft_dag.pth"
    torch.save(state, path)
    bb = backbones.load("vggface2_resnet50", pretrained=path, device="cpu", input_size=None).eval()
    assert bb.pretrained_source == str(path)
    frames = torch.rand(2, 3, 64, 72)  # odd spatial sizes exercise Caffe's ceil-mode pooling
    mean_rgb = torch.tensor(vgg.VGGFACE2_MEAN_BGR[::-1]).reshape(1, 3, 1, 1)
    with torch.no_grad():
        ours = bb(frames)
        ref = caffe_forward(state, frames * 255 - mean_rgb)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())
    # negative control: the same weights in torchvision's layout (stride in the 3x3, padded pool) differ
    import torchvision

    tv = torchvision.models.resnet50(num_classes=10)
    tv.load_state_dict(vgg.convert_vggface2_state_dict(state)[0])
    tv.fc = torch.nn.Identity()
    with torch.no_grad():
        assert (tv.eval()(frames * 255 - mean_rgb) - ref).abs().max() > 1e-2 * ref.abs().max()


def test_torchvision_named_pickle_loads_as_bgr(tmp_path):
    caffe = caffe_state(seed=1)
    tv_names, _ = vgg.convert_vggface2_state_dict(caffe)
    as_numpy = {k: v.numpy() for k, v in tv_names.items()}  # cydonia999's format: NumPy arrays in a pickle
    path = tmp_path / "resnet50_ft_weight.pkl"
    with open(path, "wb") as f:
        pickle.dump(as_numpy, f, protocol=2)
    bb = backbones.load("vggface2_resnet50", pretrained=path, device="cpu", input_size=None).eval()
    assert bb.norm.colour == "bgr"
    frames = torch.rand(1, 3, 48, 48)
    mean_bgr = torch.tensor(vgg.VGGFACE2_MEAN_BGR).reshape(1, 3, 1, 1)
    # the same weights fed BGR: flip conv1's input channels to express them in Caffe-named RGB terms
    rgb_state = dict(caffe)
    rgb_state["conv1_7x7_s2.weight"] = caffe["conv1_7x7_s2.weight"].flip(1)
    with torch.no_grad():
        ref = caffe_forward(rgb_state, frames * 255 - mean_bgr.flip(1))
        torch.testing.assert_close(bb(frames), ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())


def test_env_var_and_cache_folder_are_searched(tmp_path, monkeypatch):
    path = tmp_path / "weights" / "resnet50_ft_dag.pth"
    path.parent.mkdir()
    torch.save(caffe_state(), path)
    monkeypatch.delenv("MERLIB_VGGFACE2_WEIGHTS", raising=False)
    monkeypatch.setenv("MERLIB_CACHE", str(tmp_path))
    assert backbones.vggface2_weights_path() == path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bb = backbones.load("vggface2_resnet50", device="cpu")
    assert bb.pretrained_source == str(path)
    monkeypatch.setenv("MERLIB_VGGFACE2_WEIGHTS", str(tmp_path / "elsewhere.pth"))
    assert backbones.vggface2_weights_path() == tmp_path / "elsewhere.pth"


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_reader_refuses_code_and_bad_layouts(tmp_path):
    evil = tmp_path / "evil.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"conv1.weight": _Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        vgg.read_weights_file(evil)
    with pytest.raises(ValueError, match="neither Caffe-named"):
        vgg.convert_vggface2_state_dict({"features.0.weight": torch.zeros(1)}, source="x.pth")
    with pytest.raises(ValueError, match="not a ResNet-50 Caffe name"):
        vgg.convert_vggface2_state_dict({"conv1_7x7_s2.weight": torch.zeros(1), "conv9_1_3x3.weight": torch.zeros(1)})
    wrapped = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"module.conv1.weight": torch.ones(1)}}, wrapped)
    assert set(vgg.read_weights_file(wrapped)) == {"conv1.weight"}
