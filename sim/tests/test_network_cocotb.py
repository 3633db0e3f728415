"""cocotb tests of the whole accelerator (``hw.top.Accelerator(model, P, debug=True)``) against the
integer reference: every hidden layer (through the ``dbg`` tap), logits, class and cycles.

Run by tests/sim/test_network_sim.py and ternecg.sim.regress. Options (environment):

* ``SIM_VECTORS`` (required): an .npz of :func:`ternecg.sim.network_tb.make_vectors` with the main
  set (no prefix) and optionally a worst-case set (prefix ``edge_``),
* ``SIM_FIRST``/``SIM_COUNT``: the window of main-set beats that ``stream_beats`` sends,
* ``SIM_IDLE``, ``SIM_BACKPRESSURE``, ``SIM_SEED``: see :mod:`ternecg.sim.tb`,
* ``SIM_CYCLES``: "exact", "min" or "off" (default: exact when both patterns are "none"),
* ``SIM_REPORT``: write a JSON summary (beats, mismatches, seconds) of ``stream_beats`` there,
* ``SIM_PROGRESS``: a file that ``stream_beats`` keeps updated with the number of finished beats.

No torch / amaranth / golden imports here: the simulator process starts quickly.
"""

import json
import time

import cocotb
from cocotb.triggers import RisingEdge

from ternecg.sim.network_tb import Expected, NetworkTB
from ternecg.sim.tb import option, vectors


def main_set():
    first = int(option("SIM_FIRST", "0"))
    count = option("SIM_COUNT")
    return Expected.from_vectors(vectors(), "", first, None if count in (None, "") else int(count))


def _tb(dut, exp, **kw):
    return NetworkTB(dut, exp, cycles_mode=option("SIM_CYCLES") or None, **kw)


@cocotb.test()
async def stream_beats(dut):
    """Stream the SIM_FIRST/SIM_COUNT window of beats back to back under SIM_IDLE on ``i`` and
    SIM_BACKPRESSURE on ``o``; every layer, logits, class and cycles bit-exact."""
    exp = main_set()
    tb = _tb(dut, exp)
    progress = option("SIM_PROGRESS")
    if progress:
        def report(n):
            with open(progress, "w") as f:
                f.write(str(n))
        tb.progress = report
    await tb.start()
    t0 = time.perf_counter()
    mism = await tb.run_beats(exp)
    seconds = time.perf_counter() - t0
    if progress:
        tb.progress(len(tb.results))
    out = option("SIM_REPORT")
    if out:
        with open(out, "w") as f:
            json.dump({"beats": len(exp), "mismatched_beats": len({m.beat for m in mism}),
                       "mismatches": [str(m) for m in mism[:50]], "seconds": seconds,
                       "cycles": tb.now, "tap_writes": tb.tap_writes,
                       "idle": tb.idle, "backpressure": tb.backpressure}, f, indent=1)
    dut._log.info(f"{len(exp)} beats in {seconds:.1f} s ({len(exp) / max(seconds, 1e-9):.2f} beats/s), "
                  f"{tb.tap_writes} tap writes, {len(mism)} mismatches")
    tb.check(mism)


async def _wait_accepted(tb, n):
    while len(tb.sources["i"].accepted) < n:
        await RisingEdge(tb.clk)


async def _recovery(tb, exp, what):
    mism = await tb.run_beats(exp)
    tb.check(mism, what=f"beats after {what}")


@cocotb.test()
async def reset_mid_input(dut):
    """Reset after ~100 samples of a beat (twice: the first beat, and a beat following a finished
    one), then the next full beats are bit-exact."""
    exp = main_set()
    n = min(3, len(exp))
    tb = _tb(dut, exp)
    await tb.start()
    tb.clear(exp.window(0, 1))
    tb.send(exp.window(0, 1))
    await _wait_accepted(tb, 100)
    await tb.reset(3)
    await _recovery(tb, exp.window(1, n), "reset after 100 input samples")
    # a finished beat, then 140 samples of the next one, then reset
    tb.clear(exp.window(0, 2))
    tb._src.accepted.clear()
    tb.send(exp.window(0, 2))
    await _wait_accepted(tb, 240 + 140)
    await tb.wait_results(1)
    await tb.reset(2)
    await _recovery(tb, exp.window(2, n), "reset after 1.6 beats of input")


@cocotb.test()
async def reset_mid_compute(dut):
    """Reset while the engine computes a beat (in layer 2, and once right at its logits), then the
    next full beats are bit-exact."""
    exp = main_set()
    n = min(3, len(exp))
    tb = _tb(dut, exp)
    await tb.start()
    for stop_layer in (2, len(exp.lengths) - 1):
        tb.clear(exp.window(0, 1))
        tb.send(exp.window(0, 1))
        while not (tb._prev_layer is not None and tb._prev_layer >= stop_layer):
            await RisingEdge(tb.clk)
        if stop_layer == 2:
            await tb.idle_cycles(17)
        assert not tb.results, "the beat finished before the reset"
        await tb.reset(2)
        await _recovery(tb, exp.window(1, n), f"reset in layer {stop_layer}")


@cocotb.test()
async def worst_case(dut):
    """Full-scale, alternating 0/2047, flat line, single spike (and the rest of the ``edge_`` set)
    back to back, bit-exact, then one real beat after them."""
    v = vectors()
    assert "edge_raw" in v, "the vectors have no edge_ set"
    edge = Expected.from_vectors(v, "edge_")
    tb = _tb(dut, edge)
    await tb.start()
    mism = await tb.run_beats(edge)
    tb.check(mism, what="worst-case beats")
    mism = await tb.run_beats(main_set().window(0, 1))
    tb.check(mism, what="beats after the worst-case beats")
