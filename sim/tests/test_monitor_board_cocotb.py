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

import os
import time
import tty
from dataclasses import dataclass
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from ternecg.sim.tb import config

PERIOD_NS = 10


@dataclass(frozen=True)
class MonitorBoardBenchConfig:
    """Parameters
    ----------
    pty_file, stop_file : str
        Where the bench publishes its pty's path; the file whose appearance ends the test.
    reset_file : str
        The file whose appearance resets the board (the bench deletes it after the reset).
    wall_limit : float
        Seconds of wall-clock time after which the test fails.
    poll_cycles : int
        Simulated cycles between two looks at the pty (and the reset file) while the host is silent.
    clock : bool
        The bench drives ``clk`` (cocotb ``Clock``); ``False``: the toplevel makes its own
        (a Verilog ``always #5`` under Verilator ``--timing``, which runs several times faster).
    """
    pty_file: str
    stop_file: str
    reset_file: str = ""
    wall_limit: float = 600.0
    poll_cycles: int = 2000
    clock: bool = True


class Bridge:
    def __init__(self, dut):
        self.dut = dut
        cfg = self.cfg = config(MonitorBoardBenchConfig)
        self.poll_ns = int(cfg.poll_cycles) * PERIOD_NS
        self.stop_file = Path(cfg.stop_file)
        self.reset_file = Path(cfg.reset_file) if cfg.reset_file else None
        self.deadline = time.monotonic() + float(cfg.wall_limit)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.rx_bytes = self.tx_bytes = self.resets = 0
        self.outbuf = bytearray()

    def publish(self):
        path = Path(self.cfg.pty_file)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(os.ttyname(self.slave))
        tmp.replace(path)

    def stopped(self):
        if time.monotonic() > self.deadline:
            raise AssertionError(f"wall-clock limit of {self.cfg.wall_limit} s reached")
        return self.stop_file.exists()

    def flush(self):
        while self.outbuf:
            try:
                n = os.write(self.master, bytes(self.outbuf))
            except BlockingIOError:
                return
            del self.outbuf[:n]

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

    async def drive(self):
        """Host -> board: pty bytes into ``i``."""
        while not self.stopped():
            await self.reset_if_asked()
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            self.flush()
            if not data:
                await Timer(self.poll_ns, unit="ns")
                continue
            for byte in data:
                await self.send_byte(byte)
                self.rx_bytes += 1

    async def collect(self):
        """Board -> host: bytes of the bench's UART receiver (``o``, always ready) to the pty."""
        dut = self.dut
        while True:
            await RisingEdge(dut.o__valid)
            await ReadOnly()
            self.outbuf.append(int(dut.o__payload.value))
            self.tx_bytes += 1
            self.flush()


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
    await br.drive()
    await Timer(2000 * PERIOD_NS, unit="ns")            # let a last frame finish
    br.flush()
    dut._log.info(f"bridge: {br.rx_bytes} bytes host->board, {br.tx_bytes} bytes board->host, "
                  f"{br.resets} resets")
    os.close(br.master)
    os.close(br.slave)
