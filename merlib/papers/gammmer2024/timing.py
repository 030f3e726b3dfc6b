"""Table 5: inference time of ST-MEMM and GAM-MER under several runtimes, as ratios to eager PyTorch.

The paper times both networks on an NVIDIA A10 with PyTorch, ONNX, TensorRT and float16 (156.4 → 43.9 ms for
ST-MEMM, 53.7 → 18.5 ms for GAM-MER); it gives no input or batch size. Absolute times depend on the machine, so
merlib reports **ratios to eager on the same machine in one run**. Runtimes (each skipped gracefully, with the
reason recorded, when unavailable):

* ``eager`` — ``module.eval()`` under ``torch.inference_mode``;
* ``onnxruntime`` — ``torch.onnx.export`` (the TorchScript exporter, ``dynamo=False``; the dynamo exporter needs
  ``onnxscript``) and an ``onnxruntime.InferenceSession`` (CUDA execution provider when the device is CUDA and
  onnxruntime offers it, else CPU);
* ``bf16`` / ``fp16`` — a copy of the weights and the inputs in bfloat16 / float16 ("adjusting the precision of
  the model's weights and input videos to 16-bit floating-point numbers");
* ``torch.compile`` — the default inductor backend; the compile time is recorded separately;
* ``tensorrt`` — only when ``torch_tensorrt`` is importable (not installed here: recorded as unavailable).

Timings are measurements, not tests: :func:`inference_table` returns them, nothing asserts them.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import tempfile
import time

import numpy as np
import pandas as pd
import torch

__all__ = ["RUNTIMES", "time_call", "inference_table", "StmemmPair"]

RUNTIMES = ("eager", "onnxruntime", "bf16", "fp16", "torch.compile", "tensorrt")


class _Skipped(Exception):
    pass


class StmemmPair(torch.nn.Module):
    """ST-MEMM with a fixed factor as a two-input module ``(frame_1, frame_2) -> magnified`` (for export)."""

    def __init__(self, magnifier, alpha: float):
        super().__init__()
        self.magnifier, self.alpha = magnifier, float(alpha)

    def forward(self, frame_1, frame_2):
        return self.magnifier(frame_1, frame_2, self.alpha)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device, warmup: int = 1, repeats: int = 5) -> float:
    """Median wall time of ``fn()`` in milliseconds (``warmup`` untimed calls first; CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))


def _onnx_runner(module, inputs, device):
    import onnxruntime as ort

    path = os.path.join(tempfile.mkdtemp(prefix="merlib_gam_onnx_"), "model.onnx")
    names = [f"x{k}" for k in range(len(inputs))]
    torch.onnx.export(module, tuple(inputs), path, input_names=names, output_names=["y"], opset_version=18,
                      dynamo=False)
    prov = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        prov = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3                                          # errors only
    if device.type == "cpu":
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=prov)
    feed = {n: x.detach().cpu().numpy() for n, x in zip(names, inputs)}
    ref = module(*inputs).detach().float().cpu().numpy()
    got = sess.run(None, feed)[0]
    err = float(np.max(np.abs(got - ref)))
    return (lambda: sess.run(None, feed)), f"providers {sess.get_providers()[0]}, max |onnx - eager| = {err:.1e}"


def inference_table(models: dict, device="cpu", runtimes=RUNTIMES, warmup: int = 1, repeats: int = 5,
                    compile_mode: str | None = None, skip_compile: dict | None = None) -> pd.DataFrame:
    """Time each model under each runtime.

    Args:
        models: ``{name: (module, inputs tuple)}`` (e.g. ``{"ST-MEMM": (StmemmPair(m, 4.0), (f1, f2)), ...}``).
        device: where eager / 16-bit / compile run (ONNX Runtime picks its provider from it).
        runtimes: a subset of :data:`RUNTIMES`.
        skip_compile: ``{model name: reason}`` — models not to ``torch.compile`` (e.g. ST-MEMM in quick mode: the
            inductor compile of its Swin blocks takes minutes on a CPU); recorded with status ``"skipped"``.

    Returns:
        One row per (model, runtime): ``ms`` (median), ``ratio_to_eager`` (``ms / eager ms``), ``status``
        (``"ok"``, ``"skipped"``, ``"unavailable"`` or ``"failed"``), ``note`` (the reason, the provider, compile seconds,
        the largest difference to eager).
    """
    dev = torch.device(device)
    skip_compile = dict(skip_compile or {})
    rows = []
    for name, (module, inputs) in models.items():
        module = module.eval().to(dev)
        inputs = tuple(x.to(dev) for x in inputs)
        with torch.inference_mode():
            ref = module(*inputs).float()
        eager_ms = None
        for rt in runtimes:
            row = {"model": name, "runtime": rt, "ms": np.nan, "status": "ok", "note": ""}
            try:
                if rt == "eager":
                    with torch.inference_mode():
                        row["ms"] = time_call(lambda: module(*inputs), dev, warmup, repeats)
                elif rt == "onnxruntime":
                    if importlib.util.find_spec("onnxruntime") is None:
                        raise ImportError("onnxruntime is not installed")
                    with torch.no_grad():
                        fn, row["note"] = _onnx_runner(module, inputs, dev)
                    row["ms"] = time_call(fn, dev, warmup, repeats)
                elif rt in ("bf16", "fp16"):
                    dt = torch.bfloat16 if rt == "bf16" else torch.float16
                    m16 = copy.deepcopy(module).to(dt)
                    x16 = tuple(x.to(dt) if x.is_floating_point() else x for x in inputs)
                    with torch.inference_mode():
                        out = m16(*x16).float()                  # doubles as the warm-up call
                        row["note"] = f"max |{rt} - fp32| = {float((out - ref).abs().max()):.1e}"
                        row["ms"] = time_call(lambda: m16(*x16), dev, max(0, warmup - 1), repeats)
                elif rt == "torch.compile":
                    if name in skip_compile:
                        raise _Skipped(skip_compile[name])
                    cm = torch.compile(copy.deepcopy(module), mode=compile_mode)
                    t = time.perf_counter()
                    with torch.inference_mode():
                        out = cm(*inputs).float()
                    _sync(dev)
                    row["note"] = (f"compile {time.perf_counter() - t:.1f} s; max |compiled - eager| = "
                                   f"{float((out - ref).abs().max()):.1e}")
                    with torch.inference_mode():
                        row["ms"] = time_call(lambda: cm(*inputs), dev, max(0, warmup - 1), repeats)
                elif rt == "tensorrt":
                    if importlib.util.find_spec("torch_tensorrt") is None:
                        raise ImportError("torch_tensorrt (TensorRT) is not installed")
                    if dev.type != "cuda":
                        raise RuntimeError("TensorRT needs a CUDA device")
                    import torch_tensorrt

                    trt = torch_tensorrt.compile(copy.deepcopy(module), inputs=list(inputs))
                    with torch.inference_mode():
                        row["ms"] = time_call(lambda: trt(*inputs), dev, warmup, repeats)
                else:
                    raise ValueError(f"unknown runtime {rt!r}; expected one of {RUNTIMES}")
            except _Skipped as exc:
                row.update(status="skipped", note=str(exc))
            except (ImportError, ModuleNotFoundError) as exc:
                row.update(status="unavailable", note=str(exc).splitlines()[0][:200])
            except Exception as exc:  # a runtime that cannot run this model is a result, recorded
                row.update(status="failed", note=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            if rt == "eager":
                eager_ms = row["ms"]
            row["ratio_to_eager"] = row["ms"] / eager_ms if eager_ms else np.nan
            rows.append(row)
    return pd.DataFrame(rows)
