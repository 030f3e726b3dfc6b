"""GAM-MER's facial regions and graphs (Eq. 6-7 and the "optimised facial key region graph" of Sec. 2.2).

Regions (Eq. 6-7). Every one of dlib's 68 landmarks is the centre of a square region (``patch_size`` pixels,
:func:`merlib.data.faces.landmark_patches`); ``M_select`` keeps the regions "relevant to micro-expressions":
"facial muscle micro-movements ... primarily manifest around the eyebrows, nose tip, and mouth, while they rarely
affect the muscle movements in the facial contour region", and blinks / eye movements are "unrelated to facial
muscle movements". :data:`SELECTED_NODES` = the 10 brow points, the nose tip and lower nose (6) and the outer lip
contour (12) — 28 regions (:data:`merlib.data.faces.GAM_MER_LANDMARKS`, merlib's reading: the paper lists no
indices). :data:`ALL_NODES` = all 68 (Table 3's "all facial key areas").

Graphs (the paper states the idea, not the edges; the rules below are merlib's, stated once here):

* **raw facial graph** (:func:`raw_pairs`) — the usual 68-landmark connectivity of "current research": consecutive
  points along each dlib contour (jaw, each brow, nose bridge, lower nose with the tip 30 — 33, each eye and both
  lip contours closed). Brows, nose and mouth are separate components: nothing links distant regions.
* **optimised facial graph** (:func:`optimised_pairs`) = raw graph
  ∪ **anatomy prior** (:data:`ANATOMY_PAIRS`: landmarks joined by one facial muscle or fold — inner brows together
  and to the nose root and, along the bridge, the nose tip (corrugator / procerus / nasalis, AU4 / AU9), brows to upper lids (frontalis, AU1/2/5), inner eye corners to
  the nose root, lower lids to the nose wings (AU6), nose wings to the mouth corners (nasolabial fold, AU10/12),
  nose base to the upper lip (philtrum, AU10), lower lip to chin (mentalis, AU17), mouth corners to the jaw
  (zygomaticus / buccinator, AU12/14))
  ∪ **distant correlated nodes**: (a) every landmark with its left/right counterpart (:data:`.landmarks.MIRROR`;
  bilateral action units move both sides together) and (b) the ``k`` most correlated pairs farther apart than
  ``min_dist`` (face units) that are not edges yet (:func:`correlated_pairs`), correlation = Pearson correlation,
  across action units, of how far each landmark moves under each AU (:func:`au_motion_signals`: merlib's FACS-like
  AU model evaluated on the default synthetic face — a data-free prior, so no test subject shapes the graph).
  Caveat, recorded: on merlib's synthetic data this AU model *is* the generator's, so (b) knows which points move
  together there; on real data it is a FACS-based prior.

Edges are undirected pairs of landmark ids (0..67); :func:`node_pairs` re-indexes them to a node subset.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from merlib.data.faces import GAM_MER_LANDMARKS, LANDMARK_GROUPS

from .landmarks import MIRROR, synthetic_landmarks_face

__all__ = ["SELECTED_NODES", "ALL_NODES", "ANATOMY_PAIRS", "raw_pairs", "mirror_pairs", "au_motion_signals",
           "correlated_pairs", "optimised_pairs", "node_pairs", "graph_for", "GRAPHS", "default_positions"]

SELECTED_NODES: tuple[int, ...] = tuple(GAM_MER_LANDMARKS)
ALL_NODES: tuple[int, ...] = tuple(range(68))
GRAPHS = ("optimised", "raw")

#: Anatomy prior: landmark pairs joined by one muscle or fold (see the module docstring).
ANATOMY_PAIRS: tuple[tuple[int, int], ...] = (
    (21, 22), (21, 27), (22, 27),          # corrugator / procerus (AU4)
    (21, 30), (22, 30),                    # procerus / nasalis along the dropped nose bridge (AU4, AU9)
    (19, 37), (24, 44),                    # frontalis / levator palpebrae (AU1, AU2, AU5)
    (39, 27), (42, 27),                    # inner eye corners - nose root
    (40, 31), (47, 35),                    # lower lids - nose wings (cheek raiser, AU6)
    (31, 48), (35, 54),                    # nasolabial fold (AU10, AU12)
    (33, 51),                              # philtrum (AU10)
    (57, 8),                               # mentalis (AU17)
    (48, 4), (54, 12),                     # zygomaticus / buccinator (AU12, AU14)
)

_CLOSED = ("right_eye", "left_eye", "outer_lips", "inner_lips")


def raw_pairs() -> list[tuple[int, int]]:
    """The raw facial graph on all 68 landmarks: consecutive points of each dlib contour (eyes and lips closed),
    plus the nose tip 30 — nose base 33."""
    pairs = []
    for name, idx in LANDMARK_GROUPS.items():
        idx = list(idx)
        pairs += [(idx[k], idx[k + 1]) for k in range(len(idx) - 1)]
        if name in _CLOSED:
            pairs.append((idx[-1], idx[0]))
    pairs.append((30, 33))
    return sorted({(min(a, b), max(a, b)) for a, b in pairs})


def mirror_pairs() -> list[tuple[int, int]]:
    """Every landmark with its left/right counterpart (midline points, which are their own mirror, excluded)."""
    return sorted({(min(i, m), max(i, m)) for i, m in enumerate(MIRROR) if i != m})


def default_positions() -> np.ndarray:
    """``(68, 2)`` landmark layout of the default synthetic face, face units (for distances between nodes)."""
    from merlib.data.synthetic import Identity

    return synthetic_landmarks_face(Identity())


def au_motion_signals(positions: np.ndarray | None = None) -> np.ndarray:
    """``(A, 68)``: how far each landmark moves (face units) under each of merlib's modelled action units at unit
    intensity, both sides (:func:`merlib.data.synthetic.au_field` on the default face)."""
    import torch

    from merlib.data.synthetic import Identity
    from merlib.data.synthetic.action_units import AU_BUMPS, AUActivation, au_field

    pos = default_positions() if positions is None else np.asarray(positions, dtype=np.float64)
    p = torch.as_tensor(pos, dtype=torch.float64)
    rows = []
    for au in sorted(AU_BUMPS):
        d = au_field(Identity(), [AUActivation(au)], p)
        rows.append(d.norm(dim=-1).numpy())
    return np.stack(rows)


def correlated_pairs(signals: np.ndarray, positions: np.ndarray, k: int, min_dist: float,
                     nodes: Sequence[int] | None = None, exclude: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """The ``k`` node pairs with the largest Pearson correlation of ``signals`` that lie farther apart than
    ``min_dist`` and are not in ``exclude``.

    Args:
        signals: ``(M, N)`` one signal value per observation and node (node ids are columns).
        positions: ``(N, 2)`` node positions.
        k: how many pairs (``0``: none).
        min_dist: only pairs with ``|pos_i - pos_j| > min_dist`` ("distant" nodes).
        nodes: restrict to these node ids (default all columns).
        exclude: pairs already in the graph (either order).

    Returns:
        ``[(i, j), ...]`` with ``i < j``, best first; ties broken by (i, j). Constant signals have correlation 0.
    """
    s = np.asarray(signals, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    if s.ndim != 2 or pos.shape != (s.shape[1], 2):
        raise ValueError(f"correlated_pairs: need signals (M, N) and positions (N, 2), got {s.shape}, {pos.shape}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"correlated_pairs: `k` must be an int >= 0, got {k!r}")
    nodes = list(range(s.shape[1])) if nodes is None else [int(n) for n in nodes]
    c = s - s.mean(axis=0, keepdims=True)
    norm = np.sqrt((c ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (c.T @ c) / np.outer(norm, norm)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    ex = {(min(a, b), max(a, b)) for a, b in exclude}
    cand = []
    for a_i, a in enumerate(nodes):
        for b in nodes[a_i + 1:]:
            i, j = min(a, b), max(a, b)
            if (i, j) in ex or np.linalg.norm(pos[i] - pos[j]) <= min_dist:
                continue
            cand.append((-corr[i, j], i, j))
    cand.sort()
    return [(i, j) for _, i, j in cand[:k]]


def optimised_pairs(nodes: Sequence[int] = SELECTED_NODES, k: int = 6, min_dist: float = 0.2,
                    signals: np.ndarray | None = None, positions: np.ndarray | None = None) -> list[tuple[int, int]]:
    """The optimised facial graph on ``nodes`` (landmark ids): raw ∪ anatomy prior ∪ mirror pairs ∪ the ``k``
    most correlated distant pairs (module docstring). ``signals`` default :func:`au_motion_signals`."""
    nodes = [int(n) for n in nodes]
    keep = set(nodes)
    positions = default_positions() if positions is None else positions
    base = {p for p in raw_pairs() + list(ANATOMY_PAIRS) + mirror_pairs() if p[0] in keep and p[1] in keep}
    base = {(min(a, b), max(a, b)) for a, b in base}
    sig = au_motion_signals(positions) if signals is None else signals
    extra = correlated_pairs(sig, positions, k, min_dist, nodes=nodes, exclude=sorted(base))
    return sorted(base | set(extra))


def node_pairs(pairs: Sequence[tuple[int, int]], nodes: Sequence[int]) -> list[tuple[int, int]]:
    """Landmark-id pairs → pairs of positions in ``nodes`` (pairs with an end outside ``nodes`` dropped)."""
    pos = {int(n): k for k, n in enumerate(nodes)}
    return sorted({(min(pos[a], pos[b]), max(pos[a], pos[b])) for a, b in pairs if a in pos and b in pos})


def graph_for(nodes: Sequence[int], graph: str = "optimised", k: int = 6, min_dist: float = 0.2) -> list[tuple[int, int]]:
    """The landmark-id pairs of ``graph`` (``"optimised"`` | ``"raw"``) restricted to ``nodes``."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    keep = set(int(n) for n in nodes)
    if graph == "raw":
        return [p for p in raw_pairs() if p[0] in keep and p[1] in keep]
    return list(_optimised_cached(tuple(int(n) for n in nodes), int(k), float(min_dist)))


@lru_cache(maxsize=16)
def _optimised_cached(nodes: tuple, k: int, min_dist: float) -> tuple:
    return tuple(optimised_pairs(nodes, k=k, min_dist=min_dist))
