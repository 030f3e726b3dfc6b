"""Offline training pairs for learned motion magnifiers, after Oh et al. 2018's recipe.

Oh, Jaroensri, Kim, Elgharib, Durand, Freeman, Matusik, "Learning-based video motion
magnification", ECCV 2018, Sec. 3.2, built 100k training samples from MS-COCO backgrounds and
PASCAL-VOC segmented objects. Neither the generator nor the 84 GB dataset can be used here, so
this module re-creates the *recipe* with offline material only:

* **textures**: images that ship inside scikit-image (``skimage/data/*.png|jpg``; read from the
  package folder, nothing is downloaded) and procedural textures (coloured 1/f^β noise, gratings)
  made from the generator's seed;
* **foreground objects**: 7-15 random shapes (ellipses, rectangles, convex polygons) filled with a
  texture, each moving by its own random amount in its own random direction;
* **background**: a textured plane that moves too, except in the *static background* subset; in the
  *blurred background* subset it is Gaussian-blurred (Oh et al. blur it so the network learns to
  rely on edges of the foreground); the *static scene* subset has no motion at all (the target equals
  the input: the network must not magnify noise);
* **continuous-domain rendering**: every layer is sampled at ``supersample``× the output resolution
  at its displaced continuous position (textures by bilinear sampling, shape masks analytically) and
  box-filtered down (anti-aliased downsampling), so sub-pixel motion is rendered faithfully;
* **noise** on the input frames only (the magnified target is noise-free, quantised only), so the
  network learns not to amplify noise. ``noise="poisson"`` is the official code's model
  (deep_motion_mag ``preprocessor.py``, ``poisson_noise_n = 0.3`` in the shipped config): after
  8-bit quantisation each input frame gets ``n·N(0, 1)·sqrt(x/255)`` on the [0, 1] scale (their
  ``n·N·sqrt(x+1)/sqrt(127.5)`` on [-1, 1], halved), ``n ~ U(0, poisson_n)`` and no clipping. The
  official TF graph draws ``n`` once when the graph is built (one level for a whole run); the
  PyTorch re-implementation of the authors' lab (postech-ami/Deep-Motion-Mag-Pytorch, ``utils.py``
  ``shot_noise``) draws it per sample, and so does merlib. ``noise="gaussian"`` is merlib's older
  model: Gaussian noise of std ``U(noise_std)`` before quantisation;
* **colour perturbation** (Oh et al. Sec. 3.3): the copies the texture/shape losses need.

Each sample (``PairGenerator.sample``) is a dict of ``(C, S, S)`` float tensors in [0, 1]:

``frameA``      reference frame X_a
``frameB``      displaced frame X_b with its colours perturbed (Oh's X_b')
``frameC``      the same displaced frame, colours unperturbed (same texture as ``frameA``)
``amplified``   ground truth Y' = f(x + (1 + alpha)·δ) with ``frameB``'s colour perturbation
``alpha``       0-d float tensor, merlib's convention (output shows f(x + (1+alpha)·δ);
                Oh et al.'s amplification factor is ``1 + alpha``, see ``convention.py``)

so that ``frameB`` / ``frameC`` share the shape (motion) and ``frameA`` / ``frameC`` and
``frameB`` / ``amplified`` share the texture (colour). Sample ``i`` depends only on ``(seed, i)``:
the stream is deterministic and restartable at any index, and no dataset is ever written to disk.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PairConfig", "PairGenerator", "SKIMAGE_TEXTURES", "oh_pair_config"]

#: scikit-image sample images used as textures (files inside the installed package; public domain
#: or freely licensed, see skimage/data/README.txt). Faces (lfw_subset) are deliberately not used.
SKIMAGE_TEXTURES = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "rocket.jpg",
    "retina.jpg", "text.png", "page.png", "motorcycle_left.png", "cell.png", "horse.png",
    "color.png", "logo.png",
)


@dataclass(frozen=True)
class PairConfig:
    """Parameters of the training-pair recipe (defaults follow Oh et al. 2018 where they say).

    Motion: every layer gets its own magnified displacement ``(1+alpha)·δ`` of magnitude uniform in
    ``[0, max_magnified_motion]`` px in a uniform random direction; ``|δ| <= max_motion`` px.
    ``alpha`` (merlib convention) is drawn log-uniformly so that ``1 + alpha`` lies in
    ``[1 + alpha_range[0], 1 + alpha_range[1]]`` (log-uniform is merlib's choice: it gives the
    sub-pixel, large-factor regime as many samples as the large-motion, small-factor one).

    Oh et al.'s bounds (Sec. 3.2): input motion ≤ 10 px, magnified motion ≤ 30 px, factor up to 100
    — *their* factor, the total gain ``amp`` (the official manipulator multiplies by ``amp − 1``), so
    merlib's ``alpha = amp − 1`` runs up to 99: ``alpha_range = (0, 99)`` is Oh's ``amp ∈ [1, 100]``
    (an older merlib default, (1, 100), was ``amp ∈ [2, 101]``: off by one). The defaults are these
    bounds at Oh's 384² patches (:func:`oh_pair_config`).
    """

    size: int = 384                     #: output side S in pixels (Oh et al.: 384)
    channels: int = 3                   #: 3 (RGB) or 1 (grey)
    supersample: int = 4                #: rendering resolution factor before box downsampling
    n_objects: tuple[int, int] = (7, 15)
    object_radius: tuple[float, float] = (0.06, 0.25)   #: fraction of ``size``
    alpha_range: tuple[float, float] = (0.0, 99.0)      #: merlib alpha: Oh's amp = 1 + alpha in [1, 100]
    max_motion: float = 10.0            #: input motion bound |δ| in px
    max_magnified_motion: float = 30.0  #: bound on |(1 + alpha)·δ| in px
    p_static_background: float = 0.2    #: only the foreground objects move
    p_blur_background: float = 0.2      #: background Gaussian-blurred (sigma in ``blur_sigma``)
    p_static_scene: float = 0.05        #: no motion at all: target = reference frame
    blur_sigma: tuple[float, float] = (1.0, 4.0)
    noise: str = "poisson"              #: "poisson" (the official code's model) or "gaussian"
    poisson_n: float = 0.3              #: official ``poisson_noise_n``: level n ~ U(0, poisson_n)
    noise_std: tuple[float, float] = (0.0, 0.02)         #: noise="gaussian": std range, [0,1] scale
    color_perturbation: float = 0.2     #: per-channel gain in [1-p, 1+p], offset in [-p/2, p/2]
    n_procedural: int = 24              #: procedural textures generated from the seed

    def __post_init__(self):
        def _pair(name, lo_min=None):
            lo, hi = getattr(self, name)
            if not (hi >= lo) or (lo_min is not None and lo < lo_min):
                raise ValueError(f"PairConfig.{name} must be (low, high) with low <= high"
                                 + (f" and low >= {lo_min}" if lo_min is not None else "")
                                 + f", got {getattr(self, name)!r}")
        if self.size < 16 or self.size % 4:
            raise ValueError(f"PairConfig.size must be a multiple of 4 and >= 16, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"PairConfig.channels must be 1 or 3, got {self.channels}")
        if self.supersample < 1:
            raise ValueError(f"PairConfig.supersample must be >= 1, got {self.supersample}")
        _pair("n_objects", 0)
        _pair("object_radius", 0.0)
        _pair("alpha_range", 0.0)
        _pair("blur_sigma", 0.0)
        _pair("noise_std", 0.0)
        if self.max_motion < 0 or self.max_magnified_motion < 0:
            raise ValueError("PairConfig.max_motion and max_magnified_motion must be >= 0, got "
                             f"{self.max_motion}, {self.max_magnified_motion}")
        if self.noise not in ("poisson", "gaussian"):
            raise ValueError(f"PairConfig.noise must be 'poisson' or 'gaussian', got {self.noise!r}")
        if not self.poisson_n >= 0:
            raise ValueError(f"PairConfig.poisson_n must be >= 0, got {self.poisson_n}")
        for p in ("p_static_background", "p_blur_background", "p_static_scene"):
            if not 0.0 <= getattr(self, p) <= 1.0:
                raise ValueError(f"PairConfig.{p} must be a probability in [0, 1], got {getattr(self, p)}")

    def to_dict(self) -> dict:
        return asdict(self)


def oh_pair_config(size: int = 384, **overrides) -> PairConfig:
    """Oh et al.'s recipe: 384² samples, input motion ≤ 10 px, magnified ≤ 30 px, ``amp`` ≤ 100
    (merlib ``alpha`` ≤ 99), Poisson-like noise with ``poisson_noise_n = 0.3`` (official config).

    ``size`` other than 384 keeps the pixel bounds as they are (they are Oh's, in pixels).
    """
    return replace(PairConfig(size=size, alpha_range=(0.0, 99.0), max_motion=10.0,
                              max_magnified_motion=30.0, noise="poisson", poisson_n=0.3), **overrides)


# ------------------------------------------------------------------------------------ textures
@lru_cache(maxsize=1)
def _skimage_textures(max_side: int = 256) -> tuple[torch.Tensor, ...]:
    """The packaged scikit-image images as (3, h, w) float tensors in [0, 1] (read once)."""
    import skimage
    from skimage import io, transform

    folder = Path(skimage.__file__).resolve().parent / "data"
    out = []
    for name in SKIMAGE_TEXTURES:
        path = folder / name
        if not path.exists():  # a trimmed scikit-image install: use what is there
            continue
        img = io.imread(path)
        img = np.asarray(img, dtype=np.float64)
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        img = img[..., :3]
        img = img / (65535.0 if img.max() > 255 else 255.0)
        scale = max_side / max(img.shape[:2])
        if scale < 1:
            img = transform.rescale(img, scale, channel_axis=-1, anti_aliasing=True)
        out.append(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().clamp(0, 1))
    return tuple(out)


def _procedural_texture(gen: torch.Generator, side: int = 128) -> torch.Tensor:
    """A random (3, side, side) texture in [0, 1]: coloured 1/f^β noise or a grating."""
    kind = int(torch.randint(0, 3, (1,), generator=gen))
    fy = torch.fft.fftfreq(side).view(-1, 1)
    fx = torch.fft.rfftfreq(side).view(1, -1)
    radius = torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / side)
    if kind < 2:  # 1/f^beta noise, two thirds of the pool
        beta = 1.0 + 1.5 * float(torch.rand((), generator=gen))
        spec = torch.randn(3, side, side // 2 + 1, 2, generator=gen)
        spec = torch.view_as_complex(spec) * radius ** (-beta)
        spec[:, 0, 0] = 0
        tex = torch.fft.irfft2(spec, s=(side, side))
        mix = torch.rand(3, 3, generator=gen) + torch.eye(3) * 2 * float(kind)
        tex = torch.einsum("ij,jhw->ihw", mix, tex)
    else:  # a few oriented gratings
        yy, xx = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
        tex = torch.zeros(3, side, side)
        for _ in range(3):
            k = int(torch.randint(2, 12, (1,), generator=gen))
            theta = 2 * math.pi * float(torch.rand((), generator=gen))
            phase = 2 * math.pi * float(torch.rand((), generator=gen))
            color = torch.rand(3, 1, 1, generator=gen)
            # an integer number of periods along each axis keeps the grating periodic
            kx, ky = round(k * math.cos(theta)), round(k * math.sin(theta))
            tex += color * torch.cos(2 * math.pi * (kx * xx + ky * yy) / side + phase)
    tex = tex - tex.amin(dim=(1, 2), keepdim=True)
    tex = tex / tex.amax(dim=(1, 2), keepdim=True).clamp_min(1e-8)
    return tex.clamp(0, 1)


# ----------------------------------------------------------------------------------- generator
@dataclass
class _Layer:
    texture: torch.Tensor          # (3, h, w)
    tex_scale: float               # texture pixels per output pixel
    tex_offset: tuple[float, float]
    shape: str                     # "plane" | "ellipse" | "rect" | "polygon"
    center: tuple[float, float] = (0.0, 0.0)
    radii: tuple[float, float] = (1.0, 1.0)
    angle: float = 0.0
    sides: int = 0
    motion: tuple[float, float] = (0.0, 0.0)   # δ in output pixels (dy, dx)
    tint: torch.Tensor = field(default_factory=lambda: torch.ones(3, 1, 1))


class PairGenerator:
    """Deterministic, streaming generator of Oh-style training samples.

    >>> gen = PairGenerator(PairConfig(size=64), seed=0)
    >>> s = gen.sample(0)            # dict: frameA, frameB, frameC, amplified (3, 64, 64); alpha
    >>> batch = gen.batch(range(4))  # the same keys, stacked: (4, 3, 64, 64) and (4,)
    >>> stream = gen.stream(4)       # endless iterator of such batches, indices 0, 1, 2, ...
    """

    def __init__(self, config: PairConfig | None = None, seed: int = 0, **overrides):
        config = config or PairConfig()
        if overrides:
            config = replace(config, **overrides)
        self.config = config
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed * 7919 + 17)
        self.textures = list(_skimage_textures()) + [
            _procedural_texture(gen) for _ in range(config.n_procedural)]
        if not self.textures:
            raise ValueError("PairGenerator: no textures (scikit-image data folder empty and n_procedural=0)")

    # -- sampling the scene -----------------------------------------------------------------
    def _rand(self, gen, lo=0.0, hi=1.0) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen, dtype=torch.float64))

    def _texture_params(self, gen):
        tex = self.textures[int(torch.randint(0, len(self.textures), (1,), generator=gen))]
        scale = math.exp(self._rand(gen, math.log(0.5), math.log(2.0)))
        off = (self._rand(gen, 0, tex.shape[1]), self._rand(gen, 0, tex.shape[2]))
        tint = 0.6 + 0.8 * torch.rand(3, 1, 1, generator=gen)
        return tex, scale, off, tint

    def _motion(self, gen, amp: float, magnitude: float | None):
        c = self.config
        if magnitude is None:
            mag = self._rand(gen, 0.0, c.max_magnified_motion) / amp
            mag = min(mag, c.max_motion)
        else:
            mag = magnitude
        phi = self._rand(gen, 0.0, 2 * math.pi)
        return (mag * math.sin(phi), mag * math.cos(phi))

    def _scene(self, index: int, alpha, delta, static_scene):
        c = self.config
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + int(index)) % (2 ** 63 - 1))
        S = c.size
        if alpha is None:
            lo, hi = math.log1p(c.alpha_range[0]), math.log1p(c.alpha_range[1])
            alpha = math.expm1(self._rand(gen, lo, hi))
        amp = 1.0 + float(alpha)
        u_static, u_bgstatic, u_blur = (self._rand(gen) for _ in range(3))
        if static_scene is None:
            static_scene = u_static < c.p_static_scene
        static_bg = u_bgstatic < c.p_static_background
        blur = u_blur < c.p_blur_background
        tex, scale, off, tint = self._texture_params(gen)
        if blur:
            from torchvision.transforms.functional import gaussian_blur
            sigma = self._rand(gen, *c.blur_sigma)
            k = 2 * int(math.ceil(3 * sigma)) + 1
            tex = gaussian_blur(tex.unsqueeze(0), [k, k], [sigma, sigma])[0]
        bg_motion = self._motion(gen, amp, delta)
        if static_bg or static_scene:
            bg_motion = (0.0, 0.0)
        layers = [_Layer(tex, scale, off, "plane", motion=bg_motion, tint=tint)]
        n = int(torch.randint(c.n_objects[0], c.n_objects[1] + 1, (1,), generator=gen))
        for _ in range(n):
            tex, scale, off, tint = self._texture_params(gen)
            kind = ("ellipse", "rect", "polygon")[int(torch.randint(0, 3, (1,), generator=gen))]
            r = (self._rand(gen, *c.object_radius) * S, self._rand(gen, *c.object_radius) * S)
            center = (self._rand(gen, -0.1, 1.1) * S, self._rand(gen, -0.1, 1.1) * S)
            motion = (0.0, 0.0) if static_scene else self._motion(gen, amp, delta)
            layers.append(_Layer(tex, scale, off, kind, center=center, radii=r,
                                 angle=self._rand(gen, 0, math.pi),
                                 sides=int(torch.randint(3, 7, (1,), generator=gen)),
                                 motion=motion, tint=tint))
        # colour perturbation and noise levels
        p = c.color_perturbation
        gain = 1 - p + 2 * p * torch.rand(3, 1, 1, generator=gen)
        bias = p * (torch.rand(3, 1, 1, generator=gen) - 0.5)
        noise = self._rand(gen, 0.0, c.poisson_n) if c.noise == "poisson" else self._rand(gen, *c.noise_std)
        return layers, float(alpha), amp, (gain, bias), noise, gen

    # -- rendering ----------------------------------------------------------------------------
    def _grid(self):
        """Sample positions (y, x) of the supersampled grid, in output-pixel units, (Sh, Sh)."""
        c = self.config
        n = c.size * c.supersample
        t = (torch.arange(n, dtype=torch.float32) + 0.5) / c.supersample - 0.5
        return torch.meshgrid(t, t, indexing="ij")

    @staticmethod
    def _mask(layer: _Layer, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if layer.shape == "plane":
            return torch.ones_like(y)
        ca, sa = math.cos(layer.angle), math.sin(layer.angle)
        dy, dx = y - layer.center[0], x - layer.center[1]
        u = (ca * dx + sa * dy) / layer.radii[1]
        v = (-sa * dx + ca * dy) / layer.radii[0]
        if layer.shape == "ellipse":
            inside = u * u + v * v <= 1.0
        elif layer.shape == "rect":
            inside = (u.abs() <= 1.0) & (v.abs() <= 1.0)
        else:  # regular convex polygon in the (u, v) unit frame
            k = layer.sides
            inside = torch.ones_like(u, dtype=torch.bool)
            for j in range(k):
                phi = 2 * math.pi * j / k
                inside &= (u * math.cos(phi) + v * math.sin(phi)) <= math.cos(math.pi / k)
        return inside.float()

    def _render(self, layers, gain_factor: float) -> torch.Tensor:
        """Render all layers at displacement ``gain_factor·δ``; returns (3, S, S) in [0, 1].

        Foreground layers are evaluated only inside their (displaced) bounding box.
        """
        c = self.config
        y, x = self._grid()
        n = y.shape[0]
        img = None
        for layer in layers:
            oy, ox = gain_factor * layer.motion[0], gain_factor * layer.motion[1]
            if layer.shape == "plane":
                sl = (slice(0, n), slice(0, n))
            else:
                r = max(layer.radii) + 1.0
                lo_y = max(0, int(math.floor((layer.center[0] + oy - r + 0.5) * c.supersample)))
                hi_y = min(n, int(math.ceil((layer.center[0] + oy + r + 0.5) * c.supersample)))
                lo_x = max(0, int(math.floor((layer.center[1] + ox - r + 0.5) * c.supersample)))
                hi_x = min(n, int(math.ceil((layer.center[1] + ox + r + 0.5) * c.supersample)))
                if hi_y <= lo_y or hi_x <= lo_x:
                    continue
                sl = (slice(lo_y, hi_y), slice(lo_x, hi_x))
            ly, lx = y[sl] - oy, x[sl] - ox
            tex = layer.texture
            h, w = tex.shape[1:]
            ty = ly * layer.tex_scale + layer.tex_offset[0]  # reflection padding tiles the plane
            tx = lx * layer.tex_scale + layer.tex_offset[1]
            grid = torch.stack([(2 * tx + 1) / w - 1, (2 * ty + 1) / h - 1], -1).unsqueeze(0)
            colour = F.grid_sample(tex.unsqueeze(0), grid, mode="bilinear", padding_mode="reflection",
                                   align_corners=False)[0] * layer.tint
            if img is None:
                img = colour
            else:
                m = self._mask(layer, ly, lx)
                img[:, sl[0], sl[1]] = img[:, sl[0], sl[1]] * (1 - m) + colour * m
        img = F.avg_pool2d(img.unsqueeze(0), c.supersample)[0]
        return img.clamp(0, 1)

    def _finish(self, img, perturb, noise, gen) -> torch.Tensor:
        if perturb is not None:
            img = (img * perturb[0] + perturb[1]).clamp(0, 1)
        if self.config.channels == 1:
            img = (0.299 * img[0:1] + 0.587 * img[1:2] + 0.114 * img[2:3])
        if self.config.noise == "poisson":
            img = torch.round(img.clamp(0, 1) * 255.0) / 255.0
            if noise > 0:  # after quantisation, not clipped (official preprocessor.py)
                img = img + noise * torch.sqrt(img / 255.0) * torch.randn(img.shape, generator=gen)
            return img
        if noise > 0:
            img = img + noise * torch.randn(img.shape, generator=gen)
        return torch.round(img.clamp(0, 1) * 255.0) / 255.0

    def sample(self, index: int, *, alpha: float | None = None, delta: float | None = None,
               noise_std: float | None = None, static_scene: bool | None = None) -> dict:
        """Sample ``index`` (deterministic in ``(seed, index)``).

        Overrides for evaluation protocols: ``alpha`` (merlib convention) fixes the factor,
        ``delta`` fixes every moving layer's input motion magnitude in px (directions stay random),
        ``noise_std`` fixes the input noise level (Gaussian std, or the Poisson level n), ``static_scene`` forces/forbids the static subset.
        Returns a dict of ``(C, S, S)`` float tensors in [0, 1] (keys ``frameA``, ``frameB``,
        ``frameC``, ``amplified``) and ``alpha`` (0-d tensor).
        """
        if alpha is not None and alpha < -1:
            raise ValueError(f"sample: `alpha` must be >= -1 (merlib convention), got {alpha}")
        if delta is not None and delta < 0:
            raise ValueError(f"sample: `delta` is a motion magnitude in px and must be >= 0, got {delta}")
        layers, alpha, amp, perturb, noise, gen = self._scene(index, alpha, delta, static_scene)
        if noise_std is not None:
            noise = float(noise_std)
        a, b, y = (self._render(layers, g) for g in (0.0, 1.0, amp))
        return {
            "frameA": self._finish(a, None, noise, gen),
            "frameB": self._finish(b, perturb, noise, gen),
            "frameC": self._finish(b, None, noise, gen),
            "amplified": self._finish(y, perturb, 0.0, gen),
            "alpha": torch.tensor(alpha, dtype=torch.float32),
        }

    def batch(self, indices, **overrides) -> dict:
        """Stack the samples ``indices``: tensors (B, C, S, S) and ``alpha`` (B,)."""
        samples = [self.sample(int(i), **overrides) for i in indices]
        if not samples:
            raise ValueError("batch: `indices` is empty")
        return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}

    def stream(self, batch_size: int = 4, start: int = 0) -> Iterator[dict]:
        """Endless batches of ``batch_size`` consecutive samples, starting at sample ``start``."""
        if batch_size < 1:
            raise ValueError(f"stream: `batch_size` must be >= 1, got {batch_size}")
        i = int(start)
        while True:
            yield self.batch(range(i, i + batch_size))
            i += batch_size
