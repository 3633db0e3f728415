"""``ternecg monitor-report``: the monitor's front end on the iCE40 UP5K (area, timing, cycles).

The front end (:class:`~ternecg.hw.qrs_front_end.FrontEnd` + :class:`~ternecg.hw.sample_ring.SampleRing`,
wired as in :class:`~ternecg.hw.monitor.Monitor`, their RAMs in SPRAM) is synthesized alone with
Yosys ``synth_ice40`` and placed and routed by nextpnr-ice40 (UP5K, sg48, seed 1) inside a thin
pin wrapper (the sample on 12 pins, the outputs XOR-folded into an 8-bit register: a few dozen
cells, counted in the total and reported apart), as ``make hw-report`` does for the accelerator (boards/hw_report.py). The LUT4
count of every module comes from a second, unflattened synthesis. Cycles per sample are measured
on the instruction-level model (hw/qrs_model.py, which the gateware matches cycle for cycle) over
the fixture's excerpts, and give the sample rate the front end sustains at 12 MHz.

Writes ``build/reports/monitor_report.json`` and prints a table; :func:`front_end_report` is the
function a board build calls for its per-module figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from amaranth import Module
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.paths import build_dir, relative

REPORT = build_dir("reports", "monitor_report.json")
WORK = build_dir("monitor-report")
CLOCK_MHZ = 12.0
FS = 360


class FrontEndPins(wiring.Component):
    """The front end behind 24 pins (for place and route only): a sample and its ``last`` flag on
    ``sample``; the window samples, the beats and the overrun count leave XOR-folded on
    ``fold``."""

    def __init__(self, *, local=32, bits=4, irregular=False):
        from ternecg.hw.qrs_front_end import FrontEnd
        from ternecg.hw.sample_ring import SampleRing
        self._fe = FrontEnd(local=local, bits=bits, irregular=irregular, spram=True)
        self._ring = SampleRing(spram=True)
        super().__init__({"sample": In(12), "valid_in": In(1), "ready_out": In(1),
                          "ready_in": Out(1), "valid_out": Out(1), "fold": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.front_end = fe = self._fe
        m.submodules.window = ring = self._ring
        connect(m, ring.replay, fe.samples)
        m.d.comb += [ring.samples.payload.eq(self.sample), ring.samples.valid.eq(self.valid_in),
                     self.ready_in.eq(ring.samples.ready),
                     fe.beats.ready.eq(self.ready_out), fe.windows.ready.eq(self.ready_out),
                     self.valid_out.eq(fe.beats.valid | fe.windows.valid)]
        fold = 0
        for v in (Value.cast(fe.beats.payload), Value.cast(fe.windows.payload), ring.overruns):
            for k in range(0, len(v), 8):
                fold = fold ^ v[k:k + 8]
        m.d.sync += self.fold.eq(fold)
        return m


def cycles_per_sample(*, local=32, bits=4, irregular=False):
    """Front-end cycles per sample on the model over the four excerpts: median, 99th percentile
    and the worst sample (the last sample of a record, which runs the 119-sample flush, apart)."""
    import numpy as np

    from ternecg.golden import excerpts
    from ternecg.hw.qrs_model import Machine
    from ternecg.hw.qrs_program import front_end_program
    m = Machine(front_end_program(local=local, bits=bits, irregular=irregular))
    m.run()
    per, ends = [], []
    for e in excerpts.load():
        x = e.signal
        for i, v in enumerate(x):
            c = m.cycles
            m.put(0, int(v), last=(i == len(x) - 1))
            m.run()
            (ends if i == len(x) - 1 else per).append(m.cycles - c)
    per = np.asarray(per)
    return {"median": int(np.median(per)), "mean": round(float(per.mean()), 1),
            "p99": int(np.percentile(per, 99)), "max": int(per.max()),
            "end_of_record": int(max(ends)), "samples": int(per.size) + len(ends)}


def _synth(component, name, workdir):
    """Yosys + nextpnr (boards/hw_report.py's flow) and the unflattened LUT4 count per module."""
    from ternecg.boards.hw_report import luts_by_module, synth_ice40
    res = synth_ice40(component, name, workdir, freq=CLOCK_MHZ)
    res["lut4_by_module"] = luts_by_module(workdir, name)
    rep = json.loads((Path(workdir) / "nextpnr.json").read_text())
    res["spram"] = rep["utilization"].get("ICESTORM_SPRAM", {}).get("used", 0)
    return res


def front_end_report(*, local=32, bits=4, irregular=False, work=WORK):
    """Synthesize the front end alone; ``{lc, lc_total, ebr, spram, fmax_mhz, lut4_by_module,
    program_words, ...}`` (the board build reports these per module)."""
    from ternecg.hw.qrs_program import front_end_program
    pins = FrontEndPins(local=local, bits=bits, irregular=irregular)
    res = _synth(pins, "frontend", Path(work) / "front_end")
    res["program_words"] = len(front_end_program(local=local, bits=bits, irregular=irregular))
    res["wrapper"] = "sim/monitor_report.py FrontEndPins (the sample on 12 pins, XOR-folded outputs)"
    return res


def shipped_settings() -> dict:
    """The front end's settings for the shipped monitor model (models/aami4_inter.json: its
    ``rr_local``, ``rr_bits`` and ``rr_irregular``), or the defaults without it."""
    from ternecg.golden.spec import modelfile
    path = modelfile.MODELS_DIR / "aami4_inter.json"
    if not path.is_file():
        return {"local": 32, "bits": 4, "irregular": False}
    cfg = modelfile.load(path).cfg
    return {"local": cfg.rr_local, "bits": cfg.rr_bits, "irregular": bool(cfg.rr_irregular)}


def report(*, out=None, **settings):
    t0 = time.time()
    settings = settings or shipped_settings()
    res = {"device": "iCE40 UP5K (sg48), nextpnr seed 1", "clock_mhz": CLOCK_MHZ, "settings": settings,
           "front_end": front_end_report(**settings)}
    cyc = cycles_per_sample(**settings)
    hz = CLOCK_MHZ * 1e6
    res["cycles_per_sample"] = cyc
    res["max_sample_rate_hz"] = {"typical": round(hz / cyc["mean"]), "worst_sample": round(hz / cyc["max"])}
    res["real_time_margin_at_360_hz"] = round(hz / FS / cyc["max"], 1)
    res["seconds"] = round(time.time() - t0, 1)
    path = Path(out) / REPORT.name if out else REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    print(f"\nwrote {relative(path)}")
    return res


def table(res):
    f = res["front_end"]
    c = res["cycles_per_sample"]
    lines = ["| part | LC | EBR | SPRAM | Fmax MHz |", "|---|---|---|---|---|",
             f"| front end (detector + RR codes + beat window) | {f['lc']}/{f['lc_total']} | {f['ebr']} | "
             f"{f['spram']} | {f['fmax_mhz']} |", "", "LUT4 by module: " +
             ", ".join(f"{k} {v}" for k, v in sorted(f["lut4_by_module"].items())),
             f"program: {f['program_words']} words",
             f"cycles per sample: median {c['median']}, mean {c['mean']}, 99% {c['p99']}, worst {c['max']} "
             f"(end of a record: {c['end_of_record']})",
             f"at {res['clock_mhz']} MHz: {res['max_sample_rate_hz']['typical']} samples/s typical, "
             f"{res['max_sample_rate_hz']['worst_sample']} for the worst sample; "
             f"{res['real_time_margin_at_360_hz']}x real time at 360 Hz in the worst case"]
    return "\n".join(lines)


def add_parser(sub):
    """``ternecg monitor-report``."""
    from ternecg import options
    p = sub.add_parser("monitor-report", description=__doc__.split("\n")[0])
    options.add_out(p, REPORT.parent, f"writes {REPORT.name}")
    p.set_defaults(func=lambda args: report(out=args.out) and None)
    return p


if __name__ == "__main__":
    from ternecg.cli import command_main
    sys.exit(command_main("monitor-report")())
