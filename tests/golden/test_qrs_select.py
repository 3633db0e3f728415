"""`make qrs-select` (golden/qrs_select.py): the sweep's logic on the fixture excerpts, the variants'
constants, the choice rule and noise margin, and the committed results/qrs_select.json against the
shipped constants of golden/spec/qrs.py."""

import json

import numpy as np
import pytest

from ternecg import cli
from ternecg.errors import TernEcgError
from ternecg.golden import ec57, excerpts, qrs
from ternecg.golden import qrs_select as S
from ternecg.golden.spec import qrs as spec
from local_db import database_or_skip


@pytest.fixture(scope="module")
def data():
    """Two fixture excerpts (203: a hard minute, 105: noise) as ``(name, raw, fs, beats)``."""
    ex = {e.record: e for e in excerpts.load()}
    return [(ex[r].name, ex[r].signal, excerpts.FS, ex[r].ref) for r in ("203", "105")]


def test_shipped_params_are_the_spec():
    assert S.params_with({}) == spec.qrs_params(360)
    assert S.shipped() == {**spec.TIMES_MS, "e_shift": spec.E_SHIFT, "floor_codes": spec.FLOOR_CODES,
                           "floor_ms": spec.FLOOR_MS}


def test_variant_params_are_derived_like_the_spec():
    """A changed constant changes its samples, the table size and the floor as golden/spec/qrs.py
    derives them; nothing else."""
    base = spec.qrs_params(360)
    for L1, K in ((14, 10), (22, 10), (17, 7), (17, 13)):
        P = S.params_with({"lp_len": L1, "deriv_lag": K})
        assert (P.lp_len, P.deriv_lag) == (spec.ms(L1, 360), spec.ms(K, 360))
        assert P.floor == spec.floor_for(360, P.lp_len, P.deriv_lag)
    P = S.params_with({"peak_half": 217, "learn": 1400})
    assert P.table == spec.table_size(P.learn, P.rr_init, P.rr_max, P.peak_half) != base.table
    assert S.params_with({"e_shift": 5}).floor < base.floor < S.params_with({"e_shift": 3}).floor
    assert S.params_with({"floor_codes": 31}).floor > base.floor
    assert S.params_with({"refractory": 260}) == base.__class__(**{**base.__dict__, "refractory": spec.ms(260, 360)})
    with pytest.raises(TernEcgError, match="unknown detector constant"):
        S.params_with({"nope": 1})


def test_values_around_the_shipped_one():
    assert S.values_for("mwi_len", 150) == [105, 120, 135, 150, 165, 180, 195]
    assert S.values_for("e_shift", 4) == [2, 3, 4, 5, 6]
    assert S.values_for("e_shift", 1) == [0, 1, 2, 3]
    for name, v in S.shipped().items():
        vals = S.values_for(name, v)
        assert v in vals and vals == sorted(set(vals)) and len(vals) >= 4


def test_choice_ties_go_to_the_shipped_value_then_the_nearest():
    assert S.choose(10, {8: 5, 10: 5, 12: 7}) == 10
    assert S.choose(10, {8: 4, 10: 5, 13: 4}) == 8
    assert S.choose(10, {9: 4, 10: 5, 11: 4}) == 9  # equal distance: the smaller
    assert S.choose(10, {10: 5, 12: 3}) == 12


def test_noise_margin():
    base = {"error_set": {("fn", "r", i) for i in range(10)}}
    same = S.compare(base, base)
    assert same == {"only_shipped": 0, "only_variant": 0, "z": 0.0, "material": False}
    better = S.compare(base, {"error_set": set()})  # 10 errors fewer, none new: z = 10 / sqrt(10)
    assert better["only_shipped"] == 10 and better["material"] and better["z"] == pytest.approx(3.16)
    shuffled = S.compare(base, {"error_set": {("fp", "r", i) for i in range(8)}})  # 10 gone, 8 new
    assert not shuffled["material"] and shuffled["z"] == pytest.approx(2 / np.sqrt(18), abs=0.01)


