"""Oh et al. 2018 and ST-MEMM networks: shapes, the α convention, key maps, checkpoints, modes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from merlib.magnify.learned import (OhMagnifier, _Conv, load_magnifier, magnify_learned,
                                    map_official_state_dict, save_magnifier)
from merlib.magnify.swin import STMEMM, STMEMMConfig

SMALL = dict(enc_dims=8, texture_dims=8, shape_dims=8, n_dec_resblk=2)


def _frames(b=2, t=3, c=3, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, c, h, w, generator=g)


def test_oh_shapes_and_parts():
    torch.manual_seed(0)
    net = OhMagnifier()
    x = torch.rand(2, 3, 48, 64)
    texture, shape = net.encoder(x)
    assert texture.shape == (2, 32, 12, 16)       # texture branch: stride 2 twice
    assert shape.shape == (2, 32, 24, 32)         # shape branch: stride 2 once
    assert net.manipulator(shape, shape, 5.0).shape == shape.shape
    assert net.magnify_features(x, x, 3.0).shape == shape.shape  # MMFRN: no decoder
    assert net(x, x, 2.0).shape == x.shape
    # the paper's sizes: 7x7 conv 16, 9 decoder residual blocks at 64 channels, 7x7 conv to 3
    assert net.encoder.conv1.conv.weight.shape == (16, 3, 7, 7)
    assert len(net.decoder.blocks) == 9 and net.decoder.blocks[0].c1.conv.weight.shape == (64, 64, 3, 3)
    assert net.decoder.out_conv.conv.weight.shape == (3, 32, 7, 7)
    assert net.manipulator.g[0].conv.weight.shape == (32, 32, 7, 7)
    with pytest.raises(ValueError, match="multiples of 4"):
        net.encoder(torch.rand(1, 3, 30, 32))


def test_manipulators_are_exact_identity_at_alpha_zero_and_linear_in_alpha_before_h():
    torch.manual_seed(0)
    net = OhMagnifier(**SMALL)
    sa, sb = torch.randn(2, 8, 8, 8), torch.randn(2, 8, 8, 8)
    torch.testing.assert_close(net.manipulator(sa, sb, 0.0), sb, rtol=0, atol=0)
    # per-sample alpha tensor = the scalar applied sample by sample
    alphas = torch.tensor([0.0, 3.0])
    out = net.manipulator(sa, sb, alphas)
    torch.testing.assert_close(out[1:], net.manipulator(sa[1:], sb[1:], 3.0))
    torch.testing.assert_close(out[:1], sb[:1], rtol=0, atol=0)
    st = STMEMM(dim=16, window_size=4)
    f1, f2 = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(st.manipulate(f1, f2, 0.0), f2, rtol=0, atol=0)
    with pytest.raises(ValueError, match="alpha"):
        net.manipulator(sa, sb, torch.ones(3))


def test_stmemm_shapes_and_swin_blocks():
    torch.manual_seed(0)
    from torchvision.models.swin_transformer import SwinTransformerBlock

    net = STMEMM()
    assert any(isinstance(m, SwinTransformerBlock) for m in net.deep.modules())
    assert any(isinstance(m, SwinTransformerBlock) for m in net.mmtb.modules())
    x = torch.rand(2, 3, 40, 56)   # not a multiple of the window: torchvision pads inside
    assert net.encode(x).shape == (2, 32, 20, 28)
    assert net(x, x, 4.0).shape == x.shape
    cfg = STMEMMConfig.from_dict(net.config.to_dict())
    assert cfg == net.config
    with pytest.raises(ValueError, match="unknown keys"):
        STMEMMConfig.from_dict({"depth": 3})


def test_tf_same_padding_matches_tensorflow_rule():
    """TF 'SAME' with stride 2 on an even size pads 0 before and 1 after (official stride-2 convs)."""
    torch.manual_seed(0)
    conv = _Conv(4, 5, 3, 2, pad="same")
    x = torch.randn(1, 4, 10, 12)
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.conv.weight, stride=2)
    torch.testing.assert_close(conv(x), ref)
    assert conv(x).shape[-2:] == (5, 6)


# -- official TF names, written out by hand from deep_motion_mag (modules.py, magnet.py, ops.py) --------
def _official_variables(rng):
    def w(*hwio):
        return rng.standard_normal(hwio).astype(np.float32)

    root = "ynet_3frames"
    v = {f"{root}/encoder/enc_conv1_c/Conv/weights": w(7, 7, 3, 16),
         f"{root}/encoder/enc_conv2_c/Conv/weights": w(3, 3, 16, 32),
         f"{root}/encoder/enc_texture_conv/Conv/weights": w(3, 3, 32, 32),
         f"{root}/manipulator/mani_conv0c/Conv/weights": w(7, 7, 32, 32),
         f"{root}/manipulator/mani_aft_conv0c/Conv/weights": w(3, 3, 32, 32),
         f"{root}/decoder/texture_upsample/Conv/weights": w(3, 3, 32, 32),
         f"{root}/decoder/dec_conv2_c/Conv/weights": w(3, 3, 64, 32),
         f"{root}/decoder/pred_conv/Conv/weights": w(7, 7, 32, 3)}
    blocks = ([f"encoder/encoder_resblk{i}" for i in range(3)]
              + ["encoder/texture_enc", "encoder/texture_enc_1", "encoder/shape_enc", "encoder/shape_enc_1",
                 "manipulator/mani_resblk0"])
    for name in blocks:
        for c in ("c1", "c2"):
            v[f"{root}/{name}_{c}/Conv/weights"] = w(3, 3, 32, 32)
    for i in range(9):
        for c in ("c1", "c2"):
            v[f"{root}/decoder/decoder_resblk{i}_{c}/Conv/weights"] = w(3, 3, 64, 64)
    return v


def test_official_tf_variables_load(tmp_path):
    rng = np.random.default_rng(0)
    tf_vars = _official_variables(rng)
    assert len(tf_vars) == len(OhMagnifier().state_dict())  # every official variable has a home
    extra = dict(tf_vars)
    extra["ynet_3frames/encoder/enc_conv1_c/Conv/weights/Adam"] = np.zeros((7, 7, 3, 16), np.float32)
    extra["global_step"] = np.array(7)
    np.savez(tmp_path / "official.npz", **extra)
    net = load_magnifier("oh2018", path=tmp_path / "official.npz", device="cpu")
    w = tf_vars["ynet_3frames/encoder/enc_conv1_c/Conv/weights"]
    torch.testing.assert_close(net.encoder.conv1.conv.weight, torch.from_numpy(w.transpose(3, 2, 0, 1)))
    w = tf_vars["ynet_3frames/decoder/decoder_resblk8_c2/Conv/weights"]
    torch.testing.assert_close(net.decoder.blocks[8].c2.conv.weight, torch.from_numpy(w.transpose(3, 2, 0, 1)))
    w = tf_vars["ynet_3frames/encoder/shape_enc_1_c1/Conv/weights"]
    torch.testing.assert_close(net.encoder.shape_blocks[1].c1.conv.weight, torch.from_numpy(w.transpose(3, 2, 0, 1)))
    # ":0" suffixes (tf.Variable.name) are accepted too
    sd = map_official_state_dict({k + ":0": v for k, v in tf_vars.items()})
    torch.testing.assert_close(sd["manipulator.g.0.conv.weight"], net.manipulator.g[0].conv.weight)
    missing = dict(tf_vars)
    del missing["ynet_3frames/manipulator/mani_aft_conv0c/Conv/weights"]
    with pytest.raises(ValueError, match="mani_aft_conv0c"):
        map_official_state_dict(missing)
    wrong = dict(tf_vars)
    wrong["ynet_3frames/decoder/pred_conv/Conv/weights"] = np.zeros((7, 7, 32, 1), np.float32)
    with pytest.raises(ValueError, match="pred_conv"):
        map_official_state_dict(wrong)


def _port_state_dict():
    """Names and shapes of ZhengPeng7/motion_magnification_learning-based magnet.py, by hand."""
    g = torch.Generator().manual_seed(1)
    sd = {}

    def put(name, *shape):
        sd[name + ".conv2d.weight"] = 0.05 * torch.randn(*shape, generator=g)

    put("encoder.cba_1", 16, 3, 7, 7)
    put("encoder.cba_2", 32, 16, 3, 3)
    for prefix, n in (("encoder.resblks", 3), ("encoder.texture_resblks", 2), ("encoder.motion_resblks", 2)):
        for i in range(n):
            put(f"{prefix}.{i}.cba_1", 32, 32, 3, 3)
            put(f"{prefix}.{i}.cba_2", 32, 32, 3, 3)
    put("encoder.texture_cba", 32, 32, 3, 3)
    put("encoder.motion_cba", 32, 32, 3, 3)
    put("manipulator.g", 32, 32, 3, 3)
    put("manipulator.h_conv", 32, 32, 3, 3)
    put("manipulator.h_resblk.cba_1", 32, 32, 3, 3)
    put("manipulator.h_resblk.cba_2", 32, 32, 3, 3)
    for i in range(9):
        put(f"decoder.resblks.{i}.cba_1", 64, 64, 3, 3)
        put(f"decoder.resblks.{i}.cba_2", 64, 64, 3, 3)
    put("decoder.cba_1", 32, 64, 3, 3)
    put("decoder.cba_2", 3, 32, 7, 7)
    return {"module." + k: v for k, v in sd.items()}  # as saved from nn.DataParallel


def test_pytorch_port_state_dict_loads(tmp_path):
    port = _port_state_dict()
    torch.save(port, tmp_path / "port.pth")
    net = load_magnifier(None, path=tmp_path / "port.pth", device="cpu")
    cfg = net.config
    assert cfg.use_shape_conv and cfg.man_g_kernel == 3 and not cfg.texture_upsample_conv
    assert cfg.n_dec_resblk == 9 and cfg.stride_padding == "reflect"
    torch.testing.assert_close(net.encoder.shape_conv.conv.weight, port["module.encoder.motion_cba.conv2d.weight"])
    torch.testing.assert_close(net.manipulator.blocks[0].c2.conv.weight,
                               port["module.manipulator.h_resblk.cba_2.conv2d.weight"])
    torch.testing.assert_close(net.decoder.blocks[4].c1.conv.weight, port["module.decoder.resblks.4.cba_1.conv2d.weight"])
    x = torch.rand(1, 3, 32, 32)
    assert torch.isfinite(net(x, x, 1.0)).all()
    bad = dict(port)
    bad["module.encoder.extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="unexpected key"):
        load_magnifier(None, path=tmp_path / "bad.pth")


def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    for net in (OhMagnifier(**SMALL), STMEMM(dim=16, window_size=4)):
        path = save_magnifier(net, tmp_path / f"{net.arch}.pt", extra={"note": "test"}, half=False)
        # a plain weights_only load works: only tensors, dicts and primitives inside
        assert torch.load(path, weights_only=True)["arch"] == net.arch
        back = load_magnifier(net.arch, path=path, device="cpu")
        x = torch.rand(1, 3, 16, 16)
        torch.testing.assert_close(back(x, x, 2.0), net(x, x, 2.0))
        assert back.training_record == {"note": "test"}
    half = save_magnifier(net, tmp_path / "half.pt", half=True)
    assert half.stat().st_size < path.stat().st_size
    with pytest.raises(ValueError, match="holds a 'stmemm' checkpoint"):
        load_magnifier("oh2018", path=tmp_path / "stmemm.pt")
    with pytest.raises(ValueError, match="name"):
        load_magnifier("unet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_magnifier("oh2018", path=tmp_path / "nothing.pt")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="neither"):
        load_magnifier(None, path=tmp_path / "other.pt")


def test_magnify_learned_shapes_channels_and_modes():
    torch.manual_seed(0)
    net = OhMagnifier(**SMALL).eval()
    for c, (h, w) in ((3, (30, 34)), (1, (32, 20))):
        x = _frames(c=c, h=h, w=w)
        for mode in ("static", "dynamic"):
            out = magnify_learned(x, 2.0, model=net, mode=mode)
            assert out.shape == x.shape and out.dtype == x.dtype
            assert float(out.min()) >= 0 and float(out.max()) <= 1
        out = magnify_learned(x, 2.0, model=net, mode="temporal", freq_lo=1.0, freq_hi=4.0, fps=30.0)
        assert out.shape == x.shape
    st = STMEMM(dim=16, window_size=4).eval()
    assert magnify_learned(_frames(h=24, w=20), 1.0, model=st).shape == (2, 3, 3, 24, 20)
    with pytest.raises(ValueError, match="temporal"):
        magnify_learned(_frames(), 1.0, model=st, mode="temporal", freq_lo=1, freq_hi=2, fps=30)
    with pytest.raises(ValueError, match="mode"):
        magnify_learned(_frames(), 1.0, model=net, mode="eulerian")
    with pytest.raises(ValueError, match="freq_lo"):
        magnify_learned(_frames(), 1.0, model=net, mode="temporal")
    with pytest.raises(ValueError, match="unknown option"):
        magnify_learned(_frames(), 1.0, model=net, levels=3)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        magnify_learned(torch.rand(3, 3, 8, 8), 1.0, model=net)


def test_alpha_zero_gives_the_reconstruction_in_every_mode():
    """alpha = 0 adds exactly nothing: all modes decode each frame's own representation."""
    torch.manual_seed(0)
    net = OhMagnifier(**SMALL).eval()
    x = _frames(b=1, t=4)
    static = magnify_learned(x, 0.0, model=net, mode="static", clamp=False)
    dynamic = magnify_learned(x, 0.0, model=net, mode="dynamic", clamp=False)
    temporal = magnify_learned(x, 0.0, model=net, mode="temporal", freq_lo=1, freq_hi=5, fps=30, clamp=False)
    with torch.no_grad():
        t, s = net.encoder(x[0])
        recon = net.decoder(t, s)
    torch.testing.assert_close(static[0], recon)
    torch.testing.assert_close(dynamic, static)
    torch.testing.assert_close(temporal, static)


