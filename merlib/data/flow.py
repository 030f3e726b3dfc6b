"""Optical flow between the onset and apex frames: TV-L1, optical strain, the (u, v, strain) stack.

The strongest MEGC2019 entries take this motion field as their input instead of (magnified)
frames: OFF-ApexNet (Gan et al. 2019, *Signal Processing: Image Communication* 74) feeds the
horizontal and vertical flow ``(u, v)`` between onset and apex, STSTNet (Liong et al. 2019, FG)
adds the optical strain ``|ε|`` as a third channel, both at 28 × 28 (see
:mod:`merlib.models.flow_nets`).

**Methods** (:func:`optical_flow`):

* ``"tvl1"`` (default): TV-L1 (Zach, Pock & Bischof 2007; the duality-based solver of Wedel et
  al. 2009) from scikit-image, :func:`skimage.registration.optical_flow_tvl1` — pure pip, offline;
* ``"tvl1_opencv"``: OpenCV's ``cv2.optflow.DualTVL1OpticalFlow`` (the implementation the MEGC
  papers cite). It lives in *opencv-contrib* (``pip install opencv-contrib-python-headless``, the
  same version as merlib's ``opencv-python-headless``); without it this method raises a clear error
  (:func:`has_opencv_tvl1` tells);
* ``"farneback"``: ``cv2.calcOpticalFlowFarneback`` (Farnebäck 2003), OpenCV's main package — for
  comparison (notebook 03 shows it is worse than zero flow at sub-pixel motion);
* ``"zero"``: the all-zero field, the baseline every estimate must beat.

**Conventions** (one place, here):

* Input frames: ``(C, H, W)`` or ``(H, W)`` float in [0, 1] (a ``(T, C, H, W)`` clip's frames),
  converted to grey with the Rec. 601 luma weights when C = 3. **Input scaling is fixed**: every
  method receives float32 grey values in [0, 1], never values quantised to uint8 and never floats in
  [0, 255] (notebook 03 measures what either costs: OpenCV's DualTVL1 multiplies float input by 255
  itself, so floats in [0, 255] are scaled twice, and uint8 input loses the sub-level intensity
  changes a sub-pixel motion makes). Farnebäck gets the [0, 1] floats × 255 (on [0, 1] floats it
  returns an all-zero field).
* TV-L1's data weight: merlib's default ``attachment`` (λ) is **38.25 = 0.15 × 255**, OpenCV's
  default ``lambda`` = 0.15 (stated for 8-bit intensities) expressed for [0, 1] intensities —
  merlib's choice, so scikit-image and OpenCV solve the same energy; scikit-image's own default
  (λ = 15) is 2.55 times weaker and oversmooths sub-pixel facial motion (notebook 03).
* Output: ``(2, H, W)`` float32 torch tensor in **pixels, channel 0 = u (x, right), channel 1 = v
  (y, down)** — the order OpenCV and every MER paper use. scikit-image returns ``(v, u)`` (row, column
  displacement); merlib swaps it once, inside :func:`tvl1_flow`.
* Direction: the flow maps the reference (onset) onto the moving frame (apex):
  ``moving(x + w(x)) ≈ reference(x)`` — the content at ``x`` in the onset frame is at ``x + w`` in
  the apex frame. It is the convention of :func:`merlib.data.synthetic.render_clip`'s true flow (to
  first order), so the two are compared directly (:func:`endpoint_error`).

**Optical strain** (:func:`optical_strain`), as Liong et al. (2014, 2019) define it from the flow
gradients: ``ε = ½(∇w + ∇wᵀ)``, ``|ε| = sqrt(ε_xx² + ε_yy² + ε_xy² + ε_yx²)
= sqrt(u_x² + v_y² + ½(u_y + v_x)²)``. merlib's choice: central differences
(:func:`numpy.gradient`, one-sided at the border) in pixels of the grid the flow was computed on.

**The stack** (:func:`flow_stack`): ``(3, S, S)`` = (u, v, |ε|) computed on the frames as given
(or resized first, ``flow_size=``), optionally with the mean flow of the nose region subtracted
(head motion: the nose barely moves in a micro-expression) and the eye regions zeroed (blinks),
then area-resized to ``S × S`` with the vectors rescaled to pixels of the ``S`` grid, optionally
min-max normalised per channel (``normalize="minmax"``, as the released STSTNet inputs and MEB's
``tools/extract_optical_flow.py`` do). :func:`onset_apex_flow` is the same as a preprocessing step of
a ``(T, C, H, W)`` clip (first frame = onset, last = apex: ``frames="onset_apex"`` in
:class:`merlib.eval.TrainConfig`), so :func:`merlib.eval.run` caches it per clip with its
:class:`~merlib.eval.Cache` (``merlib.data`` imports nothing from ``merlib.eval``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FLOW_METHODS", "LUMA", "to_grey", "optical_flow", "tvl1_flow", "opencv_tvl1_flow", "farneback_flow",
    "has_opencv_tvl1", "optical_strain", "face_regions", "subtract_region_motion", "resize_flow", "flow_stack",
    "onset_apex_flow", "endpoint_error", "tvl1_energy", "warp_image", "STACK_CHANNELS",
]

FLOW_METHODS = ("tvl1", "tvl1_opencv", "farneback", "zero")
#: Rec. 601 luma weights (the synthetic renderer's grey conversion too).
LUMA = (0.299, 0.587, 0.114)
#: Channel names of :func:`flow_stack`'s output.
STACK_CHANNELS = ("u", "v", "strain")

#: OpenCV's TV-L1 data weight for 8-bit intensities.
OPENCV_LAMBDA = 0.15
#: merlib's TV-L1 parameters for scikit-image: its defaults except ``attachment`` = OpenCV's λ × 255
#: (the same energy for [0, 1] intensities; scikit-image's own default is 15).
TVL1_DEFAULTS = {"attachment": OPENCV_LAMBDA * 255, "tightness": 0.3, "num_warp": 5, "num_iter": 10, "tol": 1e-4,
                 "prefilter": False}
#: OpenCV's ``DualTVL1OpticalFlow_create`` defaults (OpenCV 4.x contrib).
OPENCV_TVL1_DEFAULTS = {"tau": 0.25, "lambda_": 0.15, "theta": 0.3, "nscales": 5, "warps": 5,
                        "epsilon": 0.01, "innnerIterations": 30, "outerIterations": 10, "scaleStep": 0.8,
                        "gamma": 0.0, "medianFiltering": 5, "useInitialFlow": False}
#: Farnebäck parameters: the values of OpenCV's tutorial, used by most MER code that calls it.
FARNEBACK_DEFAULTS = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5,
                      "poly_sigma": 1.2, "flags": 0}


# ------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------
def to_grey(image, name: str = "image") -> np.ndarray:
    """A frame as an ``(H, W)`` float32 array in [0, 1] (luma of RGB).

    Args:
        image: ``(C, H, W)`` (C = 1 or 3) or ``(H, W)`` float tensor/array in [0, 1].

    Raises:
        ValueError: another shape, an integer dtype (pass float in [0, 1]: merlib fixes the input
            scaling) or values outside [0, 1].
    """
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise ValueError(f"{name}: expected a float tensor in [0, 1], got dtype {image.dtype} "
                             "(merlib's flow takes un-quantised floats; divide uint8 frames by 255)")
        arr = image.detach().to("cpu", torch.float32).numpy()
    elif isinstance(image, np.ndarray):
        if not np.issubdtype(image.dtype, np.floating):
            raise ValueError(f"{name}: expected a float array in [0, 1], got dtype {image.dtype} "
                             "(merlib's flow takes un-quantised floats; divide uint8 frames by 255)")
        arr = image.astype(np.float32, copy=False)
    else:
        raise ValueError(f"{name}: expected a torch tensor or numpy array, got {type(image).__name__}")
    if arr.ndim == 3:
        if arr.shape[0] == 1:
            arr = arr[0]
        elif arr.shape[0] == 3:
            arr = LUMA[0] * arr[0] + LUMA[1] * arr[1] + LUMA[2] * arr[2]
        else:
            raise ValueError(f"{name}: expected (C, H, W) with C = 1 or 3, got shape {tuple(arr.shape)}")
    elif arr.ndim != 2:
        raise ValueError(f"{name}: expected shape (C, H, W) or (H, W), got {tuple(arr.shape)}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ValueError(f"{name}: frames must be at least 8 × 8 pixels, got {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}] "
                         "(frames in [0, 255]? divide by 255 — the scaling matters, see merlib.data.flow)")
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


def _pair(reference, moving) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_grey(reference, "reference"), to_grey(moving, "moving")
    if a.shape != b.shape:
        raise ValueError(f"reference and moving frames differ in size: {a.shape} vs {b.shape}")
    return a, b


def _check_params(params: dict, allowed: dict, where: str) -> dict:
    unknown = set(params) - set(allowed)
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return {**allowed, **params}


# ------------------------------------------------------------------------------------------
# flow methods
# ------------------------------------------------------------------------------------------
def tvl1_flow(reference, moving, **params) -> torch.Tensor:
    """TV-L1 flow with scikit-image (merlib's default), as ``(2, H, W)`` = (u, v) in pixels.

    ``skimage.registration.optical_flow_tvl1`` returns ``(v, u)`` (the row displacement first);
    this function returns ``(u, v)``. Parameters (scikit-image's names, :data:`TVL1_DEFAULTS`):
    ``attachment`` (λ, the data term's weight; smaller = smoother; merlib's default 38.25 = OpenCV's
    0.15 × 255, scikit-image's own is 15),
    ``tightness`` (θ), ``num_warp``, ``num_iter``, ``tol``, ``prefilter``.

    Args:
        reference, moving: frames (see :func:`to_grey`), e.g. the onset and the apex.
    """
    from skimage.registration import optical_flow_tvl1

    p = _check_params(params, TVL1_DEFAULTS, "tvl1_flow")
    a, b = _pair(reference, moving)
    v, u = optical_flow_tvl1(a, b, dtype=np.float32, **p)
    return torch.from_numpy(np.stack([u, v]).astype(np.float32))


def has_opencv_tvl1() -> bool:
    """True when OpenCV with the contrib ``optflow`` module (DualTVL1) is importable."""
    try:
        import cv2
    except ImportError:
        return False
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def opencv_tvl1_flow(reference, moving, **params) -> torch.Tensor:
    """OpenCV's Dual TV-L1 (``cv2.optflow.DualTVL1OpticalFlow``), ``(2, H, W)`` = (u, v) in pixels.

    Frames go in as float32 grey in [0, 1]: OpenCV multiplies float input by 255 itself (its
    parameters are stated for 8-bit intensities); uint8 input would be quantised. Parameters:
    OpenCV's names (``tau``, ``lambda_``, ``theta``, ``nscales``, ``warps``, ``epsilon``,
    ``innnerIterations`` [sic, OpenCV's spelling], ``outerIterations``, ``scaleStep``, ``gamma``,
    ``medianFiltering``), defaults :data:`OPENCV_TVL1_DEFAULTS`.

    Raises:
        ImportError: OpenCV's contrib modules are not installed (``pip install
            opencv-contrib-python-headless`` of the same version as ``opencv-python-headless``).
    """
    if not has_opencv_tvl1():
        raise ImportError("method 'tvl1_opencv' needs OpenCV's contrib module optflow "
                          "(pip install opencv-contrib-python-headless, the same version as "
                          "opencv-python-headless); merlib's default 'tvl1' (scikit-image) needs nothing more")
    import cv2

    p = _check_params(params, OPENCV_TVL1_DEFAULTS, "opencv_tvl1_flow")
    a, b = _pair(reference, moving)
    algo = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=p["tau"], lambda_=p["lambda_"], theta=p["theta"], nscales=int(p["nscales"]), warps=int(p["warps"]),
        epsilon=p["epsilon"], innnerIterations=int(p["innnerIterations"]),
        outerIterations=int(p["outerIterations"]), scaleStep=p["scaleStep"], gamma=p["gamma"],
        medianFiltering=int(p["medianFiltering"]), useInitialFlow=bool(p["useInitialFlow"]))
    flow = algo.calc(a, b, None)                      # float input: OpenCV scales by 255; (H, W, 2) = (u, v)
    return torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)).astype(np.float32))


def farneback_flow(reference, moving, **params) -> torch.Tensor:
    """Farnebäck's polynomial-expansion flow (``cv2.calcOpticalFlowFarneback``), ``(2, H, W)`` = (u, v).

    Frames go in as float32 grey × 255, not rounded (on [0, 1] floats OpenCV's Farnebäck returns an
    all-zero field). Parameters: OpenCV's (``pyr_scale``, ``levels``, ``winsize``,
    ``iterations``, ``poly_n``, ``poly_sigma``, ``flags``), defaults :data:`FARNEBACK_DEFAULTS`.
    """
    import cv2

    p = _check_params(params, FARNEBACK_DEFAULTS, "farneback_flow")
    a, b = _pair(reference, moving)
    flow = cv2.calcOpticalFlowFarneback(a * 255.0, b * 255.0, None, p["pyr_scale"], int(p["levels"]),
                                        int(p["winsize"]), int(p["iterations"]), int(p["poly_n"]),
                                        p["poly_sigma"], int(p["flags"]))
    return torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)).astype(np.float32))


def optical_flow(reference, moving, method: str = "tvl1", **params) -> torch.Tensor:
    """Dense flow from ``reference`` to ``moving``: ``(2, H, W)`` float32, (u, v) in pixels.

    Args:
        reference, moving: ``(C, H, W)`` or ``(H, W)`` float in [0, 1] (e.g. onset and apex).
        method: one of :data:`FLOW_METHODS` (``"tvl1"``: scikit-image, the default).
        **params: the method's parameters (see :func:`tvl1_flow`, :func:`opencv_tvl1_flow`,
            :func:`farneback_flow`).
    """
    if method == "tvl1":
        return tvl1_flow(reference, moving, **params)
    if method == "tvl1_opencv":
        return opencv_tvl1_flow(reference, moving, **params)
    if method == "farneback":
        return farneback_flow(reference, moving, **params)
    if method == "zero":
        if params:
            raise ValueError(f"optical_flow: method 'zero' takes no parameters, got {sorted(params)}")
        a, _ = _pair(reference, moving)
        return torch.zeros((2,) + a.shape, dtype=torch.float32)
    raise ValueError(f"optical_flow: `method` must be one of {FLOW_METHODS}, got {method!r}")


# ------------------------------------------------------------------------------------------
# what is computed from a flow field
# ------------------------------------------------------------------------------------------
def _check_flow(flow, name: str = "flow") -> torch.Tensor:
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(flow)
    if not isinstance(flow, torch.Tensor) or flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"{name}: expected a (2, H, W) tensor (u, v), got "
                         f"{type(flow).__name__} {tuple(getattr(flow, 'shape', ()))}")
    return flow.float()


def optical_strain(flow) -> torch.Tensor:
    """Optical strain magnitude ``|ε| = sqrt(u_x² + v_y² + ½(u_y + v_x)²)``, ``(H, W)``.

    Liong et al.'s definition (the infinitesimal strain tensor ``ε = ½(∇w + ∇wᵀ)`` of the flow
    ``w = (u, v)``; ``|ε|`` is its Frobenius norm). Derivatives: central differences in pixels
    (:func:`numpy.gradient`, one-sided at the border) — merlib's choice.

    Args:
        flow: ``(2, H, W)``: (u, v) in pixels.
    """
    w = _check_flow(flow).cpu().double().numpy()
    u_y, u_x = np.gradient(w[0])
    v_y, v_x = np.gradient(w[1])
    eps = np.sqrt(u_x ** 2 + v_y ** 2 + 0.5 * (u_y + v_x) ** 2)
    return torch.from_numpy(eps.astype(np.float32))


def endpoint_error(flow, true_flow, mask=None) -> float:
    """Mean end-point error ``mean ‖w − w_true‖₂`` in pixels (over ``mask`` when given).

    Args:
        flow, true_flow: ``(2, H, W)`` (u, v) in pixels, on the same grid.
        mask: optional ``(H, W)`` bool: where to average (e.g. the face).
    """
    a, b = _check_flow(flow), _check_flow(true_flow, "true_flow")
    if a.shape != b.shape:
        raise ValueError(f"endpoint_error: flow {tuple(a.shape)} and true_flow {tuple(b.shape)} differ in shape")
    err = torch.linalg.vector_norm(a - b, dim=0)
    if mask is not None:
        m = torch.as_tensor(mask, dtype=torch.bool)
        if m.shape != err.shape:
            raise ValueError(f"endpoint_error: mask {tuple(m.shape)} does not match the flow's {tuple(err.shape)}")
        if not m.any():
            raise ValueError("endpoint_error: mask selects no pixel")
        err = err[m]
    return float(err.mean())


def warp_image(image, flow) -> np.ndarray:
    """``image(x + w(x))`` with bilinear interpolation and edge replication: ``(H, W)`` float.

    What TV-L1's data term compares with the reference frame (scikit-image warps the same way).
    """
    from skimage.transform import warp

    img = to_grey(image)
    w = _check_flow(flow).cpu().double().numpy()
    rows, cols = np.meshgrid(np.arange(img.shape[0]), np.arange(img.shape[1]), indexing="ij")
    return warp(img.astype(np.float64), np.array([rows + w[1], cols + w[0]]), mode="edge", order=1)


def tvl1_energy(reference, moving, flow, attachment: float = TVL1_DEFAULTS["attachment"]) -> dict:
    """The discrete TV-L1 energy of a flow field, the quantity TV-L1 minimises.

    ``E(w) = Σ_x [ λ |I₁(x + w(x)) − I₀(x)| + |∇u(x)| + |∇v(x)| ]`` with ``I₀`` the reference, ``I₁``
    the moving frame (grey, [0, 1]), ``λ`` = ``attachment`` and ``|∇u| = sqrt(u_x² + u_y²)`` from
    forward differences (zero past the last row/column) — the form scikit-image's solver uses
    (Zach et al. 2007; Wedel et al. 2009: a separate total variation per flow component).

    Returns:
        ``{"data": Σ|ρ|, "tv": Σ(|∇u| + |∇v|), "total": λ·data + tv, "attachment": λ}``.
    """
    if not (isinstance(attachment, (int, float)) and attachment > 0):
        raise ValueError(f"tvl1_energy: `attachment` must be a positive number, got {attachment!r}")
    i0 = to_grey(reference, "reference").astype(np.float64)
    w = _check_flow(flow).cpu().double().numpy()
    if w.shape[1:] != i0.shape:
        raise ValueError(f"tvl1_energy: flow {w.shape[1:]} and frames {i0.shape} differ in size")
    rho = warp_image(moving, flow) - i0
    tv = 0.0
    for c in range(2):
        gx = np.zeros_like(w[c])
        gy = np.zeros_like(w[c])
        gx[:, :-1] = np.diff(w[c], axis=1)
        gy[:-1, :] = np.diff(w[c], axis=0)
        tv += float(np.sqrt(gx ** 2 + gy ** 2).sum())
    data = float(np.abs(rho).sum())
    return {"data": data, "tv": tv, "total": float(attachment) * data + tv, "attachment": float(attachment)}


# ------------------------------------------------------------------------------------------
# face regions: nose (head motion), eyes (blinks)
# ------------------------------------------------------------------------------------------
#: Default regions as fractions of an aligned face crop (rows, cols): merlib's choice, matching
#: the synthetic renderer's average face and CASME II's cropped faces roughly; pass landmarks when
#: you have them.
DEFAULT_REGIONS = {
    "nose": ((0.50, 0.64), (0.43, 0.57)),
    "eyes": [((0.33, 0.48), (0.20, 0.46)), ((0.33, 0.48), (0.54, 0.80))],
}


def face_regions(height: int, width: int, landmarks=None, margin: float = 0.25) -> dict[str, torch.Tensor]:
    """Boolean ``(H, W)`` masks ``"nose"`` and ``"eyes"`` of a face image.

    Args:
        height, width: the image size.
        landmarks: optional ``(68, 2)`` iBUG points (x, y) in pixels of this image, e.g. from
            :func:`merlib.data.faces.detect_landmarks`: the nose is the box of points 27-35, each eye
            the box of points 36-41 / 42-47, widened by ``margin`` × their size. ``None``: the fixed
            fractions of :data:`DEFAULT_REGIONS` (an aligned, cropped face).
    """
    h, w = int(height), int(width)
    masks = {"nose": torch.zeros(h, w, dtype=torch.bool), "eyes": torch.zeros(h, w, dtype=torch.bool)}

    def box(mask, r0, r1, c0, c1):
        # pixels whose index lies in [r0, r1] x [c0, c1] (the end points included)
        r0, r1 = max(0, int(math.floor(r0))), min(h, int(math.floor(r1)) + 1)
        c0, c1 = max(0, int(math.floor(c0))), min(w, int(math.floor(c1)) + 1)
        if r1 > r0 and c1 > c0:
            mask[r0:r1, c0:c1] = True

    if landmarks is None:
        (r0, r1), (c0, c1) = DEFAULT_REGIONS["nose"]
        box(masks["nose"], r0 * h, r1 * h, c0 * w, c1 * w)
        for (r0, r1), (c0, c1) in DEFAULT_REGIONS["eyes"]:
            box(masks["eyes"], r0 * h, r1 * h, c0 * w, c1 * w)
        return masks
    from merlib.data.faces import LANDMARK_GROUPS

    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"face_regions: `landmarks` must be (68, 2) iBUG points (x, y), got shape {pts.shape}")
    groups = {"nose": [LANDMARK_GROUPS["nose_bridge"] + LANDMARK_GROUPS["nose_lower"]],
              "eyes": [LANDMARK_GROUPS["right_eye"], LANDMARK_GROUPS["left_eye"]]}
    for name, parts in groups.items():
        for idx in parts:
            p = pts[list(idx)]
            (x0, y0), (x1, y1) = p.min(0), p.max(0)
            mx, my = margin * max(x1 - x0, 1.0), margin * max(y1 - y0, 1.0)
            box(masks[name], y0 - my, y1 + my, x0 - mx, x1 + mx)
    return masks


def subtract_region_motion(flow, region) -> torch.Tensor:
    """``flow`` minus its mean over ``region`` (``(H, W)`` bool): removes a translation (head motion)."""
    w = _check_flow(flow)
    m = torch.as_tensor(region, dtype=torch.bool)
    if m.shape != w.shape[1:]:
        raise ValueError(f"subtract_region_motion: region {tuple(m.shape)} does not match the flow's {tuple(w.shape[1:])}")
    if not m.any():
        raise ValueError("subtract_region_motion: the region is empty")
    return w - w[:, m].mean(dim=1)[:, None, None]


def resize_flow(flow, size) -> torch.Tensor:
    """Area-resize a ``(2, H, W)`` flow to ``size`` (int or (H', W')), vectors rescaled to the new pixels."""
    w = _check_flow(flow)
    hh, ww = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if (hh, ww) == tuple(w.shape[1:]):
        return w.clone()
    out = _resize_maps(w, (hh, ww))
    out[0] *= ww / w.shape[2]
    out[1] *= hh / w.shape[1]
    return out


def _resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(C, H, W)`` maps: area averaging when shrinking, bilinear when enlarging."""
    if size[0] <= maps.shape[1] and size[1] <= maps.shape[2]:
        return F.interpolate(maps[None], size=size, mode="area")[0]
    return F.interpolate(maps[None], size=size, mode="bilinear", align_corners=False)[0]


