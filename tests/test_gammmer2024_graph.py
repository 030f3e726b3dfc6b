"""GAM-MER's graph blocks and graph rules: PyG layers against their equations, regions, raw / optimised graphs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from merlib.data.faces import LANDMARK_GROUPS
from merlib.models.graph import (GraphStack, RegionCNN, batch_edge_index, edge_index_from_pairs,
                                 pairs_from_edge_index)
from merlib.papers.gammmer2024 import graph as G
from merlib.papers.gammmer2024.landmarks import MIRROR, synthetic_landmarks_face


def _components(pairs, nodes):
    pos = {n: k for k, n in enumerate(nodes)}
    if not pairs:
        return len(nodes)
    r = [pos[a] for a, b in pairs] + [pos[b] for a, b in pairs]
    c = [pos[b] for a, b in pairs] + [pos[a] for a, b in pairs]
    m = coo_matrix((np.ones(len(r)), (r, c)), shape=(len(nodes), len(nodes)))
    return connected_components(m, directed=False)[0]


# ---------------------------------------------------------------- edge indices
def test_edge_index_from_pairs_both_directions_no_duplicates():
    ei = edge_index_from_pairs([(0, 1), (1, 0), (2, 2), (1, 2)], 3)
    assert ei.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert pairs_from_edge_index(ei) == [(0, 1), (1, 2)]
    with pytest.raises(ValueError, match="out of range"):
        edge_index_from_pairs([(0, 3)], 3)


def test_batch_edge_index_matches_pyg_batch():
    from torch_geometric.data import Batch, Data

    ei = edge_index_from_pairs([(0, 1), (1, 2), (0, 3)], 4)
    got = batch_edge_index(ei, 4, 3)
    ref = Batch.from_data_list([Data(edge_index=ei, num_nodes=4) for _ in range(3)]).edge_index
    assert torch.equal(got, ref)


# ---------------------------------------------------------------- Eq. 9: the graph layers
def test_gatconv_matches_the_gat_equations():
    """One GAT layer by hand: e_ij = LeakyReLU(a_s·Wh_j + a_d·Wh_i), alpha = softmax over j in N(i) ∪ {i},
    h'_i = sum_j alpha_ij W h_j + b (Veličković et al. 2018) — PyG's GATConv inside GraphStack must agree."""
    torch.manual_seed(0)
    n, d, hdim = 5, 4, 3
    pairs = [(0, 1), (1, 2), (2, 3), (0, 4)]
    ei = edge_index_from_pairs(pairs, n)
    stack = GraphStack(d, hidden=hdim, num_layers=1, layer="gat", heads=1).eval()
    conv = stack.convs[0]
    x = torch.randn(1, n, d)
    out, att = stack(x, ei, return_attention=True)
    w = conv.lin.weight if hasattr(conv, "lin") and conv.lin is not None else conv.lin_src.weight
    wh = x[0] @ w.t()                                                   # (n, hdim)
    a_s, a_d = conv.att_src.reshape(-1), conv.att_dst.reshape(-1)
    nbrs = {i: {i} for i in range(n)}
    for a, b in pairs:
        nbrs[a].add(b)
        nbrs[b].add(a)
    ref = torch.zeros(n, hdim)
    for i in range(n):
        js = sorted(nbrs[i])
        e = torch.stack([F.leaky_relu((wh[j] * a_s).sum() + (wh[i] * a_d).sum(), 0.2) for j in js])
        alpha = torch.softmax(e, 0)
        ref[i] = sum(alpha[k] * wh[j] for k, j in enumerate(js)) + conv.bias
    torch.testing.assert_close(out[0], ref, atol=1e-5, rtol=1e-5)
    ei_sl, alpha = att[0]
    sums = torch.zeros(n).index_add_(0, ei_sl[1], alpha[:, 0])
    torch.testing.assert_close(sums, torch.ones(n))                   # attention over N(i) ∪ {i} sums to one


def test_gcnconv_matches_normalised_adjacency():
    torch.manual_seed(1)
    n, d = 4, 3
    pairs = [(0, 1), (1, 2), (1, 3)]
    stack = GraphStack(d, hidden=2, num_layers=1, layer="gcn").eval()
    conv = stack.convs[0]
    x = torch.randn(1, n, d)
    out = stack(x, edge_index_from_pairs(pairs, n))
    a = torch.eye(n)
    for i, j in pairs:
        a[i, j] = a[j, i] = 1
    dinv = a.sum(1).rsqrt()
    ref = (dinv[:, None] * a * dinv[None, :]) @ (x[0] @ conv.lin.weight.t()) + conv.bias
    torch.testing.assert_close(out[0], ref, atol=1e-5, rtol=1e-5)


def test_batched_graph_stack_equals_samples_one_by_one():
    torch.manual_seed(2)
    ei = edge_index_from_pairs([(0, 1), (1, 2), (2, 3)], 4)
    for layer in ("gat", "gcn"):
        stack = GraphStack(5, hidden=4, num_layers=2, layer=layer, heads=2).eval()
        x = torch.randn(3, 4, 5)
        together = stack(x, ei)
        alone = torch.cat([stack(x[b:b + 1], ei) for b in range(3)])
        torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)
        assert together.shape == (3, 4, 4)


def test_graph_stack_layer_count_and_errors():
    assert len(GraphStack(4, num_layers=3).convs) == 3
    with pytest.raises(ValueError, match="layer"):
        GraphStack(4, layer="sage")
    with pytest.raises(ValueError, match="gat"):
        GraphStack(4, layer="gcn")(torch.zeros(1, 2, 4), torch.zeros(2, 0, dtype=torch.long), return_attention=True)


# ---------------------------------------------------------------- Eq. 8: a CNN per region
def test_region_cnn_grouped_equals_separate_cnns():
    torch.manual_seed(3)
    r, c, p = 3, 2, 8
    grouped = RegionCNN(c, r, width=4, out_dim=5, shared=False).eval()
    x = torch.randn(2, r, c, p, p)
    out = grouped(x)
    for k in range(r):
        one = RegionCNN(c, 1, width=4, out_dim=5, shared=True).eval()
        w1, w2 = 4, 8
        with torch.no_grad():
            one.conv1.weight.copy_(grouped.conv1.weight[k * w1:(k + 1) * w1])
            one.conv1.bias.copy_(grouped.conv1.bias[k * w1:(k + 1) * w1])
            one.conv2.weight.copy_(grouped.conv2.weight[k * w2:(k + 1) * w2])
            one.conv2.bias.copy_(grouped.conv2.bias[k * w2:(k + 1) * w2])
            for bn_g, bn_1, w in ((grouped.bn1, one.bn1, w1), (grouped.bn2, one.bn2, w2)):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(bn_1, name).copy_(getattr(bn_g, name)[k * w:(k + 1) * w])
            one.fc.weight.copy_(grouped.fc.weight[k * 5:(k + 1) * 5])
            one.fc.bias.copy_(grouped.fc.bias[k * 5:(k + 1) * 5])
        torch.testing.assert_close(out[:, k], one(x[:, k:k + 1])[:, 0], atol=1e-5, rtol=1e-5)


def test_region_cnn_shared_treats_regions_alike():
    torch.manual_seed(4)
    cnn = RegionCNN(1, 4, width=4, out_dim=6, shared=True).eval()
    x = torch.randn(1, 1, 1, 8, 8).expand(1, 4, 1, 8, 8)
    out = cnn(x)
    assert out.shape == (1, 4, 6)
    torch.testing.assert_close(out[0, 0], out[0, 3])
    with pytest.raises(ValueError, match="expected"):
        cnn(torch.zeros(1, 3, 1, 8, 8))


# ---------------------------------------------------------------- Eq. 7: region selection
def test_selected_regions_drop_contour_and_eyes():
    sel = set(G.SELECTED_NODES)
    assert len(G.SELECTED_NODES) == 28 and len(G.ALL_NODES) == 68
    assert not sel & set(LANDMARK_GROUPS["jaw"])
    assert not sel & (set(LANDMARK_GROUPS["right_eye"]) | set(LANDMARK_GROUPS["left_eye"]))
    assert set(LANDMARK_GROUPS["right_eyebrow"]) | set(LANDMARK_GROUPS["left_eyebrow"]) <= sel
    assert {30, 31, 32, 33, 34, 35} <= sel and set(LANDMARK_GROUPS["outer_lips"]) <= sel


# ---------------------------------------------------------------- the graphs
def test_raw_graph_is_the_dlib_contours():
    raw = G.raw_pairs()
    # 16 jaw + 4 + 4 brows + 3 bridge + 4 lower nose + 6 + 6 eyes (closed) + 12 outer + 8 inner lips (closed) + tip-base
    assert len(raw) == 16 + 8 + 3 + 4 + 12 + 12 + 8 + 1
    group = {i: name for name, idx in LANDMARK_GROUPS.items() for i in idx}
    assert all(group[a] == group[b] or (a, b) == (30, 33) for a, b in raw)
    assert (36, 41) in raw and (48, 59) in raw and (16, 17) not in raw
    assert _components(raw, list(range(68))) == 8                      # jaw, 2 brows, nose, 2 eyes, 2 lip rings
    sel = G.graph_for(G.SELECTED_NODES, "raw")
    assert _components(sel, G.SELECTED_NODES) == 4                     # 2 brows, nose, mouth: no distant links


def test_mirror_is_an_involution_and_mirrors_the_face():
    m = np.array(MIRROR)
    assert sorted(m) == list(range(68)) and np.array_equal(m[m], np.arange(68))
    from merlib.data.synthetic import Identity
    pts = synthetic_landmarks_face(Identity())
    np.testing.assert_allclose(pts[m, 0], -pts[:, 0], atol=1e-12)
    np.testing.assert_allclose(pts[m, 1], pts[:, 1], atol=1e-12)


def test_correlated_pairs_picks_the_most_correlated_distant_pairs():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 1))
    sig = np.concatenate([base, base + 0.01 * rng.normal(size=(50, 1)),      # 0-1: correlated but close
                          base + 0.1 * rng.normal(size=(50, 1)),             # 2: correlated with 0, 1 and far
                          rng.normal(size=(50, 1)), np.ones((50, 1))], 1)    # 3: noise, 4: constant
    pos = np.array([[0, 0], [0.05, 0], [1, 0], [2, 0], [3, 0]], float)
    got = G.correlated_pairs(sig, pos, k=2, min_dist=0.5)
    assert got == [(0, 2), (1, 2)] or got == [(1, 2), (0, 2)]
    assert (0, 1) not in G.correlated_pairs(sig, pos, k=10, min_dist=0.5)   # too close
    assert G.correlated_pairs(sig, pos, k=1, min_dist=0.5, exclude=[(2, 0), (1, 2)])[0] not in [(0, 2), (1, 2)]
    assert G.correlated_pairs(sig, pos, k=0, min_dist=0.5) == []


def test_optimised_graph_rule():
    nodes = G.SELECTED_NODES
    opt = G.graph_for(nodes, "optimised", k=6, min_dist=0.2)
    keep = set(nodes)
    raw = set(G.graph_for(nodes, "raw"))
    anat = {p for p in G.ANATOMY_PAIRS if p[0] in keep and p[1] in keep}
    anat = {(min(a, b), max(a, b)) for a, b in anat}
    mir = {p for p in G.mirror_pairs() if p[0] in keep and p[1] in keep}
    base = raw | anat | mir
    assert base <= set(opt)
    extra = set(opt) - base
    assert len(extra) == 6
    pos = G.default_positions()
    assert all(np.linalg.norm(pos[a] - pos[b]) > 0.2 for a, b in extra)
    assert _components(opt, nodes) == 1                               # distant regions are linked
    assert (21, 22) in opt and (31, 48) in opt and (48, 54) in opt   # corrugator, nasolabial fold, mirror
    assert all(a in keep and b in keep for a, b in opt)
    full = G.graph_for(G.ALL_NODES, "optimised")
    assert set(G.raw_pairs()) <= set(full) and (8, 57) in full
    assert G.node_pairs([(17, 21), (0, 17)], (17, 21)) == [(0, 1)]
    with pytest.raises(ValueError, match="graph"):
        G.graph_for(nodes, "full")
