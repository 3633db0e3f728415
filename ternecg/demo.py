"""`make demo`: the main job in one command, on the shipped models.

1. generate the Verilog (and its manifest) of the default model;
2. simulate it with cocotb on Verilator (``--simulator icarus``: Icarus) against the golden integer
   reference, on every fixture beat
   (302 real MIT-BIH beats);
3. the live monitor (hw/monitor.py: R-peak detector, beat window, RR codes, accelerator with the
   four-class model, models/aami4_inter.json, else models/inter_patient.json) on one raw excerpt
   of fixtures/excerpts.npz (record 208, 60 s) in the Verilator speed harness, every beat (R-peak
   sample, class, logits) against the golden software monitor (golden/monitor.py);
4. build the iCEBreaker bitstream with Yosys / nextpnr / icepack;
5. build the iCEBreaker monitor bitstream (``make synth APP=monitor``: its report with the
   real-time margin and the sample rate it sustains);
6. print one short summary and write build/reports/demo.json.
"""

from __future__ import annotations

import json
import time

import numpy as np

from ternecg.errors import TernEcgError
from ternecg.paths import build_dir

REPORT = build_dir("reports", "demo.json")


def monitor_sim(seconds=None) -> dict:
    """Step 3: the monitor on the first excerpt (its first ``seconds``) against golden/monitor.py."""
    import numpy as np

    from ternecg.golden import excerpts
    from ternecg.paths import relative
    from ternecg.sim.monitor_regress import monitor_model, monitor_part
    e = excerpts.load()[0]
    x = np.asarray(e.signal, np.int64)
    if seconds is not None:
        x = x[:max(240, int(seconds * excerpts.FS))]
    res = monitor_part(None, model_path=monitor_model(), signals=[(e.name, x)], jobs=1, progress=False)
    return {"excerpt": e.name, "samples": len(x), "model": relative(monitor_model()), "parallel": res["parallel"],
            "beats": res["beats"], "mismatches": res["mismatches"], "samples_per_s": res["samples_per_s"],
            "first_mismatch": res["per_record"][e.name]["first_mismatch"]}


