"""The input ring: raw samples in, the same samples out to the front end, which may fall behind.

The monitor's front end (hw/qrs_front_end.py) runs a program that now and then waits: while it
hands a beat's window or a decided beat to the accelerator (docs/arithmetic.md 10.4). The input
must not wait with it (a free-running ADC cannot), so every raw sample goes into this ring of
``depth`` words (one iCE40 UP5K SPRAM; ``last`` stored with the sample) and ``replay`` gives them
back in order as fast as the front end takes them. The beat windows are cut by the front end
from its own history of the record's samples, so this ring only bridges the front end's waits:
at 360 Hz they last a few samples at most (the accelerator's compute of a beat, 7 ms at
``PARALLEL`` 1 and 12 MHz), and 256 samples are 0.7 s.

``samples.ready`` is low while the ring is full (``depth`` samples written and not yet read for
``replay``, plus one in ``replay``'s register). Each input sample that finds it low is counted
once in ``overruns``: with a source that can wait (a host, a FIFO) it was only delayed; with one
that cannot (a free-running ADC) it would be lost.

The single RAM port serves one access per cycle: a write (an accepted input sample) first, else a
replay read, whose data arrives a cycle later in ``replay``'s output register.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.golden.spec.normalize import RAW_BITS

from .checks import Checked, check_int
from .qrs_ram import SPRAM_DEPTH, SinglePortRam, check_spram

__all__ = ["SampleRing", "SAMPLE_LAYOUT"]

#: a raw sample and its end-of-record flag
SAMPLE_LAYOUT = data.StructLayout({"sample": unsigned(RAW_BITS), "last": 1})


class SampleRing(Checked, wiring.Component):
    """A ring of raw samples between the input and the front end.

    Parameters
    ----------
    depth : int (keyword-only)
        Samples the ring holds ahead of ``replay`` (a power of two, 2 .. 16,384; 256 by default).
    spram : bool or None (keyword-only)
        The ring's RAM (hw/qrs_ram.py).

    Members
    -------
    samples : ``In(stream.Signature(SAMPLE_LAYOUT))``
        Raw samples; ``last`` on a record's final sample.
    replay : ``Out(stream.Signature(SAMPLE_LAYOUT))``
        The same samples in order.
    overruns : ``Out(16)``
        Input samples that found the ring full (see above; wraps at 2^16).

    Raises
    ------
    TypeError, ValueError
        For a bad argument.
    """

    @classmethod
    def check_arguments(cls, *, depth=256, spram=None):
        check_spram("SampleRing", spram)
        check_int("SampleRing", "depth", depth, minimum=2, maximum=SPRAM_DEPTH)
        if depth & (depth - 1):
            raise ValueError(f"SampleRing depth must be a power of two, not {depth}")

    def __init__(self, *, depth=256, spram=None):
        self._depth, self._spram = depth, spram
        super().__init__({
            "samples": In(stream.Signature(SAMPLE_LAYOUT)),
            "replay": Out(stream.Signature(SAMPLE_LAYOUT)),
            "overruns": Out(16),
        })

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        depth, abits = self._depth, (self._depth - 1).bit_length()
        m.submodules.ram = ram = SinglePortRam(depth=depth, spram=self._spram)

        wpos = Signal(abits)                # next address to write
        rpos = Signal(abits)                # next address to replay
        count = Signal(range(depth + 1))    # written, not yet read for the replay

        # --- writes first, then replay reads ---------------------------------------------------
        m.d.comb += self.samples.ready.eq(~count[-1])               # count == depth: full
        write = self.samples.valid & self.samples.ready
        pending = Signal()                  # a replay read is in the RAM this cycle
        valid = Signal()
        payload = Signal(RAW_BITS + 1)
        read = ~write & (count != 0) & ~valid & ~pending
        m.d.comb += [ram.addr.eq(Mux(write, wpos, rpos)), ram.we.eq(write),
                     ram.wdata.eq(Cat(self.samples.payload.sample, self.samples.payload.last))]
        with m.If(write):
            m.d.sync += wpos.eq(wpos + 1)
        with m.If(read):
            m.d.sync += rpos.eq(rpos + 1)
        with m.If(write | read):                    # one adder: +1 or -1
            m.d.sync += count.eq(count + Mux(write, 1, -1))
        m.d.sync += pending.eq(read)

        # --- replay output ---------------------------------------------------------------------
        with m.If(pending):
            m.d.sync += [payload.eq(ram.rdata[0:RAW_BITS + 1]), valid.eq(1)]
        with m.Elif(self.replay.ready):
            m.d.sync += valid.eq(0)
        m.d.comb += [self.replay.valid.eq(valid), self.replay.payload.sample.eq(payload[0:RAW_BITS]),
                     self.replay.payload.last.eq(payload[RAW_BITS])]

        # --- overruns: an input sample that found the ring full (once per sample) -----------
        waiting = Signal()
        overruns = Signal(16)
        with m.If(self.samples.valid & ~self.samples.ready & ~waiting):
            m.d.sync += overruns.eq(overruns + 1)
        m.d.sync += waiting.eq(self.samples.valid & ~self.samples.ready)
        m.d.comb += self.overruns.eq(overruns)
        return m
