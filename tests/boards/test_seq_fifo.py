"""SeqFifo (the link's FIFO of beats in flight, in a block RAM): cycle for cycle the same streams as
``lib.fifo.SyncFIFOBuffered`` of its depth, under random valid and ready, and the stream rule."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import fifo
from amaranth.sim import Simulator

from ternecg.boards.seq_fifo import SeqFifo


class Pair(Elaboratable):
    """SeqFifo and the reference FIFO on the same writes and read enables."""

    def __init__(self, depth):
        self.dut = SeqFifo(depth)
        self.ref = fifo.SyncFIFOBuffered(width=8, depth=depth)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.submodules.ref = self.ref
        return m


@pytest.mark.parametrize("depth", [2, 4, 5])
def test_same_as_sync_fifo_buffered(depth):
    h = Pair(depth)
    dut, ref = h.dut, h.ref
    rng = random.Random(depth)
    seen = []

    async def bench(ctx):
        shown = None                                    # the payload offered and not yet taken
        for cycle in range(3000):
            burst = cycle // 200 % 3                    # phases: balanced, write-heavy, read-heavy
            w_valid = rng.random() < (0.5, 0.9, 0.2)[burst]
            r_ready = rng.random() < (0.5, 0.2, 0.9)[burst]
            byte = rng.randrange(256)
            ctx.set(dut.w.valid, w_valid)
            ctx.set(dut.w.payload, byte)
            ctx.set(ref.w_en, w_valid)
            ctx.set(ref.w_data, byte)
            ctx.set(dut.r.ready, r_ready)
            ctx.set(ref.r_en, r_ready)
            got = (ctx.get(dut.w.ready), ctx.get(dut.r.valid))
            assert got == (ctx.get(ref.w_rdy), ctx.get(ref.r_rdy)), cycle
            if got[1]:
                payload = ctx.get(dut.r.payload)
                assert payload == ctx.get(ref.r_data), cycle
                if shown is not None:
                    assert payload == shown, cycle       # held while valid and not ready
                shown = None if r_ready else payload
                if r_ready:
                    seen.append(payload)
            await ctx.tick()

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) > 500


def test_depth_checked():
    with pytest.raises(ValueError, match="SeqFifo depth"):
        SeqFifo(1)
