"""The public forms of Oh et al.'s weights compute, once loaded, exactly what their authors' code computes.

Each reference forward below is written independently from that repository's code (functional
``F.conv2d`` on the raw state dict, with the repository's own key names, padding and factor
convention) and compared with merlib's :class:`OhMagnifier` loaded through ``load_magnifier``:

* 12dmodel/deep_motion_mag (``modules.py``, ``magnet.py``, ``ops.py``): TF ``SAME`` zero padding
  on the stride-2 convs and the (stride-1) shape conv when present, reflection elsewhere, no biases,
  manipulator ``× (amp − 1)``;
* weimengting/AMAN (``mag_imple/network.py``): reflection padding everywhere, a shape conv, no
  biases, ``× (amp − 1)``;
* postech-ami/Deep-Motion-Mag-Pytorch (``module.py``): biases, reflection padding, an extra decoder
  conv after the last upsampling, ``× amp``.

Images enter these references in their [-1, 1] range; merlib takes [0, 1] and alpha = amp − 1.
When ``MERLIB_AMAN_OH_WEIGHTS`` points at AMAN's real ``learning_based_mag.pth.tar`` (or
``MERLIB_POSTECH_OH_WEIGHTS`` at postech-ami's ``epoch50.tar``) the same comparison runs on it.
"""
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from merlib.magnify import convention
from merlib.magnify.learned import load_magnifier, map_aman_state_dict, map_postech_state_dict
from merlib.magnify.weight_files import identify_weights


def _reflect_conv(x, w, b=None, stride=1):
    p = (w.shape[-1] - 1) // 2
    return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect") if p else x, w, b, stride=stride)


def _res(x, sd, pre, bias=False):
    y = F.relu(_reflect_conv(x, sd[pre + ".conv1.weight"], sd.get(pre + ".conv1.bias") if bias else None))
    return x + _reflect_conv(y, sd[pre + ".conv2.weight"], sd.get(pre + ".conv2.bias") if bias else None)


def _up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


