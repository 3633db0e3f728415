"""`make qrs-eval` (golden/qrs_eval.py, `ternecg qrs-eval`): arguments, JSON shape, peers' cache."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ternecg import cli
from ternecg.errors import TernEcgError
from ternecg.golden import ec57
from ternecg.golden import qrs_eval as Q





def test_parse_records():
    assert Q.parse_records(None) == Q.RECORDS48
    assert Q.parse_records("100, 105,100") == ("100", "105")
    for bad in ("999", "100,abc", ",", ""):
        with pytest.raises(TernEcgError, match="--records"):
            Q.parse_records(bad)


@pytest.mark.parametrize("args, msg", [(["--records", "999"], "unknown MIT-BIH record"),
                                       (["--records", "100", "--jobs", "0"], "--jobs: 0 must be at least 1"),
                                       (["--records", "100", "--db", "/nonexistent/mitdb"], "does not exist")])
def test_bad_arguments_give_one_line(args, msg, capsys):
    assert cli.main(["qrs-eval", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ternecg qrs-eval: error:") and msg in err[0]


def test_table_renders_a_report():
    row = {"tp": 10, "fn": 1, "fp": 2, "se": 10 / 11, "ppv": 10 / 12}
    report = {"records": {"105": row}, "gross": row,
              "vf_excluded": {"gross": row},
              "offsets": Q.offset_stats(np.array([0, 1, -1, 7])),
              "latency_samples": {k: {"count": 1, "max": 100} for k in ("regular", "search_back", "learning")},
              "latency_bound_regular": 119, "state_bits": {"total": 9699},
              "peers": {"gqrs": {**row, "records": {"105": row}, "vf_excluded": row, "failed": {}},
                        "xqrs": {**row, "records": {}, "vf_excluded": row, "failed": {"105": "boom"}}},
              "detector_seconds": 1.0, "wall_seconds": 2.0}
    text = Q.table(report)
    assert "105" in text and "1/2" in text and "failed" in text and "> 5: 1" in text


def test_offset_stats():
    o = Q.offset_stats(np.array([0, 0, 1, -6, 11]))
    assert (o["n"], o["abs_le_1"], o["abs_gt_5"], o["abs_gt_10"], o["min"], o["max"]) == (5, 3, 2, 1, -6, 11)
    assert o["histogram"] == {"-6": 1, "0": 2, "1": 1, "11": 1}
    assert Q.offset_stats(np.zeros(0)) == {"n": 0}


def test_missing_record_file_one_line(tmp_path, capsys):
    (tmp_path / "100.hea").write_text("100 1 360 1000\n100.dat 212 200 11 1024 0 0 0 MLII\n")
    assert cli.main(["qrs-eval", "--records", "100", "--no-peers", "--db", str(tmp_path),
                     "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be read" in err[0]


@pytest.mark.slow
def test_cli_two_records_no_peers(db, tmp_path):
    out = tmp_path / "qrs.json"
    r = subprocess.run([sys.executable, "-m", "ternecg.cli", "qrs-eval", "--records", "100,207", "--no-peers",
                        "--db", str(db), "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "207" in r.stdout and "gross" in r.stdout and "VF/VFL excluded" in r.stdout
    rep = json.loads(out.read_text())
    assert set(rep["records"]) == {"100", "207"}
    for row in [*rep["records"].values(), rep["gross"], rep["vf_excluded"]["gross"]]:
        assert {"tp", "fn", "fp", "se", "ppv"} <= set(row)
    g = rep["gross"]
    assert g["tp"] == sum(v["tp"] for v in rep["records"].values())
    assert rep["records"]["100"]["fn"] == 0 and rep["records"]["100"]["fp"] == 0
    assert rep["vf_excluded"]["gross"]["fp"] < g["fp"]  # 207's flutter episodes are left out
    assert rep["peers"] == {}
    # DS1 / DS2 subtotals (207 is a DS1 record, 100 a DS2 record)
    for key, rec in (("gross_ds1", "207"), ("gross_ds2", "100")):
        assert {k: rep[key][k] for k in ("tp", "fn", "fp")} == {k: rep["records"][rec][k] for k in ("tp", "fn", "fp")}
    assert "\n   DS1 " in r.stdout and "\n   DS2 " in r.stdout
    assert rep["offsets"]["n"] == g["tp"] and rep["latency_samples"]["regular"]["max"] <= 119
    assert rep["wall_seconds"] > 0


@pytest.mark.slow
def test_peer_cache_and_failure(db, tmp_path, monkeypatch):
    calls = []

    def fake(peer, mv, fs):
        calls.append(peer)
        if peer == "hamilton":
            raise RuntimeError("boom")
        return np.array([5, 1, 1, 10 ** 9])  # unsorted, a duplicate, one past the end

    monkeypatch.setattr(Q, "_run_peer", fake)
    d = Q.peer_detections("gqrs", db, "100", cache=tmp_path)
    assert d.tolist() == [1, 5]
    assert Q.peer_detections("gqrs", db, "100", cache=tmp_path).tolist() == [1, 5]  # from the cache
    err = Q.peer_detections("hamilton", db, "100", cache=tmp_path)
    assert isinstance(err, str) and "boom" in err
    assert Q.peer_detections("hamilton", db, "100", cache=tmp_path) == err
    assert calls == ["gqrs", "hamilton"]
    assert len(list(tmp_path.glob("gqrs-*/100.npy"))) == 1


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_matcher_equals_wfdb_on_whole_records(db):
    """ec57 (nearest first) and wfdb's compare_annotations (reference order) give the same counts
    on whole records with this detector (all 48 were checked once; three hard ones here)."""
    from wfdb.processing import compare_annotations

    from ternecg.golden import qrs
    for rec in ("105", "203", "207"):
        raw, fs, beats, *_ = Q.read_annotated(db, rec)
        det = qrs.detect(raw, fs)
        m = ec57.match(beats, det, fs)
        c = compare_annotations(beats, det, ec57.match_window(fs) + 1)
        assert (m.tp, m.fn, m.fp) == (c.tp, c.fn, c.fp), rec
