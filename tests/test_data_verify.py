"""``python -m merlib data verify`` and verify_dataset: every problem reported at once."""
from __future__ import annotations

import shutil

import pytest

from merlib.cli import main
from merlib.data import load_dataset, verify_dataset
from test_data_layouts import write_casme2, write_megc_csv, write_samm, write_smic


def test_clean_copy_verifies_with_counts(tmp_path):
    root = write_casme2(tmp_path / "c")
    rep = verify_dataset("casme2", root, progress=False)
    # a 6-row copy is not the real CASME II: the manifest's counts are reported as problems
    assert any("annotation rows: found 6, the manifest expects 255" in p for p in rep.problems)
    assert any("class happiness: found 1, the manifest expects 32" in p for p in rep.problems)
    assert rep.counts["frames read"] == 10 + 8 + 8 + 8 + 8
    assert rep.counts["unreadable frames"] == 0
    assert not any("no annotation row" in p or "missing" in p for p in rep.problems)


def test_verify_collects_every_problem(tmp_path):
    root = write_casme2(tmp_path / "c")
    raw = root / "Cropped"
    shutil.copytree(raw / "sub01" / "EP03_02", raw / "sub01" / "EP99_99")          # folder without a row
    (raw / "sub02" / "EP01_11f" / "img22.jpg").unlink()                            # missing frame
    (raw / "sub01" / "EP02_01f" / "img12.jpg").write_bytes(b"broken")              # unreadable frame
    shutil.rmtree(raw / "sub03" / "EP18_01")                                        # row without a folder
    rep = verify_dataset("casme2", root, progress=False)
    text = "\n".join(rep.problems)
    assert not rep.ok
    assert "EP99_99] clip folder has no annotation row" in text
    assert "frame(s) of onset..offset 20..27 missing" in text and ": 22" in text
    assert "clip folder not found" in text and "EP18_01" in text
    assert "img12.jpg] cannot decode the image file" in text
    assert rep.counts["unreadable frames"] == 1
    assert "PROBLEMS" in rep.format()


def test_verify_notes_quirk_fixes(tmp_path):
    root = write_casme2(tmp_path / "c", apex_cells={"EP03_02": "/"})
    rep = verify_dataset("casme2", root, read_frames=False, progress=False)
    assert any("casme2_sub01/EP03_02: quirk fixed: apex_missing" in n for n in rep.notes)
    assert "frames read" not in rep.counts


def test_cli_verify_exit_codes(tmp_path, capsys):
    root = write_smic(tmp_path / "smic")
    code = main(["data", "verify", "smic_hs", "--root", str(root)])
    out = capsys.readouterr().out
    assert code == 1                                  # 4 clips, the manifest expects 164
    assert "clips loaded: found 4, the manifest expects 164" in out and "merlib data verify: smic_hs" in out
    assert main(["data", "verify", "nonsense", "--root", str(root)]) == 2
    code = main(["data", "verify", "casme2", "--root", str(tmp_path / "missing"), "--no-read"])
    assert code == 1 and "dataset root for 'casme2' not found" in capsys.readouterr().out


def test_cli_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("casme2", "samm", "smic_hs", "megc2019_composite", "synthetic"):
        assert name in out


def test_verify_composite(tmp_path):
    comp = tmp_path / "comp"
    write_casme2(comp / "CASME2")
    write_samm(comp / "SAMM")
    write_smic(comp / "SMIC")
    write_megc_csv(comp / "combined_3class_gt.csv",
                   [("casme2", "sub01", "EP02_01f", 1), ("samm", "6", "006_1_2", 0), ("smic", "s01", "s01_ne_01", 0),
                    ("smic", "s09", "s09_po_01", 1)])
    rep = verify_dataset("megc2019_composite", comp, progress=False)
    text = "\n".join(rep.problems)
    assert "lists smic_hs clip 's09_po_01' of subject 9, which is not in" in text
    assert "clips[casme2]: found 1, the manifest expects 145" in text


# ---------------------------------------------------------------------------------------------
# the synthetic dataset goes through the same CASME II reader
# ---------------------------------------------------------------------------------------------
def _tiny(tmp_path):
    pytest.importorskip("merlib.data.synthetic")
    return load_dataset("synthetic", tmp_path / "syn", preset="tiny", seed=0, progress=False)


def test_synthetic_loads_with_the_casme2_reader(tmp_path):
    ds = _tiny(tmp_path)
    assert ds.name == "synthetic"
    assert all(s.startswith("synthetic_sub") for s in ds.subjects)
    assert ds.class_names == ["happiness", "disgust", "surprise", "repression", "others"]
    assert (ds.clips["apex_source"] == "annotation").all()
    assert ((ds.clips["onset"] <= ds.clips["apex"]) & (ds.clips["apex"] <= ds.clips["offset"])).all()
    x = ds.frames(0)
    assert x.ndim == 4 and x.shape[0] == ds.clips.iloc[0]["n_frames"]
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    import json

    meta = json.loads((tmp_path / "syn" / "synthetic_meta.json").read_text())
    assert ds.fps == meta["fps"] and len(ds) == meta["n_clips"]
    rep = verify_dataset("synthetic", tmp_path / "syn", progress=False)
    assert rep.ok, rep.format()
