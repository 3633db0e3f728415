"""cocotb tests of the generated ActivationUnit Verilog (top ``activation``) against golden.

Run by tests/sim/test_components_sim.py, which computes the vectors with
``integer_ref.activate`` and names them in the bench config (this module never imports torch,
golden or hw). Vectors:

* ``widths``: ``[channel_width, acc_width, tag_width, act_bits, latency]``;
* ``items``: ``(N, 2)`` rows ``(global channel, accumulator)``; ``expected``: ``(N,)`` q.

``i__payload`` packs ``{channel, acc, tag}`` LSB first, ``o__payload`` packs ``{q, tag}``; the tag
is the item index (mod 2^tag_width), so the order of the results is checked too. Options:
one :class:`ternecg.sim.tb.BenchConfig` (``vectors``, ``idle``, ``backpressure``, ``seed``).
"""

import cocotb

from ternecg.sim.tb import TB, vectors


def _widths():
    chan_w, acc_w, tag_w, act_bits, latency = (int(x) for x in vectors()["widths"])
    return chan_w, acc_w, tag_w, act_bits, latency


def _pack(k, channel, acc):
    chan_w, acc_w, tag_w, _, _ = _widths()
    tag = k & ((1 << tag_w) - 1)
    return (int(channel) | ((int(acc) & ((1 << acc_w) - 1)) << chan_w)
            | (tag << (chan_w + acc_w)))


def _unpack(bits):
    _, _, tag_w, act_bits, _ = _widths()
    return bits & ((1 << act_bits) - 1), (bits >> act_bits) & ((1 << tag_w) - 1)


async def _run(tb, items, expected):
    src, snk = tb.sources["i"], tb.sinks["o"]
    _, _, tag_w, _, _ = _widths()
    sender = cocotb.start_soon(src.send([_pack(k, c, a) for k, (c, a) in enumerate(items)]))
    got = [_unpack(b) for b in await snk.recv(len(items))]
    await sender
    bad = []
    for k, ((q, tag), want) in enumerate(zip(got, expected)):
        assert tag == k & ((1 << tag_w) - 1), f"result {k} has tag {tag}: out of order"
        if q != int(want):
            bad.append((k, int(items[k][0]), int(items[k][1]), q, int(want)))
    assert not bad, (f"{len(bad)} of {len(items)} mismatches (index, channel, acc, got, expected), "
                     f"first: {bad[:5]}")


def _tb(dut, src=None, snk=None):
    tb = TB(dut)
    tb.source("i", **(src or {}))
    tb.sink("o", **(snk or {}))
    return tb


@cocotb.test()
async def real_and_boundary_accumulators(dut):
    """Real accumulators of every activated layer, every threshold +-1 and the range limits, under
    the config's idle / back-pressure patterns, bit-exact and in order."""
    tb = _tb(dut)
    await tb.start()
    v = vectors()
    await _run(tb, v["items"], v["expected"])
    assert tb.sinks["o"].items, "no results"


@cocotb.test()
async def latency_and_throughput(dut):
    """Without stalls: the first result `latency` cycles after its input, then one per cycle."""
    tb = _tb(dut, src={"idle": "none"}, snk={"backpressure": "none"})
    await tb.start()
    v = vectors()
    n = 64
    await _run(tb, v["items"][:n], v["expected"][:n])
    src, snk = tb.sources["i"], tb.sinks["o"]
    latency = _widths()[4]
    assert snk.received[0] - src.accepted[0] == latency, \
        f"latency {snk.received[0] - src.accepted[0]}, expected {latency}"
    assert src.accepted == list(range(src.accepted[0], src.accepted[0] + n)), "input stalled"
    assert snk.received == list(range(snk.received[0], snk.received[0] + n)), "output not 1/cycle"
