"""Grad-CAM (Selvaraju et al., ICCV 2017) for any backbone block, also through a sequence model.

R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra, "Grad-CAM: Visual explanations
from deep networks via gradient-based localization", ICCV 2017.

For a class score ``y_c`` and the activations ``A`` of a convolutional layer, ``(M, K, h, w)``:

    weights  a_k = mean_{i,j} dy_c / dA_k(i, j)          (per image m, per channel k)
    map      L   = ReLU( sum_k a_k A_k )                  (M, h, w), upsampled to the input size

Bai et al. (ICIP 2021) use it twice: on the untrained backbone's blocks to choose the freeze point (B9),
and on the trained spatio-temporal model to show which face regions drive each class. Inside
:class:`~merlib.papers.bai2021.model.Bai2021` the backbone sees the N frames of a segment as one batch of N
images, so one backward pass of the segment's class score (through the Bi-LSTM) gives one map per frame.

Written here rather than taken from a package (e.g. ``pytorch-grad-cam``) because the computation is the
lesson and is a dozen lines; it needs gradients to reach layers that are frozen (``requires_grad=False``),
which the forward hook arranges, and it must work with cuDNN LSTMs in eval mode (cuDNN is switched off
for the one forward/backward).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["grad_cam", "resolve_layer"]


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """The module to explain: a module, a backbone block name (``"B8"``, ``"stem"``), a dotted module path
    in ``model`` (``"backbone.blocks.B16.conv3"``), or ``None`` for the backbone's default (last block)."""
    backbone = getattr(model, "backbone", model)
    blocks = getattr(backbone, "blocks", None)
    if layer is None:
        if blocks is None or not hasattr(backbone, "default_cam_layer"):
            raise ValueError("grad_cam: `layer` is required for a model without a merlib backbone")
        return blocks[backbone.default_cam_layer]
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError("grad_cam: `layer` module is not part of `model`")
        return layer
    if isinstance(layer, str):
        if isinstance(blocks, nn.ModuleDict) and layer in blocks:
            return blocks[layer]
        modules = dict(model.named_modules())
        if layer in modules:
            return modules[layer]
        names = list(blocks.keys()) if isinstance(blocks, nn.ModuleDict) else []
        raise ValueError(f"grad_cam: no layer {layer!r} in the model; block names are {names}, or give a "
                         f"dotted module path such as {next(iter(modules), '')!r}")
    raise ValueError(f"grad_cam: `layer` must be a module, a name or None, got {type(layer).__name__}")


def _normalise(cam: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "none":
        return cam
    dims = (-2, -1) if mode == "frame" else tuple(range(cam.ndim))
    lo = cam.amin(dim=dims, keepdim=True)
    span = cam.amax(dim=dims, keepdim=True) - lo
    return torch.where(span > 0, (cam - lo) / span.clamp_min(torch.finfo(cam.dtype).tiny), torch.zeros_like(cam))


def grad_cam(model: nn.Module, inputs: torch.Tensor, target: int | torch.Tensor | None = None,
             layer: nn.Module | str | None = None, normalize: str = "frame") -> torch.Tensor:
    """Grad-CAM heat maps of ``model``'s class score at ``layer``.

    Args:
        model: maps ``inputs`` to logits ``(B, K)``: a sequence model such as
            :class:`~merlib.papers.bai2021.model.Bai2021` (inputs ``(B, N, C, H, W)``) or an image classifier
            (inputs ``(B, C, H, W)``).
        inputs: float frames in [0, 1]; for a sequence model (one with ``takes_segments = True``, such as
            ``Bai2021``) a single segment may be given as ``(N, C, H, W)``, read as ``(1, N, C, H, W)``.
        target: the class to explain, an int or a ``(B,)`` tensor; ``None`` takes each sample's predicted class.
        layer: see :func:`resolve_layer`; must output ``(M, K, h, w)`` maps (M = B·N for sequence models).
        normalize: ``"frame"`` (each map min-max scaled to [0, 1]), ``"segment"`` (one scale for all maps,
            so frames can be compared) or ``"none"`` (raw ReLU'd maps).

    Returns:
        ``(M, H, W)`` heat maps at the input resolution, M = N frames for one segment (B = 1), B·N for a
        batch of segments (in ``(b, n)`` order), B for images; in [0, 1] unless ``normalize="none"``.
        Model mode (train/eval) is restored afterwards; no parameter gradients are accumulated.
    """
    if normalize not in ("frame", "segment", "none"):
        raise ValueError(f"grad_cam: `normalize` must be 'frame', 'segment' or 'none', got {normalize!r}")
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        raise ValueError("grad_cam: `inputs` must be a float tensor of frames in [0, 1]")
    if inputs.ndim == 4 and getattr(model, "takes_segments", False):
        inputs = inputs.unsqueeze(0)
    if inputs.ndim not in (4, 5):
        raise ValueError(f"grad_cam: `inputs` must be (B, N, C, H, W), (N, C, H, W) or (B, C, H, W), "
                         f"got shape {tuple(inputs.shape)}")
    module = resolve_layer(model, layer)
    captured: list[torch.Tensor] = []

    def hook(_module, _inp, out):
        if not isinstance(out, torch.Tensor) or out.ndim != 4:
            raise ValueError(f"grad_cam: the chosen layer must output (M, K, h, w) maps, got "
                             f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
        if not out.requires_grad:  # a frozen part of the network: make the activation a leaf
            out = out.detach().requires_grad_(True)
        captured.append(out)
        return out

    handle = module.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            logits = model(inputs)
            if logits.ndim != 2 or logits.shape[0] != inputs.shape[0]:
                raise ValueError(f"grad_cam: `model` must return (B, K) logits, got {tuple(logits.shape)}")
            if len(captured) != 1:
                raise ValueError(f"grad_cam: the chosen layer ran {len(captured)} times in one forward pass; "
                                 f"choose a layer used exactly once")
            if target is None:
                target_t = logits.argmax(dim=1)
            else:
                target_t = torch.as_tensor(target, device=logits.device).reshape(-1).expand(logits.shape[0])
                if int(target_t.min()) < 0 or int(target_t.max()) >= logits.shape[1]:
                    raise ValueError(f"grad_cam: `target` must be a class in 0..{logits.shape[1] - 1}, got {target!r}")
            score = logits.gather(1, target_t.long().unsqueeze(1)).sum()
            acts = captured[0]
            grads, = torch.autograd.grad(score, acts)
    finally:
        handle.remove()
        model.train(was_training)
    weights = grads.mean(dim=(-2, -1), keepdim=True)
    cam = F.relu((weights * acts).sum(dim=1)).detach()  # (M, h, w)
    cam = F.interpolate(cam.unsqueeze(1), size=tuple(inputs.shape[-2:]), mode="bilinear",
                        align_corners=False).squeeze(1).clamp_min(0)
    return _normalise(cam, normalize)