# ------------------------------------------------------------------------------------------- AMAN
def _aman_state_dict(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {"encoder.conv1": (16, 3, 7, 7), "encoder.conv2": (32, 16, 3, 3),
              "encoder.conv1_text": (32, 32, 3, 3), "encoder.conv1_shape": (32, 32, 3, 3),
              "manipulator.convblks.0.conv1": (32, 32, 7, 7), "manipulator.convblks_after.0.conv1": (32, 32, 3, 3),
              "decoder.conv1_text": (32, 32, 3, 3), "decoder.conv1": (32, 64, 3, 3), "decoder.conv2": (3, 32, 7, 7)}
    for pre, n, d in (("encoder.resblks", 3, 32), ("encoder.resblks_text", 2, 32), ("encoder.resblks_shape", 2, 32),
                      ("manipulator.resblks", 1, 32), ("decoder.resblks", 9, 64)):
        for i in range(n):
            shapes[f"{pre}.{i}.conv1"] = shapes[f"{pre}.{i}.conv2"] = (d, d, 3, 3)
    sd = {}
    for k, s in shapes.items():
        fan_in = s[1] * s[2] * s[3]
        sd["module." + k + ".weight"] = torch.randn(*s, generator=g) * math.sqrt(1.0 / fan_in)
    return {"state_dict": sd, "time": 1616201849.25}


def _aman_forward(sd, xa, xb, amp):
    """MagNet.forward of AMAN's mag_imple/network.py, on their keys; x in [-1, 1], amp (B,)."""
    sd = {k[7:]: v for k, v in sd.items()}
    amp = amp.view(-1, 1, 1, 1)

    def enc(x):
        c = F.relu(_reflect_conv(x, sd["encoder.conv1.weight"]))
        c = F.relu(_reflect_conv(c, sd["encoder.conv2.weight"], stride=2))
        for i in range(3):
            c = _res(c, sd, f"encoder.resblks.{i}")
        v = F.relu(_reflect_conv(c, sd["encoder.conv1_text.weight"], stride=2))
        for i in range(2):
            v = _res(v, sd, f"encoder.resblks_text.{i}")
        m = F.relu(_reflect_conv(c, sd["encoder.conv1_shape.weight"]))
        for i in range(2):
            m = _res(m, sd, f"encoder.resblks_shape.{i}")
        return v, m

    _, ma = enc(xa)
    vb, mb = enc(xb)
    d = F.relu(_reflect_conv(mb - ma, sd["manipulator.convblks.0.conv1.weight"]))
    d = _reflect_conv((amp - 1.0) * d, sd["manipulator.convblks_after.0.conv1.weight"])
    m = mb + _res(d, sd, "manipulator.resblks.0")
    v = F.relu(_reflect_conv(_up(vb), sd["decoder.conv1_text.weight"]))
    c = torch.cat([v, m], 1)
    for i in range(9):
        c = _res(c, sd, f"decoder.resblks.{i}")
    c = F.relu(_reflect_conv(_up(c), sd["decoder.conv1.weight"]))
    return _reflect_conv(c, sd["decoder.conv2.weight"])


def _pair(seed=0, size=32, b=2):
    g = torch.Generator().manual_seed(seed)
    xa = torch.rand(b, 3, size, size, generator=g)
    xb = (xa + 0.05 * torch.randn(b, 3, size, size, generator=g)).clamp(0, 1)
    return xa, xb


def _check_against(net, reference, sd, amps=(1.0, 3.0, 21.0), tol=2e-5):
    xa, xb = _pair()
    with torch.no_grad():
        for amp in amps:
            ours = net(xa, xb, convention.from_oh_factor(amp))
            ref = (reference(sd, xa * 2 - 1, xb * 2 - 1, torch.full((xa.shape[0],), amp)) + 1) / 2
            torch.testing.assert_close(ours, ref, rtol=0, atol=tol)
        # per-sample factors, merlib alpha as a (B,) tensor
        amp = torch.tensor([2.0, 11.0])
        ours = net(xa, xb, amp - 1)
        ref = (reference(sd, xa * 2 - 1, xb * 2 - 1, amp) + 1) / 2
        torch.testing.assert_close(ours, ref, rtol=0, atol=tol)


def test_aman_state_dict_loads_and_computes_amans_function(tmp_path):
    obj = _aman_state_dict()
    torch.save(obj, tmp_path / "learning_based_mag.pth.tar")
    net = load_magnifier(None, path=tmp_path / "learning_based_mag.pth.tar", device="cpu")
    assert net.weights_source == "aman"
    cfg = net.config
    assert cfg.use_shape_conv and cfg.stride_padding == "reflect" and not cfg.bias and cfg.factor == "amp_minus_1"
    assert sum(p.numel() for p in net.parameters()) == sum(v.numel() for v in obj["state_dict"].values())
    _check_against(net, _aman_forward, obj["state_dict"])
    # amp = 1 is AMAN's identity in feature space: merlib alpha = 0 adds nothing to the shape
    xa, xb = _pair()
    _, mb = net.encoder(xb)
    torch.testing.assert_close(net.manipulator(net.encoder(xa)[1], mb, 0.0), mb, rtol=0, atol=0)
    with pytest.raises(ValueError, match="unexpected key"):
        map_aman_state_dict({"state_dict": {**obj["state_dict"], "module.decoder.extra.weight": torch.zeros(1)}})
    short = dict(obj["state_dict"])
    del short["module.decoder.resblks.8.conv2.weight"]
    with pytest.raises(ValueError, match="decoder.blocks.8.c2"):
        map_aman_state_dict({"state_dict": short})


# ----------------------------------------------------------------------------------- postech-ami
def _postech_state_dict(seed=1):
    g = torch.Generator().manual_seed(seed)
    shapes = {"encoder.res_encoder.conv1": (16, 3, 7, 7), "encoder.res_encoder.conv2": (32, 16, 3, 3),
              "encoder.conv_tex": (32, 32, 3, 3), "encoder.conv_sha": (32, 32, 3, 3),
              "decoder.conv_tex_aft_upsample": (32, 32, 3, 3), "decoder.res_decoder.conv_up_sample": (64, 64, 3, 3),
              "decoder.res_decoder.conv1": (32, 64, 3, 3), "decoder.res_decoder.conv2": (3, 32, 7, 7),
              "res_manipulator.conv1": (32, 32, 7, 7), "res_manipulator.conv2": (32, 32, 3, 3)}
    for pre, n, d in (("encoder.res_encoder.residual", 3, 32), ("encoder.texture_resblk", 2, 32),
                      ("encoder.shape_resblk", 2, 32), ("decoder.res_decoder.residual", 9, 64),
                      ("res_manipulator.residual", 1, 32)):
        for i in range(n):
            shapes[f"{pre}.{i}.conv1"] = shapes[f"{pre}.{i}.conv2"] = (d, d, 3, 3)
    sd = {}
    for k, s in shapes.items():
        fan_in = s[1] * s[2] * s[3]
        sd[k + ".weight"] = torch.randn(*s, generator=g) * math.sqrt(1.0 / fan_in)
        sd[k + ".bias"] = 0.05 * torch.randn(s[0], generator=g)
    return {"epoch": 50, "model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": []},
            "train_loss": 0.1, "val_loss": 0.1}