def test_magnify_api_dispatches_to_learned():
    from merlib.magnify import magnify

    torch.manual_seed(0)
    net = OhMagnifier(**SMALL).eval()
    x = _frames(b=1, t=3, h=16, w=16)[0]
    out = magnify(x, 1.5, method="learned", model=net, mode="static")
    torch.testing.assert_close(out, magnify_learned(x[None], 1.5, model=net, mode="static")[0])


# -- temporal mode with Oh et al.'s own filters, against their run_temporal loop written out here -------
def _oh_run_temporal(net, frames, amp, filter_b, filter_a):
    """deep_motion_mag magnet.py run_temporal (IIR branch): x history starts as the first frame, y = 0."""
    x_state, y_state, outs = [], [], []
    with torch.no_grad():
        for t in range(frames.shape[0]):
            tex, x = net.encoder(frames[t:t + 1])
            x_state.insert(0, x)
            while len(x_state) < len(filter_b):
                x_state.insert(0, x)
            x_state = x_state[:len(filter_b)]
            y = torch.zeros_like(x)
            for i, xs in enumerate(x_state):
                y = y + xs * filter_b[i]
            for i, ys in enumerate(y_state):
                y = y - ys * filter_a[i]
            y_state.insert(0, y)
            y_state = y_state[:len(filter_a)]
            # manipulator(0, y, amp) + (x - y): the official factor is amp - 1
            d = net.manipulator.blocks(net.manipulator.after(net.manipulator.g(y) * (amp - 1.0)))
            outs.append(net.decoder(tex, x + d))
    return torch.cat(outs)