def _resize_frame(frame: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize of a ``(C, H, W)`` frame (what merlib's dataset readers do)."""
    return F.interpolate(frame[None].float(), size=(int(size), int(size)), mode="bilinear", align_corners=False,
                         antialias=True)[0].clamp(0, 1)


# ------------------------------------------------------------------------------------------
# the (u, v, strain) stack
# ------------------------------------------------------------------------------------------
def flow_stack(onset, apex, *, method: str = "tvl1", size: int | None = 28, flow_size: int | None = None,
               nose_subtract: bool = False, eye_mask: bool = False, landmarks=None, normalize: str = "none",
               params: dict | None = None) -> torch.Tensor:
    """The onset→apex ``(3, S, S)`` stack (u, v, |ε|) that OFF-ApexNet (u, v) and STSTNet (all three) take.

    Args:
        onset, apex: ``(C, H, W)`` float frames in [0, 1].
        method: a :data:`FLOW_METHODS` entry (default ``"tvl1"``, scikit-image).
        size: output side ``S`` (28 for STSTNet and OFF-ApexNet); ``None`` keeps the flow's grid.
        flow_size: resize the *frames* to this side before computing the flow (``None``: the flow is
            computed on the frames as given — merlib's default, because sub-pixel facial motion
            shrinks with the image: notebook 03 measures the difference).
        nose_subtract: subtract the mean flow of the nose region (head translation) before the strain.
        eye_mask: zero u, v and strain inside the eye regions (blinks).
        landmarks: ``(68, 2)`` points on the flow grid for the regions (:func:`face_regions`);
            ``None``: fixed face fractions.
        normalize: ``"none"`` (pixels of the S grid; strain dimensionless) or ``"minmax"`` (each
            channel to [0, 1] per clip, as the released STSTNet inputs and MEB's extraction do).
        params: the flow method's parameters.

    Returns:
        ``(3, S, S)`` float32: u (right), v (down) in pixels of the output grid, strain.
    """
    if normalize not in ("none", "minmax"):
        raise ValueError(f"flow_stack: `normalize` must be 'none' or 'minmax', got {normalize!r}")
    for name, v in (("size", size), ("flow_size", flow_size)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 8):
            raise ValueError(f"flow_stack: `{name}` must be None or an int >= 8, got {v!r}")
    onset_t = torch.as_tensor(onset) if isinstance(onset, np.ndarray) else onset
    apex_t = torch.as_tensor(apex) if isinstance(apex, np.ndarray) else apex
    if flow_size is not None:
        for nm, fr in (("onset", onset_t), ("apex", apex_t)):
            if not isinstance(fr, torch.Tensor) or fr.ndim != 3:
                raise ValueError(f"flow_stack: with flow_size, `{nm}` must be a (C, H, W) tensor")
        onset_t, apex_t = _resize_frame(onset_t, flow_size), _resize_frame(apex_t, flow_size)
    w = optical_flow(onset_t, apex_t, method=method, **(params or {}))
    h, wd = w.shape[1:]
    regions = face_regions(h, wd, landmarks) if (nose_subtract or eye_mask) else None
    if nose_subtract:
        w = subtract_region_motion(w, regions["nose"])
    strain = optical_strain(w)
    stack = torch.cat([w, strain[None]], 0)
    if eye_mask:
        stack[:, regions["eyes"]] = 0.0
    if size is not None and (size, size) != (h, wd):
        uv = resize_flow(stack[:2], size)
        st = _resize_maps(stack[2:], (int(size), int(size)))
        stack = torch.cat([uv, st], 0)
    if normalize == "minmax":
        lo = stack.amin(dim=(1, 2), keepdim=True)
        hi = stack.amax(dim=(1, 2), keepdim=True)
        stack = (stack - lo) / (hi - lo).clamp_min(1e-12)
    return stack.contiguous()


def onset_apex_flow(clip: torch.Tensor, **options) -> torch.Tensor:
    """:func:`flow_stack` of a clip's first (onset) and last (apex) frame: ``(3, S, S)``.

    A preprocessing function for :class:`merlib.eval.Step` with ``frames="onset_apex"``:
    ``Step(onset_apex_flow, FLOW_STEP_VERSION, {"size": 28})``.

    Args:
        clip: ``(T, C, H, W)`` float in [0, 1], T >= 2.
        **options: :func:`flow_stack`'s keyword arguments.
    """
    if not isinstance(clip, torch.Tensor) or clip.ndim != 4 or clip.shape[0] < 2:
        raise ValueError(f"onset_apex_flow: `clip` must be a (T, C, H, W) tensor with T >= 2 (onset first, apex "
                         f"last), got {tuple(getattr(clip, 'shape', ()))}")
    return flow_stack(clip[0], clip[-1], **options)


#: Bump when :func:`onset_apex_flow`'s output changes (cache keys include it).
FLOW_STEP_VERSION = "1"
