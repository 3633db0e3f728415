"""Gateware side of the serial protocol (docs/protocol.md, boards/protocol.py): deframer, beat
buffer, result/status/error framer.

Link members
------------
rx : In(stream u8)          bytes from the UART receiver (always ready: never back-pressures).
tx : Out(stream u8)         bytes to the UART transmitter.
uart_overrun, uart_framing : In(1)   one-cycle error pulses of the UART receiver.
samples : Out(stream u11)   raw samples of accepted beats (to the accelerator), 240 per beat.
rr : Out(stream)            only with ``rr_bits``: the beat's three RR codes (one transfer per beat,
                            code f in bits [f*b, (f+1)*b)), handed over before its samples.
results : In(stream result_layout)  the accelerator's results, one per beat, in order.
last_cls : Out(cls)         the class of the last result sent.
model_id : In(32)           the STATUS frame's model id, only when the Link is built with
                            ``model_id=None`` (otherwise the given constant): the board core
                            takes it from the accelerator's parameter ROM, so that a patched
                            bitstream (boards/patch.py) reports the model it now holds.

Receive path: a byte-wise FSM (HUNT, VER, TYPE, LEN0, LEN1, PAYLOAD, CRC0, CRC1) checks version,
type and length against the one valid length per type and the CRC-16/CCITT-FALSE; a BEAT's
samples are written into a 240 x 11 beat buffer (one block RAM) while it arrives and only handed
to the accelerator after the CRC matched, so a corrupt frame never produces a result. A link for a
model with an RR path (``rr_bits``) accepts BEAT_RR frames instead of BEAT (seq, three code bytes,
then the samples); the codes go out on ``rr`` right before the samples. Any problem
(garbage, bad header, CRC, inter-byte timeout, UART overrun/framing error, buffer busy, sample out
of range) raises one ERROR event and the FSM goes back to hunting for SOF.

Transmit path: one frame at a time, ERROR first, then RESULT, then STATUS (after a PING). The
sequence number of every beat handed to the accelerator goes through a small FIFO and comes
back with its result, so results can be matched to beats by the host.
"""

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from . import protocol as P


def _crc_matrix():
    """For each CRC output bit, the (crc bits, byte bits) it is the XOR of (the CRC is linear)."""
    from .protocol import crc16
    def step(crc, byte):
        c = crc ^ (byte << 8)
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
            c &= 0xFFFF
        return c
    rows = []
    for out in range(16):
        rows.append(([i for i in range(16) if (step(1 << i, 0) >> out) & 1],
                     [j for j in range(8) if (step(0, 1 << j) >> out) & 1]))
    return rows


_CRC_ROWS = _crc_matrix()


def crc16_step(crc, byte):
    """CRC-16/CCITT-FALSE register after one byte: 16 XOR trees (no Mux chains)."""
    bits = []
    for crc_bits, byte_bits in _CRC_ROWS:
        terms = [crc[i] for i in crc_bits] + [byte[j] for j in byte_bits]
        v = terms[0]
        for t in terms[1:]:
            v = v ^ t
        bits.append(v)
    return Cat(*bits)


