"""A single-port RAM: one iCE40 UP5K SPRAM (``SB_SPRAM256KA``) there, ``lib.memory`` elsewhere.

The front end keeps its delay lines, tables and the beat window's ring in RAM that needs no
initial contents and is accessed one word per cycle, which is exactly what the UP5K's four
256-kbit single-port RAMs (16k x 16, otherwise unused by this design) offer without costing a
block RAM. :class:`SinglePortRam` is that interface: one address, a write enable, a read enable,
read data one cycle later. On an iCE40 UP platform (or with ``spram=True``) it instantiates
``SB_SPRAM256KA`` (the cell Yosys' ``synth_ice40`` and nextpnr place as an SPRAM; its ports as in
the iCE40 UltraPlus technology library: standby, sleep and power-off tied to an always-on RAM, all
four nibbles written together, chip select = read enable or write enable: a deselected SPRAM
keeps its DATAOUT, Yosys' ``share/ice40/cells_sim.v``; a word narrower than 16 bits is padded
with zeros); otherwise (simulation, generated Verilog, other FPGAs) a ``lib.memory.Memory`` with
one write port and one synchronous read port on the same address, enabled by ``re & ~we``.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["SinglePortRam", "SPRAM_DEPTH", "SPRAM_WIDTH", "is_ice40_up", "check_spram", "spram_choice"]

SPRAM_DEPTH, SPRAM_WIDTH = 16384, 16


def check_spram(owner, value):
    """``spram`` must be True, False or None (TypeError naming ``owner`` otherwise)."""
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{owner} spram must be True, False or None, not {value!r}")
    return value


def is_ice40_up(platform) -> bool:
    """Whether ``platform`` (an Amaranth platform or None) is an iCE40 UltraPlus (UP3K/UP5K)."""
    device = str(getattr(platform, "device", "") or "")
    return device.upper().startswith("ICE40UP")


def spram_choice(spram, platform, depth, width) -> bool:
    """Whether a RAM of ``depth`` x ``width`` goes into an SPRAM: ``spram`` when it is True or
    False; for None (the default of every user), on an iCE40 UP platform when the words fit one."""
    if spram is None:
        return is_ice40_up(platform) and depth <= SPRAM_DEPTH and width <= SPRAM_WIDTH
    return spram


class SinglePortRam(Checked, wiring.Component):
    """``depth`` words of ``width`` bits, one access per cycle, no initial contents.

    In a cycle with ``we`` low and ``re`` high, ``rdata`` holds word ``addr`` in the next cycle
    (and keeps it until the next read); in a cycle with both low, ``rdata`` keeps its value (a
    stream payload read from the RAM can be held while its ``ready`` is low); in a cycle with
    ``we`` high, word ``addr`` becomes ``wdata`` and ``rdata`` is not defined in the next cycle
    (the users never read it then).

    Parameters
    ----------
    depth : int
        Words (a power of two; at most 16,384 with the SPRAM).
    width : int
        Bits per word (at most 16 with the SPRAM).
    spram : bool or None
        ``True``: an iCE40 ``SB_SPRAM256KA``; ``False``: ``lib.memory``; ``None`` (default):
        the SPRAM on an iCE40 UP platform when the words fit it, ``lib.memory`` otherwise (and
        without a platform).

    Members
    -------
    addr : ``In(range(depth))``
    wdata : ``In(width)``
    we : ``In(1)``
    re : ``In(1, init=1)``
        Read enable (undriven: a read every cycle without a write).
    rdata : ``Out(width)``

    Raises
    ------
    TypeError, ValueError
        For a bad argument.
    """

    @classmethod
    def check_arguments(cls, *, depth, width=16, spram=None):
        check_int("SinglePortRam", "depth", depth, minimum=2)
        check_int("SinglePortRam", "width", width, minimum=1)
        if depth & (depth - 1):
            raise ValueError(f"SinglePortRam depth must be a power of two, not {depth}")
        check_spram("SinglePortRam", spram)
        if spram and (depth > SPRAM_DEPTH or width > SPRAM_WIDTH):
            raise ValueError(f"SinglePortRam: an SPRAM is {SPRAM_DEPTH} x {SPRAM_WIDTH}, not "
                             f"{depth} x {width}")

    def __init__(self, *, depth, width=16, spram=None):
        self._depth, self._width, self._spram = depth, width, spram
        super().__init__({
            "addr": In(range(depth)),
            "wdata": In(width),
            "we": In(1),
            "re": In(1, init=1),
            "rdata": Out(width),
        })

    @property
    def depth(self):
        return self._depth

    def uses_spram(self, platform) -> bool:
        return spram_choice(self._spram, platform, self._depth, self._width)

    def elaborate(self, platform):
        m = Module()
        if self.uses_spram(platform):
            address = Signal(14)
            datain = Signal(SPRAM_WIDTH)
            dataout = Signal(SPRAM_WIDTH)
            m.d.comb += [address.eq(self.addr), datain.eq(self.wdata), self.rdata.eq(dataout)]
            m.submodules.spram = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=address, i_DATAIN=datain, i_MASKWREN=0b1111, i_WREN=self.we,
                i_CHIPSELECT=self.re | self.we, i_CLOCK=ClockSignal("sync"),
                i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=dataout)
            return m
        m.submodules.mem = mem = Memory(shape=self._width, depth=self._depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=())
        m.d.comb += [
            wr.addr.eq(self.addr), wr.data.eq(self.wdata), wr.en.eq(self.we),
            rd.addr.eq(self.addr), rd.en.eq(self.re & ~self.we),
            self.rdata.eq(rd.data),
        ]
        return m
