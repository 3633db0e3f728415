"""cocotb bench of the whole board logic (top ``board_core`` = boards.core.BoardCore: UART RX/TX +
link + accelerator), bridged at the UART pins to a pseudo-terminal.

The bench opens a pty (raw mode), writes the slave's path to the config's ``pty_file`` and then
forwards bytes both ways: every byte the host writes to the pty is shifted into ``rx`` as an 8N1
frame of ``divisor`` clock cycles per bit, and every 8N1 frame seen on ``tx`` is decoded and written
to the pty. So the unmodified host client (boards/host.py, on pyserial) talks to the simulated
board as it would to a real one (tests/sim/test_board_e2e.py). The test ends when ``stop_file``
appears, or fails after ``wall_limit`` seconds of wall-clock time.

Waiting uses ``Timer`` (one simulator callback per bit / poll) instead of per-cycle triggers,
which keeps the bench fast on Verilator; phase does not matter as the receiver synchronises and
samples mid-bit. Options: one :class:`BoardBenchConfig`.
"""

from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from ternecg.sim.pty_bridge import PtyBenchConfig, PtyBridge
from ternecg.sim.tb import config

PERIOD_NS = 10


@dataclass(frozen=True)
class BoardBenchConfig(PtyBenchConfig):
    """``pty_file``, ``stop_file``, ``wall_limit``: :class:`ternecg.sim.pty_bridge.PtyBenchConfig`.

    Parameters
    ----------
    divisor : int
        Clock cycles per UART bit (the BoardCore's ``divisor``).
    poll_cycles : int
        Simulated cycles between two looks at the pty while the host is silent.
    """
    divisor: int = 8
    poll_cycles: int = 4000


class Bridge(PtyBridge):
    """The pty (sim/pty_bridge.py) at the board's UART pins."""

    def __init__(self, dut):
        super().__init__(config(BoardBenchConfig))
        self.dut = dut
        self.div = int(self.cfg.divisor)
        self.bit_ns = self.div * PERIOD_NS
        self.poll_ns = int(self.cfg.poll_cycles) * PERIOD_NS

    async def send_frame(self, byte):
        """One byte as an 8N1 frame on rx."""
        rx = self.dut.rx
        for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
            rx.value = bit
            await Timer(self.bit_ns, unit="ns")

    async def drive_rx(self):
        """Host -> board: pty bytes as 8N1 frames on rx."""
        await self.drive(self.send_frame, self.poll_ns)

    async def monitor_tx(self):
        """Board -> host: 8N1 frames on tx as pty bytes."""
        tx = self.dut.tx
        while True:
            await FallingEdge(tx)
            await Timer(self.bit_ns // 2, unit="ns")
            assert int(tx.value) == 0, "tx: start bit not low at mid-bit"
            byte = 0
            for k in range(8):
                await Timer(self.bit_ns, unit="ns")
                byte |= int(tx.value) << k
            await Timer(self.bit_ns, unit="ns")
            assert int(tx.value) == 1, "tx: stop bit not high"
            self.to_host(byte)


@cocotb.test()
async def pty_bridge(dut):
    """Serve the host client over a pty until the config's ``stop_file`` appears."""
    br = Bridge(dut)
    dut.rx.value = 1
    dut.rst.value = 1
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await ReadOnly()
    assert int(dut.tx.value) == 1, "tx not idle high after reset"
    await RisingEdge(dut.clk)
    cocotb.start_soon(br.monitor_tx())
    br.publish()
    await br.drive_rx()
    await Timer(100 * br.bit_ns, unit="ns")        # let a last frame finish
    br.flush()
    dut._log.info(f"bridge: {br.rx_bytes} bytes host->board, {br.tx_bytes} bytes board->host")
    br.close()
