"""Gateware side of protocol version 2 (docs/protocol.md): the link between the UART and the monitor."""

from amaranth import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ternecg.hw.beat_window import SAMPLE_LAYOUT
from ternecg.hw.checks import Checked, check_int

from . import protocol as P
from .deframer import Deframer
from .framer import Framer
from .sample_fifo import SampleFifo

__all__ = ["MonitorLink", "FIFO_DEPTH"]

#: samples the link buffers between the UART and the monitor (one block RAM: 8 full frames)
FIFO_DEPTH = 256


class MonitorLink(Checked, wiring.Component):
    """The monitor board's side of protocol version 2: SAMPLES frames in, raw samples to the
    monitor, BEAT_EVENT / STATUS / ERROR frames out.

    Its parts, the beat classifier's link parts in their version-2 mode::

        rx -> Deframer(version=2) -> SampleFifo -> samples         (only accepted SAMPLES frames)
                                  -> Framer(version=2) (PING: STATUS; error events: ERROR) -> tx
        beats (the monitor's {index, cls, logits}) -> Framer (BEAT_EVENT) -> tx

    The sample index: ``next`` is the index the next SAMPLES frame must carry (0 after reset and
    after a frame with END). A frame with another index is dropped with ERROR INDEX (a lost or a
    repeated frame is reported, never merged), an accepted one moves ``next`` on by its ``n``
    samples (to 0 with END). A damaged frame never reaches the monitor; every accepted sample
    does, in order, with ``last`` on a record's final one. STATUS reports ``next``, the beats
    sent, the END frames accepted (``ended``), the records finished (``record_done`` pulses,
    boards/record_tracker.py), the monitor's overruns, the error events and the free slots of the
    sample buffer (``room``: the host's flow control).

    Parameters
    ----------
    beat_layout : :class:`~amaranth.lib.data.StructLayout`
        The monitor's beat ``{index, cls, logits}`` (``Monitor.beat_layout``).
    n_classes : int
        Logits per beat (keyword-only, as the rest).
    parallel : int
        The STATUS frame's ``parallel``.
    timeout_cycles : int
        The inter-byte timeout in clock cycles.
    depth : int
        Samples the link's buffer holds (a power of two, at least two frames).

    Members
    -------
    rx : ``In(stream.Signature(unsigned(8)))``
        Bytes from the UART receiver (always ready).
    tx : ``Out(stream.Signature(unsigned(8)))``
        Bytes to the UART transmitter.
    uart_overrun, uart_framing : ``In(1)``
        One-cycle error pulses of the UART receiver.
    samples : ``Out(stream.Signature(SAMPLE_LAYOUT))``
        Raw samples ``{sample, last}`` of accepted SAMPLES frames (to ``Monitor.samples``).
    beats : ``In(stream.Signature(beat_layout))``
        The monitor's beats (from ``Monitor.beats``).
    monitor_beats : ``In(32)``; overruns : ``In(16)``
        ``Monitor.status``: beats emitted, samples that found the ring full.
    record_done : ``In(1)``
        A pulse per finished record.
    model_id : ``In(32)``
        The STATUS frame's model id (from the accelerator's parameter ROM).
    last_cls : ``Out(cls)``
        The class of the last BEAT_EVENT sent.
    next : ``Out(32)``
        The index the next SAMPLES frame must carry.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, beat_layout, *, n_classes, parallel=1, timeout_cycles=20_000, depth=FIFO_DEPTH):
        Framer.check_arguments(beat_layout, n_classes=n_classes, parallel=parallel, model_id=None,
                               version=P.VERSION_MONITOR)
        Deframer.check_arguments(timeout_cycles=timeout_cycles, version=P.VERSION_MONITOR)
        SampleFifo.check_arguments(depth=depth, chunk=P.CHUNK)
        check_int("MonitorLink", "depth", depth, minimum=2 * P.CHUNK)

    def __init__(self, beat_layout, *, n_classes, parallel=1, timeout_cycles=20_000, depth=FIFO_DEPTH):
        self.beat_layout = beat_layout
        self.n_classes = n_classes
        self.parallel = parallel
        self.timeout_cycles = int(timeout_cycles)
        self.depth = depth
        self.deframer = Deframer(timeout_cycles=timeout_cycles, version=P.VERSION_MONITOR)
        # the frames' bytes from a ROM of one block RAM: on the iCEBreaker 31 LC fewer than with
        # multiplexers (rom=False) for that one EBR (measured on fe48e29; README, make synth APP=monitor)
        self.framer = Framer(beat_layout, n_classes=n_classes, parallel=parallel, model_id=None,
                             version=P.VERSION_MONITOR, rom=True)
        self.fifo = SampleFifo(depth=depth, chunk=P.CHUNK)
        super().__init__({
            "rx": In(stream.Signature(unsigned(8))),
            "tx": Out(stream.Signature(unsigned(8))),
            "uart_overrun": In(1),
            "uart_framing": In(1),
            "samples": Out(stream.Signature(SAMPLE_LAYOUT)),
            "beats": In(stream.Signature(beat_layout)),
            "monitor_beats": In(32),
            "overruns": In(16),
            "record_done": In(1),
            "model_id": In(32),
            "last_cls": Out(beat_layout.members["cls"]),
            "next": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.deframer = rx = self.deframer
        m.submodules.fifo = fifo = self.fifo
        m.submodules.framer = tx = self.framer

        connect(m, wiring.flipped(self.rx), rx.rx)
        m.d.comb += [rx.framing.eq(self.uart_framing), rx.overrun.eq(self.uart_overrun),
                     rx.busy.eq(~fifo.room)]
        connect(m, rx.wr, fifo.wr)
        m.d.comb += [fifo.commit.valid.eq(rx.chunk.valid), fifo.commit.payload.eq(rx.chunk.payload.n)]
        connect(m, fifo.samples, wiring.flipped(self.samples))

        # the sample index and the END count
        nxt = Signal(32)
        ended = Signal(16)
        done = Signal(16)
        with m.If(rx.chunk.valid):
            with m.If(rx.chunk.payload.end):
                m.d.sync += [nxt.eq(0), ended.eq(ended + 1)]
            with m.Else():
                m.d.sync += nxt.eq(nxt + rx.chunk.payload.n)
        with m.If(self.record_done):
            m.d.sync += done.eq(done + 1)
        m.d.comb += [rx.expected.eq(nxt), self.next.eq(nxt)]

        connect(m, rx.event, tx.event)
        connect(m, rx.ping, tx.status)
        connect(m, wiring.flipped(self.beats), tx.results)
        connect(m, tx.tx, wiring.flipped(self.tx))
        m.d.comb += [tx.next.eq(nxt), tx.beats.eq(self.monitor_beats), tx.ended.eq(ended), tx.done.eq(done),
                     tx.overruns.eq(self.overruns), tx.room.eq(fifo.free), tx.model_id.eq(self.model_id),
                     self.last_cls.eq(tx.last_cls)]
        return m
