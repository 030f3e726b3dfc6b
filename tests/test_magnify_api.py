"""magnify / magnify_pair: argument checks, options, the learned-method contract."""
import sys
import types

import numpy as np
import pytest
import torch

import merlib.magnify as mm
from merlib.magnify import magnify, magnify_pair


def _clip(t=2, c=3, h=32, w=32):
    return torch.rand(t, c, h, w, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("frames,match", [
    (torch.rand(3, 32, 32), "rank"),
    (torch.rand(1, 2, 3, 4, 32, 32), "rank"),
    (torch.rand(2, 2, 32, 32), "C = 1 or 3"),
    (torch.rand(1, 3, 32, 32), "T >= 2"),
    (torch.rand(2, 3, 32, 32) * 2, r"\[0, 1\]"),
    (torch.full((2, 3, 32, 32), float("nan")), "NaN"),
    ((torch.rand(2, 3, 32, 32) * 255).to(torch.uint8), "floating"),
    ([[0.5]], "torch.Tensor"),
])
def test_bad_frames_are_named(frames, match):
    with pytest.raises(ValueError, match="frames") as info:
        magnify(frames, 2.0)
    assert info.match(match)


def test_too_small_for_the_pyramid():
    with pytest.raises(ValueError, match="frames.*too small|levels"):
        magnify(_clip(h=6, w=40), 2.0, method="phase")
    with pytest.raises(ValueError, match="levels"):
        magnify(_clip(h=32, w=32), 2.0, method="phase", levels=4)
    with pytest.raises(ValueError, match="levels"):
        magnify(_clip(h=32, w=32), 2.0, method="eulerian", levels=4, lambda_c=8.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(alpha=float("inf")), "alpha"),
    (dict(alpha="big"), "alpha"),
    (dict(alpha=2.0, method="lagrangian"), "method"),
    (dict(alpha=2.0, mode="forward"), "mode"),
    (dict(alpha=2.0, sigmaa=1.0, method="phase"), "sigmaa"),
    (dict(alpha=2.0, fps=30.0), "temporal"),
    (dict(alpha=2.0, mode="temporal", fps=30.0), "freq_lo"),
    (dict(alpha=2.0, mode="temporal", fps=30.0, freq_lo=1.0, freq_hi=2.0, chunk_size=0), "chunk_size"),
    (dict(alpha=2.0, method="phase", sigma=-1.0), "sigma"),
    (dict(alpha=2.0, method="phase", bandwidth="quarter"), "bandwidth"),
    (dict(alpha=2.0, lambda_c=-3.0), "lambda_c"),
    (dict(alpha=2.0, clamp="yes"), "clamp"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        magnify(_clip(), **kwargs)


def test_magnify_pair_shapes_and_errors():
    a, b = _clip()[0], _clip()[1]
    assert magnify_pair(a, b, 2.0).shape == a.shape
    assert magnify_pair(a[None].repeat(2, 1, 1, 1), b[None].repeat(2, 1, 1, 1), 2.0, method="phase").shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="same shape"):
        magnify_pair(a, b[:1], 2.0)
    with pytest.raises(ValueError, match="reference"):
        magnify_pair(a[0], b[0], 2.0)
    with pytest.raises(ValueError, match="mode"):
        magnify_pair(a, b, 2.0, mode="dynamic")


def test_numpy_input_and_clamp():
    clip = _clip()
    out = magnify(clip.numpy(), 50.0)
    assert isinstance(out, torch.Tensor) and float(out.min()) >= 0 and float(out.max()) <= 1
    raw = magnify(clip, 50.0, clamp=False)
    assert float(raw.max()) > 1 or float(raw.min()) < 0
    np.testing.assert_allclose(out.numpy(), raw.clamp(0, 1).numpy())
    torch.testing.assert_close(magnify(clip, 50.0, method="phase", device="auto"), magnify(clip, 50.0, method="phase"))
    with pytest.raises(ValueError, match="device"):
        magnify(clip, 2.0, device="tpu")


def test_learned_method_contract(monkeypatch):
    """method='learned' validates, batches to (B, T, C, H, W) and calls learned.magnify_learned."""
    calls = {}

    def fake_magnify_learned(frames, alpha, model, mode, **options):
        calls.update(shape=tuple(frames.shape), alpha=alpha, model=model, mode=mode, options=options)
        return frames * 0.5

    fake = types.SimpleNamespace(magnify_learned=fake_magnify_learned, load_magnifier=lambda name: ("loaded", name))
    monkeypatch.setitem(sys.modules, "merlib.magnify.learned", fake)
    clip = _clip(t=3)
    out = magnify(clip, 9.0, method="learned", model="stmemm", scale=2)
    assert calls == dict(shape=(1, 3, 3, 32, 32), alpha=9.0, model="stmemm", mode="static", options={"scale": 2})
    torch.testing.assert_close(out, clip * 0.5)
    magnify(clip[None].repeat(2, 1, 1, 1, 1), 1.0, method="learned", mode="dynamic")
    assert calls["shape"] == (2, 3, 3, 32, 32) and calls["model"] == "oh2018" and calls["mode"] == "dynamic"
    assert mm.load_magnifier("oh2018") == ("loaded", "oh2018")  # the lazy attribute
    with pytest.raises(ValueError, match="frames"):
        magnify(clip[:1], 1.0, method="learned")


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        mm.not_a_magnifier  # noqa: B018
