"""The content-addressed cache: keys, invalidation, atomic writes, reuse across folds."""
import functools
import os
import time

import numpy as np
import pandas as pd
import pytest
import torch

from merlib.eval import cache as C
from merlib.eval.datasets import toy_dataset
from merlib.eval.pipeline import ClipInputs, Step, intensity_amplify
from merlib.eval.protocols import loso


class FileDataset:
    """A tiny dataset whose clips are .pt files on disk (path column), counting frame loads."""

    def __init__(self, root, n=4):
        self.name, self.class_names, self.num_classes = "files", ["a", "b"], 2
        rows = []
        for i in range(n):
            p = root / f"clip{i}.pt"
            torch.save(torch.full((3, 1, 4, 4), i / 10.0), p)
            rows.append({"dataset": "files", "subject": f"files_s{i % 2}", "clip": f"c{i}", "onset": 0, "apex": 1,
                         "offset": 2, "label": i % 2, "label_name": "ab"[i % 2], "n_frames": 3, "path": str(p)})
        self.clips = pd.DataFrame(rows)
        self.loads = 0

    def __len__(self):
        return len(self.clips)

    def frames(self, i, indices=None, size=None):
        self.loads += 1
        x = torch.load(self.clips.loc[i, "path"], weights_only=True)
        return x if indices is None else x[list(indices)]


def test_key_is_stable_and_sensitive():
    parts = {"clip": {"a": 1, "b": [1, 2]}, "alpha": 10.0, "t": torch.arange(3)}
    assert C.key_of(parts) == C.key_of({"t": torch.arange(3), "alpha": 10.0, "clip": {"b": [1, 2], "a": 1}})
    assert C.key_of(parts) != C.key_of({**parts, "alpha": 10.000001})
    assert C.key_of(parts) != C.key_of({**parts, "t": torch.tensor([0, 1, 3])})
    with pytest.raises(ValueError, match="cannot hash"):
        C.key_of({"x": object()})


def test_fn_identity_names_function_version_and_params():
    a = C.fn_identity(intensity_amplify, "1", {"alpha": 2})
    assert a["fn"] == "merlib.eval.pipeline.intensity_amplify"
    assert C.key_of(a) != C.key_of(C.fn_identity(intensity_amplify, "2", {"alpha": 2}))
    assert C.key_of(a) != C.key_of(C.fn_identity(intensity_amplify, "1", {"alpha": 3}))
    p = C.fn_identity(functools.partial(intensity_amplify, alpha=2))
    assert p["fn"] == a["fn"] and p["params"] != {}


def test_get_or_compute_hits_misses_and_atomic_files(tmp_path):
    cache = C.Cache(tmp_path / "c")
    calls = []
    fn = lambda: calls.append(1) or {"x": torch.ones(2), "n": 3}  # noqa: E731
    v1 = cache.get_or_compute({"k": 1}, fn)
    v2 = cache.get_or_compute({"k": 1}, fn)
    assert len(calls) == 1 and cache.hits == 1 and cache.misses == 1
    torch.testing.assert_close(v1["x"], v2["x"])
    assert v2["n"] == 3
    files = list((tmp_path / "c").rglob("*"))
    assert not [f for f in files if f.name.endswith(".tmp")]
    assert cache.clear() == 1 and {"k": 1} not in cache


def test_corrupt_entry_is_a_miss_and_disabled_cache_computes(tmp_path):
    cache = C.Cache(tmp_path)
    cache.put({"k": 2}, torch.zeros(1))
    cache.path_for({"k": 2}).write_bytes(b"not a torch file")
    assert cache.get_or_compute({"k": 2}, lambda: torch.ones(1)).item() == 1.0
    off = C.Cache(tmp_path / "off", enabled=False)
    assert off.get_or_compute({"k": 1}, lambda: torch.ones(1)).item() == 1.0
    assert not (tmp_path / "off").exists()


def test_cache_default_root_follows_merlib_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MERLIB_CACHE", str(tmp_path))
    assert C.Cache("features").root == tmp_path / "features"


def test_file_change_invalidates_clip_entries(tmp_path):
    ds = FileDataset(tmp_path)
    cache = C.Cache(tmp_path / "cache")
    inputs = ClipInputs(ds, frames="all", preprocess=Step(intensity_amplify, "1", {"alpha": 1.0}), cache=cache)
    first = inputs.get(0)
    assert ds.loads == 1
    inputs.get(0)
    assert ds.loads == 1  # cached
    # rewrite the clip's file with new content and a new mtime: the entry is stale and recomputed
    path = ds.clips.loc[0, "path"]
    torch.save(torch.full((3, 1, 4, 4), 0.5), path)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    second = inputs.get(0)
    assert ds.loads == 2
    assert not torch.equal(first, second)
    # another parameter is another entry; the first parameter's entry is still there
    ClipInputs(ds, frames="all", preprocess=Step(intensity_amplify, "1", {"alpha": 2.0}), cache=cache).get(0)
    assert ds.loads == 3


def test_clip_inputs_reused_across_folds_and_backbone_features_cached(tmp_path):
    ds = toy_dataset(n_subjects=3, clips_per_subject=3)
    calls = {"n": 0}
    orig = ds.frames

    def counting(i, indices=None, size=None):
        calls["n"] += 1
        return orig(i, indices, size)

    ds.frames = counting
    cache = C.Cache(tmp_path)
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    for fold in loso(ds.clips):
        inputs = ClipInputs(ds, frames="onset_apex", preprocess=Step(intensity_amplify, "1", {"alpha": 4.0}),
                            backbone=backbone, cache=cache)
        x = inputs.stack(np.concatenate([fold.train_idx, fold.test_idx]))
        assert x.shape == (len(ds), 2, 2)
    assert calls["n"] == len(ds)  # each clip loaded once for all three folds
    # the cached features equal a fresh computation
    with torch.no_grad():
        fresh = backbone(intensity_amplify(orig(0, [0, 2]), 4.0))
    torch.testing.assert_close(ClipInputs(ds, "onset_apex", None, Step(intensity_amplify, "1", {"alpha": 4.0}),
                                          backbone, cache).get(0), fresh)
    # changing a backbone weight changes the key (the stale features are not served)
    with torch.no_grad():
        backbone[0].bias.add_(1.0)
    ClipInputs(ds, "onset_apex", None, Step(intensity_amplify, "1", {"alpha": 4.0}), backbone, cache).get(0)
    assert calls["n"] == len(ds)  # preprocessed frames were reused from the cache ...
    assert cache.misses == 2 * len(ds) + 1  # ... but the features were recomputed


def test_path_fingerprint_of_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "img1.jpg").write_bytes(b"1")
    f1 = C.path_fingerprint(tmp_path / "a")
    (tmp_path / "a" / "img2.jpg").write_bytes(b"2")
    assert C.path_fingerprint(tmp_path / "a") != f1
    assert C.path_fingerprint(tmp_path / "missing") == {"missing": str(tmp_path / "missing")}
