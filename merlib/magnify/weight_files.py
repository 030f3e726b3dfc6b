"""Weight files of the learned magnifiers: merlib checkpoints and the public forms of Oh et al.'s network.

Readers (each maps a state dict onto :class:`~merlib.magnify.oh2018.OhMagnifier` and returns the
:class:`~merlib.magnify.oh2018.OhConfig` that computes the function its authors computed):

========================  ==============================================  =====================================
form                      where to get it / licence                        mapping
========================  ==============================================  =====================================
official TensorFlow       12dmodel/deep_motion_mag README: "pre-trained    :func:`map_official_state_dict` —
checkpoint                model" (``data.zip``, a TF checkpoint); code     export ``{name: array}`` with
                          MIT-licensed; the weights' terms are not stated  ``tf.train.load_checkpoint(p)``
                                                                           ``.get_tensor(name)`` into an ``.npz``
AMAN's PyTorch            weimengting/AMAN ``mag_imple/                    :func:`map_aman_state_dict` —
conversion                learning_based_mag.pth.tar`` (in the repo; the   ``OhConfig(use_shape_conv=True,
                          repository has no licence: do not redistribute) stride_padding="reflect")``
postech-ami PyTorch       postech-ami/Deep-Motion-Mag-Pytorch README       :func:`map_postech_state_dict` —
re-implementation         (Google-Drive ``epoch50.tar``; no licence file)  biases, an extra decoder conv and the
                                                                           ``amp`` multiplier (``factor="amp"``)
ZhengPeng7 port           ZhengPeng7/motion_magnification_learning-based  :func:`map_port_state_dict`
========================  ==============================================  =====================================

No third-party weight file is in merlib; :func:`merlib.magnify.load.load_magnifier` reads any of
them from the user's disk with ``torch.load(weights_only=True)``. The merlib checkpoint format
(:func:`save_magnifier`) is ``{"format", "arch", "config", "state_dict", "extra"}``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from merlib.magnify.oh2018 import OhConfig, OhMagnifier

__all__ = ["CHECKPOINT_FORMAT", "save_magnifier", "read_weights_file", "identify_weights",
           "map_official_state_dict", "map_aman_state_dict", "map_postech_state_dict", "map_port_state_dict"]

CHECKPOINT_FORMAT = "merlib-magnifier/1"


def save_magnifier(model: nn.Module, path, *, extra: dict | None = None, half: bool = False) -> Path:
    """Write ``model`` as a merlib checkpoint (loadable with ``torch.load(weights_only=True)``).

    ``half=True`` stores the weights as float16 (half the size; they load back as float32).
    ``extra`` (plain JSON-like data, e.g. the training curves) is stored under ``"extra"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
          for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "arch": model.arch, "config": model.config.to_dict(),
               "state_dict": sd, "extra": extra or {}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_weights_file(path: Path):
    """``.npz`` -> ``{name: array}``; anything else -> ``torch.load(path, weights_only=True)``."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return torch.load(path, map_location="cpu", weights_only=True)


def _strip_module(sd: dict) -> dict:
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}


def identify_weights(obj) -> str:
    """Which form a loaded weight file is: ``"merlib"``, ``"official"``, ``"aman"``, ``"postech"``,
    ``"port"``; raises ``ValueError`` naming what was found otherwise."""
    if not isinstance(obj, dict):
        raise ValueError(f"weights file holds a {type(obj).__name__}, expected a dict")
    if obj.get("format") == CHECKPOINT_FORMAT:
        return "merlib"
    if any(isinstance(k, str) and k.startswith("ynet_3frames/") for k in obj):
        return "official"
    inner = obj.get("state_dict", obj.get("model_state_dict", obj))
    if isinstance(inner, dict):
        keys = [k[7:] if k.startswith("module.") else k for k in inner if isinstance(k, str)]
        if "encoder.conv1_text.weight" in keys:
            return "aman"
        if any(k.startswith("res_manipulator.") for k in keys):
            return "postech"
        if any(".cba_1.conv2d." in k for k in keys):
            return "port"
    raise ValueError("not a known magnifier weight file: neither a merlib checkpoint ('format': "
                     f"{CHECKPOINT_FORMAT!r}), official deep_motion_mag variables ('ynet_3frames/...'), AMAN's "
                     "learning_based_mag.pth.tar ('state_dict' with 'module.encoder.conv1_text.weight'), "
                     "postech-ami's checkpoint ('model_state_dict' with 'res_manipulator.*') nor a "
                     "ZhengPeng7-port state dict ('encoder.cba_1.conv2d.weight'); top-level keys: "
                     f"{sorted(map(str, obj))[:8]}")


def _rename(sd: dict, rules, what: str) -> dict:
    out = {}
    for k, v in sd.items():
        for src, dst in rules:
            if k.startswith(src):
                out[dst + k[len(src):]] = torch.as_tensor(v).float()
                break
        else:
            raise ValueError(f"{what}: unexpected key {k!r}")
    return out


def _count(sd: dict, prefix: str) -> int:
    return len({int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix)})


def _fit(out: dict, cfg: OhConfig, what: str) -> tuple[dict, OhConfig]:
    expected = OhMagnifier(cfg).state_dict()
    bad = [f"{k}: {tuple(out[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
           if k in out and out[k].shape != v.shape]
    missing = sorted(set(expected) - set(out))
    extra = sorted(set(out) - set(expected))
    if bad or missing or extra:
        raise ValueError(f"{what} does not fit OhMagnifier({cfg}): missing {missing}, unexpected {extra}, "
                         f"shape mismatches {bad}")
    return out, cfg


#: weimengting/AMAN ``mag_imple/network.py`` names -> merlib names.
_AMAN_RULES = (
    ("encoder.conv1.", "encoder.conv1.conv."),
    ("encoder.conv2.", "encoder.conv2.conv."),
    ("encoder.resblks.", "encoder.blocks."),
    ("encoder.conv1_text.", "encoder.texture_conv.conv."),
    ("encoder.resblks_text.", "encoder.texture_blocks."),
    ("encoder.conv1_shape.", "encoder.shape_conv.conv."),
    ("encoder.resblks_shape.", "encoder.shape_blocks."),
    ("manipulator.convblks.0.conv1.", "manipulator.g.0.conv."),
    ("manipulator.convblks_after.0.conv1.", "manipulator.after.0.conv."),
    ("manipulator.resblks.", "manipulator.blocks."),
    ("decoder.conv1_text.", "decoder.texture_upsample.conv."),
    ("decoder.resblks.", "decoder.blocks."),
    ("decoder.conv1.", "decoder.up_conv.conv."),
    ("decoder.conv2.", "decoder.out_conv.conv."),
)


def _resblock_names(sd: dict) -> dict:
    """``...<blocks>.<i>.conv1.weight`` -> ``...<blocks>.<i>.c1.conv.weight`` (and conv2 -> c2)."""
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if len(parts) >= 4 and parts[-3].isdigit() and parts[-2] in ("conv1", "conv2"):
            parts[-2:-1] = ["c1" if parts[-2] == "conv1" else "c2", "conv"]
            k = ".".join(parts)
        out[k] = v
    return out



def _shape_conv_config(out: dict, **fixed) -> OhConfig:
    """The :class:`OhConfig` of a mapped state dict with a shape conv, widths and block counts read from its
    tensors; ``fixed`` holds what the tensors cannot tell (padding, biases, factor convention)."""
    return OhConfig(
        channels=out["encoder.conv1.conv.weight"].shape[1], enc_dims=out["encoder.conv2.conv.weight"].shape[0],
        texture_dims=out["encoder.texture_conv.conv.weight"].shape[0],
        shape_dims=out["encoder.shape_conv.conv.weight"].shape[0],
        n_enc_resblk=_count(out, "encoder.blocks."), n_texture_resblk=_count(out, "encoder.texture_blocks."),
        n_shape_resblk=_count(out, "encoder.shape_blocks."), use_shape_conv=True,
        man_g_kernel=out["manipulator.g.0.conv.weight"].shape[-1], n_man_resblk=_count(out, "manipulator.blocks."),
        n_dec_resblk=_count(out, "decoder.blocks."), **fixed)

def map_aman_state_dict(obj: dict) -> tuple[dict, OhConfig]:
    """Map AMAN's ``learning_based_mag.pth.tar`` (``{'state_dict': {'module.encoder.conv1.weight',
    ...}, 'time'}``, or its inner state dict) onto :class:`OhMagnifier`.

    AMAN's ``MagNet`` (``mag_imple/network.py``) is Oh et al.'s official configuration with a 3×3
    shape conv + ReLU and reflection padding on the stride-2 convs, all bias-free; its
    ``Manipulator`` multiplies by ``amp − 1`` and its ``mag.py`` feeds Oh's ``amp`` (2 … 12) on
    images normalised to [-1, 1]: merlib ``alpha = amp − 1`` with the official convention. Returns
    ``(state_dict, OhConfig(use_shape_conv=True, stride_padding="reflect"))``.
    """
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    out = _rename(_strip_module(sd), _AMAN_RULES, "AMAN state dict")
    out = _resblock_names(out)
    cfg = _shape_conv_config(out, stride_padding="reflect")
    return _fit(out, cfg, "AMAN state dict")


#: postech-ami/Deep-Motion-Mag-Pytorch ``module.py`` names -> merlib names.
_POSTECH_RULES = (
    ("encoder.res_encoder.conv1.", "encoder.conv1.conv."),
    ("encoder.res_encoder.conv2.", "encoder.conv2.conv."),
    ("encoder.res_encoder.residual.", "encoder.blocks."),
    ("encoder.conv_tex.", "encoder.texture_conv.conv."),
    ("encoder.conv_sha.", "encoder.shape_conv.conv."),
    ("encoder.texture_resblk.", "encoder.texture_blocks."),
    ("encoder.shape_resblk.", "encoder.shape_blocks."),
    ("decoder.conv_tex_aft_upsample.", "decoder.texture_upsample.conv."),
    ("decoder.res_decoder.residual.", "decoder.blocks."),
    ("decoder.res_decoder.conv_up_sample.", "decoder.upsample_conv.conv."),
    ("decoder.res_decoder.conv1.", "decoder.up_conv.conv."),
    ("decoder.res_decoder.conv2.", "decoder.out_conv.conv."),
    ("res_manipulator.conv1.", "manipulator.g.0.conv."),
    ("res_manipulator.conv2.", "manipulator.after.0.conv."),
    ("res_manipulator.residual.", "manipulator.blocks."),
)


def map_postech_state_dict(obj: dict) -> tuple[dict, OhConfig]:
    """Map postech-ami/Deep-Motion-Mag-Pytorch's checkpoint (``{'model_state_dict': ...}`` as its
    ``train.py`` saves it, a ``module.`` prefix stripped, or the inner state dict) onto ours.

    Their ``magnet`` (``module.py``) has biases on every conv, a shape conv, reflection padding
    everywhere (``padding_mode='reflect'``), an extra 3×3 conv + ReLU after the decoder's last
    upsampling, and a manipulator that multiplies ``g(M_b − M_a)`` by the factor it is given —
    Oh's dataset factor ``amp`` (``train_mf.txt``) in training and ``--amplification_factor`` at
    inference — where the official code multiplies by ``amp − 1``. All of it is represented
    exactly: ``OhConfig(bias=True, decoder_upsample_conv=True, factor="amp", use_shape_conv=True,
    stride_padding="reflect")``; merlib ``alpha`` = their factor − 1.
    """
    sd = obj.get("model_state_dict", obj) if isinstance(obj, dict) else obj
    out = _resblock_names(_rename(_strip_module(sd), _POSTECH_RULES, "postech-ami state dict"))
    cfg = _shape_conv_config(out, stride_padding="reflect", bias=True, decoder_upsample_conv=True, factor="amp")
    return _fit(out, cfg, "postech-ami state dict")


def _tf_name(ours: str) -> str | None:
    """Official TF variable scope (without ``/Conv/weights``) for one of our conv weight keys."""
    parts = ours.split(".")
    if parts[-1] != "weight" or parts[-2] != "conv":
        return None
    p = parts[:-2]  # e.g. ["encoder", "blocks", "0", "c1"]
    root = "ynet_3frames"
    if p[0] == "encoder":
        if p[1] in ("conv1", "conv2"):
            return f"{root}/encoder/enc_{p[1]}_c"
        if p[1] == "texture_conv":
            return f"{root}/encoder/enc_texture_conv"
        if p[1] == "shape_conv":
            return f"{root}/encoder/enc_shape_conv"
        i = int(p[2])
        if p[1] == "blocks":
            return f"{root}/encoder/encoder_resblk{i}_{p[3]}"
        if p[1] in ("texture_blocks", "shape_blocks"):
            base = "texture_enc" if p[1] == "texture_blocks" else "shape_enc"
            return f"{root}/encoder/{base if i == 0 else f'{base}_{i}'}_{p[3]}"
    if p[0] == "manipulator":
        i = int(p[2])
        if p[1] == "g":
            return f"{root}/manipulator/mani_conv{i}c"
        if p[1] == "after":
            return f"{root}/manipulator/mani_aft_conv{i}c"
        if p[1] == "blocks":
            return f"{root}/manipulator/mani_resblk{i}_{p[3]}"
    if p[0] == "decoder":
        if p[1] == "texture_upsample":
            return f"{root}/decoder/texture_upsample"
        if p[1] == "up_conv":
            return f"{root}/decoder/dec_conv2_c"
        if p[1] == "out_conv":
            return f"{root}/decoder/pred_conv"
        if p[1] == "blocks":
            return f"{root}/decoder/decoder_resblk{int(p[2])}_{p[3]}"
    return None


def map_official_state_dict(tf_vars: dict, config: OhConfig | None = None) -> dict:
    """Map the official deep_motion_mag TensorFlow variables onto :class:`OhMagnifier` keys.

    ``tf_vars``: ``{name: array}`` with the official names, e.g.
    ``"ynet_3frames/encoder/enc_conv1_c/Conv/weights"`` (HWIO arrays, as
    ``tf.train.load_checkpoint(path).get_tensor(name)`` returns them; a ``":0"`` suffix and a
    missing ``"/Conv"`` are accepted). Returns our state dict (OIHW float32 tensors). Raises
    ``ValueError`` naming every missing variable or shape mismatch; optimizer slots
    (``.../Adam``, ``.../Adam_1``) and unrelated variables are ignored.
    """
    model = OhMagnifier(config or OhConfig())
    norm = {}
    for k, v in tf_vars.items():
        key = k[:-2] if k.endswith(":0") else k
        if key.endswith("/Adam") or key.endswith("/Adam_1"):
            continue
        key = key.replace("/Conv/weights", "/weights")
        norm[key] = v
    out, problems = {}, []
    for ours, param in model.state_dict().items():
        scope = _tf_name(ours)
        if scope is None:
            problems.append(f"no official name for {ours}")
            continue
        arr = norm.get(scope + "/weights")
        if arr is None:
            problems.append(f"missing {scope}/Conv/weights")
            continue
        t = torch.as_tensor(np.asarray(arr), dtype=torch.float32).permute(3, 2, 0, 1).contiguous()
        if t.shape != param.shape:
            problems.append(f"{scope}/Conv/weights has shape {tuple(np.asarray(arr).shape)} (HWIO), expected "
                            f"{tuple(param.permute(2, 3, 1, 0).shape)}")
            continue
        out[ours] = t
    if problems:
        raise ValueError("official deep_motion_mag weights do not match OhMagnifier: " + "; ".join(problems))
    return out


#: PyTorch port (ZhengPeng7/motion_magnification_learning-based, ``magnet.py``) -> our names.
_PORT_RULES = (
    ("encoder.cba_1.conv2d.", "encoder.conv1.conv."),
    ("encoder.cba_2.conv2d.", "encoder.conv2.conv."),
    ("encoder.resblks.", "encoder.blocks."),
    ("encoder.texture_cba.conv2d.", "encoder.texture_conv.conv."),
    ("encoder.texture_resblks.", "encoder.texture_blocks."),
    ("encoder.motion_cba.conv2d.", "encoder.shape_conv.conv."),
    ("encoder.motion_resblks.", "encoder.shape_blocks."),
    ("manipulator.g.conv2d.", "manipulator.g.0.conv."),
    ("manipulator.h_conv.conv2d.", "manipulator.after.0.conv."),
    ("manipulator.h_resblk.", "manipulator.blocks.0."),
    ("decoder.resblks.", "decoder.blocks."),
    ("decoder.cba_1.conv2d.", "decoder.up_conv.conv."),
    ("decoder.cba_2.conv2d.", "decoder.out_conv.conv."),
)


def map_port_state_dict(port_sd: dict) -> tuple[dict, OhConfig]:
    """Map a PyTorch port's state dict (ZhengPeng7/motion_magnification_learning-based naming:
    ``encoder.cba_1.conv2d.weight``, ``...resblks.0.cba_1.conv2d.weight``, ``manipulator.h_resblk...``;
    a ``module.`` prefix from DataParallel is stripped) onto ours.

    Returns ``(state_dict, config)``: the port differs from the official configuration (a shape
    conv, a 3×3 ``g``, no texture-upsample conv, reflection padding), and the returned
    :class:`OhConfig` describes it (reflection padding for its stride-2 convs too). The port is assumed to multiply by Oh's ``amp − 1`` like the
    official code (merlib's alpha); check your port's training code.
    """
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in port_sd.items()}
    out = {}
    for k, v in sd.items():
        new = None
        for src, dst in _PORT_RULES:
            if k.startswith(src):
                new = dst + k[len(src):]
                break
        if new is None:
            raise ValueError(f"PyTorch-port state dict: unexpected key {k!r}")
        new = new.replace(".cba_1.conv2d.", ".c1.conv.").replace(".cba_2.conv2d.", ".c2.conv.")
        out[new] = torch.as_tensor(v).float()

    def count(prefix):
        idx = {int(k[len(prefix):].split(".")[0]) for k in out if k.startswith(prefix)}
        return len(idx)

    g = out.get("manipulator.g.0.conv.weight")
    if g is None or "encoder.conv2.conv.weight" not in out:
        raise ValueError("PyTorch-port state dict: missing encoder.cba_2 or manipulator.g weights")
    enc = out["encoder.conv2.conv.weight"].shape[0]
    shape_dims = out["encoder.shape_blocks.0.c1.conv.weight"].shape[0] if count("encoder.shape_blocks.") else enc
    cfg = OhConfig(
        channels=out["encoder.conv1.conv.weight"].shape[1], enc_dims=enc,
        texture_dims=out["encoder.texture_conv.conv.weight"].shape[0], shape_dims=shape_dims,
        n_enc_resblk=count("encoder.blocks."), n_texture_resblk=count("encoder.texture_blocks."),
        n_shape_resblk=count("encoder.shape_blocks."),
        use_shape_conv="encoder.shape_conv.conv.weight" in out, man_g_kernel=g.shape[-1],
        n_man_conv=1, n_man_aft_conv=1 if "manipulator.after.0.conv.weight" in out else 0,
        n_man_resblk=count("manipulator.blocks."), n_dec_resblk=count("decoder.blocks."),
        texture_upsample_conv=False, stride_padding="reflect")
    expected = OhMagnifier(cfg).state_dict()
    bad = [f"{k}: {tuple(out[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
           if k in out and out[k].shape != v.shape]
    missing = sorted(set(expected) - set(out))
    if bad or missing:
        raise ValueError(f"PyTorch-port state dict does not fit: missing {missing}, shape mismatches {bad}")
    return out, cfg