def demo(parallel=1, board="icebreaker", simulator="verilator", beats=None, bitstream=True, monitor=True,
         monitor_seconds=None):
    """The demo; ``beats``: only the first N fixture beats; ``bitstream=False``: skip steps 4 and 5;
    ``monitor=False``: skip steps 3 and 5; ``monitor_seconds``: only the excerpt's first seconds."""
    from ternecg.boards.build import build
    from ternecg.golden import fixture
    from ternecg.golden.beats import binary_labels
    from ternecg.hw.generate import generate
    from ternecg.sim.verify import Beats, Options, verify
    from ternecg.tools import setup_env

    setup_env()
    t0 = time.time()
    fx = fixture.load()
    print(f"[1/5] Verilog for the default model (PARALLEL={parallel}) ...", flush=True)
    gen = generate(None, parallel)
    man = gen["manifest_data"]

    n = len(fx["raw"]) if beats is None else min(int(beats), len(fx["raw"]))
    print(f"[2/5] cocotb on {simulator}: {n} fixture beats vs the integer reference ...", flush=True)
    sim = verify(Beats.fixture(count=n), Options(parallel=parallel, simulator=simulator, bench="cocotb"))
    labels = binary_labels(fx["symbol"][:n])
    accuracy = float(np.mean(fx["cls"][:n] == labels))

    if monitor:
        print("[3/5] the live monitor on a raw excerpt in the Verilator speed harness vs golden/monitor.py ...",
              flush=True)
        mon = monitor_sim(monitor_seconds)
    else:
        print("[3/5] monitor skipped (--no-monitor)", flush=True)
        mon = {}
    if bitstream:
        print(f"[4/5] {board} bitstream ...", flush=True)
        brd = build(board, parallel=parallel)
    else:
        print("[4/5] bitstream skipped (--no-bitstream)", flush=True)
        brd = {}
    if bitstream and monitor:
        print(f"[5/5] {board} monitor bitstream ...", flush=True)
        mbrd = build(board, parallel=parallel, app="monitor")
    else:
        print("[5/5] monitor bitstream skipped", flush=True)
        mbrd = {}
    summary = {
        "model": man["model"], "parallel": parallel,
        "beats": sim.beats, "mismatches": len(sim.mismatched_beats) + len(sim.failures),
        "accuracy_on_fixture_beats": round(accuracy, 4),
        "simulator": simulator, "sim_beats_per_s": round(sim.beats_per_s, 2),
        "cycles_per_beat_worst": man["cycles_per_beat"]["worst"],
        "cycles_per_beat_fixture_mean": round(sim.cycles / sim.beats, 1) if sim.beats else None,
        "board": board, "lc_used": brd.get("lc_used"), "lc_total": brd.get("lc_total"),
        "ebr": brd.get("ebr"), "fmax_mhz": brd.get("fmax_mhz"), "timing_met": brd.get("timing_met"),
        "bitstream": brd.get("bitstream"),
        "monitor_sim": mon or None,
        "monitor_board": {k: mbrd.get(k) for k in ("model", "lc_used", "lc_total", "ebr", "spram", "fmax_mhz",
                                                   "timing_met", "bitstream", "real_time", "sample_rate")}
        if mbrd else None,
        "seconds": round(time.time() - t0, 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=1) + "\n")
    if summary["mismatches"]:
        raise TernEcgError(f"{summary['mismatches']} of {summary['beats']} beats differ from golden: "
                           f"{(sim.mismatches + sim.failures)[0]}")
    if mon and mon["mismatches"]:
        raise TernEcgError(f"the monitor's beats differ from golden/monitor.py on excerpt {mon['excerpt']}: "
                           f"{mon['mismatches']} mismatches, the first {mon['first_mismatch']}")
    fm = brd.get("fmax_mhz")
    fm = max(fm.values()) if isinstance(fm, dict) and fm else fm
    board_line = (f"{board}: {summary['lc_used']}/{summary['lc_total']} logic cells, {summary['ebr']} block RAMs, "
                  f"Fmax {fm} MHz" if brd else "no bitstream (--no-bitstream)")
    mon_line = (f"monitor: {mon['beats']} beats detected and classified on {mon['samples']} raw samples of "
                f"{mon['excerpt']} ({mon['model']}), {mon['mismatches']} mismatches against golden/monitor.py"
                if mon else "monitor: skipped (--no-monitor)")
    if mbrd:
        rt, sr = mbrd["real_time"], mbrd["sample_rate"]
        mfm = max(mbrd["fmax_mhz"].values())
        mon_board = (f"{board} monitor: {mbrd['lc_used']}/{mbrd['lc_total']} logic cells, {mbrd['ebr']} block RAMs, "
                     f"{mbrd['spram']} SPRAM, Fmax {mfm} MHz; {rt['with_front_end']['margin']}x real time at 250 bpm, "
                     f"{sr['samples_per_s']} samples/s\n      monitor bitstream: {mbrd['bitstream']}")
    else:
        mon_board = "monitor bitstream: skipped"
    print(f"""
demo: {summary['beats']} real MIT-BIH beats, {summary['mismatches']} mismatches against the golden integer reference
      accuracy on these beats (N vs abnormal): {accuracy:.4f}
      {board_line}
      cycles per beat: {summary['cycles_per_beat_worst']} worst case, {summary['cycles_per_beat_fixture_mean']} mean
      bitstream: {summary['bitstream']}
      {mon_line}
      {mon_board}
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
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="the simulator of step 2 (default: verilator; icarus builds in seconds but "
                        "runs a beat in about a minute: a check of one or two beats)")
    p.add_argument("--no-bitstream", dest="bitstream", action="store_false",
                   help="skip steps 4 and 5, the board's bitstreams")
    p.add_argument("--no-monitor", dest="monitor", action="store_false",
                   help="skip steps 3 and 5, the live monitor in simulation and its bitstream")
    p.add_argument("--monitor-seconds", metavar="S", type=options.positive_float, default=None,
                   help="step 3 on the excerpt's first S seconds only (default: all 60)")
    p.set_defaults(func=_command)
    return p


def _command(args):
    demo(parallel=args.parallel, board=args.board, simulator=args.simulator, beats=args.beats,
         bitstream=args.bitstream,
         monitor=args.monitor, monitor_seconds=args.monitor_seconds)