def _postech_forward(sd, xa, xb, amp):
    """magnet.quan of postech-ami's module.py on their keys; x in [-1, 1], amp (B,) as they pass it."""
    amp = amp.view(-1, 1, 1, 1)

    def cv(x, k, stride=1):
        return _reflect_conv(x, sd[k + ".weight"], sd[k + ".bias"], stride)

    def enc(x):
        c = F.relu(cv(x, "encoder.res_encoder.conv1"))
        c = F.relu(cv(c, "encoder.res_encoder.conv2", 2))
        for i in range(3):
            c = _res(c, sd, f"encoder.res_encoder.residual.{i}", bias=True)
        v = F.relu(cv(c, "encoder.conv_tex", 2))
        for i in range(2):
            v = _res(v, sd, f"encoder.texture_resblk.{i}", bias=True)
        m = F.relu(cv(c, "encoder.conv_sha"))
        for i in range(2):
            m = _res(m, sd, f"encoder.shape_resblk.{i}", bias=True)
        return v, m

    _, ma = enc(xa)
    vb, mb = enc(xb)
    d = F.relu(cv(mb - ma, "res_manipulator.conv1")) * amp
    m = mb + _res(cv(d, "res_manipulator.conv2"), sd, "res_manipulator.residual.0", bias=True)
    v = F.relu(cv(_up(vb), "decoder.conv_tex_aft_upsample"))
    c = torch.cat([v, m], 1)
    for i in range(9):
        c = _res(c, sd, f"decoder.res_decoder.residual.{i}", bias=True)
    c = F.relu(cv(_up(c), "decoder.res_decoder.conv_up_sample"))
    c = F.relu(cv(c, "decoder.res_decoder.conv1"))
    return cv(c, "decoder.res_decoder.conv2")


def test_postech_checkpoint_loads_with_biases_extra_conv_and_amp_convention(tmp_path):
    obj = _postech_state_dict()
    torch.save(obj, tmp_path / "epoch50.tar")
    net = load_magnifier("oh2018", path=tmp_path / "epoch50.tar", device="cpu")
    assert net.weights_source == "postech"
    cfg = net.config
    assert cfg.bias and cfg.decoder_upsample_conv and cfg.factor == "amp" and cfg.use_shape_conv
    assert sum(p.numel() for p in net.parameters()) == sum(v.numel() for v in obj["model_state_dict"].values())
    _check_against(net, _postech_forward, obj["model_state_dict"])
    # the convention is exact: merlib alpha a multiplies g(ΔM) by a + 1 = their factor
    assert convention.manipulator_multiplier(2.0, "amp") == 3.0
    # DataParallel-saved ('module.' prefix) works the same
    dp = {"model_state_dict": {"module." + k: v for k, v in obj["model_state_dict"].items()}}
    sd, _ = map_postech_state_dict(dp)
    torch.testing.assert_close(sd["decoder.upsample_conv.conv.bias"],
                               obj["model_state_dict"]["decoder.res_decoder.conv_up_sample.bias"])


