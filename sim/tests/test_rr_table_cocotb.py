"""cocotb tests of the generated RRTable Verilog (top ``rr_table``) against integer_ref.rr_sum.

Run by tests/sim/test_components_sim.py, which names the vectors in the bench config (this module
never imports torch, golden or hw). Vectors:

* ``widths``: ``[n_classes, rr_bits, features, logit_width, out_width, latency, sum_cycles]``;
* ``logits``: ``(N, n_classes)`` engine logits (real fixture beats of the inter-patient model and
  crafted extremes), ``codes``: ``(N, features)`` RR codes; ``expected``: ``(N, n_classes)`` sums.

Options: one :class:`ternecg.sim.tb.BenchConfig` (``vectors``, ``idle``, ``backpressure``, ``seed``); ``idle`` drives both sources.
"""

import cocotb

from ternecg.sim.tb import TB, vectors


def _widths():
    return tuple(int(x) for x in vectors()["widths"])


def _pack(codes, bits):
    return sum(int(c) << (f * bits) for f, c in enumerate(codes))


async def _run(tb, count):
    v = vectors()
    _, bits, _, _, _, _, _ = _widths()
    logits = [[int(x) for x in row] for row in v["logits"][:count]]
    expected = [[int(x) for x in row] for row in v["expected"][:count]]
    src, rr, snk = tb.sources["i"], tb.sources["rr"], tb.sinks["o"]
    senders = [cocotb.start_soon(src.send([x for row in logits for x in row])),
               cocotb.start_soon(rr.send([_pack(c, bits) for c in v["codes"][:count]]))]
    flat = await snk.recv(sum(len(row) for row in logits))
    for s in senders:
        await s
    n = len(logits[0])
    got = [flat[k:k + n] for k in range(0, len(flat), n)]
    bad = [(k, logits[k], got[k], expected[k]) for k in range(count) if got[k] != expected[k]]
    assert not bad, f"{len(bad)} of {count} beats differ (beat, logits, got, expected), first: {bad[:5]}"


def _tb(dut, idle=None, backpressure=None):
    tb = TB(dut)
    tb.source("i", idle=idle, signed=True)
    tb.source("rr", idle=idle)
    tb.sink("o", backpressure=backpressure, signed=True)
    return tb


@cocotb.test()
async def real_beats_and_extremes(dut):
    """Every vector beat under the config's idle / back-pressure patterns."""
    tb = _tb(dut)
    await tb.start()
    await _run(tb, len(vectors()["logits"]))


@cocotb.test()
async def latency_and_throughput(dut):
    """Codes sent ahead, no stalls: a beat's logits one per cycle, each sum `latency` cycles later;
    the next beat's codes go in with a beat's last logit and its first logit `sum_cycles` later
    (the RR terms are summed from the table's one ROM meanwhile)."""
    tb = _tb(dut, idle="none", backpressure="none")
    await tb.start()
    n_beats = 16
    n, _, _, _, _, latency, sum_cycles = _widths()
    await _run(tb, n_beats)
    src, snk = tb.sources["i"], tb.sinks["o"]
    acc = src.accepted
    for k in range(n_beats):
        beat = acc[k * n:(k + 1) * n]
        assert beat == list(range(beat[0], beat[0] + n)), f"beat {k}'s logits stalled: {beat}"
        if k:
            assert beat[0] == acc[k * n - 1] + sum_cycles, f"beat {k} starts at {beat[0]}, not {acc[k * n - 1]} + {sum_cycles}"
    assert [r - a for r, a in zip(snk.received, acc)] == [latency] * (n * n_beats)
