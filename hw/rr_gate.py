"""The RR gate: pairs each beat's RR word with the beat, and discards the word of a dropped beat."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int

__all__ = ["RRGate"]


class RRGate(Checked, wiring.Component):
    """Every beat, classified or dropped, comes with one word on ``rr``, in beat order; the RR
    table (hw/rr_table.py) must see only the words of classified beats.

    A word is taken into a one-word register as soon as it arrives (from the second cycle after a
    reset on, like the samples; so a source may send a beat's word before its samples and wait for
    the transfer), and held until its beat has ended
    (``beats``: one transfer per beat, in order, ``1`` for a dropped beat): then it goes on to ``o``
    or, for a dropped beat, is discarded. ``beats`` is buffered in a FIFO of ``depth`` entries
    (beats that ended before their word arrived); ``beats.ready`` is low while it is full.

    Parameters
    ----------
    width : int
        Width of an RR word.
    depth : int
        Entries of the FIFO of beat ends (keyword-only).

    Members
    -------
    rr : ``In(stream.Signature(unsigned(width)))``
        The words, one per beat.
    beats : ``In(stream.Signature(1))``
        One transfer per beat end, in order: 1 = the beat was dropped.
    o : ``Out(stream.Signature(unsigned(width)))``
        The words of the classified beats, in order.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, width, *, depth=4):
        check_int("RRGate", "width", width, minimum=1)
        check_int("RRGate", "depth", depth, minimum=1)

    def __init__(self, width, *, depth=4):
        self._width = width
        self._depth = depth
        super().__init__({
            "rr": In(stream.Signature(unsigned(width))),
            "beats": In(stream.Signature(1)),
            "o": Out(stream.Signature(unsigned(width))),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ends = ends = fifo.SyncFIFO(width=1, depth=self._depth)
        held = Signal()
        booted = Signal()               # low during reset and in the cycle after it, as i.ready
        m.d.sync += booted.eq(1)
        m.d.comb += [ends.w_en.eq(self.beats.valid), ends.w_data.eq(self.beats.payload),
                     self.beats.ready.eq(ends.w_rdy),
                     self.rr.ready.eq(booted & ~held)]
        with m.If(self.rr.valid & self.rr.ready):
            m.d.sync += [held.eq(1), self.o.payload.eq(self.rr.payload)]
        paired = held & ends.r_rdy
        discard = paired & ends.r_data
        m.d.comb += [self.o.valid.eq(paired & ~ends.r_data),
                     ends.r_en.eq((self.o.valid & self.o.ready) | discard)]
        with m.If(ends.r_en):
            m.d.sync += held.eq(0)
        return m
