"""BeatBuffer and RRCodes: a committed beat's seq, then its samples in order under back-pressure;
the RR codes handed over once, before the samples."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from ternecg.boards.beat_buffer import BeatBuffer
from ternecg.boards.rr_codes import RRCodes

W = 16


class Harness(Elaboratable):
    """BeatBuffer with RRCodes wired as in the link (``rr``: with the RR path)."""

    def __init__(self, rr):
        self.buf = BeatBuffer(W)
        self.codes = RRCodes(12) if rr else None

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = self.buf
        if self.codes is not None:
            m.submodules.codes = codes = self.codes
            m.d.comb += [codes.full.eq(buf.full), codes.feeding.eq(buf.feeding), buf.start.eq(codes.sent)]
        else:
            m.d.comb += buf.start.eq(1)
        return m


@pytest.mark.parametrize("rr", [False, True])
def test_beats_in_order_under_back_pressure(rr):
    h = Harness(rr)
    buf, codes = h.buf, h.codes
    rng = random.Random(int(rr))
    beats = [(seq, [rng.randrange(2048) for _ in range(W)], rng.randrange(1 << 12)) for seq in (5, 6, 7)]
    log = []

    async def bench(ctx):
        for seq, samples, word in beats:
            while ctx.get(buf.full):
                await ctx.tick()
            for addr, v in enumerate(samples):                  # the deframer writes as bytes arrive
                ctx.set(buf.wr.valid, 1)
                ctx.set(buf.wr.payload, {"addr": addr, "data": v})
                await ctx.tick()
            ctx.set(buf.wr.valid, 0)
            ctx.set(buf.commit.valid, 1)
            ctx.set(buf.commit.payload, seq)
            if codes is not None:
                ctx.set(codes.load.valid, 1)
                ctx.set(codes.load.payload, word)
            await ctx.tick()
            ctx.set(buf.commit.valid, 0)
            if codes is not None:
                ctx.set(codes.load.valid, 0)

    async def sink(ctx):
        for _ in beats:
            while True:                                         # the consumer, with random stalls
                ctx.set(buf.seq.ready, rng.random() < 0.5)
                if codes is not None:
                    ctx.set(codes.rr.ready, rng.random() < 0.5)
                    if ctx.get(codes.rr.valid) and ctx.get(codes.rr.ready):
                        log.append(("rr", ctx.get(codes.rr.payload)))
                if ctx.get(buf.seq.valid) and ctx.get(buf.seq.ready):
                    log.append(("seq", ctx.get(buf.seq.payload)))
                    await ctx.tick()
                    break
                await ctx.tick()
            ctx.set(buf.seq.ready, 0)
            for _ in range(W):
                while True:
                    ctx.set(buf.samples.ready, rng.random() < 0.6)
                    if ctx.get(buf.samples.valid) and ctx.get(buf.samples.ready):
                        log.append(("sample", ctx.get(buf.samples.payload.sample),
                                    ctx.get(buf.samples.payload.last)))
                        await ctx.tick()
                        break
                    await ctx.tick()
            ctx.set(buf.samples.ready, 0)

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(sink)
    sim.run()
    want = []
    for seq, samples, word in beats:
        want += ([("rr", word)] if rr else []) + [("seq", seq)] + [("sample", v, int(t == W - 1))
                                                                   for t, v in enumerate(samples)]
    assert log == want


def test_bad_arguments(no_unused_warning):
    with pytest.raises(ValueError, match="BeatBuffer window"):
        BeatBuffer(0)
    with pytest.raises(TypeError, match="RRCodes width"):
        RRCodes("12")


def test_spram_on_an_ice40_up(no_unused_warning):
    """The buffer is an SPRAM on an iCE40 UP platform (the iCEBreaker's: with the normaliser and
    feature banks 1 and 2, the UP5K's four), lib.memory elsewhere; its bad arguments."""
    from ternecg.boards.core import BoardCore
    from ternecg.boards.top import get_board
    from ternecg.golden.spec import modelfile
    from spram_count import sprams
    assert sprams(BeatBuffer(240)) == ["buf.spram"] and sprams(BeatBuffer(240), None) == []
    assert sprams(BeatBuffer(240, spram=False)) == []
    plat = get_board("icebreaker").make_platform()
    assert sprams(BoardCore(modelfile.load(), divisor=8), plat) == [
        "accel.engine.banks.bank1.spram", "accel.engine.banks.bank2.spram", "accel.norm.ram.spram",
        "link.buffer.buf.spram"]
    assert sprams(BoardCore(modelfile.load(), divisor=8), get_board("ulx3s").make_platform()) == []
    with pytest.raises(TypeError, match="BeatBuffer spram must be True, False or None"):
        BeatBuffer(240, spram="yes")
    with pytest.raises(ValueError, match="BeatBuffer spram: a window of 20000 samples"):
        BeatBuffer(20000, spram=True)
