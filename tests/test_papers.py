"""merlib.papers: every table loads, is internally consistent, and matches the papers' text."""
import re
from pathlib import Path

import numpy as np
import pytest

from merlib import papers
from merlib.paths import repo_root

ALL = papers.list_tables()
_ROOT = repo_root() or Path(".")
PAPER_DIR = _ROOT.parent / "shared" / "papers"


@pytest.mark.parametrize("paper, name", ALL)
def test_table_loads_with_units_and_metric_mapping(paper, name):
    t = papers.table(paper, name)
    assert len(t.data) > 0 and t.caption
    if t.unit == "ms":
        assert not t.metric_columns()
        return
    frac = t.as_fraction()
    for c in t.metric_columns():
        v = frac[c].dropna().to_numpy(dtype=float)
        assert ((v >= 0) & (v <= 1)).all(), f"{paper}/{name}/{c} outside [0, 1] after unit conversion"
        key = t.merlib_metric(c)
        from merlib.eval.metrics import METRIC_LABELS

        assert key in METRIC_LABELS or key.startswith("recall:"), key


def test_every_paper_has_its_tables():
    have = {p: {n for q, n in ALL if q == p} for p in papers.PAPERS}
    assert {"table3", "table4", "table5", "table6"} <= have["mmfrn2022"]
    assert {"table1", "table2", "table3"} <= have["aman2022"]
    assert {"table1", "table2", "table3", "table4", "table5"} <= have["gammmer2024"]
    assert {"table1", "table2", "table3"} <= have["cmnet2023"]
    assert {"n_sweep", "ablations"} <= have["bai2021"]
    for p in papers.PAPERS:
        assert papers.paper_info(p)["citation"]


def test_papers_agree_with_themselves():
    mm3, mm4, mm6 = (papers.table("mmfrn2022", n).data for n in ("table3", "table4", "table6"))
    assert mm3.loc["MMSTMN-80", "f1"] == pytest.approx(mm4.loc[80, "macro_f1"], abs=6e-5)
    assert mm6.loc[("apex", 100), "accuracy"] == pytest.approx(mm4.loc[100, "accuracy"], abs=6e-5)
    a1, a2, a3 = (papers.table("aman2022", n).data for n in ("table1", "table2", "table3"))
    assert a1.loc[9, "accuracy"] == a2.loc["AMAN (ours)", "casme2_accuracy"] == a3.loc["MA+FA", "casme2_accuracy"]
    c1, c2, c3 = (papers.table("cmnet2023", n).data for n in ("table1", "table2", "table3"))
    np.testing.assert_array_equal(c1.loc["CMNet (ours)"].to_numpy(), c2.loc["probabilistic"].to_numpy())
    np.testing.assert_array_equal(c1.loc["CMNet (ours)"].to_numpy(), c3.loc["L_C + L_ID + L_Wrst"].to_numpy())
    g1, g2, g3, g4 = (papers.table("gammmer2024", n).data for n in ("table1", "table2", "table3", "table4"))
    np.testing.assert_array_equal(g3.loc["Baseline"].to_numpy(), g4.loc[5].to_numpy())
    assert g3.loc["Baseline", "casme2_3_accuracy"] == g1.loc["GAM-MM-MER (Ours)", "casme2_accuracy"]
    assert g3.loc["Baseline", "samm_5_f1"] == g2.loc["GAM-MM-MER (Ours)", "samm_f1"]


def test_spot_values():
    assert papers.table("mmfrn2022", "table4").data.loc[70, "accuracy"] == 0.508130
    assert papers.table("bai2021", "n_sweep").data.loc[("AMM", 8), "surprise"] == 0.42
    assert papers.table("gammmer2024", "table5").data.loc["TensorRT", "gam_mer_ms"] == 25.3
    assert papers.table("aman2022", "table2").unit == "percent"
    assert papers.table("cmnet2023", "table1").merlib_metric("casme2_f1") == "fold_mean_cmnet_f1"


def test_unknown_names_are_named():
    with pytest.raises(ValueError, match="unknown paper"):
        papers.table("nope2020", "table1")
    with pytest.raises(ValueError, match="has no table"):
        papers.table("mmfrn2022", "table99")


# Numbers the plain-text copies print in a mangled way (digits split across columns); checked by hand.
_MANGLED = {("cmnet2023", "table1", "smic_hs_accuracy")}


@pytest.mark.skipif(not PAPER_DIR.exists(), reason="the papers' plain-text copies are not next to the checkout")
@pytest.mark.parametrize("paper, name", ALL)
def test_every_number_is_printed_in_the_paper(paper, name):
    t = papers.table(paper, name)
    text = (PAPER_DIR / papers.paper_info(paper)["source_file"]).read_text()
    numbers = set(re.findall(r"\d+\.\d+|\d+", text))
    for col, meta in t.columns.items():
        if meta.get("metric") == "none" or (paper, name, col) in _MANGLED:
            continue
        for v in t.data[col].dropna():
            frac = repr(float(v)).split(".")[1] if "." in repr(float(v)) else ""
            first = 0 if frac in ("", "0") else len(frac)  # as many decimals as the value has, or more
            candidates = {f"{v:.{d}f}" for d in range(first, 7)}
            assert candidates & numbers, f"{paper}/{name}: {col}={v} does not appear in {t.paper}'s text"
