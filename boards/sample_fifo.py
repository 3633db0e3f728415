"""The monitor link's sample buffer: SAMPLES frames in, committed only when accepted; samples out."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.beat_window import SAMPLE_LAYOUT
from ternecg.hw.checks import Checked, check_int

__all__ = ["SampleFifo"]


class SampleFifo(Checked, wiring.Component):
    """A FIFO of raw samples ``{sample, last}`` in one block RAM, written a frame at a time.

    The deframer writes a SAMPLES frame's used samples on ``wr`` while they arrive, at addresses
    relative to the frame (0 .. ``chunk`` - 1), into the space after the committed samples; they
    join the FIFO only when ``commit`` carries the frame's sample count (its CRC matched, its index
    was the expected one). A frame that is dropped later is simply overwritten by the next one, so
    a damaged frame never reaches the monitor. ``room`` says whether a whole frame
    (``chunk`` samples) still fits: the deframer drops a frame whose LEN arrives without room
    (BUSY), so a frame in progress never overwrites samples that were not read. ``free`` is the
    number of free slots (STATUS ``room``).

    Parameters
    ----------
    depth : int
        Samples the FIFO holds, a power of two (256: one iCE40 block RAM of 256 x 16).
    chunk : int
        Samples per frame at most (``protocol.CHUNK``).

    Members
    -------
    wr : ``In(stream.Signature(StructLayout({"addr": range(chunk), "data": SAMPLE_LAYOUT}), always_ready=True))``
        A sample of the frame in progress at its place in the frame.
    commit : ``In(stream.Signature(range(chunk + 1), always_ready=True))``
        The frame was accepted: its first ``n`` samples join the FIFO.
    samples : ``Out(stream.Signature(SAMPLE_LAYOUT))``
        The committed samples, in order (to the monitor).
    room : ``Out(1)``
        At least ``chunk`` slots are free.
    free : ``Out(range(depth + 1))``
        Free slots.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, *, depth=256, chunk=32):
        check_int("SampleFifo", "depth", depth, minimum=2)
        if depth & (depth - 1):
            raise ValueError(f"SampleFifo depth must be a power of two, not {depth}")
        check_int("SampleFifo", "chunk", chunk, minimum=1, maximum=depth)

    def __init__(self, *, depth=256, chunk=32):
        self._depth, self._chunk = depth, chunk
        wr = data.StructLayout({"addr": range(chunk), "data": SAMPLE_LAYOUT})
        super().__init__({
            "wr": In(stream.Signature(wr, always_ready=True)),
            "commit": In(stream.Signature(range(chunk + 1), always_ready=True)),
            "samples": Out(stream.Signature(SAMPLE_LAYOUT)),
            "room": Out(1),
            "free": Out(range(depth + 1)),
        })

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        abits = (depth - 1).bit_length()
        m.submodules.mem = mem = memory.Memory(shape=unsigned(SAMPLE_LAYOUT.size), depth=depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=())

        wptr = Signal(abits + 1)            # committed samples (mod 2 * depth)
        rptr = Signal(abits + 1)            # samples read out of the RAM (mod 2 * depth)
        used = Signal(abits + 1)
        m.d.comb += [used.eq(wptr - rptr), self.free.eq(depth - used),
                     self.room.eq(used <= depth - self._chunk)]

        m.d.comb += [wp.addr.eq(wptr[:abits] + self.wr.payload.addr), wp.data.eq(self.wr.payload.data),
                     wp.en.eq(self.wr.valid)]
        with m.If(self.commit.valid):
            m.d.sync += wptr.eq(wptr + self.commit.payload)

        # read side: the RAM's read register is the output register (held while not taken)
        valid = Signal()
        read = Signal()
        m.d.comb += [read.eq((used != 0) & (~valid | self.samples.ready)),
                     rp.addr.eq(rptr[:abits]), rp.en.eq(read),
                     self.samples.valid.eq(valid), self.samples.payload.eq(rp.data)]
        with m.If(read):
            m.d.sync += [rptr.eq(rptr + 1), valid.eq(1)]
        with m.Elif(self.samples.ready):
            m.d.sync += valid.eq(0)
        return m
