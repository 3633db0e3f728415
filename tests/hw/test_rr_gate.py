"""RRGate: one rr word per beat, in order; the words of kept beats go on, a dropped beat's word is
discarded; words may come before or after their beat ends; every stream rule-checked."""

import random

import pytest
from amaranth.sim import Simulator

from ternecg.hw.rr_gate import RRGate

from streams import HOLD_CYCLES, check_streams, hold, stream_get, stream_put, stream_put_all


@pytest.mark.parametrize("seed, words_first", [(1, True), (2, False), (3, None)])
def test_kept_words_in_order_dropped_words_discarded(seed, words_first):
    rng = random.Random(seed)
    flags = [rng.random() < 0.3 for _ in range(40)]
    words = [rng.randrange(1 << 12) for _ in flags]
    dut = RRGate(12, depth=4)
    got = []

    async def rr(ctx):
        if words_first is False:
            await ctx.tick().repeat(30)          # every beat ends first (the FIFO fills, waits)
        await stream_put_all(ctx, dut.rr, words, rng=rng, idle=0.4)

    async def beats(ctx):
        if words_first:
            await ctx.tick().repeat(30)          # the words wait in the register for their beat
        await stream_put_all(ctx, dut.beats, [int(f) for f in flags], rng=rng, idle=0.4)

    async def sink(ctx):
        for _ in range(flags.count(False)):
            got.append(await stream_get(ctx, dut.o, rng=rng, stall=0.4))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (rr, beats, sink):
        sim.add_testbench(tb)
    stats = check_streams(sim, dut, inputs=True)
    sim.run()
    assert got == [w for w, f in zip(words, flags) if not f]
    assert stats["o"]["pending"] > 0


def test_word_held_for_100000_cycles():
    """A kept beat's word waits 100,000 cycles on ``o``: it does not change; the next word is
    taken into the register meanwhile only after it leaves."""
    dut = RRGate(8)
    got = []

    async def inputs(ctx):
        await stream_put(ctx, dut.beats, 0)
        await stream_put_all(ctx, dut.rr, [0x5A, 0xC3])
        await stream_put(ctx, dut.beats, 0)

    async def sink(ctx):
        got.append(await hold(ctx, dut.o, HOLD_CYCLES))
        got.append(ctx.get(dut.rr.ready))
        got.extend([await stream_get(ctx, dut.o) for _ in range(2)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(inputs)
    sim.add_testbench(sink)
    stats = check_streams(sim, dut)
    sim.run()
    assert got == [0x5A, 0, 0x5A, 0xC3] and stats["o"]["pending"] >= HOLD_CYCLES


@pytest.mark.parametrize("args, kwargs, exc", [((0,), {}, ValueError), ((4,), {"depth": 0}, ValueError),
                                               ((4.0,), {}, TypeError), ((4, 2), {}, TypeError)])
def test_bad_arguments(args, kwargs, exc, no_unused_warning):
    with pytest.raises(exc):
        RRGate(*args, **kwargs)
