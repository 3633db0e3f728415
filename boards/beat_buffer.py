"""The beat buffer of the serial link: one BEAT's samples, handed to the accelerator once accepted."""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked, check_int
from ternecg.hw.normalizer import sample_layout
from ternecg.hw.qrs_ram import SPRAM_DEPTH, SinglePortRam, check_spram, spram_choice

__all__ = ["BeatBuffer"]


class BeatBuffer(Checked, wiring.Component):
    """A ``window`` x 11-bit RAM (one block RAM, or one iCE40 SPRAM) that holds one beat from its
    arrival to the accelerator.

    The deframer writes the samples on ``wr`` while a BEAT arrives (a frame that is dropped later
    leaves them unused) and commits the beat on ``commit`` (with its sequence number) once its CRC
    matched; the buffer is then ``full``. When ``start`` is high (the RR codes were handed over,
    for a link with an RR path; else tie it high) the beat's ``seq`` goes out on ``seq`` (to the
    link's FIFO of sequence numbers in flight), and in the next cycles its ``window`` samples on
    ``samples``; after the last one is taken, the buffer is free again. ``feeding`` is high while
    the samples go out.

    Writes come only while the buffer is free (the deframer decides at a BEAT's LEN whether the
    buffer is ``full`` and then writes all of the frame's samples or none, and only that frame's
    ``commit`` fills it) and reads that are used only while it is full, so the RAM can be
    single-port: in SPRAM (``spram``) the address is the write address in a cycle with a write,
    else the read address, and the read enable is low while a shown sample waits (the SPRAM keeps
    its output: the payload holds).

    Parameters
    ----------
    window : int
        Samples per beat (``protocol.WINDOW``).
    spram : bool or None
        The RAM in an iCE40 SPRAM (hw/qrs_ram.py ``SinglePortRam``): ``True``, ``False``
        (``lib.memory``), or ``None`` (default): on an iCE40 UP platform (keyword-only).

    Members
    -------
    wr : ``In(stream.Signature(StructLayout({"addr", "data"}), always_ready=True))``
        Sample writes (address, 11-bit sample).
    commit : ``In(stream.Signature(unsigned(8), always_ready=True))``
        An accepted beat's sequence number (only while not ``full``: the deframer drops a BEAT
        that arrives while the buffer is in use).
    start : ``In(1)``
        The beat may be handed over.
    seq : ``Out(stream.Signature(unsigned(8)))``
        The beat's sequence number, one transfer when the hand-over starts.
    samples : ``Out(stream.Signature(sample_layout(11)))``
        The beat's samples ``{sample, last}``, ``window`` transfers, in order, ``last`` on the
        final one (the accelerator's end-of-beat marker).
    full : ``Out(1)``
        A beat is in the buffer (from ``commit`` to its last sample taken).
    feeding : ``Out(1)``
        The samples are going out.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, window, *, spram=None):
        check_int("BeatBuffer", "window", window, minimum=1)
        check_spram("BeatBuffer", spram)
        if spram and window > SPRAM_DEPTH:
            raise ValueError(f"BeatBuffer spram: a window of {window} samples does not fit an SPRAM "
                             f"({SPRAM_DEPTH} words); use spram=False")

    def __init__(self, window, *, spram=None):
        self._window = window
        self._spram = spram
        wr = data.StructLayout({"addr": range(window + 1), "data": unsigned(11)})
        super().__init__({
            "wr": In(stream.Signature(wr, always_ready=True)),
            "commit": In(stream.Signature(unsigned(8), always_ready=True)),
            "start": In(1),
            "seq": Out(stream.Signature(unsigned(8))),
            "samples": Out(stream.Signature(sample_layout(11))),
            "full": Out(1),
            "feeding": Out(1),
        })

    def uses_spram(self, platform) -> bool:
        """Whether the RAM is an SPRAM when elaborated for ``platform``."""
        return spram_choice(self._spram, platform, self._window, 11)

    def elaborate(self, platform):
        m = Module()
        W = self._window
        rd = Signal(range(W + 1))
        if self.uses_spram(platform):
            m.submodules.buf = ram = SinglePortRam(depth=1 << max(1, (W - 1).bit_length()), width=11,
                                                  spram=True)
            m.d.comb += [ram.addr.eq(Mux(self.wr.valid, self.wr.payload.addr, rd)),
                         ram.wdata.eq(self.wr.payload.data), ram.we.eq(self.wr.valid)]
            rp_en, rp_data = ram.re, ram.rdata
        else:
            buf = memory.Memory(shape=unsigned(11), depth=W, init=[])
            m.submodules.buf = buf
            wp = buf.write_port()
            # no read that meets a write is used (samples are written while the buffer is free and
            # read while it feeds); a read port transparent to the write port maps onto the block RAM
            # with a small bypass, a read-first one makes Yosys delay every write (20 more FFs)
            rp = buf.read_port(transparent_for=(wp,))
            m.d.comb += [wp.addr.eq(self.wr.payload.addr), wp.data.eq(self.wr.payload.data),
                         wp.en.eq(self.wr.valid), rp.addr.eq(rd)]
            rp_en, rp_data = rp.en, rp.data
        beat_seq = Signal(8)
        with m.If(self.commit.valid):
            m.d.sync += [self.full.eq(1), beat_seq.eq(self.commit.payload)]

        feeding = self.feeding
        # while feeding, rd is one ahead of the sample shown (its read was issued a cycle before)
        m.d.comb += [self.samples.payload.sample.eq(rp_data),
                     self.samples.payload.last.eq(rd == W), self.samples.valid.eq(feeding),
                     self.seq.payload.eq(beat_seq), self.seq.valid.eq(self.full & ~feeding & self.start)]
        with m.If(~feeding):
            m.d.comb += rp_en.eq(1)
            with m.If(self.seq.valid & self.seq.ready):
                # rp reads address 0 in this cycle (rd == 0): data is there next cycle
                m.d.sync += [feeding.eq(1), rd.eq(1)]
            with m.Else():
                m.d.sync += rd.eq(0)
        with m.Else():
            m.d.comb += rp_en.eq(self.samples.ready)
            with m.If(self.samples.ready):
                m.d.sync += rd.eq(rd + 1)
                with m.If(rd == W):                   # the last sample was accepted
                    m.d.sync += [feeding.eq(0), self.full.eq(0), rd.eq(0)]
        return m
