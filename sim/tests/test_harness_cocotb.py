"""cocotb side of the speed harness (:mod:`ternecg.sim.harness`) on Icarus: drives the harness's
clock and waits for ``done``. The harness drives and records everything else in Verilog; the
comparison with golden happens in the pytest process, on the results file the harness wrote.

Options: one :class:`HarnessBenchConfig`.
"""

from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer, with_timeout

from ternecg.sim.tb import config

PERIOD_NS = 10


@dataclass(frozen=True)
class HarnessBenchConfig:
    """Parameters
    ----------
    beats : int
        Beats the harness was told to run (its ``+beats=``), for the result count and the timeout.
    timeout_cycles_per_beat : int
        The test fails when ``done`` has not risen after ``(beats + 1)`` times this many cycles.
    """
    beats: int = 0
    timeout_cycles_per_beat: int = 400_000


@cocotb.test()
async def run_harness(dut):
    cfg = config(HarnessBenchConfig)
    beats, per_beat = int(cfg.beats), int(cfg.timeout_cycles_per_beat)
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    await Timer(1, unit="ns")
    if not int(dut.done.value):
        await with_timeout(RisingEdge(dut.done), (beats + 1) * per_beat * PERIOD_NS, "ns")
    assert int(dut.count.value) == beats, f"{int(dut.count.value)} results for {beats} beats"
