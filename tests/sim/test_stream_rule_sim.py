"""The cocotb stream-rule checks (:class:`ternecg.sim.tb.StreamMonitor`, :class:`StreamSink`, one
:class:`StreamRule`) on Icarus: a rule-abiding source held 100,000 cycles passes with one wake-up;
a dropped ``valid`` and a changed payload bit are caught (sim/tests/test_stream_rule_cocotb.py)."""

import pytest
from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw import verilog
from ternecg.sim import runner

TOPLEVEL = "rule_source"


class RuleSource(wiring.Component):
    """Counts up on ``o`` (12 bits); ``fault``: 1 drops valid, 2 flips bit 9, in the third stalled
    cycle."""
    o: Out(stream.Signature(12))
    fault: In(2)

    def elaborate(self, platform):
        m = Module()
        stalled = Signal(4)
        count = Signal(12)
        m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(count)]
        with m.If(self.o.ready):
            m.d.sync += [count.eq(count + 1), stalled.eq(0)]
        with m.Elif(stalled != 15):
            m.d.sync += stalled.eq(stalled + 1)
        with m.If(stalled == 3):
            with m.If(self.fault == 1):
                m.d.comb += self.o.valid.eq(0)
            with m.Elif(self.fault == 2):
                m.d.comb += self.o.payload.eq(count ^ (1 << 9))
        return m


@pytest.mark.sim
def test_stream_rule_checks_on_icarus():
    out = runner.BUILD_ROOT / "verilog"
    with runner.locked(out / TOPLEVEL):
        src = verilog.generate(RuleSource(), TOPLEVEL, out)
    results = runner.build([src], TOPLEVEL, "icarus").run("ternecg.sim.tests.test_stream_rule_cocotb")
    assert results.is_file()
