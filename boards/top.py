"""Board tops: iCEBreaker (iCE40 UP5K, 12 MHz) and ULX3S 85F (ECP5, 25 MHz).

Each top is a board core on the board's default oscillator (no PLL: the design meets timing at
the board clock, see build/<board>/report.json), the UART on the FTDI port, and LEDs for the
class of the last result. Two applications (``app``):

* ``classifier`` (default): :class:`~ternecg.boards.core.BoardCore` (UART + link + accelerator,
  protocol version 1: beats in, results out), built in ``build/<board>/``;
* ``monitor``: :class:`~ternecg.boards.monitor_core.MonitorBoardCore` (UART + monitor link +
  the live monitor, protocol version 2: raw samples in, beats out), built in
  ``build/<board>-monitor/``.

LEDs:

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
#: the board applications: the beat classifier (protocol 1) and the live monitor (protocol 2)
APPS = ("classifier", "monitor")


@dataclass(frozen=True)
class Board:
    name: str
    platform: str           # "module:Class" of amaranth-boards
    clk_hz: float
    programmer: list        # openFPGALoader arguments selecting the cable/board
    bitstream: str          # file name of the bitstream in build/<board>/
    synth_opts: str = ""    # options of Yosys' synth_<family>

    def make_platform(self):
        import importlib
        mod, cls = self.platform.split(":")
        return getattr(importlib.import_module(mod), cls)()


BOARDS = {
    # the UP5K's delays for ABC9, as every iCE40 flow (boards/hw_report.py ICE40_SYNTH_FLAGS)
    "icebreaker": Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", 12e6,
                        ["-c", "ft2232"], "top.bin", synth_opts="-device u -dffe_min_ce_use 4"),
    # -nowidelut: LUT4s only, no PFUMX/L6MUX wide functions (ABC9 built 5-7 input LUTs of up to eight
    # LUT4s each for speed this 25 MHz design does not need: on 96ab085 2,398 LUT4, 67.4 MHz with
    # them, 1,904 LUT4, 66.8 MHz without). hw-report keeps them on the ECP5: its settings are there
    # for throughput (P = 48: 17,390 LUT4, 46.70 MHz with them; 16,285 LUT4, 44.96 MHz without)
    "ulx3s": Board("ulx3s", "amaranth_boards.ulx3s:ULX3S_85F_Platform", 25e6, ["-b", "ulx3s"],
                   "top.bit", synth_opts="-nowidelut"),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise TernEcgError(f"unknown board {name!r}; choose one of: {', '.join(sorted(BOARDS))}") from None


def check_app(app: str) -> str:
    if app not in APPS:
        raise TernEcgError(f"unknown application {app!r}; choose one of: {', '.join(APPS)}")
    return app


def build_name(board: str, app: str = "classifier") -> str:
    """The build folder's name below ``build/``: ``<board>``, or ``<board>-monitor``."""
    get_board(board)
    return board if check_app(app) == "classifier" else f"{board}-{app}"


def default_model(app: str = "classifier"):
    """The model a build of ``app`` uses by default: ``models/default.json`` for the classifier;
    the monitor's four-class inter-patient model ``models/aami4_inter.json``, or
    ``models/inter_patient.json`` until that exists."""
    from ternecg.paths import models_dir
    if check_app(app) == "classifier":
        return models_dir() / "default.json"
    four = models_dir() / "aami4_inter.json"
    return four if four.is_file() else models_dir() / "inter_patient.json"


def add_app_option(p):
    """``--app classifier|monitor`` (``make ... APP=monitor``)."""
    p.add_argument("--app", default="classifier", choices=APPS,
                   help="the board application: the beat classifier (default; protocol 1) or the live "
                        "monitor (protocol 2; build folder <board>-monitor)")


class BoardTop(Checked, Elaboratable):
    """A board's top: :class:`~ternecg.boards.core.BoardCore` on the board's clock, UART and LEDs.

    Parameters
    ----------
    model : :class:`~ternecg.golden.spec.modelfile.IntModel`
        The model.
    board : str
        A key of :data:`BOARDS`.
    parallel : int
        Add/sub lanes of the accelerator (keyword-only, as the rest).
    baud : int
        UART baud rate (the divisor of the board clock must be within 2 %).
    app : str
        ``"classifier"`` (:class:`~ternecg.boards.core.BoardCore`) or ``"monitor"``
        (:class:`~ternecg.boards.monitor_core.MonitorBoardCore`).

    Raises
    ------
    TernEcgError
        For a bad user value (board, baud, parallelism, a model the protocol cannot carry): one
        line naming it, before the top exists.
    """

    @classmethod
    def check_arguments(cls, model, board, *, parallel=1, baud=DEFAULT_BAUD, app="classifier"):
        b = get_board(board)
        check_app(app)
        divisor = divisor_for(b.clk_hz, baud)
        with user_values(f"cannot build the {board} {app} top"):
            if app == "monitor":
                from .monitor_core import MonitorBoardCore
                MonitorBoardCore.check_arguments(model, divisor=divisor, parallel=parallel)
            else:
                BoardCore.check_arguments(model, divisor=divisor, parallel=parallel)

    def __init__(self, model, board: str, *, parallel: int = 1, baud: int = DEFAULT_BAUD, app: str = "classifier"):
        self.board = get_board(board)
        self.baud = baud
        self.app = app
        divisor = divisor_for(self.board.clk_hz, baud)
        if app == "monitor":
            from .monitor_core import MonitorBoardCore
            self.core = MonitorBoardCore(model, divisor=divisor, parallel=parallel)
        else:
            self.core = BoardCore(model, divisor=divisor, parallel=parallel)

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
