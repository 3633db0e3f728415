"""The transmit side of the serial link (docs/protocol.md): RESULT, STATUS and ERROR frames."""

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked, check_int

from . import protocol as P
from .crc import crc16_step

__all__ = ["Framer"]

# the kind of the last frame sent (the turn order of docs/protocol.md, "Transmit")
_LAST_STATUS, _LAST_ERROR, _LAST_RESULT = 0, 1, 2


class Framer(Checked, wiring.Component):
    """Sends one frame at a time on ``tx``; ERROR, RESULT and STATUS frames take turns.

    * ERROR: an error event on ``event`` is latched unless one is already waiting (it is still
      counted in STATUS ``errors``, which counts every event).
    * RESULT: a result on ``results`` and its beat's sequence number on ``seq`` (the link's FIFO
      of beats in flight) are read in place while the frame goes out (the stream rule holds them)
      and taken with its last byte; ``cls`` goes to ``last_cls`` when the frame starts.
    * STATUS: requested by a transfer on ``status`` (the PING's token; a second request while one
      waits replaces its token).

    When more than one kind of frame is waiting, the kinds take turns in the order ERROR, RESULT,
    STATUS, starting after the kind sent last (at reset: ERROR first). So a waiting RESULT or
    STATUS goes out after at most two other frames, whatever arrives meanwhile (a continuous
    stream of bad bytes cannot hold it back). Frames are ``SOF VER TYPE LEN(2) PAYLOAD CRC(2)``,
    one byte per transfer on ``tx``. What may change while a frame goes out (an ERROR's event, a
    STATUS's token and counters) is copied when the frame starts; nothing else is.

    ``version=2`` (the monitor, boards/monitor_link.py): VER 2; a result ``{index, cls, logits}``
    is sent as BEAT_EVENT (no ``seq`` stream); STATUS carries the monitor's counters, which come
    in on the ports ``next``, ``beats``, ``ended``, ``done``, ``overruns`` and ``room``
    (docs/protocol.md, version 2).

    Parameters
    ----------
    result_layout : :class:`~amaranth.lib.data.StructLayout`
        The accelerator's result (``cls``, ``logits``, ``cycles``); version 2: the monitor's beat
        (``index``, ``cls``, ``logits``).
    n_classes : int
        Logits per result (keyword-only, as the rest).
    parallel : int
        The STATUS frame's ``parallel``.
    model_id : int or None
        The STATUS frame's model id; ``None`` adds the ``model_id`` input port instead (the board
        core feeds it from the accelerator's parameter ROM, so a patched bitstream reports its
        own model).
    window : int
        The STATUS frame's ``window`` (version 1).
    version : int
        The protocol version, 1 (default) or 2.

    Members
    -------
    event : ``In(stream.Signature(StructLayout({"code", "detail"}), always_ready=True))``
        Error events, one per transfer.
    status : ``In(stream.Signature(unsigned(8), always_ready=True))``
        STATUS requests: the PING's token.
    results : ``In(stream.Signature(result_layout))``
        The accelerator's results, one per beat.
    seq : ``In(stream.Signature(unsigned(8)))``
        The sequence number of each result's beat (version 1).
    next, beats : ``In(32)``; ended, done, overruns, room : ``In(16)``
        Version 2: the STATUS counters (docs/protocol.md).
    tx : ``Out(stream.Signature(unsigned(8)))``
        Frame bytes.
    last_cls : ``Out(cls)``
        The class of the last RESULT sent (LEDs).
    model_id : ``In(32)``
        Only with ``model_id=None``.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, result_layout, *, n_classes, parallel, model_id, window=P.WINDOW,
                        version=P.VERSION):
        if version not in P.VERSIONS:
            raise ValueError(f"Framer version must be one of {P.VERSIONS}, not {version!r}")
        need = ("cls", "logits", "cycles") if version == P.VERSION else ("index", "cls", "logits")
        if not isinstance(result_layout, data.StructLayout) or not set(need) <= set(
                dict(result_layout.members)):
            raise TypeError(f"Framer result_layout must be a StructLayout with {', '.join(need)}, "
                            f"not {result_layout!r}")
        check_int("Framer", "n_classes", n_classes, minimum=1, maximum=P.MAX_CLASSES)
        check_int("Framer", "parallel", parallel, minimum=1, maximum=255)
        if model_id is not None:
            check_int("Framer", "model_id", model_id, minimum=0, maximum=0xFFFFFFFF)
        check_int("Framer", "window", window, minimum=1, maximum=0xFFFF)

    def __init__(self, result_layout, *, n_classes, parallel, model_id, window=P.WINDOW,
                 version=P.VERSION):
        self._layout = result_layout
        self._n = n_classes
        self._parallel = parallel
        self._id = model_id
        self._window = window
        self._version = version
        event = data.StructLayout({"code": unsigned(8), "detail": unsigned(8)})
        members = {
            "event": In(stream.Signature(event, always_ready=True)),
            "status": In(stream.Signature(unsigned(8), always_ready=True)),
            "results": In(stream.Signature(result_layout)),
            "tx": Out(stream.Signature(unsigned(8))),
            "last_cls": Out(result_layout.members["cls"]),
        }
        if version == P.VERSION:
            members["seq"] = In(stream.Signature(unsigned(8)))
        else:
            members.update({"next": In(32), "beats": In(32), "ended": In(16), "done": In(16),
                            "overruns": In(16), "room": In(16)})
        if model_id is None:
            members["model_id"] = In(32)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = self._n
        v2 = self._version == P.VERSION_MONITOR
        ev = self.event.valid
        res = self.results.payload

        # ---- what waits: one error event, one STATUS request, the counters -------------------
        status_pending = Signal()
        status_token = Signal(8)
        err_pending = Signal()
        err_code = Signal(8)
        err_detail = Signal(8)
        beats_done = Signal(16)
        errors = Signal(16)
        with m.If(ev):
            m.d.sync += errors.eq(errors + 1)
        with m.If(self.status.valid):
            m.d.sync += [status_pending.eq(1), status_token.eq(self.status.payload)]

        # ---- the frames, byte by byte, read where their values are ----------------------------
        # No copy of the payload: a RESULT's bytes are read from the result and its ``seq`` (held
        # by the stream rule until they are taken at the frame's last byte), the constants are
        # constants; only what may change while the frame goes out (an ERROR's event, a STATUS's
        # token and counters) is copied into ``snap`` when the frame starts.
        model_id = self.model_id if self._id is None else Const(self._id & 0xFFFFFFFF, 32)
        logits = [_sext32(res.logits[k].as_signed()) for k in range(n)]
        cls8 = Signal(8)
        m.d.comb += cls8.eq(res.cls)
        if v2:
            index32 = Signal(32)
            m.d.comb += index32.eq(res.index)
            status_volatile = Cat(status_token, self.next, self.beats, self.ended, self.done, self.overruns,
                                  errors, self.room)
            seq_valid = 1
        else:
            cycles32 = Signal(32)
            m.d.comb += cycles32.eq(res.cycles)
            status_volatile = Cat(status_token, errors)
            seq_valid = self.seq.valid
        snap = Signal(max(16, len(status_volatile)))
        if v2:
            sv = snap[8:]
            result_payload = Cat(index32, cls8, Const(n, 8), *logits)
            status_payload = Cat(snap[:8], Const(self._version, 8), Const(n, 8), Const(self._parallel, 8),
                                 sv[:32], sv[32:64], sv[64:80], sv[80:96], sv[96:112], sv[112:128],
                                 sv[128:144], model_id)
        else:
            result_payload = Cat(self.seq.payload, cls8, Const(n, 8), *logits, cycles32)
            status_payload = Cat(snap[:8], Const(P.VERSION, 8), Const(n, 8), Const(self._parallel, 8),
                                 beats_done, snap[8:24], Const(self._window, 16), model_id)
        result_type = P.BEAT_EVENT if v2 else P.RESULT
        frames = {      # kind: (type, payload)
            _LAST_ERROR: (P.ERROR, Cat(snap[:8], snap[8:16])),
            _LAST_RESULT: (result_type, result_payload),
            _LAST_STATUS: (P.STATUS, status_payload),
        }
        assert len(frames[_LAST_STATUS][1]) == 8 * (P.STATUS2_LEN if v2 else P.STATUS_LEN)
        assert len(frames[_LAST_RESULT][1]) == 8 * (P.beat_event_len(n) if v2 else P.result_len(n))

        # ---- whose turn: the kinds that wait, in the order ERROR, RESULT, STATUS after the last sent
        want_e = err_pending
        want_r = self.results.valid & seq_valid
        want_s = status_pending
        last = Signal(2)
        pick_e, pick_r, pick_s = Signal(), Signal(), Signal()
        with m.Switch(last):
            with m.Case(_LAST_ERROR):
                m.d.comb += [pick_r.eq(want_r), pick_s.eq(~want_r & want_s),
                             pick_e.eq(~want_r & ~want_s & want_e)]
            with m.Case(_LAST_RESULT):
                m.d.comb += [pick_s.eq(want_s), pick_e.eq(~want_s & want_e),
                             pick_r.eq(~want_s & ~want_e & want_r)]
            with m.Default():
                m.d.comb += [pick_e.eq(want_e), pick_r.eq(~want_e & want_r),
                             pick_s.eq(~want_e & ~want_r & want_s)]

        sending = Signal()
        longest = max(len(payload) // 8 for _, payload in frames.values())
        idx = Signal(range(P.HEADER + longest + P.TRAILER))
        with m.If(~sending):
            with m.If(pick_e):
                m.d.sync += [snap.eq(Cat(err_code, err_detail)), sending.eq(1), idx.eq(0),
                             err_pending.eq(0), last.eq(_LAST_ERROR)]
            with m.Elif(pick_r):
                if not v2:
                    m.d.sync += beats_done.eq(beats_done + 1)
                m.d.sync += [sending.eq(1), idx.eq(0), self.last_cls.eq(res.cls), last.eq(_LAST_RESULT)]
            with m.Elif(pick_s):
                m.d.sync += [snap.eq(status_volatile), sending.eq(1), idx.eq(0), status_pending.eq(0),
                             last.eq(_LAST_STATUS)]
                with m.If(self.status.valid):            # a new request in this very cycle stays
                    m.d.sync += status_pending.eq(1)

        # an error event latches unless one is already waiting (it is still counted)
        with m.If(ev & ~err_pending):
            m.d.sync += [err_pending.eq(1), err_code.eq(self.event.payload.code),
                         err_detail.eq(self.event.payload.detail)]

        # ---- the byte at ``idx`` of the frame of kind ``last``, and the CRC over VER .. PAYLOAD
        # (a tree of 2:1 multiplexers on the bits of ``idx`` per kind: no decoder per byte)
        crc = Signal(16)
        byte = Signal(8)
        crc_hi = Signal()           # the byte is CRC_HI
        final = Signal()            # the byte is CRC_LO, the frame's last
        rows = {}
        for kind, (ftype, payload) in frames.items():
            length = len(payload) // 8
            head = [Const(v, 8) for v in (P.SOF, self._version, ftype, length & 0xFF, length >> 8)]
            rows[kind] = head + [payload.word_select(k, 8) for k in range(length)]
            with m.If(last == kind):
                m.d.comb += [crc_hi.eq(idx == P.HEADER + length), final.eq(idx == P.HEADER + length + 1)]
        # one tree over the positions; at each position the kinds that have a byte there
        leaves = []
        for i in range(max(len(r) for r in rows.values())):
            here = [(k, r[i]) for k, r in rows.items() if i < len(r)]
            value = here[-1][1]
            for k, v in here[-2::-1]:
                if not (isinstance(v, Const) and isinstance(value, Const) and v.value == value.value):
                    value = Mux(last == k, v, value)
            leaves.append(value)
        m.d.comb += byte.eq(Mux(crc_hi, crc[8:], Mux(final, crc[:8], _tree(leaves, idx))))
        m.d.comb += [self.tx.valid.eq(sending), self.tx.payload.eq(byte)]
        with m.If(sending & self.tx.ready):
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx == 0):
                m.d.sync += crc.eq(0xFFFF)
            with m.Elif(~crc_hi & ~final):
                m.d.sync += crc.eq(crc16_step(crc, byte))
            with m.If(final):
                m.d.sync += sending.eq(0)
                with m.If(last == _LAST_RESULT):         # the result and its seq were read: taken
                    m.d.comb += self.results.ready.eq(1)
                    if not v2:
                        m.d.comb += self.seq.ready.eq(1)
        return m


def _tree(values, sel):
    """``values[sel]`` as a balanced tree of 2:1 multiplexers on the bits of ``sel`` (indices past
    the end read the last value: don't care)."""
    values = list(values)
    for bit in range(len(sel)):
        if len(values) == 1:
            break
        if len(values) % 2:
            values.append(values[-1])
        values = [a if b is a else Mux(sel[bit], b, a) for a, b in zip(values[::2], values[1::2])]
    return values[0]


def _sext32(value):
    """A signed value sign-extended to 32 bits."""
    w = len(value)
    if w >= 32:
        return value[:32]
    return Cat(value, value[w - 1].replicate(32 - w))
