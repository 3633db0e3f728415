"""`make hw-report` (boards/hw_report.py) without synthesis: the --settings option and its one-line
errors, the estimate's error columns and flags, the table, and --calibrate on a recorded hw.json."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ternecg.boards import hw_report as H
from ternecg.errors import TernEcgError
from ternecg.golden.spec import modelfile
from ternecg.hw import estimate as E

REPO = Path(__file__).resolve().parents[2]


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", "ternecg.cli", "hw-report", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("arg, words", [
    ("ecp5-85f", ["must be DEVICE:P,...", "up5k:1,2,3"]),
    ("up5k:1,x", ["must be DEVICE:P,..."]),
    ("xc7:4", ["device 'xc7' is not one of up5k, ecp5-85f"]),
    ("up5k:0", ["parallel = 0 must be an integer in 1..64"]),
    ("ecp5-85f:65", ["parallel = 65 must be an integer in 1..64"]),
    ("up5k:4", ["up5k P = 4 does not fit: its memories need 35 block RAMs, the device has 30"]),
])
def test_bad_settings_give_one_line(arg, words):
    rc, out, err = cli("--settings", arg, "--out", "/tmp/hw-report-should-not-exist")
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]
    assert not Path("/tmp/hw-report-should-not-exist").exists()


def test_parse_settings():
    assert H.parse_settings("up5k:1,2, 3") == ("up5k", [1, 2, 3])
    assert H.check_settings({"ecp5-85f": [36]}) == {"ecp5-85f": [36]}
    with pytest.raises(TernEcgError, match="no settings"):
        H.check_settings({})


def _row(device="up5k", p=2, lc=1000, ebr=23, period=42815, est_lc=1050, est_cycles=42815):
    return {"device": device, "parallel": p, "lc": lc, "lc_total": 5280, "ebr": ebr, "fmax_mhz": 30.0,
            "period_cycles": period, "beats_per_s": 700.7, "bound_ratio": 1.02,
            "estimate": {"lc": est_lc, "ebr": ebr, "cycles_per_beat": est_cycles}}


def test_estimate_error_and_flags():
    r = _row()
    r["estimate_error"] = H._errors(r)
    assert r["estimate_error"] == {"lc": 0.05, "ebr": 0.0, "cycles": 0}
    assert H._flags(r) == []
    bad = _row(est_lc=1200, est_cycles=42816)
    bad["estimate_error"] = H._errors(bad)
    assert H._flags(bad) == ["LC estimate off by +20.0%", "cycles estimate off by 1"]
    bad["estimate_flags"] = H._flags(bad)
    r["estimate_flags"] = []
    text = H.table({"settings": [r, bad], "estimate": {"lc_tolerance": E.LC_TOLERANCE}})
    assert "| up5k | 2 | 1000/5280 (1050, +5.0%) |" in text
    assert "ESTIMATE OFF at: up5k P = 2" in text


def test_calibrate_prints_the_constants(tmp_path):
    """--calibrate fits the constants to an hw.json (here: the model's own predictions, so the
    fit returns the recorded constants' sums) and prints them as Python."""
    model = modelfile.load()
    rows = []
    for device, p in (("up5k", 1), ("up5k", 3), ("up5k", 6), ("ecp5-85f", 36)):
        s = E.compile_schedule(model, p)
        luts = {f"hwtop.acc.engine.{k}": round(v) for k, v in E.lut_by_part(s).items() if k != "rest"}
        luts["hwtop.acc.norm"] = round(E.lut_by_part(s)["rest"])
        rows.append({"device": device, "parallel": p, "lc": E.lc(s, device), "lc_by_module": luts})
    (tmp_path / "hw.json").write_text(json.dumps({"model": {"name": "default", "sha256": model.sha256},
                                                  "settings": rows}))
    text = H.calibrate(tmp_path / "hw.json")
    assert text.startswith("LUT_MODEL = {") and "FF_ALONE = " in text
    assert "CALIBRATION = {'up5k': (1, 3, 6), 'ecp5-85f': (36,)}" in text
    namespace = {}
    exec(text, namespace)
    assert set(namespace["LUT_MODEL"]) == set(E.LUT_MODEL)


def test_calibrate_without_a_report(tmp_path):
    with pytest.raises(TernEcgError, match="run `make hw-report` first"):
        H.calibrate(tmp_path / "hw.json")
