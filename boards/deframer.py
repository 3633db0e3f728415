"""The receive side of the serial link (docs/protocol.md): bytes in, beats, PINGs and error events out."""

from contextlib import contextmanager

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.beat_window import SAMPLE_LAYOUT
from ternecg.hw.checks import Checked, check_int

from . import protocol as P
from .crc import crc16_step

__all__ = ["Deframer"]


class Deframer(Checked, wiring.Component):
    """A byte-wise state machine that checks frames and reports what arrived.

    ``version=1`` (the beat classifier, boards/link.py) takes BEAT (or BEAT_RR) and PING frames;
    ``version=2`` (the monitor, boards/monitor_link.py) takes SAMPLES and PING frames of VER 2:
    a SAMPLES frame's used samples go out on ``wr`` (frame-relative address, the sample and its
    ``last`` flag: END on its last used sample) while they arrive, ``chunk`` commits them once the
    CRC matched, the buffer had room at LEN, every used sample, ``n`` and the flags were in range
    (RANGE otherwise) and the frame's index equals ``expected`` (INDEX otherwise: detail 1 if it is
    ahead, a gap, 2 if behind, a repeat). BUSY and RANGE then carry the low byte of the index.

    States HUNT, VER, TYPE, LEN0, LEN1, PAYLOAD, CRC0, CRC1 (docs/protocol.md, "Receive"): the
    version, the type (BEAT, or BEAT_RR for a link with ``rr_bits``, and PING) and the one valid
    length of the type are checked, the CRC-16/CCITT-FALSE over VER .. PAYLOAD at the end. A
    BEAT's samples go to the beat buffer on ``wr`` while they arrive; only after the CRC matched
    (and no sample or RR code was out of range, and the buffer was free at LEN) does ``beat``
    commit them. Every problem is exactly one transfer on ``event`` and a return to HUNT:

    * bytes outside frames: SYNC (their count, saturating at 255), at the next SOF or when the
      line has been idle for ``timeout_cycles``; a SOF where VER is expected restarts the frame
      (SYNC 1);
    * VERSION, TYPE, LENGTH at the bad header byte (the bytes of a rejected header are not
      rescanned), CRC, BUSY (the buffer was in use at LEN) and RANGE at the last CRC byte;
    * TIMEOUT: no byte for ``timeout_cycles`` inside a frame (detail: its type, or 0 before TYPE);
    * FRAMING / OVERRUN: the UART reports a bad stop bit or a lost byte (``framing``,
      ``overrun``; never in the same cycle as a byte). A frame in progress is abandoned without
      a second event; SYNC counting of bytes outside frames goes on.

    The inter-byte timeout counts the cycles since the last byte or UART error.

    Parameters
    ----------
    timeout_cycles : int
        The inter-byte timeout in clock cycles (1 .. 2^32 - 2).
    rr_bits : int
        0: the link takes BEAT frames; 1..8: BEAT_RR frames with codes of ``rr_bits`` bits
        (version 1 only).
    n_codes : int
        With ``rr_bits``: the RR codes a BEAT_RR carries (the model's, 3 or 4; 1..8), which fix
        its one valid LEN (``protocol.beat_rr_len``).
    version : int
        The protocol version: 1 (default) or 2 (keyword-only, as the rest).

    Members
    -------
    rx : ``In(stream.Signature(unsigned(8)))``
        Received bytes, one per transfer (always ready: the deframer never back-pressures).
    framing, overrun : ``In(1)``
        One-cycle UART error pulses.
    busy : ``In(1)``
        The beat buffer is in use (a BEAT whose LEN arrives meanwhile is dropped: BUSY); version
        2: the sample buffer has no room for a frame.
    wr : ``Out(stream.Signature(StructLayout({"addr", "data"}), always_ready=True))``
        Beat-buffer writes, one per sample as it arrives (also for frames that are dropped later);
        version 2: ``addr`` 0..CHUNK-1 in the frame, ``data`` ``{sample: 11, last: 1}``.
    beat : ``Out(stream.Signature(StructLayout({"seq", "codes"}), always_ready=True))``
        Version 1: one transfer per accepted beat (its samples are in the buffer).
    chunk : ``Out(stream.Signature(StructLayout({"n", "end"}), always_ready=True))``
        Version 2: one transfer per accepted SAMPLES frame: its ``n`` samples (now in the
        buffer) and its END flag.
    expected : ``In(32)``
        Version 2: the sample index the next SAMPLES frame must carry.
    ping : ``Out(stream.Signature(unsigned(8), always_ready=True))``
        One transfer per accepted PING: its token.
    event : ``Out(stream.Signature(StructLayout({"code", "detail"}), always_ready=True))``
        One transfer per error event (codes ``protocol.E_*``).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    #: cycles from the byte (or UART error) that decides an event, a beat or a PING to its transfer
    latency = 0

    @classmethod
    def check_arguments(cls, *, timeout_cycles, rr_bits=0, n_codes=P.RR_FEATURES, version=P.VERSION):
        # the inter-byte timer is an LFSR of at most 32 bits (_LFSR_TAPS)
        check_int("Deframer", "timeout_cycles", timeout_cycles, minimum=1, maximum=(1 << 32) - 2)
        check_int("Deframer", "rr_bits", rr_bits, minimum=0, maximum=8)
        check_int("Deframer", "n_codes", n_codes, minimum=1, maximum=P.RR_MAX_CODES)
        if version not in P.VERSIONS:
            raise ValueError(f"Deframer version must be one of {P.VERSIONS}, not {version!r}")
        if version == P.VERSION_MONITOR and rr_bits:
            raise ValueError("Deframer: version 2 (the monitor) takes no RR codes (rr_bits must be 0)")

    def __init__(self, *, timeout_cycles, rr_bits=0, n_codes=P.RR_FEATURES, version=P.VERSION):
        self._timeout = int(timeout_cycles)
        self._rb = int(rr_bits)
        self._n_codes = int(n_codes) if self._rb else 0
        self._version = version
        self.event_layout = data.StructLayout({"code": unsigned(8), "detail": unsigned(8)})
        members = {
            "rx": In(stream.Signature(unsigned(8))),
            "framing": In(1),
            "overrun": In(1),
            "busy": In(1),
        }
        if version == P.VERSION:
            codes_w = max(1, self._n_codes * self._rb)
            self.wr_layout = data.StructLayout({"addr": range(P.WINDOW + 1), "data": unsigned(11)})
            self.beat_layout = data.StructLayout({"seq": unsigned(8), "codes": unsigned(codes_w)})
            members["beat"] = Out(stream.Signature(self.beat_layout, always_ready=True))
        else:
            self.wr_layout = data.StructLayout({"addr": range(P.CHUNK), "data": SAMPLE_LAYOUT})
            self.chunk_layout = data.StructLayout({"n": range(P.CHUNK + 1), "end": 1})
            members["chunk"] = Out(stream.Signature(self.chunk_layout, always_ready=True))
            members["expected"] = In(32)
        members.update({
            "wr": Out(stream.Signature(self.wr_layout, always_ready=True)),
            "ping": Out(stream.Signature(unsigned(8), always_ready=True)),
            "event": Out(stream.Signature(self.event_layout, always_ready=True)),
        })
        super().__init__(members)

    @property
    def timeout_cycles(self):
        return self._timeout

    @property
    def rr_bits(self):
        return self._rb

    @property
    def n_codes(self):
        """RR codes per BEAT_RR (0 without ``rr_bits``)."""
        return self._n_codes

    @property
    def version(self):
        return self._version

    def elaborate(self, platform):
        m = Module()
        ev = self.event
        b = self.rx.payload
        got = self.rx.valid
        uart_error = self.framing | self.overrun
        m.d.comb += self.rx.ready.eq(1)

        # a model with an RR path takes BEAT_RR frames: seq, one byte per RR code, then samples;
        # version 2 takes SAMPLES frames: index (4 bytes), n, flags, then CHUNK samples
        v2 = self._version == P.VERSION_MONITOR
        rb = self._rb
        n_codes = self._n_codes
        beat_type = P.SAMPLES if v2 else P.BEAT_RR if rb else P.BEAT
        beat_len = P.SAMPLES_LEN if v2 else P.beat_rr_len(n_codes) if rb else P.BEAT_LEN
        odd_codes = n_codes & 1                 # low bytes: odd cnt after seq, even after seq + 3 codes
        rr_rx = Signal(max(1, n_codes * rb))
        index_rx = Signal(32)                   # version 2: the SAMPLES frame's index, n and END
        n_rx = Signal(range(P.CHUNK + 1))
        end_rx = Signal()
        ahead = Signal(32)                      # index - expected: 0 (in order), < 2^31 (a gap)
        if v2:
            m.d.comb += ahead.eq(index_rx - self.expected)

        crc = Signal(16)
        is_ping = Signal()                      # the frame's type (TYPE accepted it): PING, else beat_type
        ftype = Mux(is_ping, P.PING, beat_type)
        len_ok = Signal()                       # LEN_LO was the type's
        cnt = Signal(range(max(beat_len, P.PING_LEN)))
        lo = Signal(8)
        first = Signal(8)                       # payload byte 0: the BEAT's seq or the PING's token
        drop = Signal()
        range_bad = Signal()
        # a sample's high byte arrives at an odd (version 2, BEAT_RR with three codes) or even
        # (BEAT, BEAT_RR with four codes) payload byte: the sample's address is the byte's number
        # halved minus a constant. ``cnt`` starts that constant, doubled, below 0 (modulo its
        # width), so that the address is ``cnt`` halved (no subtractor): payload byte k is at
        # ``cnt == at(k)``
        first_high = P.SAMPLES_HEAD + 1 if v2 else 2 + n_codes
        waddr = Signal(range(P.WINDOW + 1))

        def at(k):
            return (k - (first_high & ~1)) % (1 << len(cnt))
        m.d.comb += waddr.eq(cnt >> 1)
        discarded = Signal(8)
        # the inter-byte timer: a maximal-length LFSR (a shift and one XOR, no carry chain; reloaded
        # with a constant), timed out at the state it reaches after timeout_cycles steps (one
        # comparison with a constant; no state repeats before it, the period is 2^w - 1)
        w = max(2, (self._timeout + 1).bit_length())
        taps = _LFSR_TAPS[w]
        idle = Signal(w, init=1)
        timed_out = Signal()
        m.d.comb += timed_out.eq(idle == _lfsr_after(w, taps, 1, self._timeout))
        feedback = idle[taps[0] - 1]
        for t in taps[1:]:
            feedback = feedback ^ idle[t - 1]
        with m.If(got | uart_error):
            m.d.sync += idle.eq(1)
        with m.Elif(~timed_out):
            m.d.sync += idle.eq(Cat(feedback, idle[:-1]))

        def event(code):
            m.d.comb += [ev.valid.eq(1), ev.payload.code.eq(code)]

        def detail(value):
            # an event's detail depends on the state only (and is 0 for a UART error): read only
            # with a valid event, so it is set for the whole state, not under the event's conditions
            m.d.comb += ev.payload.detail.eq(value)

        def truncated():
            # truncated frame: no byte for timeout_cycles in any state but HUNT (detail: the
            # type, or 0 before TYPE)
            with m.If(~got & timed_out):
                event(P.E_TIMEOUT)
                m.next = "HUNT"

        crc_next = crc16_step(crc, b)
        m.d.comb += [self.wr.payload.addr.eq(waddr), self.ping.payload.eq(index_rx[:8] if v2 else first)]
        if v2:
            m.d.comb += [self.wr.payload.data.sample.eq(Cat(lo, b[:3])),
                         self.wr.payload.data.last.eq(end_rx & (waddr == n_rx - 1)),
                         self.chunk.payload.n.eq(n_rx), self.chunk.payload.end.eq(end_rx)]
        else:
            m.d.comb += [self.wr.payload.data.eq(Cat(lo, b[:3])),
                         self.beat.payload.seq.eq(first), self.beat.payload.codes.eq(rr_rx)]

        @contextmanager
        def no_uart_error():
            # a UART error ends the frame: one event (below), back to HUNT, nothing else happens
            with m.If(uart_error):
                m.next = "HUNT"
            with m.Else():
                yield

        with m.If(uart_error):
            event(Mux(self.framing, P.E_FRAMING, P.E_OVERRUN))

        with m.FSM(name="rx_fsm"):
            with m.State("HUNT"):
                with no_uart_error():
                    detail(discarded)                       # SYNC
                    with m.If(got):
                        with m.If(b == P.SOF):
                            with m.If(discarded != 0):
                                event(P.E_SYNC)
                            m.d.sync += [discarded.eq(0), crc.eq(0xFFFF)]
                            m.next = "VER"
                        with m.Elif(discarded != 0xFF):
                            m.d.sync += discarded.eq(discarded + 1)
                    with m.Elif(timed_out & (discarded != 0)):
                        event(P.E_SYNC)
                        m.d.sync += discarded.eq(0)
            with m.State("VER"):
                with no_uart_error():
                    detail(Mux(got, Mux(b == P.SOF, 1, b), 0))      # SYNC 1, VERSION, TIMEOUT 0
                    truncated()
                    with m.If(got):
                        m.d.sync += crc.eq(crc_next)
                        with m.If(b == P.SOF):              # the first SOF was stray: restart here
                            event(P.E_SYNC)
                            m.d.sync += crc.eq(0xFFFF)
                        with m.Elif(b != self._version):
                            event(P.E_VERSION)
                            m.next = "HUNT"
                        with m.Else():
                            m.next = "TYPE"
            with m.State("TYPE"):
                with no_uart_error():
                    detail(Mux(got, b, 0))                  # TYPE, TIMEOUT 0
                    truncated()
                    with m.If(got):
                        m.d.sync += [crc.eq(crc_next), is_ping.eq(b == P.PING)]
                        with m.If((b != beat_type) & (b != P.PING)):
                            event(P.E_TYPE)
                            m.next = "HUNT"
                        with m.Else():
                            m.next = "LEN0"
            with m.State("LEN0"):
                with no_uart_error():
                    detail(ftype)                           # TIMEOUT: the type
                    truncated()
                    with m.If(got):
                        m.d.sync += [crc.eq(crc_next), len_ok.eq(b == Mux(is_ping, P.PING_LEN & 0xFF,
                                                                          beat_len & 0xFF))]
                        m.next = "LEN1"
            with m.State("LEN1"):
                with no_uart_error():
                    detail(ftype)                           # LENGTH, TIMEOUT: the type
                    truncated()
                    with m.If(got):
                        ok = len_ok & (b == Mux(is_ping, P.PING_LEN >> 8, beat_len >> 8))
                        m.d.sync += [crc.eq(crc_next), cnt.eq(at(0)),
                                     drop.eq(self.busy), range_bad.eq(0)]
                        with m.If(~ok):
                            event(P.E_LENGTH)
                            m.next = "HUNT"
                        with m.Else():
                            m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                with no_uart_error():
                    detail(ftype)                           # TIMEOUT: the type
                    truncated()
                    with m.If(got):
                        m.d.sync += [crc.eq(crc_next), cnt.eq(cnt + 1)]
                        with m.If(is_ping):
                            if not v2:
                                m.d.sync += first.eq(b)
                            else:
                                m.d.sync += index_rx[:8].eq(b)
                        if v2:
                            for k in range(4):                     # the index, little-endian
                                with m.Elif(cnt == at(k)):
                                    m.d.sync += index_rx[8 * k:8 * k + 8].eq(b)
                            with m.Elif(cnt == at(4)):             # n: 1..CHUNK
                                m.d.sync += n_rx.eq(b)
                                with m.If((b == 0) | (b > P.CHUNK)):
                                    m.d.sync += range_bad.eq(1)
                            with m.Elif(cnt == at(5)):             # flags: END only
                                m.d.sync += end_rx.eq(b[0])
                                with m.If(b[1:] != 0):
                                    m.d.sync += range_bad.eq(1)
                            with m.Elif(~cnt[0]):                  # a sample's low byte
                                m.d.sync += lo.eq(b)
                            with m.Else():                         # its high byte: used if < n
                                with m.If(waddr < n_rx):
                                    m.d.comb += self.wr.valid.eq(~drop)
                                    with m.If(b[3:] != 0):
                                        m.d.sync += range_bad.eq(1)
                        else:
                            with m.Elif(cnt == at(0)):
                                m.d.sync += first.eq(b)
                            if n_codes:
                                with m.Elif((cnt >= at(1)) & (cnt <= at(n_codes))):    # RR codes (BEAT_RR)
                                    for f in range(n_codes):
                                        with m.If(cnt == at(f + 1)):
                                            m.d.sync += rr_rx[f * rb:(f + 1) * rb].eq(b[:rb])
                                    if rb < 8:
                                        with m.If(b[rb:] != 0):
                                            m.d.sync += range_bad.eq(1)
                            with m.Elif(cnt[0] if not odd_codes else ~cnt[0]):   # a sample's low byte
                                m.d.sync += lo.eq(b)
                            with m.Else():
                                m.d.comb += self.wr.valid.eq(~drop)
                                with m.If(b[3:] != 0):
                                    m.d.sync += range_bad.eq(1)
                        with m.If(is_ping | (cnt == at(beat_len - 1))):
                            m.next = "CRC0"
            with m.State("CRC0"):
                with no_uart_error():
                    detail(ftype)                           # TIMEOUT: the type
                    truncated()
                    with m.If(got):
                        m.d.sync += crc.eq(crc_next)
                        m.next = "CRC1"
            with m.State("CRC1"):
                with no_uart_error():
                    # CRC, TIMEOUT: the type; BUSY, RANGE: the seq (version 2: the index's low
                    # byte), INDEX: gap or repeat
                    crc_ok = got & (crc_next == 0)
                    if v2:
                        detail(Mux(crc_ok, Mux(~drop & ~range_bad, Mux(ahead[31], P.INDEX_REPEAT, P.INDEX_GAP),
                                               index_rx[:8]), ftype))
                    else:
                        detail(Mux(crc_ok, first, ftype))
                    truncated()
                    with m.If(got):
                        with m.If(crc_next != 0):             # the CRC over the CRC bytes too: 0
                            event(P.E_CRC)
                        with m.Elif(is_ping):
                            m.d.comb += self.ping.valid.eq(1)
                        if v2:
                            with m.Elif(drop):
                                event(P.E_BUSY)
                            with m.Elif(range_bad):
                                event(P.E_RANGE)
                            with m.Elif(ahead != 0):
                                event(P.E_INDEX)
                            with m.Else():
                                m.d.comb += self.chunk.valid.eq(1)
                        else:
                            with m.Elif(drop):
                                event(P.E_BUSY)
                            with m.Elif(range_bad):
                                event(P.E_RANGE)
                            with m.Else():
                                m.d.comb += self.beat.valid.eq(1)
                        m.next = "HUNT"
        return m


# maximal-length LFSR taps (bit numbers from 1) per width (Xilinx XAPP052)
_LFSR_TAPS = {2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5),
              10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1), 14: (14, 5, 3, 1), 15: (15, 14),
              16: (16, 15, 13, 4), 17: (17, 14), 18: (18, 11), 19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19),
              22: (22, 21), 23: (23, 18), 24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1),
              27: (27, 5, 2, 1), 28: (28, 25), 29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28),
              32: (32, 22, 2, 1)}


def _lfsr_after(w, taps, state, steps):
    """The state of the ``w``-bit LFSR with ``taps`` ``steps`` steps after ``state`` (the step is
    linear: its map, column by column, squared per bit of ``steps``)."""
    def apply(cols, s):
        out = 0
        for i in range(w):
            if (s >> i) & 1:
                out ^= cols[i]
        return out
    cols = [((1 << i) << 1 | (i + 1 in taps)) & ((1 << w) - 1) for i in range(w)]
    while steps:
        if steps & 1:
            state = apply(cols, state)
        cols = [apply(cols, c) for c in cols]
        steps >>= 1
    return state
