"""`make demo`: the main job in one command, on the shipped model.

1. generate the Verilog (and its manifest) of the default model;
2. simulate it with cocotb on Verilator against the golden integer reference, on every fixture beat
   (302 real MIT-BIH beats);
3. build the iCEBreaker bitstream with Yosys / nextpnr / icepack;
4. print one short summary and write build/reports/demo.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir

REPORT = build_dir("reports", "demo.json")


def demo(parallel=1, board="icebreaker", simulator="verilator"):
    from ternecg.boards.build import build
    from ternecg.golden import fixture
    from ternecg.golden.spec import modelfile
    from ternecg.golden.beats import binary_labels
    from ternecg.hw.generate import generate
    from ternecg.hw.top import Accelerator
    from ternecg.sim import runner
    from ternecg.hw import verilog
    from ternecg.sim.network_tb import make_vectors
    from ternecg.tools import setup_env

    setup_env()
    t0 = time.time()
    model, fx = modelfile.load(), fixture.load()
    print(f"[1/3] Verilog for {model.path} (PARALLEL={parallel}) ...", flush=True)
    gen = generate(None, parallel)
    man = gen["manifest_data"]

    print(f"[2/3] cocotb on {simulator}: {len(fx['raw'])} fixture beats vs the integer reference ...",
          flush=True)
    acc = Accelerator(model, parallel, debug=True)
    name = f"demo_p{parallel}"
    src = verilog.generate(acc, name, runner.BUILD_ROOT / "verilog")
    vec = make_vectors(model, fx["raw"], records=fx["record"], samples=fx["sample"], accel=acc)
    vpath = runner.write_vectors(runner.BUILD_ROOT / "vectors" / f"{name}.npz", **vec)
    sim_report = runner.BUILD_ROOT / f"{name}-report.json"
    sim_model = runner.build([src], name, simulator)
    sim_t = time.time()
    sim_model.run("ternecg.sim.tests.test_network_cocotb", testcase="stream_beats", run_name="demo",
                  extra_env={"SIM_VECTORS": vpath, "SIM_IDLE": "none", "SIM_BACKPRESSURE": "none",
                             "SIM_FIRST": 0, "SIM_COUNT": "", "SIM_REPORT": sim_report, "SIM_TAP": 0})
    sim_t = time.time() - sim_t
    sim = json.loads(Path(sim_report).read_text())
    labels = binary_labels(fx["symbol"])
    accuracy = float(np.mean(fx["cls"] == labels))

    print(f"[3/3] {board} bitstream ...", flush=True)
    brd = build(board, parallel=parallel)
    summary = {
        "model": man["model"], "parallel": parallel,
        "beats": sim["beats"], "mismatches": sim["mismatched_beats"],
        "accuracy_on_fixture_beats": round(accuracy, 4),
        "simulator": simulator, "sim_beats_per_s": round(sim["beats"] / sim_t, 2),
        "cycles_per_beat_worst": man["cycles_per_beat"]["worst"],
        "cycles_per_beat_fixture_mean": man["cycles_per_beat"]["fixture"]["mean"],
        "board": board, "lc_used": brd.get("lc_used"), "lc_total": brd.get("lc_total"),
        "ebr": brd.get("ebr"), "fmax_mhz": brd.get("fmax_mhz"), "timing_met": brd.get("timing_met"),
        "bitstream": brd.get("bitstream"), "seconds": round(time.time() - t0, 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=1) + "\n")
    if summary["mismatches"]:
        raise TernEcgError(f"{summary['mismatches']} of {summary['beats']} beats differ from golden; "
                           f"see {runner.BUILD_ROOT} for the simulation logs")
    fm = brd.get("fmax_mhz")
    fm = max(fm.values()) if isinstance(fm, dict) and fm else fm
    print(f"""
demo: {summary['beats']} real MIT-BIH beats, {summary['mismatches']} mismatches against the golden integer reference
      accuracy on these beats (N vs abnormal): {accuracy:.4f}
      {board}: {summary['lc_used']}/{summary['lc_total']} logic cells, {summary['ebr']} block RAMs, Fmax {fm} MHz
      cycles per beat: {summary['cycles_per_beat_worst']} worst case, {summary['cycles_per_beat_fixture_mean']} mean
      bitstream: {summary['bitstream']}
      ({summary['seconds']} s; summary in {REPORT})""")
    return summary
