"""cocotb tests of the generated Head Verilog (top ``head``) against integer_ref.argmax_lowest.

Run by tests/sim/test_components_sim.py, which names the vectors in the bench config (this module
never imports torch, golden or hw). Vectors:

* ``widths``: ``[n_classes, logit_width, cls_width, latency]``;
* ``logits``: ``(N, n_classes)`` logits (real fixture logits and crafted ties);
  ``expected``: ``(N,)`` class (lowest index among the largest).

``o__payload`` packs ``{cls, logits[0], ..., logits[n-1]}`` LSB first. Options:
one :class:`ternecg.sim.tb.BenchConfig` (``vectors``, ``idle``, ``backpressure``, ``seed``).
"""

import cocotb

from ternecg.sim.tb import TB, to_signed, vectors


def _widths():
    return tuple(int(x) for x in vectors()["widths"])


def _unpack(bits):
    n, w, cls_w, _ = _widths()
    cls = bits & ((1 << cls_w) - 1)
    logits = [to_signed(bits >> (cls_w + k * w), w) for k in range(n)]
    return cls, logits


async def _run(tb, beats, expected):
    src, snk = tb.sources["i"], tb.sinks["o"]
    beats = [[int(x) for x in beat] for beat in beats]
    sender = cocotb.start_soon(src.send([x for beat in beats for x in beat]))
    got = [_unpack(b) for b in await snk.recv(len(beats))]
    await sender
    bad = []
    for k, ((cls, logits), beat, want) in enumerate(zip(got, beats, expected)):
        assert logits == beat, f"beat {k}: logits {logits} passed through, expected {beat}"
        if cls != int(want):
            bad.append((k, beat, cls, int(want)))
    assert not bad, f"{len(bad)} of {len(beats)} mismatches (beat, logits, got, expected), first: {bad[:5]}"


def _tb(dut, src=None, snk=None):
    tb = TB(dut)
    tb.source("i", **(src or {}))
    tb.sink("o", **(snk or {}))
    return tb


@cocotb.test()
async def real_logits_and_ties(dut):
    """Real fixture logits plus crafted ties, under the config's idle / back-pressure patterns."""
    tb = _tb(dut)
    await tb.start()
    v = vectors()
    await _run(tb, v["logits"], v["expected"])


@cocotb.test()
async def latency_and_throughput(dut):
    """Without stalls: one logit per cycle, each result `latency` cycles after its last logit."""
    tb = _tb(dut, src={"idle": "none"}, snk={"backpressure": "none"})
    await tb.start()
    v = vectors()
    n_beats = 16
    n, _, _, latency = _widths()
    await _run(tb, v["logits"][:n_beats], v["expected"][:n_beats])
    src, snk = tb.sources["i"], tb.sinks["o"]
    assert src.accepted == list(range(src.accepted[0], src.accepted[0] + n * n_beats)), "input stalled"
    for b in range(n_beats):
        last_in = src.accepted[(b + 1) * n - 1]
        assert snk.received[b] - last_in == latency, \
            f"beat {b}: latency {snk.received[b] - last_in}, expected {latency}"


@cocotb.test()
async def held_result_blocks_only_last_logit(dut):
    """With the sink stalled, a result waits (stable: the sink checks it) and the next beat's
    last logit is held off until the result is taken."""
    n, _, _, _ = _widths()
    v = vectors()
    beats = [[int(x) for x in beat] for beat in v["logits"][:3]]
    stall = [0] * 40 + [1] * 1000
    tb = _tb(dut, src={"idle": "none"}, snk={"backpressure": stall})
    await tb.start()
    await _run(tb, beats, v["expected"][:3])
    src, snk = tb.sources["i"], tb.sinks["o"]
    # beats 0 and 1 but the last logit of beat 1 are accepted back to back; then it waits
    first = src.accepted[0]
    assert src.accepted[:2 * n - 1] == list(range(first, first + 2 * n - 1))
    assert src.accepted[2 * n - 1] >= snk.received[0], "last logit accepted while a result waited"
