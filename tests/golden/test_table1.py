"""The Table I experiment's configs and the results report (no training here: the runs are
`make train-table`, hours on two cores)."""

import pytest

from ternecg.golden import results, table1
from ternecg.golden.spec.config import parse_config


@pytest.mark.parametrize("ch,nh", table1.WIDTHS)
@pytest.mark.parametrize("m", table1.DEPTHS)
def test_family_is_valid_and_ordered_like_the_paper(ch, nh, m):
    cfgs = {k: parse_config(table1.config(m, ch, nh, k)) for k in table1.KINDS}
    for c in cfgs.values():
        assert sum(isinstance(l, type(c.layers[0])) for l in c.layers) == m + 2   # M convs + 2 dense
        assert c.layers[m - 1].lout == 8 and c.layers[-2].cout == nh
    macs = {k: c.macs for k, c in cfgs.items()}
    # as in the paper: group < MSGC = MSGC without shuffle < regular
    assert macs["group"] < macs["msgc"] == macs["msgc_noshuffle"] < macs["regular"]
    assert cfgs["msgc"].layers[1].shuffle and not cfgs["msgc_noshuffle"].layers[1].shuffle


def test_table_rows_mean_and_spread():
    runs = {table1.key(3, 9, 64, "msgc", s): {"m": 3, "channels": 9, "hidden": 64, "conv": "msgc",
                                              "seed": s, "macs": 100, "weights": 50, "acc": a,
                                              "f1": f, "seconds": 10.0, "global_epochs": 10}
            for s, a, f in ((0, 0.97, 0.88), (1, 0.98, 0.90), (2, 0.99, 0.92))}
    rows = results.table1_rows(runs)
    r = rows[(9, 3, "msgc")]
    assert r["n"] == 3 and r["acc"][0] == pytest.approx(0.98) and r["f1"][1] == pytest.approx(0.02)
    md = results.table1_markdown(rows, "float")
    assert "| 9 | 3 | MSGC | 100 | 50 | 98.00 ± 1.00 | 90.00 ± 2.00 | 3 | 45,481 |" in md
    assert md.count("not run") == 23                      # every other paper row is listed, empty


def test_bad_width_is_one_line(capsys):
    assert table1.main(["--channels", "12"]) == 2
    err = capsys.readouterr().err
    assert "--channels [12]" in err and "Traceback" not in err


def test_results_without_the_database_is_one_clear_message(tmp_path, capsys):
    missing = tmp_path / "no_mitdb_here"
    assert results.main(["--db", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ternecg results: error:") and str(missing) in err[0]
    assert "Traceback" not in err[0]
