"""The beat window: a ring buffer of raw samples that feeds the detector and cuts the beats' windows.

Every raw sample goes into a ring of ``depth`` words (one iCE40 UP5K SPRAM) at consecutive
addresses, across records (a sample's ``last`` flag is stored with it). The ring has two readers:

* ``replay``: the same samples in the same order, for the front end's detector
  (hw/qrs_front_end.py). The detector may fall behind the input (while it waits to hand a beat to
  the accelerator); the ring holds the difference, so the input keeps being accepted: the
  classifier's compute never stalls the sample stream.
* ``o``: on a command on ``windows`` (the ring address of a window's first sample), the
  ``length`` samples from there, ``last`` set on the final one: a beat's window
  ``r - 120 .. r + 119`` (docs/arithmetic.md 10.2) for the accelerator.

Nothing is ever overwritten before it is read: ``samples.ready`` is low while the detector lags
``lag_limit`` samples behind the input (a power of two, so that the test is one bit of the lag
counter, and small enough that a window the detector may still ask for, up to ``max_late``
samples before its read position, stays in the ring), and while the next write would overwrite
the next sample of the window being streamed. Each input sample that finds
``samples.ready`` low is counted in ``overruns``: with a source that can wait (a host, a FIFO)
it was only delayed; with a source that cannot (a free-running ADC) it would be lost. At 360 Hz
neither happens: the detector lags at most a few samples (docs/arithmetic.md 10.4).

The single RAM port serves one access per cycle: a write (an accepted input sample) first, then a
window read, then a replay read; read data arrives one cycle later into the stream's output
register, which holds it until it is taken.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.golden.spec.normalize import RAW_BITS

from .checks import Checked, check_int
from .qrs_ram import SinglePortRam, check_spram

__all__ = ["BeatWindow", "SAMPLE_LAYOUT"]

#: a raw sample and its end-of-record flag
SAMPLE_LAYOUT = data.StructLayout({"sample": unsigned(RAW_BITS), "last": 1})

#: latest report of a beat after its R peak (docs/arithmetic.md 9.7) at 360 Hz
MAX_LATE = 1469


class BeatWindow(Checked, wiring.Component):
    """A ring of raw samples, replayed to the detector and cut into beat windows.

    Parameters
    ----------
    depth : int (keyword-only)
        Ring size in samples, a power of two (2,048: the latest detection's window, 10.4).
    length : int (keyword-only)
        Window length in samples (240).
    max_late : int (keyword-only)
        Largest distance from a window's first sample to the replay position at which its
        command can come: a detection's latest report (1,469 samples after its R peak) plus half
        a window (1,469 + 120 = 1,589 at 360 Hz). Sets ``lag_limit``: the largest power of two
        up to ``depth - max_late - 1`` (256 for the defaults: 0.7 s at 360 Hz).
    spram : bool or None (keyword-only)
        The ring's RAM (hw/qrs_ram.py).

    Members
    -------
    samples : ``In(stream.Signature(SAMPLE_LAYOUT))``
        Raw samples; ``last`` on a record's final sample.
    replay : ``Out(stream.Signature(SAMPLE_LAYOUT))``
        The same samples in order, from the ring.
    windows : ``In(stream.Signature(unsigned(bits(depth))))``
        Ring address of a window's first sample. Taken when the previous window has been
        streamed; the window's samples must be in the ring (they are older than the replay
        position) and not older than ``max_late``.
    o : ``Out(stream.Signature(SAMPLE_LAYOUT))``
        The window's ``length`` samples; ``last`` on the final one (the end of the beat).
    overruns : ``Out(16)``
        Input samples that found the ring full (see above; wraps at 2^16).

    Raises
    ------
    TypeError, ValueError
        For a bad argument.
    """

    @classmethod
    def check_arguments(cls, *, depth=2048, length=240, max_late=MAX_LATE + 120, spram=None):
        check_spram("BeatWindow", spram)
        check_int("BeatWindow", "depth", depth, minimum=4)
        if depth & (depth - 1):
            raise ValueError(f"BeatWindow depth must be a power of two, not {depth}")
        check_int("BeatWindow", "length", length, minimum=1, maximum=depth // 2)
        check_int("BeatWindow", "max_late", max_late, minimum=length)
        if depth - max_late - 1 < 2:
            raise ValueError(f"BeatWindow: a {depth}-sample ring cannot keep windows {max_late} samples "
                             f"behind the replay; use a depth of at least {max_late + 3}")

    def __init__(self, *, depth=2048, length=240, max_late=MAX_LATE + 120, spram=None):
        self._depth, self._length, self._max_late, self._spram = depth, length, max_late, spram
        self.lag_limit = 1 << ((depth - max_late - 1).bit_length() - 1)
        abits = (depth - 1).bit_length()
        super().__init__({
            "samples": In(stream.Signature(SAMPLE_LAYOUT)),
            "replay": Out(stream.Signature(SAMPLE_LAYOUT)),
            "windows": In(stream.Signature(unsigned(abits))),
            "o": Out(stream.Signature(SAMPLE_LAYOUT)),
            "overruns": Out(16),
        })

    @property
    def depth(self):
        return self._depth

    @property
    def length(self):
        return self._length

    def elaborate(self, platform):
        m = Module()
        depth, abits = self._depth, (self._depth - 1).bit_length()
        m.submodules.ram = ram = SinglePortRam(depth=depth, spram=self._spram)

        wpos = Signal(abits)                # next address to write
        rpos = Signal(abits)                # next address to replay
        lag = Signal(range(self.lag_limit + 1))     # written, not yet read for the replay
        spos = Signal(abits)                # next window address to read
        left = Signal(range(self._length + 1))      # window samples still to read

        # --- writes: an accepted input sample ------------------------------------------------
        full = lag[-1] | ((left != 0) & (wpos == spos))
        m.d.comb += self.samples.ready.eq(~full)
        write = self.samples.valid & self.samples.ready

        # --- the two readers: window first, then replay ----------------------------------------
        o_pending = Signal()                # a window read is in the RAM this cycle
        r_pending = Signal()
        o_valid, o_last = Signal(), Signal()
        r_valid = Signal()
        o_data, r_data = Signal(RAW_BITS), Signal(RAW_BITS + 1)
        read_o = Signal()
        read_r = Signal()
        m.d.comb += [read_o.eq(~write & (left != 0) & ~o_valid & ~o_pending),
                     read_r.eq(~write & ~read_o & (lag != 0) & ~r_valid & ~r_pending)]

        m.d.comb += [ram.wdata.eq(Cat(self.samples.payload.sample, self.samples.payload.last)),
                     ram.we.eq(write), ram.addr.eq(rpos)]
        with m.If(write):
            m.d.comb += ram.addr.eq(wpos)
            m.d.sync += wpos.eq(wpos + 1)
        with m.Elif(read_o):
            m.d.comb += ram.addr.eq(spos)
            m.d.sync += [spos.eq(spos + 1), left.eq(left - 1)]
        with m.Elif(read_r):
            m.d.sync += rpos.eq(rpos + 1)
        with m.If(write | read_r):                  # one adder: +1 or -1
            m.d.sync += lag.eq(lag + Mux(write, 1, -1))
        m.d.sync += [o_pending.eq(read_o), r_pending.eq(read_r)]

        # --- window output ---------------------------------------------------------------------
        with m.If(o_pending):
            m.d.sync += [o_data.eq(ram.rdata[0:RAW_BITS]), o_valid.eq(1), o_last.eq(left == 0)]
        with m.Elif(self.o.ready):
            m.d.sync += o_valid.eq(0)
        m.d.comb += [self.o.valid.eq(o_valid), self.o.payload.sample.eq(o_data),
                     self.o.payload.last.eq(o_last)]

        # --- window commands: taken when the previous window has left --------------------------
        m.d.comb += self.windows.ready.eq((left == 0) & ~o_pending & ~o_valid)
        with m.If(self.windows.valid & self.windows.ready):
            m.d.sync += [spos.eq(self.windows.payload), left.eq(self._length)]

        # --- replay output ---------------------------------------------------------------------
        with m.If(r_pending):
            m.d.sync += [r_data.eq(ram.rdata[0:RAW_BITS + 1]), r_valid.eq(1)]
        with m.Elif(self.replay.ready):
            m.d.sync += r_valid.eq(0)
        m.d.comb += [self.replay.valid.eq(r_valid), self.replay.payload.sample.eq(r_data[0:RAW_BITS]),
                     self.replay.payload.last.eq(r_data[RAW_BITS])]

        # --- overruns: an input sample that found the ring full (once per sample) ------------
        waiting = Signal()
        count = Signal(16)
        with m.If(self.samples.valid & ~self.samples.ready & ~waiting):
            m.d.sync += count.eq(count + 1)
        m.d.sync += waiting.eq(self.samples.valid & ~self.samples.ready)
        m.d.comb += self.overruns.eq(count)
        return m
