"""cocotb tests of the whole accelerator (``hw.top.Accelerator(model, P, debug=True)``) against the
integer reference: every hidden layer (through the ``dbg`` tap), logits, class and cycles.

Run by :func:`ternecg.sim.verify.verify` (``bench="cocotb"``), which every caller uses (tests,
regress, gate, demo). Its options are one :class:`ternecg.sim.network_tb.NetworkBenchConfig`
(vectors of :func:`ternecg.sim.network_tb.make_vectors` with the main set and optionally a
worst-case set, prefix ``edge_``; the window ``first``/``count``; patterns, seed, cycles mode, tap,
report and progress files).

No torch / amaranth / golden imports here: the simulator process starts quickly.
"""

import json
import time

import cocotb
from cocotb.triggers import RisingEdge

from ternecg.sim.network_tb import Expected, NetworkBenchConfig, NetworkTB
from ternecg.sim.tb import config, vectors


def options() -> NetworkBenchConfig:
    return config(NetworkBenchConfig)


def main_set():
    cfg = options()
    return Expected.from_vectors(vectors(), "", cfg.first, cfg.count)


def _tb(dut, exp, **kw):
    return NetworkTB(dut, exp, **kw)


@cocotb.test()
async def stream_beats(dut):
    """Stream the ``first``/``count`` window of beats back to back under the ``idle`` pattern on
    ``i`` and ``backpressure`` on ``o``; every layer, logits, class and cycles bit-exact."""
    exp = main_set()
    tb = _tb(dut, exp)
    progress = options().progress
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
    out = options().report
    if out:
        with open(out, "w") as f:
            json.dump({"beats": len(exp), "mismatched_beats": len({m.beat for m in mism}),
                       "mismatched": sorted({m.beat for m in mism}),
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
