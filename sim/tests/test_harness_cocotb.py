"""cocotb side of the speed harness (:mod:`ternecg.sim.harness`) on Icarus: drives the harness's
clock and waits for ``done``. The harness drives and records everything else in Verilog; the
comparison with golden happens in the pytest process, on the results file the harness wrote.

Options (environment): ``SIM_BEATS`` (beats the harness was told to run; for the timeout),
``SIM_TIMEOUT_CYCLES_PER_BEAT`` (default 400000).
"""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer, with_timeout

from ternecg.sim.tb import option

PERIOD_NS = 10


@cocotb.test()
async def run_harness(dut):
    beats = int(option("SIM_BEATS", "0"))
    per_beat = int(option("SIM_TIMEOUT_CYCLES_PER_BEAT", "400000"))
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    await Timer(1, unit="ns")
    if not int(dut.done.value):
        await with_timeout(RisingEdge(dut.done), (beats + 1) * per_beat * PERIOD_NS, "ns")
    assert int(dut.count.value) == beats, f"{int(dut.count.value)} results for {beats} beats"
