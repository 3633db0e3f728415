"""cocotb bench of the whole monitor board logic, bridged to a pseudo-terminal: the top
(``monitor_board``, tests/sim/test_monitor_board_e2e.py ``UartLoop``) is
boards.monitor_core.MonitorBoardCore (UART RX/TX + monitor link + Monitor) with its UART pins
wired to a UART transmitter and receiver of the bench's own (boards/uart.py), so the bench moves
whole bytes (``i`` in, ``o`` out: a few simulator callbacks per byte instead of one per bit, as
sim/tests/test_board_cocotb.py does) while every bit still crosses the board's real UART.

The bench opens a pty (raw mode), writes the slave's path to the config's ``pty_file`` and
forwards bytes both ways, so the unmodified host (boards/monitor_host.py, on pyserial) talks to
the simulated board as to a real one. When the config's ``reset_file`` appears, the bench holds
``rst`` for a few cycles (the board loses its state, as after a reset button or a
reconfiguration; a character on the wire at that moment is cut) and deletes the file. The test
ends when ``stop_file`` appears, or fails after ``wall_limit`` seconds. Options: one
:class:`MonitorBoardBenchConfig`.
"""

from dataclasses import dataclass
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from ternecg.sim.pty_bridge import PtyBenchConfig, PtyBridge
from ternecg.sim.tb import config

PERIOD_NS = 10


@dataclass(frozen=True)
class MonitorBoardBenchConfig(PtyBenchConfig):
    """``pty_file``, ``stop_file``, ``wall_limit``: :class:`ternecg.sim.pty_bridge.PtyBenchConfig`.

    Parameters
    ----------
    reset_file : str
        The file whose appearance resets the board (the bench deletes it after the reset).
    poll_cycles : int
        Simulated cycles between two looks at the pty (and the reset file) while the host is silent.
    clock : bool
        The bench drives ``clk`` (cocotb ``Clock``); ``False``: the toplevel makes its own
        (a Verilog ``always #5`` under Verilator ``--timing``, which runs several times faster).
    """
    reset_file: str = ""
    poll_cycles: int = 2000
    clock: bool = True


class Bridge(PtyBridge):
    """The pty (sim/pty_bridge.py) at the bench's UART byte streams; resets on ``reset_file``."""

    def __init__(self, dut):
        super().__init__(config(MonitorBoardBenchConfig))
        self.dut = dut
        self.poll_ns = int(self.cfg.poll_cycles) * PERIOD_NS
        self.reset_file = Path(self.cfg.reset_file) if self.cfg.reset_file else None
        self.resets = 0

    async def reset_if_asked(self):
        if self.reset_file is not None and self.reset_file.exists():
            await FallingEdge(self.dut.clk)
            self.dut.i__valid.value = 0
            self.dut.rst.value = 1
            for _ in range(4):
                await RisingEdge(self.dut.clk)
            self.dut.rst.value = 0
            self.resets += 1
            self.reset_file.unlink()

    async def send_byte(self, byte):
        """One byte into the bench's UART transmitter (``i``): inputs change at a falling clock
        edge (never in the time step of a rising one), ``ready`` is waited for by its edge."""
        dut = self.dut
        await FallingEdge(dut.clk)
        dut.i__payload.value = byte
        dut.i__valid.value = 1
        if not int(dut.i__ready.value):
            await RisingEdge(dut.i__ready)
            await FallingEdge(dut.clk)
        await RisingEdge(dut.clk)                   # the transfer
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0

    async def drive_i(self):
        """Host -> board: pty bytes into ``i`` (a reset when asked, at every look at the pty)."""
        await self.drive(self.send_byte, self.poll_ns, before=self.reset_if_asked)

    async def collect(self):
        """Board -> host: bytes of the bench's UART receiver (``o``, always ready) to the pty."""
        dut = self.dut
        while True:
            await RisingEdge(dut.o__valid)
            await ReadOnly()
            self.to_host(int(dut.o__payload.value))


@cocotb.test()
async def pty_bridge(dut):
    """Serve the host over a pty until ``stop_file`` appears; reset on ``reset_file``."""
    br = Bridge(dut)
    dut.i__valid.value = 0
    dut.o__ready.value = 1
    dut.rst.value = 1
    if br.cfg.clock:
        Clock(dut.clk, PERIOD_NS, unit="ns").start()
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    cocotb.start_soon(br.collect())
    br.publish()
    await br.drive_i()
    await Timer(2000 * PERIOD_NS, unit="ns")            # let a last frame finish
    br.flush()
    dut._log.info(f"bridge: {br.rx_bytes} bytes host->board, {br.tx_bytes} bytes board->host, "
                  f"{br.resets} resets")
    br.close()
