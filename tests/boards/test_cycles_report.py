"""`make cycles` (boards/cycles_report.py): where the cycles per beat go, from the schedule alone.

The three parts add up to the accelerator's own worst-case count (the one the simulation tests
measure), each phase's MACs add up to the model's, the CLI writes cycles.json and names a bad lane
count in one line, and hw-report's table carries the same rows."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ternecg.boards import cycles_report as C
from ternecg.boards import hw_report as H
from ternecg.golden.spec import modelfile
from ternecg.hw.schedule import compile_schedule
from ternecg.hw.top import Accelerator

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["default", "aami4_inter"])
@pytest.mark.parametrize("parallel", [1, 2, 6, 13, 17, 48])
def test_parts_add_up_to_the_accelerators_cycles(name, parallel):
    """13 and 17: a narrower lane count's geometry (4 x 3 and 8 x 2: 12 and 16 built), with a
    depthwise branch on positions (13) and a conv split by position (17)."""
    m = modelfile.load(modelfile.MODELS_DIR / f"{name}.json")
    acc = Accelerator(m, parallel)
    f = C.schedule_figures(compile_schedule(m, parallel), acc.act_latency)
    b = f["cycle_breakdown"]
    assert f["cycles_per_beat"] == acc.engine_cycles()
    assert b["bound"] + b["tiling"] + b["ends"] == pytest.approx(acc.engine_cycles())
    assert b["bound"] == pytest.approx(m.cfg.macs / parallel, abs=0.01)
    assert sum(p["macs"] for p in f["cycles_by_phase"]) == m.cfg.macs
    assert sum(p["cycles"] for p in f["cycles_by_phase"]) == acc.engine_cycles()
    assert all(p["taps"] >= p["bound"] - 1e-9 and p["ends"] >= 2 for p in f["cycles_by_phase"])
    assert f["bound_ratio"] == round(acc.engine_cycles() / (m.cfg.macs / parallel), 4)
    assert f["meets_target"] == (f["bound_ratio"] <= f["ratio_target"])
    g = f["geometry"]
    assert g["streams"] * g["lanes"] == f["adders"] == {13: 12, 17: 16}.get(parallel, parallel)   # 12, 16 built
    if parallel == 1:
        assert b["tiling"] == 0


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", "ternecg.cli", "cycles", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_writes_the_report(tmp_path):
    rc, out, err = cli("--parallel", "1,17,48", "--out", str(tmp_path))
    assert rc == 0, err
    rep = json.loads((tmp_path / "cycles.json").read_text())
    assert [s["parallel"] for s in rep["settings"]] == [1, 17, 48]
    assert rep["meet_target"] == [1] and rep["miss_target"] == [17, 48]
    assert "| 48 | 8 x 6 | 2326 |" in out and "over it at P = 17, 48" in out
    assert "| 17 | 8 x 2 (16 built) | 5803 | 4923.18 |" in out       # a narrower lane count's geometry
    assert [s["adders"] for s in rep["settings"]] == [1, 16, 48]
    hw_rows = [dict(s, device="ecp5-85f") for s in rep["settings"]]
    assert "| ecp5-85f | 48 | 8 x 6 | 2326 |" in C.table(hw_rows)


@pytest.mark.parametrize("value, words", [("0", "parallel = 0 must be an integer in 1..64"),
                                          ("65", "parallel = 65 must be an integer in 1..64"),
                                          ("x", "--parallel")])
def test_cli_bad_parallel_is_one_line(tmp_path, value, words):
    rc, out, err = cli("--parallel", value, "--out", str(tmp_path))
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "cycles.json").exists()


def test_hw_report_table_has_the_cycles_rows():
    m = modelfile.load()
    row = {"device": "up5k", "parallel": 6, "lc": 2505, "lc_total": 5280, "ebr": 27, "fmax_mhz": 28.5,
           "period_cycles": 14608, "beats_per_s": 1951.0, "bound_ratio": 1.047, "cycles_per_beat": 14605,
           "estimate": {"lc": 2629, "ebr": 27, "cycles_per_beat": 14608}}
    row.update({k: v for k, v in C.schedule_figures(compile_schedule(m, 6), 5).items() if k != "cycles_per_beat"})
    row["estimate_error"] = H._errors(row)
    row["estimate_flags"] = H._flags(row)
    text = H.table({"settings": [row], "estimate": {"lc_tolerance": 0.1}})
    assert "where the worst-case cycles per beat go" in text and "| up5k | 6 | 2 x 3 | 14605 |" in text
