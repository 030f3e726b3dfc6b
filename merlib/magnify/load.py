"""``load_magnifier``: the one entry point that turns a name or a weight file into a learned magnifier.

See :func:`load_magnifier` for what merlib ships and what each shipped checkpoint achieves, and
:mod:`merlib.magnify.weight_files` for the third-party forms it reads.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from merlib.magnify.oh2018 import OhConfig, OhMagnifier
from merlib.magnify.weight_files import (identify_weights, map_aman_state_dict,
                                         map_official_state_dict, map_port_state_dict, map_postech_state_dict,
                                         read_weights_file)

__all__ = ["load_magnifier", "build_magnifier", "shipped_digest", "WEIGHTS_DIR", "ARCHITECTURES"]

#: Folder of the checkpoints merlib ships (trained by ``python -m merlib train-magnifier``).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def shipped_digest(name: str) -> str:
    """SHA-256 (first 16 hex digits) of the shipped checkpoint ``merlib/weights/<name>.pt``.

    Stored results that depend on a shipped magnifier (the board's method runs) put it in their identity, so a
    new checkpoint is a new run, never a stale read-back. Read once per process and file state.
    """
    import hashlib

    if name not in ARCHITECTURES:
        raise ValueError(f"shipped_digest: `name` must be one of {ARCHITECTURES}, got {name!r}")
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.exists():
        raise FileNotFoundError(f"shipped_digest: shipped checkpoint {path} is missing")
    st = path.stat()
    key = (name, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return _DIGESTS[key]


_DIGESTS: dict = {}
ARCHITECTURES = ("oh2018", "stmemm")


def build_magnifier(arch: str, config: dict | None = None) -> nn.Module:
    """A freshly initialised network of ``arch`` (``"oh2018"`` | ``"stmemm"``) from a config dict."""
    if arch == "oh2018":
        return OhMagnifier(OhConfig.from_dict(config or {}))
    if arch == "stmemm":
        from merlib.magnify.stmemm import STMEMM, STMEMMConfig
        return STMEMM(STMEMMConfig.from_dict(config or {}))
    raise ValueError(f"unknown magnifier architecture {arch!r}; expected one of {ARCHITECTURES}")


def load_magnifier(name: str | None = "oh2018", path=None, device="auto") -> nn.Module:
    """Load a learned magnifier in eval mode on ``device``.

    ``load_magnifier("oh2018")`` / ``load_magnifier("stmemm")`` load the checkpoint merlib ships
    (``merlib/weights/{name}.pt``, trained on CPU by ``python -m merlib train-magnifier``; what
    each achieves is measured in ``merlib/weights/README.md`` — SHIPPED_QUALITY below). With ``path``:

    * a merlib checkpoint (``save_magnifier`` / ``train-magnifier --out``);
    * the official deep_motion_mag weights as ``{tf_variable_name: array}`` in an ``.npz`` or a
      ``torch.save``'d dict (export them with ``tf.train.load_checkpoint``;
      :func:`~merlib.magnify.weight_files.map_official_state_dict`);
    * AMAN's ``learning_based_mag.pth.tar`` (:func:`~merlib.magnify.weight_files.map_aman_state_dict`);
    * postech-ami/Deep-Motion-Mag-Pytorch's checkpoint
      (:func:`~merlib.magnify.weight_files.map_postech_state_dict`);
    * a ZhengPeng7-port state dict (:func:`~merlib.magnify.weight_files.map_port_state_dict`).

    Every form is called with merlib's alpha (output shows f(x + (1+alpha)·δ); Oh's amp = 1 +
    alpha). Files are read with ``torch.load(weights_only=True)``. ``name`` must match the file's
    architecture when both are given (``None`` accepts any). The loaded network carries
    ``weights_source`` (the form read) and, for merlib checkpoints, ``training_record``.

    What the shipped checkpoints achieve (measured by ``tools/weights_readme.py``; CPU-trained on
    generated pairs only, not checked on real video, see merlib/weights/README.md):

    * ``oh2018``: 918,928 parameters, 3400 steps, 73 CPU-minutes (fine-tuned from a checkpoint of 13600 steps
      / 93 min) — α = 0 PSNR ≥ 41.9 dB; mean relative shift error 0.141; SSIM to the exact magnified frame
      0.979 (input 0.665), below the input's in 0 of 24 cases; validation L1 0.0685 vs copying frame B 0.1030.
    * ``stmemm``: 120,843 parameters, 5600 steps, 17 CPU-minutes (fine-tuned from a checkpoint of 8000 steps /
      25 min) — α = 0 PSNR ≥ 37.1 dB; mean relative shift error 0.203; SSIM to the exact magnified frame 0.759
      (input 0.665), below the input's in 7 of 24 cases; validation L1 0.0903 vs copying frame B 0.1030.
    """
    from merlib.env import device as resolve_device

    if path is None:
        if name not in ARCHITECTURES:
            raise ValueError(f"load_magnifier: `name` must be one of {ARCHITECTURES}, got {name!r}")
        path = WEIGHTS_DIR / f"{name}.pt"
        if not path.exists():
            raise FileNotFoundError(f"load_magnifier: shipped checkpoint {path} is missing; train one with "
                                    f"`python -m merlib train-magnifier {name} --out {path}`")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_magnifier: `path` {path} does not exist")
    obj = read_weights_file(path)
    try:
        kind = identify_weights(obj)
    except ValueError as exc:
        raise ValueError(f"load_magnifier: {path}: {exc}") from None
    if kind == "merlib":
        arch = obj["arch"]
        if name is not None and name != arch:
            raise ValueError(f"load_magnifier: {path} holds a {arch!r} checkpoint, but name={name!r}")
        model = build_magnifier(arch, obj["config"])
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in obj["state_dict"].items()})
        model.training_record = obj.get("extra", {})
    else:
        if name not in (None, "oh2018"):
            raise ValueError(f"load_magnifier: {path} holds Oh et al.'s network ({kind} form), but name={name!r}")
        if kind == "official":
            model = OhMagnifier()
            model.load_state_dict(map_official_state_dict(obj))
        else:
            mapper = {"aman": map_aman_state_dict, "postech": map_postech_state_dict,
                      "port": map_port_state_dict}[kind]
            try:
                sd, cfg = mapper(obj)
            except ValueError as exc:
                raise ValueError(f"load_magnifier: {path}: {exc}") from None
            model = OhMagnifier(cfg)
            model.load_state_dict(sd)
    model.weights_source = kind
    return model.to(resolve_device(device)).eval()
