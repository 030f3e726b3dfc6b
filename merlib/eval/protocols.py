"""Evaluation protocols: leave-one-subject-out, k folds of whole subjects, the MEGC2019 composite, cross-dataset.

A protocol turns a clip table into a list of :class:`Fold` objects. Folds hold *positional*
indices (``numpy`` int arrays) into the table they were made from, so that
``clips.iloc[fold.test_idx]`` are the test clips. Every fold checks, when it is built, that no
subject is both in its training and its test part; :func:`inner_split` carves validation
subjects out of the training subjects (for the ``inner_val`` policy), never out of the test
subject.

The clip table is the ``.clips`` frame of a merlib dataset: columns ``dataset``, ``subject``
(already prefixed with the dataset name, so ids never collide across datasets), ``clip``,
``label`` ... (see ``merlib.data``). Only ``subject`` is needed here, plus ``dataset`` for the
composite protocol.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Fold", "loso", "composite", "cross_dataset", "inner_split", "check_disjoint", "get_folds",
           "SubjectKFold"]


@dataclass(frozen=True, eq=False)
class Fold:
    """One train/test split.

    Attributes:
        name: a stable name (the test subject for LOSO); per-fold seeds are derived from it.
        train_idx, test_idx: positional indices (int64 arrays) into the clip table.
        test_subjects: the subjects of the test part (a tuple of str).
        train_subjects: the subjects of the training part.
        protocol: ``"loso"``, ``"composite"`` or ``"cross_dataset"``.
        val_idx: validation indices carved from the training subjects (empty unless made by
            :func:`inner_split`); ``train_idx`` then excludes them.
    """

    name: str
    train_idx: np.ndarray
    test_idx: np.ndarray
    test_subjects: tuple
    train_subjects: tuple = ()
    protocol: str = "loso"
    val_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self):
        for attr in ("train_idx", "test_idx", "val_idx"):
            object.__setattr__(self, attr, np.asarray(getattr(self, attr), dtype=np.int64))
        if len(self.test_idx) == 0:
            raise ValueError(f"Fold {self.name!r}: empty test part")
        overlap = set(self.train_subjects) & set(self.test_subjects)
        if overlap:
            raise ValueError(f"Fold {self.name!r}: subjects {sorted(overlap)} are in both train and test")


def _subjects(clips: pd.DataFrame, where: str) -> np.ndarray:
    if not isinstance(clips, pd.DataFrame):
        raise ValueError(f"{where}: `clips` must be a pandas DataFrame (a dataset's .clips), got {type(clips).__name__}")
    if "subject" not in clips.columns:
        raise ValueError(f"{where}: `clips` has no 'subject' column (columns: {list(clips.columns)})")
    if len(clips) == 0:
        raise ValueError(f"{where}: `clips` is empty")
    subj = clips["subject"].astype(str).to_numpy()
    return subj


def check_disjoint(clips: pd.DataFrame, fold: Fold) -> None:
    """Raise ``ValueError`` unless train, validation and test parts of ``fold`` share no subject."""
    subj = _subjects(clips, "check_disjoint")
    parts = {"train": set(subj[fold.train_idx]), "val": set(subj[fold.val_idx]), "test": set(subj[fold.test_idx])}
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
        common = parts[a] & parts[b]
        if common:
            raise ValueError(f"fold {fold.name!r}: subjects {sorted(common)} appear in both {a} and {b}")


def _loso(clips: pd.DataFrame, protocol: str, where: str) -> list[Fold]:
    subj = _subjects(clips, where)
    order = list(dict.fromkeys(sorted(subj)))
    if len(order) < 2:
        raise ValueError(f"{where}: needs at least 2 subjects, got {order}")
    pos = np.arange(len(subj))
    folds = []
    for s in order:
        test = pos[subj == s]
        train = pos[subj != s]
        fold = Fold(name=s, train_idx=train, test_idx=test, test_subjects=(s,),
                    train_subjects=tuple(o for o in order if o != s), protocol=protocol)
        check_disjoint(clips, fold)
        folds.append(fold)
    return folds


def loso(clips: pd.DataFrame) -> list[Fold]:
    """Leave-one-subject-out: one fold per subject (sorted by subject id), named after it.

    Args:
        clips: a clip table with a ``subject`` column.
    """
    return _loso(clips, "loso", "loso")


def composite(clips: pd.DataFrame) -> list[Fold]:
    """The MEGC2019 composite protocol: LOSO over the union of datasets.

    One fold per dataset-prefixed subject (the table must have a ``dataset`` column and subject ids
    that start with their dataset's name, e.g. ``"casme2/sub01"``), so per-dataset scores are
    computed from the same pooled predictions (:meth:`merlib.eval.Result.per_dataset`).
    """
    _subjects(clips, "composite")
    if "dataset" not in clips.columns:
        raise ValueError("composite: `clips` needs a 'dataset' column (the composite mixes datasets)")
    bad = [(d, s) for d, s in zip(clips["dataset"].astype(str), clips["subject"].astype(str))
           if not s.startswith(d)]
    if bad:
        raise ValueError(
            f"composite: subject ids must be prefixed with their dataset name (ids collide across "
            f"datasets); first offending row: dataset={bad[0][0]!r}, subject={bad[0][1]!r}")
    return _loso(clips, "composite", "composite")


def cross_dataset(train_clips: pd.DataFrame, test_clips: pd.DataFrame) -> list[Fold]:
    """Train on one table, test on another: a single fold.

    The indices refer to ``pd.concat([train_clips, test_clips], ignore_index=True)`` (what
    :func:`merlib.eval.concat_datasets` builds): ``train_idx = 0..n_train-1``, ``test_idx`` the rest.
    """
    s_train = _subjects(train_clips, "cross_dataset(train_clips)")
    s_test = _subjects(test_clips, "cross_dataset(test_clips)")
    common = set(s_train) & set(s_test)
    if common:
        raise ValueError(f"cross_dataset: subjects {sorted(common)} occur in both tables; prefix them with the dataset name")
    n = len(s_train)
    names = []
    for t in (train_clips, test_clips):
        names.append("+".join(sorted(set(t["dataset"].astype(str)))) if "dataset" in t.columns else "?")
    fold = Fold(name=f"{names[0]}->{names[1]}", train_idx=np.arange(n), test_idx=np.arange(n, n + len(s_test)),
                test_subjects=tuple(sorted(set(s_test))), train_subjects=tuple(sorted(set(s_train))),
                protocol="cross_dataset")
    return [fold]


def inner_split(clips: pd.DataFrame, fold: Fold, n_val_subjects: int = 1, seed: int = 0) -> Fold:
    """Carve ``n_val_subjects`` validation subjects from the training subjects of ``fold``.

    The choice depends only on ``seed`` and the fold's name, never on the test subject's data.
    Returns a new :class:`Fold` whose ``val_idx`` holds those clips and whose ``train_idx`` no longer does.
    """
    subj = _subjects(clips, "inner_split")
    train_subj = sorted(set(subj[fold.train_idx]))
    if not 1 <= n_val_subjects < len(train_subj):
        raise ValueError(f"inner_split: `n_val_subjects` must be in [1, {len(train_subj) - 1}] for fold "
                         f"{fold.name!r} ({len(train_subj)} training subjects), got {n_val_subjects}")
    from merlib.eval.seeds import derive_seed

    rng = np.random.default_rng(derive_seed(seed, "inner_val", fold.name))
    val_subj = set(rng.choice(train_subj, size=n_val_subjects, replace=False).tolist())
    in_val = np.isin(subj[fold.train_idx], list(val_subj))
    new = Fold(name=fold.name, train_idx=fold.train_idx[~in_val], test_idx=fold.test_idx,
               test_subjects=fold.test_subjects,
               train_subjects=tuple(s for s in fold.train_subjects if s not in val_subj),
               protocol=fold.protocol, val_idx=fold.train_idx[in_val])
    check_disjoint(clips, new)
    return new


def get_folds(protocol, clips: pd.DataFrame) -> list[Fold]:
    """Resolve ``protocol`` (``"loso"``, ``"composite"``, a list of :class:`Fold` or a callable) to folds."""
    if isinstance(protocol, str):
        table = {"loso": loso, "composite": composite}
        if protocol not in table:
            raise ValueError(f"protocol must be 'loso', 'composite', a list of Fold or a callable, got {protocol!r} "
                             "(for cross-dataset runs pass cross_dataset(train.clips, test.clips) with concat_datasets)")
        folds = table[protocol](clips)
    elif callable(protocol):
        folds = list(protocol(clips))
    else:
        folds = list(protocol)
    if not folds or not all(isinstance(f, Fold) for f in folds):
        raise ValueError("protocol: expected a non-empty list of merlib.eval.Fold")
    names = [f.name for f in folds]
    if len(set(names)) != len(names):
        raise ValueError(f"protocol: fold names must be unique, got {names}")
    n = len(clips)
    for f in folds:
        for part in (f.train_idx, f.test_idx, f.val_idx):
            if len(part) and (part.min() < 0 or part.max() >= n):
                raise ValueError(f"fold {f.name!r}: indices outside the clip table (0..{n - 1})")
        check_disjoint(clips, f)
    return folds


@dataclass(frozen=True)
class SubjectKFold:
    """A protocol for :func:`merlib.eval.run`: ``k`` folds of whole subjects (subject-independent like LOSO).

    Subjects (sorted) are shuffled with ``seed`` and dealt round-robin into ``k`` groups; fold ``j`` tests on
    group ``j``. merlib's choice for the standard-size CPU runs of notebooks 10 and 14 (26 LOSO folds cost
    about 5x as much); ``"loso"`` stays the papers' protocol and the full-size default. Folds are
    subject-disjoint (checked like every fold) and pass as ``protocol=SubjectKFold(k)`` to
    :func:`merlib.eval.run`.
    """

    k: int = 5
    seed: int = 0
    version: str = "1"

    def __call__(self, clips: pd.DataFrame) -> list:
        subj = clips["subject"].astype(str).to_numpy()
        order = sorted(set(subj))
        if not 2 <= self.k <= len(order):
            raise ValueError(f"SubjectKFold: `k` must be in 2..{len(order)} (the number of subjects), got {self.k}")
        perm = np.random.default_rng(self.seed).permutation(len(order))
        groups = [sorted(order[i] for i in perm[j::self.k]) for j in range(self.k)]
        pos = np.arange(len(subj))
        folds = []
        for j, g in enumerate(groups):
            test = np.isin(subj, g)
            folds.append(Fold(name=f"kfold{j + 1}of{self.k}", train_idx=pos[~test], test_idx=pos[test],
                              test_subjects=tuple(g), train_subjects=tuple(s for s in order if s not in g),
                              protocol="subject_kfold"))
        return folds
