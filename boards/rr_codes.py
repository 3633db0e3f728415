"""The RR path of the serial link: a BEAT_RR's codes, handed to the accelerator before its samples."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked, check_int

__all__ = ["RRCodes"]


class RRCodes(Checked, wiring.Component):
    """Holds the RR codes of the buffered beat and hands them over once, before its samples.

    ``load`` takes the codes of an accepted BEAT_RR (with its commit to the beat buffer). While the
    buffer is ``full`` and not yet ``feeding`` the codes are offered on ``rr`` (one transfer per
    beat); ``sent`` is high from that transfer until the buffer is empty again, and the beat
    buffer starts the samples only when ``sent``. So the accelerator always receives a beat's
    codes before its samples.

    Parameters
    ----------
    width : int
        Width of the code word (the model's RR codes times ``rr_bits``; code f in bits
        ``[f*b, (f+1)*b)``).

    Members
    -------
    load : ``In(stream.Signature(unsigned(width), always_ready=True))``
        The accepted beat's codes.
    full, feeding : ``In(1)``
        The beat buffer's state (a beat is in it; its samples are going out).
    rr : ``Out(stream.Signature(unsigned(width)))``
        The codes, one transfer per beat.
    sent : ``Out(1)``
        The buffered beat's codes were handed over.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, width):
        check_int("RRCodes", "width", width, minimum=1)

    def __init__(self, width):
        super().__init__({
            "load": In(stream.Signature(unsigned(width), always_ready=True)),
            "full": In(1),
            "feeding": In(1),
            "rr": Out(stream.Signature(unsigned(width))),
            "sent": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        codes = Signal.like(self.rr.payload)
        with m.If(self.load.valid):
            m.d.sync += codes.eq(self.load.payload)
        m.d.comb += [self.rr.payload.eq(codes), self.rr.valid.eq(self.full & ~self.sent & ~self.feeding)]
        with m.If(self.rr.valid & self.rr.ready):
            m.d.sync += self.sent.eq(1)
        with m.If(~self.full):
            m.d.sync += self.sent.eq(0)
        return m
