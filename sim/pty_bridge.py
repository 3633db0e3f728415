"""The pseudo-terminal side of the board benches (sim/tests/test_board_cocotb.py,
sim/tests/test_monitor_board_cocotb.py): a raw-mode pty whose slave path the bench publishes to
the host (boards/host.py, boards/monitor_host.py on pyserial), bytes from the host handed to the
bench one at a time, bytes from the board written back, and the end of the test (a stop file, or
a wall-clock limit)."""

from __future__ import annotations

import os
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from cocotb.triggers import Timer

__all__ = ["PtyBenchConfig", "PtyBridge"]


@dataclass(frozen=True)
class PtyBenchConfig:
    """The options every pty bench has (a bench's config is a subclass).

    Parameters
    ----------
    pty_file, stop_file : str
        Where the bench publishes its pty's path; the file whose appearance ends the test.
    wall_limit : float
        Seconds of wall-clock time after which the test fails.
    """
    pty_file: str
    stop_file: str
    wall_limit: float = 600.0


class PtyBridge:
    """The pty of a board bench.

    Parameters
    ----------
    cfg : :class:`PtyBenchConfig`
        The bench's config (``pty_file``: where :meth:`publish` writes the pty's path;
        ``stop_file``: its appearance ends :meth:`drive`; ``wall_limit``).

    Members
    -------
    rx_bytes, tx_bytes : int
        Bytes host -> board (handed to the bench) and board -> host (:meth:`to_host`).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.stop_file = Path(cfg.stop_file)
        self.deadline = time.monotonic() + float(cfg.wall_limit)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.rx_bytes = self.tx_bytes = 0
        self.outbuf = bytearray()

    def publish(self):
        """Write the pty's path to ``cfg.pty_file`` (atomically: the host polls for it)."""
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

    def to_host(self, byte: int):
        """One byte from the board to the host."""
        self.tx_bytes += 1
        self.outbuf.append(byte)
        self.flush()

    async def drive(self, send_byte, poll_ns: int, *, before=None):
        """Host -> board until the stop file appears: every byte the host wrote goes through
        ``await send_byte(byte)``; while the host is silent, a look at the pty every ``poll_ns``
        (and ``await before()`` before each look, when given)."""
        while not self.stopped():
            if before is not None:
                await before()
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            self.flush()
            if not data:
                await Timer(poll_ns, unit="ns")
                continue
            for byte in data:
                await send_byte(byte)
                self.rx_bytes += 1

    def close(self):
        os.close(self.master)
        os.close(self.slave)
