"""Gateware side of the serial protocol (docs/protocol.md, boards/protocol.py): the link between the
UART and the accelerator."""

from amaranth import Module, unsigned
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.hw.checks import Checked, check_int
from ternecg.hw.normalizer import sample_layout

from . import protocol as P
from .beat_buffer import BeatBuffer
from .deframer import Deframer
from .framer import Framer
from .rr_codes import RRCodes

__all__ = ["Link"]


class Link(Checked, wiring.Component):
    """The board's side of the serial protocol: frames in, beats to the accelerator, frames out.

    Its parts, one component each::

        rx -> Deframer -> BeatBuffer -> samples        (only beats whose CRC matched)
                       -> RRCodes    -> rr             (BEAT_RR: codes right before the samples)
                       -> Framer (PING: STATUS; error events: ERROR) -> tx
        results + sequence numbers (a FIFO of the beats in flight) -> Framer (RESULT) -> tx

    A damaged frame never produces a result; every accepted beat produces exactly one RESULT
    carrying its ``seq``, in order; every problem is one error event (docs/protocol.md).

    Parameters
    ----------
    result_layout : :class:`~amaranth.lib.data.StructLayout`
        The accelerator's result (``cls``, ``logits``, ``cycles``).
    n_classes : int
        Logits per result.
    parallel : int
        The STATUS frame's ``parallel`` (keyword-only, as the rest).
    model_id : int or None
        The STATUS frame's model id; ``None``: from the ``model_id`` port.
    timeout_cycles : int
        The inter-byte timeout in clock cycles.
    inflight : int
        Depth of the FIFO of sequence numbers of beats handed to the accelerator.
    rr_bits : int
        0: BEAT frames; 1..8: BEAT_RR frames and the ``rr`` stream (a model with an RR path).
    n_codes : int
        With ``rr_bits``: the RR codes per beat (the model's ``rr_features``: 3, or 4 with the
        irregularity code), which fix the BEAT_RR frame's length.
    spram : bool or None
        The beat buffer in an iCE40 SPRAM (boards/beat_buffer.py); None: on an iCE40 UP platform.

    Members
    -------
    rx : ``In(stream.Signature(unsigned(8)))``
        Bytes from the UART receiver (always ready: never back-pressures).
    tx : ``Out(stream.Signature(unsigned(8)))``
        Bytes to the UART transmitter.
    uart_overrun, uart_framing : ``In(1)``
        One-cycle error pulses of the UART receiver.
    samples : ``Out(stream.Signature(sample_layout(11)))``
        Raw samples ``{sample, last}`` of accepted beats (to the accelerator), ``WINDOW`` per beat,
        ``last`` on the final one.
    rr : ``Out(stream.Signature(unsigned(n_codes * rr_bits)))``
        Only with ``rr_bits``: the beat's RR codes (one transfer per beat, code f in bits
        ``[f*b, (f+1)*b)``), handed over before its samples.
    results : ``In(stream.Signature(result_layout))``
        The accelerator's results, one per beat, in order.
    last_cls : ``Out(cls)``
        The class of the last result sent.
    model_id : ``In(32)``
        Only with ``model_id=None``: the STATUS frame's model id (the board core takes it from the
        accelerator's parameter ROM, so that a patched bitstream reports the model it now holds).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, result_layout, n_classes, *, parallel=1, model_id=0, timeout_cycles=20_000,
                        inflight=4, rr_bits=0, n_codes=P.RR_FEATURES, spram=None):
        Framer.check_arguments(result_layout, n_classes=n_classes, parallel=parallel, model_id=model_id)
        Deframer.check_arguments(timeout_cycles=timeout_cycles, rr_bits=rr_bits, n_codes=n_codes)
        BeatBuffer.check_arguments(P.WINDOW, spram=spram)
        check_int("Link", "inflight", inflight, minimum=1)

    def __init__(self, result_layout, n_classes, *, parallel=1, model_id=0, timeout_cycles=20_000,
                 inflight=4, rr_bits=0, n_codes=P.RR_FEATURES, spram=None):
        self.result_layout = result_layout
        self._spram = spram
        self.n_classes = n_classes
        self.parallel = parallel
        self.timeout_cycles = int(timeout_cycles)
        self.inflight = inflight
        self.rr_bits = rr_bits
        self.deframer = Deframer(timeout_cycles=timeout_cycles, rr_bits=rr_bits, n_codes=n_codes)
        self.n_codes = self.deframer.n_codes
        self.framer = Framer(result_layout, n_classes=n_classes, parallel=parallel, model_id=model_id)
        members = {
            "rx": In(stream.Signature(unsigned(8))),
            "tx": Out(stream.Signature(unsigned(8))),
            "uart_overrun": In(1),
            "uart_framing": In(1),
            "samples": Out(stream.Signature(sample_layout(11))),
            "results": In(stream.Signature(result_layout)),
            "last_cls": Out(result_layout.members["cls"]),
        }
        if model_id is None:
            members["model_id"] = In(32)
        if rr_bits:
            members["rr"] = Out(stream.Signature(unsigned(self.n_codes * rr_bits)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.deframer = rx = self.deframer
        m.submodules.buffer = buf = BeatBuffer(P.WINDOW, spram=self._spram)
        m.submodules.seqs = seqs = fifo.SyncFIFOBuffered(width=8, depth=self.inflight)
        m.submodules.framer = tx = self.framer

        connect(m, wiring.flipped(self.rx), rx.rx)
        m.d.comb += [rx.framing.eq(self.uart_framing), rx.overrun.eq(self.uart_overrun),
                     rx.busy.eq(buf.full)]
        connect(m, rx.wr, buf.wr)
        m.d.comb += [buf.commit.valid.eq(rx.beat.valid), buf.commit.payload.eq(rx.beat.payload.seq)]
        if self.rr_bits:
            m.submodules.rr_codes = codes = RRCodes(self.n_codes * self.rr_bits)
            m.d.comb += [codes.load.valid.eq(rx.beat.valid), codes.load.payload.eq(rx.beat.payload.codes),
                         codes.full.eq(buf.full), codes.feeding.eq(buf.feeding), buf.start.eq(codes.sent)]
            connect(m, codes.rr, wiring.flipped(self.rr))
        else:
            m.d.comb += buf.start.eq(1)
        connect(m, buf.samples, wiring.flipped(self.samples))
        connect(m, buf.seq, seqs.w_stream)

        connect(m, rx.event, tx.event)
        connect(m, rx.ping, tx.status)
        connect(m, wiring.flipped(self.results), tx.results)
        connect(m, seqs.r_stream, tx.seq)
        connect(m, tx.tx, wiring.flipped(self.tx))
        m.d.comb += self.last_cls.eq(tx.last_cls)
        if "model_id" in self.signature.members:
            m.d.comb += tx.model_id.eq(self.model_id)
        return m