# -------------------------------------------------------------------------------- official TF
def _tf_same(x, w_oihw, stride):
    h, w = x.shape[-2:]
    k = w_oihw.shape[-1]
    pads = []
    for size in (w, h):
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), w_oihw, stride=stride)


def _official_forward(tf, xa, xb, amp):
    """MagNet3Frames.image_transformer of deep_motion_mag on its variable names (HWIO numpy arrays)."""
    W = {k.replace("ynet_3frames/", "").replace("/Conv/weights", ""): torch.from_numpy(v).permute(3, 2, 0, 1)
         for k, v in tf.items()}
    amp = amp.view(-1, 1, 1, 1)

    def res(x, name):
        y = F.relu(_reflect_conv(x, W[name + "_c1"]))
        return x + _reflect_conv(y, W[name + "_c2"])

    def enc(x):
        c = F.relu(_reflect_conv(x, W["encoder/enc_conv1_c"]))
        c = F.relu(_tf_same(c, W["encoder/enc_conv2_c"], 2))
        for i in range(3):
            c = res(c, f"encoder/encoder_resblk{i}")
        v = F.relu(_tf_same(c, W["encoder/enc_texture_conv"], 2))
        v = res(res(v, "encoder/texture_enc"), "encoder/texture_enc_1")
        m = res(res(c, "encoder/shape_enc"), "encoder/shape_enc_1")
        return v, m

    _, ma = enc(xa)
    vb, mb = enc(xb)
    d = F.relu(_reflect_conv(mb - ma, W["manipulator/mani_conv0c"])) * (amp - 1.0)
    m = mb + res(_reflect_conv(d, W["manipulator/mani_aft_conv0c"]), "manipulator/mani_resblk0")
    v = F.relu(_reflect_conv(_up(vb), W["decoder/texture_upsample"]))
    c = torch.cat([v, m], 1)
    for i in range(9):
        c = res(c, f"decoder/decoder_resblk{i}")
    c = F.relu(_reflect_conv(_up(c), W["decoder/dec_conv2_c"]))
    return _reflect_conv(c, W["decoder/pred_conv"])


def test_official_tf_variables_compute_the_official_function(tmp_path):
    from test_learned_networks import _official_variables

    rng = np.random.default_rng(3)
    tf = {k: (v / math.sqrt(v.shape[0] * v.shape[1] * v.shape[2])).astype(np.float32)
          for k, v in _official_variables(rng).items()}
    np.savez(tmp_path / "official.npz", **tf)
    net = load_magnifier("oh2018", path=tmp_path / "official.npz", device="cpu")
    assert net.weights_source == "official"
    _check_against(net, _official_forward, tf)


def test_unknown_weight_files_are_refused_with_what_was_found():
    with pytest.raises(ValueError, match="top-level keys"):
        identify_weights({"weights": torch.zeros(1)})
    with pytest.raises(ValueError, match="expected a dict"):
        identify_weights([1, 2])


# ------------------------------------------------------------------------- the real files, if present
def _real(env):
    path = os.environ.get(env)
    if not path:
        pytest.skip(f"{env} is not set (point it at the file to check it)")
    if not Path(path).is_file():
        pytest.fail(f"{env}={path} is not a file")
    return Path(path)


def test_real_aman_weights_match_amans_network():
    path = _real("MERLIB_AMAN_OH_WEIGHTS")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    net = load_magnifier(None, path=path, device="cpu")
    assert net.weights_source == "aman"
    _check_against(net, _aman_forward, raw["state_dict"], amps=(1.0, 2.0, 12.0), tol=1e-4)


def test_real_postech_weights_match_their_network():
    path = _real("MERLIB_POSTECH_OH_WEIGHTS")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    net = load_magnifier(None, path=path, device="cpu")
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in raw["model_state_dict"].items()}
    _check_against(net, _postech_forward, sd, amps=(1.0, 5.0, 20.0), tol=1e-4)
