"""Bai et al. (ICIP 2021) model: shapes, freeze point, training on a tiny task, segment → clip aggregation,
what the paper states vs. merlib's choices."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from merlib.env import seed_everything
from merlib.models import backbones
from merlib.papers.bai2021.model import (LSTM_HIDDEN, MERLIB_CHOICES, PAPER_SETTINGS, Bai2021, CachedBai2021,
                                         aggregate_segments)


def test_segments_to_logits_shapes():
    torch.manual_seed(0)
    model = Bai2021("small_cnn", hidden=8, num_classes=3, device="cpu").eval()
    segments = torch.rand(2, 5, 3, 16, 16)  # (B, N, C, H, W)
    with torch.no_grad():
        assert model.segment_features(segments).shape == (2, 5, 64)
        logits = model(segments)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    assert model.lstm.bidirectional and model.classifier.in_features == 16


def test_bilstm_reads_the_frame_order():
    torch.manual_seed(0)
    model = Bai2021("small_cnn", hidden=8, num_classes=3, device="cpu").eval()
    segments = torch.rand(1, 6, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(model(segments), model(segments.flip(1)))


def test_fc_only_ablation_has_only_the_classifier_trainable_and_ignores_order():
    torch.manual_seed(0)
    model = Bai2021("small_cnn", temporal="mean", freeze_until=True, num_classes=3, device="cpu").eval()
    assert model.lstm is None
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"classifier.weight", "classifier.bias"}
    segments = torch.rand(2, 4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(segments), model(segments.flip(1)))
        torch.testing.assert_close(model(segments), model.classifier(model.backbone(segments).mean(1)))


def test_paper_freeze_point_through_the_model():
    model = Bai2021("resnet50", hidden=8, freeze_until=PAPER_SETTINGS["freeze_until"], device="cpu",
                    backbone_kwargs={"pretrained": False})
    bb = model.backbone
    assert bb.frozen == ("stem",) + tuple(f"B{i}" for i in range(1, 9))
    trainable = {n.split(".")[2] for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")}
    assert trainable == {f"B{i}" for i in range(9, 17)}
    assert all(p.requires_grad for p in model.lstm.parameters())


def test_tiny_synthetic_task_is_learned_and_frozen_part_stays():
    """Class = direction of a bright bar moving over the N frames (needs the temporal model)."""
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    n, frames, size = 32, 5, 16
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.2 * torch.rand(n, frames, 1, size, size, generator=g)
    for i in range(n):
        for t in range(frames):
            col = 2 + 3 * t if y[i] == 0 else 14 - 3 * t
            x[i, t, 0, :, col:col + 2] = 1.0
    bb = backbones.load("small_cnn", freeze=2, device="cpu")  # stem and B1 frozen
    model = Bai2021(bb, hidden=16, num_classes=2, dropout=0.0, device="cpu")
    frozen_before = {k: v.clone() for k, v in model.backbone.blocks["B1"].state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-3)

    def loss_now():
        model.eval()
        with torch.no_grad():
            return F.cross_entropy(model(x), y).item()

    start = loss_now()
    model.train()
    for _ in range(25):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = loss_now()
    assert end < 0.5 * start
    with torch.no_grad():
        assert (model.eval()(x).argmax(1) == y).float().mean() >= 0.9
    for k, v in model.backbone.blocks["B1"].state_dict().items():
        torch.testing.assert_close(v, frozen_before[k], msg=k)


def test_aggregate_mean_prob_matches_pandas_groupby():
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(9, 3))).float()
    clip_ids = ["s1/a", "s1/a", "s2/b", "s1/a", "s2/b", "s3/c", "s3/c", "s3/c", "s3/c"]
    clips, probs = aggregate_segments(logits, clip_ids)
    assert clips == ["s1/a", "s2/b", "s3/c"]
    frame = pd.DataFrame(logits.softmax(1).numpy()).assign(clip=clip_ids)
    expected = frame.groupby("clip", sort=False).mean().loc[clips].to_numpy()
    np.testing.assert_allclose(probs.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(1).numpy(), 1.0, rtol=1e-6)


def test_aggregate_vote_and_mean_logit():
    logits = torch.tensor([[0.5, 0.0], [0.5, 0.0], [0.0, 20.0], [0.0, 1.0]])
    ids = torch.tensor([7, 7, 7, 8])
    clips, vote = aggregate_segments(logits, ids, method="vote")
    assert clips == [7, 8]
    torch.testing.assert_close(vote, torch.tensor([[2 / 3, 1 / 3], [0.0, 1.0]]))
    _, mean_prob = aggregate_segments(logits, ids)
    _, mean_logit = aggregate_segments(logits, ids, method="mean_logit")
    torch.testing.assert_close(mean_logit[0], torch.tensor([1 / 3, 20 / 3]).softmax(0))
    p = torch.tensor(0.5).sigmoid()  # softmax([0.5, 0])[0]
    torch.testing.assert_close(mean_prob[0, 0], 2 * p / 3 + torch.tensor(-20.0).sigmoid() / 3)
    assert mean_prob[0].argmax() == 1 and vote[0].argmax() == 0  # the rules can disagree: the choice matters


def test_bad_inputs_raise_named_errors():
    model = Bai2021("small_cnn", hidden=4, device="cpu")
    with pytest.raises(ValueError, match=r"\(B, N, C, H, W\)"):
        model(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="temporal"):
        Bai2021("small_cnn", temporal="gru")
    with pytest.raises(ValueError, match="hidden"):
        Bai2021("small_cnn", hidden=0)
    with pytest.raises(ValueError, match="backbone"):
        Bai2021(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="3 entries .* 2 rows"):
        aggregate_segments(torch.zeros(2, 3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="method"):
        aggregate_segments(torch.zeros(2, 3), ["a", "b"], method="max")


def test_cached_model_holds_only_the_trainable_part_and_shares_it():
    torch.manual_seed(0)
    bb = backbones.load("small_cnn", freeze=2, device="cpu")             # stem and B1 frozen, B2.. trained
    model = Bai2021(bb, hidden=4, num_classes=3, device="cpu")
    head = CachedBai2021(model)
    tail = [n for n in bb.block_names if n not in bb.frozen]
    assert len(head.tail) == len(tail) and head.full is model and head.num_classes == 3
    keys = set(head.state_dict())
    assert not any(k.startswith("full.") or "backbone" in k for k in keys)   # frozen blocks not in checkpoints
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for p in head.parameters()) == n_trainable
    with torch.no_grad():
        head.classifier.bias.add_(1.0)                                    # same tensors as the full model
    torch.testing.assert_close(model.classifier.bias, head.classifier.bias)
    with pytest.raises(ValueError, match="Bai2021"):
        CachedBai2021(torch.nn.Linear(2, 2))


def test_paper_settings_hold_only_what_the_paper_states():
    """Every number in PAPER_SETTINGS is printed in paper 004; LOSO and the onset reference are merlib's."""
    import re

    from merlib.paths import repo_root

    root = repo_root()
    papers_dir = None if root is None else root.parent / "shared" / "papers"
    assert "protocol" not in PAPER_SETTINGS and "evaluation protocol" in PAPER_SETTINGS["not_stated"]
    assert "reference frame of the magnification" in PAPER_SETTINGS["not_stated"]
    assert "LOSO" in MERLIB_CHOICES["protocol"][0] and MERLIB_CHOICES["protocol"][1]
    assert "onset" in MERLIB_CHOICES["magnification_reference"][0]
    import inspect

    from merlib.papers.bai2021.experiment import BaiConfig

    default_hidden = inspect.signature(Bai2021).parameters["hidden"].default
    assert MERLIB_CHOICES["lstm_hidden"][0] == LSTM_HIDDEN == default_hidden == BaiConfig().hidden
    assert "LSTM hidden size" in PAPER_SETTINGS["not_stated"]
    if papers_dir is None or not papers_dir.exists():
        pytest.skip("the papers' plain-text copies are not next to the checkout")
    text = next(papers_dir.glob("004_*.txt")).read_text()
    numbers = set(re.findall(r"\d+", text))
    stated = [PAPER_SETTINGS[k] for k in ("n_clips", "fps", "shortest_clip_frames", "average_clip_frames",
                                          "best_segment_length", "freeze_until")]
    stated += list(PAPER_SETTINGS["class_counts"].values()) + list(PAPER_SETTINGS["segment_lengths"])
    assert all(str(v) in numbers for v in stated), [v for v in stated if str(v) not in numbers]
    for word in ("SMIC", "VGGFace2", "Bi-LSTM", "B<sub>9</sub>", "overlapping sliding window"):
        assert word in text
