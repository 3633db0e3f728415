"""The transmit side of the serial link (docs/protocol.md): RESULT, STATUS and ERROR frames."""

from amaranth import Cat, Const, Module, Signal, unsigned
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
    * RESULT: a result on ``results`` is taken together with its beat's sequence number on
      ``seq`` (the link's FIFO of beats in flight); ``cls`` also goes to ``last_cls``.
    * STATUS: requested by a transfer on ``status`` (the PING's token; a second request while one
      waits replaces its token).

    When more than one kind of frame is waiting, the kinds take turns in the order ERROR, RESULT,
    STATUS, starting after the kind sent last (at reset: ERROR first). So a waiting RESULT or
    STATUS goes out after at most two other frames, whatever arrives meanwhile (a continuous
    stream of bad bytes cannot hold it back). Frames are ``SOF VER TYPE LEN(2) PAYLOAD CRC(2)``,
    one byte per transfer on ``tx``.

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
        status_pending = Signal()
        status_token = Signal(8)
        err_pending = Signal()
        err_code = Signal(8)
        err_detail = Signal(8)
        beats_done = Signal(16)
        errors = Signal(16)
        ev = self.event.valid

        with m.If(ev):
            m.d.sync += errors.eq(errors + 1)
        with m.If(self.status.valid):
            m.d.sync += [status_pending.eq(1), status_token.eq(self.status.payload)]

        v2 = self._version == P.VERSION_MONITOR
        result_type = P.BEAT_EVENT if v2 else P.RESULT
        result_len = P.beat_event_len(n) if v2 else P.result_len(n)
        status_len = P.STATUS2_LEN if v2 else P.STATUS_LEN
        pmax = max(result_len, status_len, P.ERROR_LEN)
        sending = Signal()
        idx = Signal(range(P.HEADER + pmax + P.TRAILER + 1))
        t_type = Signal(8)
        t_len = Signal(8)
        t_payload = Signal(8 * pmax)
        t_crc = Signal(16)

        res = self.results.payload
        logits = [res.logits[k].as_signed() for k in range(n)]
        cls8 = Signal(8)
        m.d.comb += cls8.eq(res.cls)
        model_id = self.model_id if self._id is None else Const(self._id & 0xFFFFFFFF, 32)
        if v2:
            index32 = Signal(32)
            m.d.comb += index32.eq(res.index)
            result_bytes = Cat(index32, cls8, Const(n, 8), *[_sext32(lg) for lg in logits])
            status_bytes = Cat(status_token, Const(self._version, 8), Const(n, 8), Const(self._parallel, 8),
                               self.next, self.beats, self.ended, self.done, self.overruns, errors,
                               self.room, model_id)
            seq_valid = 1
        else:
            cycles32 = Signal(32)
            m.d.comb += cycles32.eq(res.cycles)
            result_bytes = Cat(self.seq.payload, cls8, Const(n, 8), *[_sext32(lg) for lg in logits], cycles32)
            status_bytes = Cat(status_token, Const(P.VERSION, 8), Const(n, 8), Const(self._parallel, 8),
                               beats_done, errors, Const(self._window, 16), model_id)
            seq_valid = self.seq.valid

        # whose turn: the kinds that wait, in the order ERROR, RESULT, STATUS after the last sent
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

        with m.If(~sending):
            with m.If(pick_e):
                m.d.sync += [t_type.eq(P.ERROR), t_len.eq(P.ERROR_LEN), t_payload.eq(Cat(err_code, err_detail)),
                             sending.eq(1), idx.eq(0), err_pending.eq(0), last.eq(_LAST_ERROR)]
            with m.Elif(pick_r):
                m.d.comb += self.results.ready.eq(1)
                if not v2:
                    m.d.comb += self.seq.ready.eq(1)
                    m.d.sync += beats_done.eq(beats_done + 1)
                m.d.sync += [t_type.eq(result_type), t_len.eq(result_len), t_payload.eq(result_bytes),
                             sending.eq(1), idx.eq(0), self.last_cls.eq(res.cls), last.eq(_LAST_RESULT)]
            with m.Elif(pick_s):
                m.d.sync += [t_type.eq(P.STATUS), t_len.eq(status_len), t_payload.eq(status_bytes),
                             sending.eq(1), idx.eq(0), status_pending.eq(0), last.eq(_LAST_STATUS)]
                with m.If(self.status.valid):            # a new request in this very cycle stays
                    m.d.sync += status_pending.eq(1)

        # an error event latches unless one is already waiting (it is still counted)
        with m.If(ev & ~err_pending):
            m.d.sync += [err_pending.eq(1), err_code.eq(self.event.payload.code),
                         err_detail.eq(self.event.payload.detail)]

        byte = Signal(8)
        with m.If(idx == 0):
            m.d.comb += byte.eq(P.SOF)
        with m.Elif(idx == 1):
            m.d.comb += byte.eq(self._version)
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
