"""Board tops: iCEBreaker (iCE40 UP5K, 12 MHz) and ULX3S 85F (ECP5, 25 MHz).

Each top is :class:`~ternecg.boards.core.BoardCore` (UART + link + accelerator) on the board's
default oscillator (no PLL: the design meets timing at the board clock, see build/<board>/
report.json), the UART on the FTDI port, and LEDs for the class of the last result:

* iCEBreaker: green LED = last beat normal (class 0), red LED = abnormal (any other class).
* ULX3S: LED k on for the last class k (k < 7); LED 7 toggles with received bytes (activity).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Elaboratable, Module
from amaranth.lib import io

from ternecg.errors import TernEcgError, user_values
from ternecg.hw.checks import Checked

from .core import BoardCore
from .uart import divisor_for

DEFAULT_BAUD = 115200


@dataclass(frozen=True)
class Board:
    name: str
    platform: str           # "module:Class" of amaranth-boards
    clk_hz: float
    programmer: list        # openFPGALoader arguments selecting the cable/board
    bitstream: str          # file name of the bitstream in build/<board>/

    def make_platform(self):
        import importlib
        mod, cls = self.platform.split(":")
        return getattr(importlib.import_module(mod), cls)()


BOARDS = {
    "icebreaker": Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", 12e6,
                        ["-c", "ft2232"], "top.bin"),
    "ulx3s": Board("ulx3s", "amaranth_boards.ulx3s:ULX3S_85F_Platform", 25e6, ["-b", "ulx3s"],
                   "top.bit"),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise TernEcgError(f"unknown board {name!r}; choose one of: {', '.join(sorted(BOARDS))}") from None


class BoardTop(Checked, Elaboratable):
    """A board's top: :class:`~ternecg.boards.core.BoardCore` on the board's clock, UART and LEDs.

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        The model.
    board : str
        A key of :data:`BOARDS`.
    parallel : int
        Add/sub lanes of the accelerator (keyword-only, as ``baud``).
    baud : int
        UART baud rate (the divisor of the board clock must be within 2 %).

    Raises
    ------
    TernEcgError
        For a bad user value (board, baud, parallelism, a model the protocol cannot carry): one
        line naming it, before the top exists.
    """

    @classmethod
    def check_arguments(cls, model, board, *, parallel=1, baud=DEFAULT_BAUD):
        b = get_board(board)
        divisor = divisor_for(b.clk_hz, baud)
        with user_values(f"cannot build the {board} top"):
            BoardCore.check_arguments(model, divisor=divisor, parallel=parallel)

    def __init__(self, model, board: str, *, parallel: int = 1, baud: int = DEFAULT_BAUD):
        self.board = get_board(board)
        self.baud = baud
        self.core = BoardCore(model, divisor=divisor_for(self.board.clk_hz, baud), parallel=parallel)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        # pins through lib.io buffers (the resources' inversion, e.g. the iCEBreaker's active-low
        # LEDs, is the buffers' business)
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx)]

        def led(name, number, on):
            buf = io.Buffer("o", platform.request(name, number, dir="-"))
            m.submodules[f"{name}_{number}"] = buf
            m.d.comb += buf.o.eq(on)
        if self.board.name == "icebreaker":
            led("led_g", 0, core.last_cls == 0)
            led("led_r", 0, core.last_cls != 0)
        else:
            for k in range(7):
                led("led", k, core.last_cls == k)
            led("led", 7, core.activity)
        return m
