"""cocotb side of tests/sim/test_stream_rule_sim.py: :class:`ternecg.sim.tb.StreamMonitor` and
:class:`ternecg.sim.tb.StreamSink` on a source that keeps the stream rule and on one that breaks it.

The DUT (top ``rule_source``) counts up on ``o``; its ``fault`` input chooses the third stalled
cycle's misbehaviour: 0 none, 1 ``valid`` low, 2 a payload bit flipped.
"""

import cocotb
from cocotb.triggers import RisingEdge

from ternecg.sim.tb import TB


async def _stall(tb, fault, cycles):
    tb.dut.fault.value = fault
    tb.dut.o__ready.value = 1
    await RisingEdge(tb.clk)
    tb.dut.o__ready.value = 0
    await tb.cycles(cycles)
    tb.dut.o__ready.value = 1
    await tb.cycles(2)


@cocotb.test()
async def monitor_passes_a_long_hold(dut):
    """A rule-abiding source held 100,000 cycles: the monitor wakes once for the hold."""
    tb = TB(dut)
    await tb.start()
    mon = tb.monitor("o")
    await _stall(tb, 0, 100_000)
    assert mon.error is None and mon.rule.transfers >= 2 and mon.rule.pending >= 1


@cocotb.test()
async def monitor_catches_a_dropped_valid(dut):
    tb = TB(dut)
    await tb.start()
    mon = tb.monitor("o", fail=False)
    await _stall(tb, 1, 10)
    assert mon.error is not None and "valid dropped" in str(mon.error), mon.error


@cocotb.test()
async def monitor_catches_a_changed_payload(dut):
    tb = TB(dut)
    await tb.start()
    mon = tb.monitor("o", fail=False)
    await _stall(tb, 2, 10)
    assert mon.error is not None and "payload changed" in str(mon.error), mon.error


@cocotb.test()
async def sink_catches_a_changed_payload(dut):
    """The sinks of every bench check the same rule while they consume."""
    tb = TB(dut)
    await tb.start()
    dut.fault.value = 2
    snk = tb.sink("o", backpressure=iter([1] + [0] * 10 + [1] * 10))
    try:
        await snk.recv(3)
    except AssertionError as exc:
        assert "payload changed" in str(exc)
    else:
        raise AssertionError("the sink accepted a payload that changed while stalled")
