"""The monitor build's extra figures (boards/build.py, ``APP=monitor``): logic per part, the
real-time margin and the sample rate the monitor sustains at the board's clock.

* **Per part.** The board's RTLIL (``top.il``) synthesized again without flattening (Yosys
  ``synth_ice40 -noflatten`` / ``synth_ecp5 -noflatten``): the LUT4 count of every module, and
  summed by part: UART, link, front end (the detector / RR micro-sequencer), beat window,
  accelerator (boards/hw_report.py's ``luts_and_mapper``, the pass ``make hw-report`` runs on the
  accelerator alone).
* **Real-time margin.** One beat period at 250 bpm is 240 ms (86.4 samples at 360 Hz). Per beat
  the board needs the accelerator's worst-case compute cycles (no MUX-skip pass skipped, the
  slowest setting: the build's ``PARALLEL``) plus, counted on top although the two run side by
  side, the front end's cycles for the 87 consecutive samples that cost it most on the fixture's
  excerpts (measured on its instruction model, hw/qrs_model.py, which the gateware matches cycle
  for cycle). ``margin = 240 ms / (cycles / f_clk)``; ``lowest clock for 2x = 2 cycles / 240 ms``
  (also for the accelerator alone, as issue 15 states it).
* **Sample rate.** The board's monitor (same model and ``PARALLEL``, ``lib.memory`` RAMs) in the
  Verilator speed harness (sim/monitor_harness.py) over the four excerpts of
  fixtures/excerpts.npz, input always valid, output always ready: ``samples * f_clk / cycles``
  (every output checked against golden/monitor.py: a mismatch is an error), beside what the UART
  carries (SAMPLES frames and their PINGs at the build's baud rate).
* **Real-time check.** The same harness paced as a free-running ADC at 360 Hz on the lowest clock
  that keeps 2x (one sample every ``floor(f_2x / 360)`` cycles) over the excerpt that holds the
  front end's costliest 87 samples: ``late`` counts the samples still waiting for the monitor
  when the next one was due (an ADC would have lost them; 0 required), every beat checked
  against golden/monitor.py (``sample_rate["real_time_check"]``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from ternecg.errors import TernEcgError

from . import protocol as P

BEAT_PERIOD_S = 0.240               # 250 bpm
FS = 360
BEAT_SAMPLES = math.ceil(BEAT_PERIOD_S * FS)     # 87 (86.4)
#: what the monitor's parts are called in the unflattened netlist (a module's name contains it)
PARTS = (("uart", ("uart_rx", "uart_tx")), ("link", ("link",)), ("front_end", ("front_end",)),
         ("beat_window", ("window",)), ("accelerator", ("accelerator", "accel")),
         ("record_tracker", ("records",)))


def luts_by_module(build_dir: Path, family: str, flags=None) -> dict:
    """LUT4 per module of ``build_dir/top.il`` synthesized without flattening, run again on every
    call (boards/hw_report.py ``luts_and_mapper``: ABC9, else on the iCE40 Yosys' own LUT mapping,
    ``-noabc``, on the ECP5 ABC; ``flags``: the build's synth_<family> options):
    ``{"mapper", "modules": {module: LUT4}}``."""
    from .hw_report import luts_and_mapper
    luts, mapper = luts_and_mapper(build_dir, "top", family, source="top.il", reuse=False, flags=flags)
    return {"mapper": mapper, "modules": luts}


def by_part(luts: dict) -> dict:
    """LUT4 summed per part (:data:`PARTS`); ``other``: the rest (top, pins, LEDs)."""
    out = {name: 0 for name, _ in PARTS}
    out["other"] = 0
    for module, n in luts.items():
        segs = module.split(".")
        for name, keys in PARTS:
            if any(k in segs for k in keys):
                out[name] += n
                break
        else:
            out["other"] += n
    return out


@functools.lru_cache(maxsize=4)
def front_end_window_cycles(*, local, bits, irregular=False, template=False, template_gate=None,
                            samples=BEAT_SAMPLES) -> dict:
    """The front end's cycles per sample on its instruction model over the excerpts, and the most
    cycles any ``samples`` consecutive samples took (the end-of-record flush apart) and in which
    excerpt (``irregular``, ``template``: the program that also computes the irregularity code,
    the template code with its update gate ``template_gate``)."""
    from ternecg.golden import excerpts
    from ternecg.hw.qrs_model import Machine
    from ternecg.hw.qrs_program import front_end_program
    m = Machine(front_end_program(local=local, bits=bits, irregular=irregular, template=template,
                                  template_gate=template_gate))
    m.run()
    worst, where, per = 0, None, []
    for e in excerpts.load():
        cyc = []
        for i, v in enumerate(e.signal):
            c = m.cycles
            m.put(0, int(v), last=(i == len(e.signal) - 1))
            m.run()
            cyc.append(m.cycles - c)
        cyc = np.asarray(cyc[:-1], dtype=np.int64)         # the last sample runs the flush
        per.append(cyc)
        win = np.convolve(cyc, np.ones(samples, dtype=np.int64), mode="valid")
        if int(win.max()) > worst:
            worst, where = int(win.max()), e.name
    per = np.concatenate(per)
    return {"window_samples": samples, "window_cycles_max": worst, "window_excerpt": where,
            "per_sample_mean": round(float(per.mean()), 1), "per_sample_max": int(per.max())}


def real_time(model, parallel: int, clk_hz: float) -> dict:
    """The real-time margin at ``clk_hz`` (module docstring)."""
    from amaranth.hdl import Fragment

    from ternecg.hw.top import Accelerator
    acc = Accelerator(model, parallel)
    Fragment.get(acc, None)
    acc_cycles = int(acc.engine_cycles())
    cfg = model.cfg
    fe = dict(front_end_window_cycles(local=cfg.rr_local if cfg.rr_bits else 8, bits=cfg.rr_bits or 4,
                                      irregular=bool(cfg.rr_bits and cfg.rr_irregular),
                                      template=bool(cfg.rr_bits and cfg.rr_template),
                                      template_gate=cfg.rr_template_gate if cfg.rr_bits and cfg.rr_template else None))
    total = acc_cycles + fe["window_cycles_max"]

    def figures(cycles):
        t = cycles / clk_hz
        return {"cycles": cycles, "ms": round(1000 * t, 3), "margin": round(BEAT_PERIOD_S / t, 1),
                "lowest_clock_2x_mhz": round(2 * cycles / BEAT_PERIOD_S / 1e6, 3)}
    return {"beat_period_ms": 1000 * BEAT_PERIOD_S, "clock_mhz": clk_hz / 1e6, "parallel": parallel,
            "accelerator_worst_cycles": acc_cycles, "front_end": fe,
            "with_front_end": figures(total), "accelerator_only": figures(acc_cycles)}


def link_samples_per_s(baud: int) -> float:
    """Samples per second the UART carries: 10 bits per byte, a SAMPLES frame per 32 samples and
    a PING per two frames (boards/monitor_host.py)."""
    from .monitor_host import PING_EVERY
    frame = P.HEADER + P.SAMPLES_LEN + P.TRAILER
    ping = P.HEADER + P.PING_LEN + P.TRAILER
    return round(baud / 10 / ((frame + ping / PING_EVERY) / P.CHUNK), 1)


def sample_rate(model, parallel: int, clk_hz: float) -> dict:
    """The monitor's sustained sample rate at ``clk_hz``, measured in the Verilator speed harness
    over the excerpts (module docstring)."""
    import re
    import time

    from ternecg.golden import excerpts, monitor
    from ternecg.hw import verilog
    from ternecg.hw.monitor import Monitor
    from ternecg.paths import build_dir
    from ternecg.sim import harness
    from ternecg.sim.monitor_harness import harness_verilog, plusargs, read_results, write_samples
    from ternecg.sim.tb import unpack

    work = build_dir("sim-monitor", f"board_{Path(model.path).stem}_p{parallel}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    dut = Monitor(model, parallel, spram=False)
    layout = dut.beat_layout
    src = verilog.generate(dut, "monitor", work)
    h = work / "monitor_harness.v"
    h.write_text(harness_verilog("monitor", out="beats", out_bits=layout.size, max_samples=1 << 16))
    binary = harness.build_verilator([src, h], "monitor_harness", work / "verilator")

    def run_excerpt(e, what, **kw):
        """One excerpt through the harness: ``(beats, cycles, late)``; a mismatch is an error."""
        x = np.asarray(e.signal, np.int64)
        want = monitor.run(model, x)
        run = work / "runs" / (e.name.replace("@", "_") + ("_paced" if "period" in kw else ""))
        run.mkdir(parents=True, exist_ok=True)
        write_samples(run / "samples.hex", x)
        harness.run_verilator(binary, plusargs(samples="samples.hex", count=len(x), results="results.txt",
                                               expect=len(want.peaks), grace=2000, **kw), run)
        log = (run / "sim.log").read_text(errors="replace")
        done = re.search(r"harness: done (\d+) outputs in (\d+) cycles", log)
        late = re.search(r"harness: late (\d+)", log)
        got = [unpack(layout, p) for p, _ in read_results(run / "results.txt")]
        got = [(d["index"], d["cls"], tuple(d["logits"])) for d in got]
        exp = [(int(r), int(c), tuple(int(v) for v in lg)) for r, c, lg in zip(want.peaks, want.classes, want.logits)]
        if got != exp or not done or not late:
            raise TernEcgError(f"the monitor's {what} run on excerpt {e.name} did not match golden/monitor.py "
                               f"({len(got)} beats, {len(exp)} expected); see {run}")
        # cycles until the last beat, minus the harness's grace after it
        return len(exp), int(done.group(2)) - 2000, int(late.group(1))

    samples = cycles = beats = 0
    t0 = time.time()
    for e in excerpts.load():
        n, c, _ = run_excerpt(e, "sample-rate")
        samples += len(e.signal)
        cycles += c
        beats += n
    out = {"excerpts": [e.name for e in excerpts.load()], "samples": samples, "beats": beats, "cycles": cycles,
           "cycles_per_sample": round(cycles / samples, 2), "samples_per_s": round(samples * clk_hz / cycles),
           "mismatches": 0, "seconds": round(time.time() - t0, 1)}
    # paced at 360 Hz on the lowest clock that keeps 2x, over the front end's costliest excerpt
    t1 = time.time()
    rt = real_time(model, parallel, clk_hz)
    slow_hz = rt["with_front_end"]["lowest_clock_2x_mhz"] * 1e6
    period = int(slow_hz // FS)
    e = next(e for e in excerpts.load() if e.name == rt["front_end"]["window_excerpt"])
    n, _, late = run_excerpt(e, "real-time check", period=period)
    out["real_time_check"] = {"clock_mhz": round(slow_hz / 1e6, 3), "period_cycles": period, "excerpt": e.name,
                              "samples": len(e.signal), "beats": n, "late": late, "mismatches": 0,
                              "seconds": round(time.time() - t1, 1)}
    return out
