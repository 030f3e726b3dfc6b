"""LOSO, composite and cross-dataset folds on small generated clip tables."""
import numpy as np
import pandas as pd
import pytest

from merlib.eval import protocols as P


def _table(datasets=("casme2",), subjects=4, clips=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d in datasets:
        for s in range(subjects):
            for c in range(clips):
                rows.append({"dataset": d, "subject": f"{d}_sub{s + 1:02d}", "clip": f"EP{s}_{c}",
                             "onset": 0, "apex": 3, "offset": 6, "label": int(rng.integers(0, 3)),
                             "label_name": "x", "n_frames": 7, "path": ""})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_loso_one_fold_per_subject_disjoint_and_covering():
    clips = _table(subjects=5)
    folds = P.loso(clips)
    assert [f.name for f in folds] == sorted(clips["subject"].unique())
    tested = np.concatenate([f.test_idx for f in folds])
    assert sorted(tested.tolist()) == list(range(len(clips)))  # every clip tested exactly once
    for f in folds:
        subj = clips["subject"].to_numpy()
        assert set(subj[f.test_idx]) == set(f.test_subjects) == {f.name}
        assert not set(subj[f.train_idx]) & set(subj[f.test_idx])
        assert len(f.train_idx) + len(f.test_idx) == len(clips)
        assert f.train_idx.dtype == np.int64 and f.protocol == "loso"


def test_composite_requires_prefixed_subjects_and_spans_datasets():
    clips = _table(datasets=("casme2", "samm", "smic_hs"), subjects=2)
    folds = P.composite(clips)
    assert len(folds) == 6 and {f.protocol for f in folds} == {"composite"}
    bad = clips.copy()
    bad.loc[0, "subject"] = "sub01"
    with pytest.raises(ValueError, match="prefixed"):
        P.composite(bad)
    with pytest.raises(ValueError, match="dataset"):
        P.composite(clips.drop(columns="dataset"))


def test_cross_dataset_indexes_the_concatenation():
    a, b = _table(("casme2",), 3), _table(("samm",), 2)
    (fold,) = P.cross_dataset(a, b)
    both = pd.concat([a, b], ignore_index=True)
    assert set(both.iloc[fold.train_idx]["dataset"]) == {"casme2"}
    assert set(both.iloc[fold.test_idx]["dataset"]) == {"samm"}
    assert fold.name == "casme2->samm"
    with pytest.raises(ValueError, match="both tables"):
        P.cross_dataset(a, a)


def test_inner_split_carves_validation_from_training_subjects_only():
    clips = _table(subjects=6)
    for f in P.loso(clips):
        g = P.inner_split(clips, f, n_val_subjects=2, seed=1)
        subj = clips["subject"].to_numpy()
        val = set(subj[g.val_idx])
        assert len(val) == 2 and f.name not in val
        assert not val & set(subj[g.train_idx])
        np.testing.assert_array_equal(g.test_idx, f.test_idx)
        assert sorted(np.concatenate([g.train_idx, g.val_idx]).tolist()) == sorted(f.train_idx.tolist())
        assert P.inner_split(clips, f, 2, seed=1).val_idx.tolist() == g.val_idx.tolist()  # deterministic
    with pytest.raises(ValueError, match="n_val_subjects"):
        P.inner_split(clips, P.loso(clips)[0], n_val_subjects=5)


def test_fold_refuses_overlap_and_get_folds_checks_indices():
    with pytest.raises(ValueError, match="both train and test"):
        P.Fold("x", [0], [1], test_subjects=("a",), train_subjects=("a",))
    clips = _table(subjects=2)
    leaky = P.Fold("leak", np.arange(len(clips)), np.array([0]), test_subjects=("?",))
    with pytest.raises(ValueError, match="appear in both"):
        P.get_folds([leaky], clips)
    with pytest.raises(ValueError, match="outside"):
        P.get_folds([P.Fold("oob", [0], [999], test_subjects=("z",))], clips)
    with pytest.raises(ValueError, match="protocol must be"):
        P.get_folds("kfold", clips)
    assert [f.name for f in P.get_folds("loso", clips)] == [f.name for f in P.loso(clips)]


def test_bad_tables_are_named():
    with pytest.raises(ValueError, match="subject"):
        P.loso(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="empty"):
        P.loso(_table().iloc[:0])
    with pytest.raises(ValueError, match="at least 2 subjects"):
        P.loso(_table(subjects=1))
    with pytest.raises(ValueError, match="DataFrame"):
        P.loso([1, 2])


def test_subject_kfold_tests_every_clip_once_on_disjoint_subject_groups():
    subjects = np.repeat([f"s{i:02d}" for i in range(11)], [3, 1, 4, 2, 2, 5, 1, 3, 2, 2, 1])
    clips = pd.DataFrame({"subject": subjects, "dataset": "x"})
    folds = P.get_folds(P.SubjectKFold(k=4, seed=3), clips)
    assert len(folds) == 4
    tested = np.concatenate([f.test_idx for f in folds])
    assert sorted(tested.tolist()) == list(range(len(clips)))           # every clip tested exactly once
    groups = [set(f.test_subjects) for f in folds]
    assert sum(len(g) for g in groups) == 11 and set().union(*groups) == set(subjects)
    assert sorted(len(g) for g in groups) == [2, 3, 3, 3]                # round-robin: sizes differ by at most 1
    for f in folds:
        assert not set(subjects[f.train_idx]) & set(f.test_subjects)
        assert len(f.train_idx) + len(f.test_idx) == len(clips)
    again = P.SubjectKFold(k=4, seed=3)(clips)
    assert [f.test_subjects for f in again] == [f.test_subjects for f in folds]
    other = P.SubjectKFold(k=4, seed=4)(clips)
    assert [f.test_subjects for f in other] != [f.test_subjects for f in folds]
    with pytest.raises(ValueError, match="k"):
        P.SubjectKFold(k=12)(clips)