def test_sweep_on_the_excerpts(data):
    """The sweep's counts are the detector's and the matcher's on each variant; variants that round
    to the shipped samples are the shipped detector; the best is the fewest errors."""
    rep = S.sweep(data, constants=["deriv_lag", "refractory", "e_shift"])
    assert rep["records"] == [n for n, *_ in data] and rep["beats"] == sum(len(b) for *_, b in data)
    base = S.score(spec.qrs_params(360), data)
    assert rep["shipped_errors"]["errors"] == base["errors"] > 0
    for c in ("deriv_lag", "refractory", "e_shift"):
        r = rep["constants"][c]
        assert r["shipped"] == S.shipped()[c] and r["errors_shipped"] == base["errors"]
        errs = {v["value"]: v["errors"] for v in r["variants"]}
        assert r["best"] == S.choose(r["shipped"], errs) and r["errors_best"] == min(errs.values())
        for v in r["variants"]:
            P = S.params_with({c: v["value"]})
            fn = fp = 0
            for _n, raw, fs, beats in data:
                m = ec57.match(beats, qrs.detect(raw, fs, params=P), fs)
                fn, fp = fn + m.fn, fp + m.fp
            assert (v["fn"], v["fp"], v["errors"]) == (fn, fp, fn + fp), (c, v)
            assert sum(v["by_record"].values()) == v["errors"] - base["errors"]
            assert v.get("same_as_shipped", False) == (P == spec.qrs_params(360) and v["value"] != r["shipped"])
    lag = {v["value"]: v for v in rep["constants"]["deriv_lag"]["variants"]}
    assert lag[11].get("same_as_shipped") and lag[11]["errors"] == base["errors"]  # 11 ms = 4 samples, as 10
    assert set(rep["agree"]) | set(rep["differ_within_noise"]) | set(rep["differ_materially"]) == set(rep["constants"])
    json.dumps(rep)  # the report is JSON (no sets, no numpy scalars)
    text = S.table(rep)
    assert "deriv_lag" in text and "refractory" in text


def test_sweep_runs_in_worker_processes(data):
    one = S.sweep(data[:1], constants=["twave"])
    two = S.sweep(data[:1], constants=["twave"], jobs=2)
    assert one == two


def test_sweep_uses_the_vectorised_detector(data, monkeypatch):
    """The sweep runs golden/qrs.py's whole-record path (detect), never the per-sample stream."""
    def no_stream(*a, **k):
        raise AssertionError("qrs-select ran the per-sample QrsStream")
    monkeypatch.setattr(qrs.QrsStream, "push", no_stream)
    rep = S.sweep(data[:1], constants=["rr_min"])
    assert rep["constants"]["rr_min"]["errors_shipped"] == S.score(spec.qrs_params(360), data[:1])["errors"]


def test_bad_constants_one_line(capsys):
    assert cli.main(["qrs-select", "--constants", "lp_len,bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ternecg qrs-select: error:") and "bogus" in err[0]


def test_committed_results_name_the_shipped_constants():
    """results/qrs_select.json must be from the shipped constants: after a change to
    golden/spec/qrs.py, re-run `make qrs-select` (and commit results/qrs_select.json)."""
    if not S.RESULT.is_file():
        pytest.fail(f"{S.RESULT} is missing: run `make qrs-select` and commit it")
    rep = json.loads(S.RESULT.read_text())
    ship = S.shipped()
    stale = {k: (rep.get("shipped", {}).get(k), v) for k, v in ship.items() if rep.get("shipped", {}).get(k) != v}
    assert not stale, (f"{S.RESULT} was made with other detector constants than golden/spec/qrs.py ships "
                       f"(constant: (in the results, shipped)): {stale}; re-run `make qrs-select` and commit it")
    assert set(rep["constants"]) == set(ship), f"{S.RESULT} does not sweep every constant: re-run `make qrs-select`"
    for c, r in rep["constants"].items():
        assert r["shipped"] == ship[c] and any(v["value"] == ship[c] for v in r["variants"]), c


def test_results_paragraph_says_whether_ds2_is_held_out(data, tmp_path, monkeypatch):
    """docs/results.md section 5 (golden/results_monitor.py): DS2 is called held out only when no
    DS1 optimum differs materially."""
    from ternecg.golden import results_monitor
    rep = S.sweep(data[:1], constants=["refractory", "twave"])
    path = tmp_path / "qrs_select.json"
    monkeypatch.setattr(S, "RESULT", path)
    g = {"tp": 990, "fn": 10, "fp": 5, "se": 0.99, "ppv": 0.995}
    qrs = {"gross_ds1": g, "gross_ds2": dict(g, fn=3)}
    assert "run `make qrs-select`" in results_monitor.held_out_paragraph(qrs)[0]
    for far in ([], ["twave"]):
        path.write_text(json.dumps(dict(rep, differ_materially=far)))
        text = results_monitor.held_out_paragraph(qrs)[0]
        assert "DS2 (22 records): Se 99.00 %, +P 99.50 %, 3 FN + 5 FP = 8 errors of 993 beats" in text
        assert ("is its held-out test" in text) == (not far) and ("not a held-out figure" in text) == bool(far)




@pytest.mark.slow
def test_committed_results_match_the_detector_on_ds1():
    """The shipped detector's DS1 errors in results/qrs_select.json are today's (a change to
    golden/qrs.py's rules also needs `make qrs-select` again)."""
    db = database_or_skip()
    rep = json.loads(S.RESULT.read_text())
    got = S.score(spec.qrs_params(360), S.load_ds1(db))
    want = rep["shipped_errors"]
    assert got["records"] == want["records"], (f"the shipped detector's DS1 counts differ from {S.RESULT}: "
                                               f"re-run `make qrs-select` and commit it")