class Link(wiring.Component):
    def __init__(self, result_layout, n_classes, *, parallel=1, model_id=0, timeout_cycles=20_000,
                 inflight=4, rr_bits=0):
        self.result_layout = result_layout
        self.n_classes = n_classes
        self.parallel = parallel
        self._id_port = model_id is None
        self._id_const = model_id
        self.timeout_cycles = int(timeout_cycles)
        self.inflight = inflight
        self.rr_bits = rr_bits
        cls_shape = result_layout.members["cls"]
        members = {
            "rx": In(stream.Signature(unsigned(8))),
            "tx": Out(stream.Signature(unsigned(8))),
            "uart_overrun": In(1),
            "uart_framing": In(1),
            "samples": Out(stream.Signature(unsigned(11))),
            "results": In(stream.Signature(result_layout)),
            "last_cls": Out(cls_shape),
        }
        if model_id is None:
            members["model_id"] = In(32)
        if rr_bits:
            members["rr"] = Out(stream.Signature(unsigned(P.RR_FEATURES * rr_bits)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = self.n_classes
        W = P.WINDOW

        # ---------------- shared state ----------------
        m.submodules.buf = buf = memory.Memory(shape=unsigned(11), depth=W, init=[])
        wp = buf.write_port()
        rp = buf.read_port()
        m.submodules.seqs = seqs = fifo.SyncFIFOBuffered(width=8, depth=self.inflight)

        buffer_full = Signal()
        beat_seq = Signal(8)
        status_pending = Signal()
        status_token = Signal(8)
        err_pending = Signal()
        err_code = Signal(8)
        err_detail = Signal(8)
        beats_done = Signal(16)
        errors = Signal(16)

        # error event of this cycle (later assignments win: deframer > framing > overrun)
        ev = Signal()
        ev_code = Signal(8)
        ev_detail = Signal(8)
        with m.If(self.uart_overrun):
            m.d.comb += [ev.eq(1), ev_code.eq(P.E_OVERRUN)]
        with m.If(self.uart_framing):
            m.d.comb += [ev.eq(1), ev_code.eq(P.E_FRAMING)]

        # ---------------- receive: deframer ----------------
        b = self.rx.payload
        got = self.rx.valid
        m.d.comb += self.rx.ready.eq(1)

        # a model with an RR path takes BEAT_RR frames: seq, one byte per RR code, then samples
        rb = self.rr_bits
        n_codes = P.RR_FEATURES if rb else 0
        beat_type = P.BEAT_RR if rb else P.BEAT
        beat_len = P.BEAT_RR_LEN if rb else P.BEAT_LEN
        odd_codes = n_codes & 1                 # low bytes: odd cnt after seq, even after seq + 3 codes
        rr_rx = Signal(max(1, n_codes * rb))
        beat_rr = Signal(max(1, n_codes * rb))

        crc = Signal(16)
        ftype = Signal(8)
        length = Signal(16)
        len_lo = Signal(8)
        cnt = Signal(16)
        lo = Signal(8)
        seq_rx = Signal(8)
        token_rx = Signal(8)
        drop = Signal()
        range_bad = Signal()
        crc_hi_ok = Signal()
        waddr = Signal(range(W + 1))
        discarded = Signal(8)
        idle = Signal(range(self.timeout_cycles + 1))
        timed_out = Signal()
        m.d.comb += timed_out.eq(idle == self.timeout_cycles)
        with m.If(got):
            m.d.sync += idle.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += idle.eq(idle + 1)

        def event(code, detail=0):
            m.d.comb += [ev.eq(1), ev_code.eq(code), ev_detail.eq(detail)]

        def truncated(detail):
            # truncated frame: no byte for timeout_cycles in any state but HUNT
            with m.If(~got & timed_out):
                event(P.E_TIMEOUT, detail)
                m.next = "HUNT"

        crc_next = crc16_step(crc, b)
        m.d.comb += [wp.addr.eq(waddr), wp.data.eq(Cat(lo, b[:3]))]

        with m.FSM(name="rx_fsm"):
            with m.State("HUNT"):
                with m.If(got):
                    with m.If(b == P.SOF):
                        with m.If(discarded != 0):
                            event(P.E_SYNC, discarded)
                        m.d.sync += [discarded.eq(0), crc.eq(0xFFFF)]
                        m.next = "VER"
                    with m.Elif(discarded != 0xFF):
                        m.d.sync += discarded.eq(discarded + 1)
                with m.Elif(timed_out & (discarded != 0)):
                    event(P.E_SYNC, discarded)
                    m.d.sync += discarded.eq(0)
            with m.State("VER"):
                truncated(0)
                with m.If(got):
                    m.d.sync += crc.eq(crc_next)
                    with m.If(b == P.SOF):              # the first SOF was stray: restart here
                        event(P.E_SYNC, 1)
                        m.d.sync += crc.eq(0xFFFF)
                    with m.Elif(b != P.VERSION):
                        event(P.E_VERSION, b)
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "TYPE"
            with m.State("TYPE"):
                truncated(0)
                with m.If(got):
                    m.d.sync += [crc.eq(crc_next), ftype.eq(b)]
                    with m.If((b != beat_type) & (b != P.PING)):
                        event(P.E_TYPE, b)
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "LEN0"
            with m.State("LEN0"):
                truncated(ftype)
                with m.If(got):
                    m.d.sync += [crc.eq(crc_next), len_lo.eq(b)]
                    m.next = "LEN1"
            with m.State("LEN1"):
                truncated(ftype)
                with m.If(got):
                    full = Cat(len_lo, b)
                    ok = (((ftype == beat_type) & (full == beat_len))
                          | ((ftype == P.PING) & (full == P.PING_LEN)))
                    m.d.sync += [crc.eq(crc_next), length.eq(full), cnt.eq(0), waddr.eq(0),
                                 drop.eq(buffer_full), range_bad.eq(0)]
                    with m.If(~ok):
                        event(P.E_LENGTH, ftype)
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                truncated(ftype)
                with m.If(got):
                    m.d.sync += [crc.eq(crc_next), cnt.eq(cnt + 1)]
                    with m.If(ftype == P.PING):
                        m.d.sync += token_rx.eq(b)
                    with m.Elif(cnt == 0):
                        m.d.sync += seq_rx.eq(b)
                    if n_codes:
                        with m.Elif(cnt <= n_codes):           # RR codes (BEAT_RR)
                            for f in range(n_codes):
                                with m.If(cnt == f + 1):
                                    m.d.sync += rr_rx[f * rb:(f + 1) * rb].eq(b[:rb])
                            if rb < 8:
                                with m.If(b[rb:] != 0):
                                    m.d.sync += range_bad.eq(1)
                    with m.Elif(cnt[0] if not odd_codes else ~cnt[0]):   # a sample's low byte
                        m.d.sync += lo.eq(b)
                    with m.Else():
                        m.d.comb += wp.en.eq(~drop)
                        m.d.sync += waddr.eq(waddr + 1)
                        with m.If(b[3:] != 0):
                            m.d.sync += range_bad.eq(1)
                    with m.If(cnt == length - 1):
                        m.next = "CRC0"
            with m.State("CRC0"):
                truncated(ftype)
                with m.If(got):
                    m.d.sync += crc_hi_ok.eq(b == crc[8:])
                    m.next = "CRC1"
            with m.State("CRC1"):
                truncated(ftype)
                with m.If(got):
                    with m.If(~crc_hi_ok | (b != crc[:8])):
                        event(P.E_CRC, ftype)
                    with m.Elif(ftype == P.PING):
                        m.d.sync += [status_pending.eq(1), status_token.eq(token_rx)]
                    with m.Elif(drop):
                        event(P.E_BUSY, seq_rx)
                    with m.Elif(range_bad):
                        event(P.E_RANGE, seq_rx)
                    with m.Else():
                        m.d.sync += [buffer_full.eq(1), beat_seq.eq(seq_rx)]
                        if rb:
                            m.d.sync += beat_rr.eq(rr_rx)
                    m.next = "HUNT"

        # ---------------- beat buffer -> accelerator ----------------
        rd = Signal(range(W + 1))
        feeding = Signal()
        codes_out = Signal()                    # (RR path) the buffered beat's codes were handed over
        m.d.comb += [rp.addr.eq(rd), self.samples.payload.eq(rp.data), self.samples.valid.eq(feeding),
                     seqs.w_data.eq(beat_seq)]
        if rb:
            m.d.comb += [self.rr.payload.eq(beat_rr), self.rr.valid.eq(buffer_full & ~codes_out & ~feeding)]
            with m.If(self.rr.valid & self.rr.ready):
                m.d.sync += codes_out.eq(1)
        with m.If(~feeding):
            m.d.comb += rp.en.eq(1)
            start = buffer_full & seqs.w_rdy
            with m.If((start & codes_out) if rb else start):
                # rp reads address 0 in this cycle (rd == 0): data is there next cycle
                m.d.comb += seqs.w_en.eq(1)
                m.d.sync += [feeding.eq(1), rd.eq(1)]
            with m.Else():
                m.d.sync += rd.eq(0)
        with m.Else():
            m.d.comb += rp.en.eq(self.samples.ready)
            with m.If(self.samples.ready):
                m.d.sync += rd.eq(rd + 1)
                with m.If(rd == W):                   # the last sample was accepted
                    m.d.sync += [feeding.eq(0), buffer_full.eq(0), rd.eq(0)]
                    if rb:
                        m.d.sync += codes_out.eq(0)

        # ---------------- errors ----------------
        with m.If(ev):
            m.d.sync += errors.eq(errors + 1)

        # ---------------- transmit: framer ----------------
        result_len = P.result_len(n)
        pmax = max(result_len, P.STATUS_LEN, P.ERROR_LEN)
        sending = Signal()
        idx = Signal(range(P.HEADER + pmax + P.TRAILER + 1))
        t_type = Signal(8)
        t_len = Signal(8)
        t_payload = Signal(8 * pmax)
        t_crc = Signal(16)

        res = self.results.payload
        logits = [res.logits[k].as_signed() for k in range(n)]
        cls8 = Signal(8)
        cycles32 = Signal(32)
        m.d.comb += [cls8.eq(res.cls), cycles32.eq(res.cycles)]
        result_bytes = Cat(seqs.r_data, cls8, Const(n, 8), *[_sext32(lg) for lg in logits], cycles32)
        status_bytes = Cat(status_token, Const(P.VERSION, 8), Const(n, 8), Const(self.parallel, 8),
                           beats_done, errors, Const(W, 16),
                           self.model_id if self._id_port else Const(self._id_const & 0xFFFFFFFF, 32))

        can_error = err_pending
        can_result = self.results.valid & seqs.r_rdy
        with m.If(~sending):
            with m.If(can_error):
                m.d.sync += [t_type.eq(P.ERROR), t_len.eq(P.ERROR_LEN), t_payload.eq(Cat(err_code, err_detail)),
                             sending.eq(1), idx.eq(0), err_pending.eq(0)]
            with m.Elif(can_result):
                m.d.comb += [self.results.ready.eq(1), seqs.r_en.eq(1)]
                m.d.sync += [t_type.eq(P.RESULT), t_len.eq(result_len), t_payload.eq(result_bytes),
                             sending.eq(1), idx.eq(0), beats_done.eq(beats_done + 1),
                             self.last_cls.eq(res.cls)]
            with m.Elif(status_pending):
                m.d.sync += [t_type.eq(P.STATUS), t_len.eq(P.STATUS_LEN), t_payload.eq(status_bytes),
                             sending.eq(1), idx.eq(0), status_pending.eq(0)]

        # an error event latches unless one is already waiting (it is still counted)
        with m.If(ev & ~err_pending):
            m.d.sync += [err_pending.eq(1), err_code.eq(ev_code), err_detail.eq(ev_detail)]

        byte = Signal(8)
        with m.If(idx == 0):
            m.d.comb += byte.eq(P.SOF)
        with m.Elif(idx == 1):
            m.d.comb += byte.eq(P.VERSION)
        with m.Elif(idx == 2):
            m.d.comb += byte.eq(t_type)
        with m.Elif(idx == 3):
            m.d.comb += byte.eq(t_len)
        with m.Elif(idx == 4):
            m.d.comb += byte.eq(0)
        with m.Elif(idx == P.HEADER + t_len):
            m.d.comb += byte.eq(t_crc[8:])
        with m.Elif(idx == P.HEADER + t_len + 1):
            m.d.comb += byte.eq(t_crc[:8])
        with m.Else():
            m.d.comb += byte.eq(t_payload.word_select((idx - P.HEADER)[:len(idx)], 8))
        m.d.comb += [self.tx.valid.eq(sending), self.tx.payload.eq(byte)]
        with m.If(sending & self.tx.ready):
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx == 0):
                m.d.sync += t_crc.eq(0xFFFF)
            with m.Elif(idx < P.HEADER + t_len):
                m.d.sync += t_crc.eq(crc16_step(t_crc, byte))
            with m.If(idx == P.HEADER + t_len + 1):
                m.d.sync += sending.eq(0)
        return m


def _sext32(value):
    """A signed value sign-extended to 32 bits."""
    w = len(value)
    if w >= 32:
        return value[:32]
    return Cat(value, value[w - 1].replicate(32 - w))
