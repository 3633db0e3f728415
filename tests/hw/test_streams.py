"""The stream-rule monitor of tests/hw/streams.py: it catches a source that drops ``valid`` or changes
a payload bit while a transfer is pending, sleeps through a 100,000-cycle hold, and finds every
stream member of a component."""

import pytest
from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from streams import HOLD_CYCLES, add_stream_checker, check_streams, hold, stream_get


class Source(wiring.Component):
    """Counts up on ``o``; ``fault`` = "drop" lowers valid in the 3rd stalled cycle, "change"
    changes the payload's bit 9 there, "" follows the rule."""
    o: Out(stream.Signature(data.StructLayout({"n": 8, "flag": 2})))
    side: Out(wiring.Signature({"s": Out(stream.Signature(4))}))

    def __init__(self, fault=""):
        self._fault = fault
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        stalled = Signal(4)
        m.d.comb += self.o.valid.eq(1)
        with m.If(self.o.ready):
            m.d.sync += [self.o.payload.n.eq(self.o.payload.n + 1), stalled.eq(0)]
        with m.Else():
            m.d.sync += stalled.eq(stalled + 1)
        if self._fault == "drop":
            m.d.comb += self.o.valid.eq(stalled != 3)
        elif self._fault == "change":
            with m.If(stalled == 2):
                m.d.sync += self.o.payload.flag.eq(2)
        return m


def run(fault, stall_cycles):
    dut = Source(fault)

    async def bench(ctx):
        await stream_get(ctx, dut.o)
        ctx.set(dut.o.ready, 0)
        for _ in range(stall_cycles):           # (not .repeat(): the failing runs abort mid-wait)
            await ctx.tick()
        await stream_get(ctx, dut.o)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    stats = check_streams(sim, dut)
    sim.run()
    return stats


def test_a_rule_abiding_source_passes():
    stats = run("", 10)
    assert set(stats) == {"o", "side.s"}
    assert stats["o"]["transfers"] == 2 and stats["o"]["pending"] >= 10


@pytest.mark.parametrize("fault, message", [("drop", "o: valid dropped while a transfer was pending"),
                                            ("change", "o: payload changed from 0x1 to 0x201")])
def test_a_broken_source_fails_the_simulation(fault, message):
    with pytest.raises(AssertionError, match=message):
        run(fault, 10)


def test_a_long_hold_is_checked_at_its_end():
    """A 100,000-cycle hold: every edge of it is checked."""
    dut = Source()
    seen = []

    async def bench(ctx):
        seen.append(await hold(ctx, dut.o, HOLD_CYCLES))
        seen.append(await stream_get(ctx, dut.o))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    stats = add_stream_checker(sim, dut.o, "o")
    sim.run()
    assert seen[0] == seen[1] and stats["pending"] >= HOLD_CYCLES and stats["transfers"] >= 1
