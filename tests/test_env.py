"""merlib.env helpers and the torch/torchvision pair the project installs."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import merlib


def test_torchvision_pair_imports_and_trains():
    """The installed torch/torchvision pair is consistent: import, build, forward, backward."""
    import torchvision

    assert torchvision.__version__.split("+")[0]  # imported without operator-registration errors
    model = torchvision.models.resnet18(num_classes=3)
    x = torch.rand(2, 3, 64, 64)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 2]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # torchvision's compiled ops load with this torch (the failure mode of a mismatched pair)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_seed_everything_makes_runs_repeat():
    merlib.seed_everything(123)
    a = (torch.rand(5), np.random.rand(5))
    merlib.seed_everything(123)
    b = (torch.rand(5), np.random.rand(5))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    merlib.seed_everything(124)
    assert not torch.equal(a[0], torch.rand(5))
    assert torch.are_deterministic_algorithms_enabled()
    merlib.seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    merlib.seed_everything(0)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        merlib.seed_everything(bad)


def test_device_resolution():
    assert merlib.device("cpu") == torch.device("cpu")
    auto = merlib.device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    assert merlib.device(None) == auto
    with pytest.raises(ValueError, match="spec"):
        merlib.device("tpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_device_cuda_unavailable_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        merlib.device("cuda")


def test_environment_record(capsys):
    env = merlib.environment(verbose=True)
    for key in ("merlib", "python", "device", "torch_threads", "git_commit", "packages"):
        assert key in env
    assert env["packages"]["torch"] == torch.__version__.split("+")[0]
    json.dumps(env)  # serialisable as is
    assert "torch" in capsys.readouterr().out


def test_save_results_is_atomic_and_jsonable(tmp_path):
    import pandas as pd

    path = tmp_path / "sub" / "r.json"
    rec = merlib.save_results(path, metrics={"acc": np.float32(0.5), "n": np.int64(3), "nan": float("nan")},
                              tables={"t": pd.DataFrame({"a": [1, 2]})}, note="x")
    loaded = json.loads(path.read_text())
    assert loaded["metrics"] == {"acc": 0.5, "n": 3, "nan": None}
    assert loaded["tables"]["t"]["data"] == [[1], [2]]
    assert loaded["note"] == "x" and rec["metrics"]["acc"] == 0.5
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp files left behind
    assert merlib.save_results(None, metrics={"a": 1})["metrics"] == {"a": 1}


def test_cli_help_documents_every_verb():
    from merlib.cli import VERBS

    out = subprocess.run([sys.executable, "-m", "merlib", "--help"], capture_output=True, text=True, check=True)
    for verb in VERBS:
        assert verb in out.stdout
        assert "unavailable" not in out.stdout, out.stdout
    env = subprocess.run([sys.executable, "-m", "merlib", "env", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(env.stdout)["merlib"] == merlib.__version__
