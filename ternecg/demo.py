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

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir

REPORT = build_dir("reports", "demo.json")


def demo(parallel=1, board="icebreaker", simulator="verilator", beats=None, bitstream=True):
    """The demo; ``beats``: only the first N fixture beats; ``bitstream=False``: skip step 3."""
    from ternecg.boards.build import build
    from ternecg.golden import fixture
    from ternecg.golden.beats import binary_labels
    from ternecg.hw.generate import generate
    from ternecg.sim.verify import Beats, Options, verify
    from ternecg.tools import setup_env

    setup_env()
    t0 = time.time()
    fx = fixture.load()
    print(f"[1/3] Verilog for the default model (PARALLEL={parallel}) ...", flush=True)
    gen = generate(None, parallel)
    man = gen["manifest_data"]

    n = len(fx["raw"]) if beats is None else min(int(beats), len(fx["raw"]))
    print(f"[2/3] cocotb on {simulator}: {n} fixture beats vs the integer reference ...", flush=True)
    sim = verify(Beats.fixture(count=n), Options(parallel=parallel, simulator=simulator, bench="cocotb"))
    labels = binary_labels(fx["symbol"][:n])
    accuracy = float(np.mean(fx["cls"][:n] == labels))

    if bitstream:
        print(f"[3/3] {board} bitstream ...", flush=True)
        brd = build(board, parallel=parallel)
    else:
        print("[3/3] bitstream skipped (--no-bitstream)", flush=True)
        brd = {}
    summary = {
        "model": man["model"], "parallel": parallel,
        "beats": sim.beats, "mismatches": len(sim.mismatched_beats) + len(sim.failures),
        "accuracy_on_fixture_beats": round(accuracy, 4),
        "simulator": simulator, "sim_beats_per_s": round(sim.beats_per_s, 2),
        "cycles_per_beat_worst": man["cycles_per_beat"]["worst"],
        "cycles_per_beat_fixture_mean": round(sim.cycles / sim.beats, 1) if sim.beats else None,
        "board": board, "lc_used": brd.get("lc_used"), "lc_total": brd.get("lc_total"),
        "ebr": brd.get("ebr"), "fmax_mhz": brd.get("fmax_mhz"), "timing_met": brd.get("timing_met"),
        "bitstream": brd.get("bitstream"), "seconds": round(time.time() - t0, 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=1) + "\n")
    if summary["mismatches"]:
        raise TernEcgError(f"{summary['mismatches']} of {summary['beats']} beats differ from golden: "
                           f"{(sim.mismatches + sim.failures)[0]}")
    fm = brd.get("fmax_mhz")
    fm = max(fm.values()) if isinstance(fm, dict) and fm else fm
    board_line = (f"{board}: {summary['lc_used']}/{summary['lc_total']} logic cells, {summary['ebr']} block RAMs, "
                  f"Fmax {fm} MHz" if brd else "no bitstream (--no-bitstream)")
    print(f"""
demo: {summary['beats']} real MIT-BIH beats, {summary['mismatches']} mismatches against the golden integer reference
      accuracy on these beats (N vs abnormal): {accuracy:.4f}
      {board_line}
      cycles per beat: {summary['cycles_per_beat_worst']} worst case, {summary['cycles_per_beat_fixture_mean']} mean
      bitstream: {summary['bitstream']}
      ({summary['seconds']} s; summary in {REPORT})""")
    return summary


def add_parser(sub):
    """``ternecg demo`` (``make demo``)."""
    from ternecg import options
    p = sub.add_parser("demo", description=__doc__.split("\n")[0])
    options.add_parallel(p)
    options.add_board(p, required=False, default="icebreaker")
    p.add_argument("--beats", metavar="N", type=options.positive_int, default=None,
                   help="only the first N fixture beats (a quick run; default: all)")
    p.add_argument("--no-bitstream", dest="bitstream", action="store_false",
                   help="skip step 3, the board's bitstream")
    p.set_defaults(func=_command)
    return p


def _command(args):
    demo(parallel=args.parallel, board=args.board, beats=args.beats, bitstream=args.bitstream)
