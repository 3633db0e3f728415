"""The serial link's FIFO of the sequence numbers of the beats in flight, in one block RAM."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked, check_int

__all__ = ["SeqFifo"]


class SeqFifo(Checked, wiring.Component):
    """A first-in first-out queue of ``depth`` bytes whose storage is a block RAM.

    It behaves as :class:`amaranth.lib.fifo.SyncFIFOBuffered` of the same depth (a byte written
    is offered on ``r`` two cycles later, at the earliest; ``w`` is ready while fewer than
    ``depth`` bytes are held), but its storage is a ``lib.memory`` memory marked for a block RAM
    (``ram_style``: on the iCE40 one EBR) instead of ``depth - 1`` bytes of flip-flops: the
    link's logic cells are the scarce resource (issue 17), its block RAMs are not. The offered
    byte is the RAM's read register, whose read enable is low while it waits (the payload holds).

    Parameters
    ----------
    depth : int
        Bytes held (at least 2).

    Members
    -------
    w : ``In(stream.Signature(unsigned(8)))``
        Bytes in.
    r : ``Out(stream.Signature(unsigned(8)))``
        Bytes out, in order.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, depth):
        check_int("SeqFifo", "depth", depth, minimum=2)

    def __init__(self, depth):
        self._depth = depth
        super().__init__({"w": In(stream.Signature(unsigned(8))), "r": Out(stream.Signature(unsigned(8)))})

    def elaborate(self, platform):
        m = Module()
        inner = self._depth - 1                  # in the RAM; one more in its read register
        m.submodules.storage = storage = memory.Memory(shape=unsigned(8), depth=inner, init=[],
                                                       attrs={"ram_style": "block"})
        wp = storage.write_port()
        rp = storage.read_port()
        produce = Signal(range(inner))
        consume = Signal(range(inner))
        level = Signal(range(inner + 1))         # bytes in the RAM, not yet in the read register
        shown = self.r.valid

        do_write = self.w.valid & self.w.ready
        do_read = (level != 0) & (~shown | self.r.ready)
        m.d.comb += [self.w.ready.eq(level != inner),
                     wp.addr.eq(produce), wp.data.eq(self.w.payload), wp.en.eq(do_write),
                     rp.addr.eq(consume), rp.en.eq(do_read), self.r.payload.eq(rp.data)]

        with m.If(do_write):
            m.d.sync += produce.eq(_next(produce, inner))
        with m.If(do_read):
            m.d.sync += [consume.eq(_next(consume, inner)), shown.eq(1)]
        with m.Elif(self.r.ready):
            m.d.sync += shown.eq(0)
        with m.If(do_write & ~do_read):
            m.d.sync += level.eq(level + 1)
        with m.If(do_read & ~do_write):
            m.d.sync += level.eq(level - 1)
        return m


def _next(ptr, size):
    """``ptr + 1`` modulo ``size``."""
    if size & (size - 1) == 0:
        return (ptr + 1)[:len(ptr)]
    return Mux(ptr == size - 1, 0, ptr + 1)