def test_temporal_mode_takes_oh_et_als_filters_as_their_readme_writes_them():
    from scipy.signal import butter, firwin

    from merlib.magnify.convention import from_oh_factor

    torch.manual_seed(0)
    net = OhMagnifier(**SMALL).eval()
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 9, 3, 16, 16, generator=g)
    amp = 20.0
    # run_temporal_on_test_videos.sh ... 20 0.04 0.4 30 2 differenceOfIIR
    fl, fh = 0.04, 0.4
    ours = magnify_learned(x, from_oh_factor(amp), model=net, mode="temporal", temporal_filter="differenceOfIIR",
                           freq_lo=fl, freq_hi=fh, fps=30, order=2, clamp=False)[0]
    ref = _oh_run_temporal(net, x[0], amp, [fh - fl, fl - fh], [-(2.0 - fh - fl), (1.0 - fl) * (1.0 - fh)])
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    # butter: scipy butter(n_filter_tap, [fl/nyq, fh/nyq], 'bandpass'), a[0] dropped as theirs
    fl, fh, fs = 2.0, 6.0, 30.0
    b, a = butter(2, [fl / (fs / 2), fh / (fs / 2)], btype="bandpass")
    ours = magnify_learned(x, from_oh_factor(amp), model=net, mode="temporal", temporal_filter="butter",
                           freq_lo=fl, freq_hi=fh, fps=fs, order=2, clamp=False)[0]
    ref = _oh_run_temporal(net, x[0], amp, list(b), list(a[1:]))
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    # fir: firwin(n_filter_tap, [fl, fh], nyq=fs/2, pass_zero=False), cyclic over the clip via the FFT
    taps = 5
    fb = firwin(taps, [fl, fh], fs=fs, pass_zero=False)
    ours = magnify_learned(x, from_oh_factor(amp), model=net, mode="temporal", temporal_filter="fir",
                           freq_lo=fl, freq_hi=fh, fps=fs, order=taps, clamp=False)[0]
    with torch.no_grad():
        tex, shp = net.encoder(x[0])
        H = np.fft.fft(np.fft.ifftshift(fb), n=x.shape[1])
        filt = np.fft.ifft(np.fft.fft(shp.double().numpy(), axis=0) * H[:, None, None, None], axis=0).real
        filt = torch.from_numpy(filt).float()
        d = net.manipulator.blocks(net.manipulator.after(net.manipulator.g(filt) * (amp - 1.0)))
        ref = net.decoder(tex, shp + d)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="fps"):
        magnify_learned(x, 1.0, model=net, mode="temporal", temporal_filter="butter", freq_lo=1, freq_hi=2)
