"""The transmit side of the serial link (docs/protocol.md): RESULT, STATUS and ERROR frames."""

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.hw.checks import Checked, check_bool, check_int

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
    STATUS's token and counters) is copied when the frame starts; nothing else is. The byte at
    each position of each kind of frame (a constant, one of the variable bytes or the CRC
    register's high byte, for both CRC bytes) is chosen by multiplexers in logic or, with
    ``rom``, by a ROM in block RAM that holds per kind and position the constant and the number
    of the variable byte (a multiplexer on that number, no position decoding: fewer logic cells
    for one block RAM, the monitor's choice; the classifier's iCEBreaker build keeps to 14 block
    RAMs, issue 17). Either way the frames and their timing are the same.

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
    rom : bool
        The bytes from a ROM in block RAM (16-bit words up to 63 distinct variable bytes: one
        iCE40 EBR for frames up to 64 bytes) instead of multiplexers (default ``False``).

    Members
    -------
    event : ``In(stream.Signature(StructLayout({"code", "detail"}), always_ready=True))``
        Error events, one per transfer (``code`` one of ``protocol.E_*``: only the bits those
        need are kept).
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
                        version=P.VERSION, rom=False):
        check_bool("Framer", "rom", rom)
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
                 version=P.VERSION, rom=False):
        self._layout = result_layout
        self._rom = rom
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
        err_code = Signal(range(max(P.ERROR_NAMES) + 1))     # the codes are protocol.E_*
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
        # token and counters) is copied into ``snap`` when the frame starts. Each frame is a list
        # of bytes: an int (a constant) or an 8-bit value.
        model_id = self.model_id if self._id is None else Const(self._id & 0xFFFFFFFF, 32)
        logits = [b for k in range(n) for b in _field(res.logits[k].as_signed(), 4)]
        if v2:
            status_volatile = Cat(status_token, self.next, self.beats, self.ended, self.done, self.overruns,
                                  errors, self.room)
            seq_valid = 1
        else:
            status_volatile = Cat(status_token, errors)
            seq_valid = self.seq.valid
        snap = Signal(max(16, len(status_volatile)))
        if v2:
            result_payload = _field(res.index, 4) + _field(res.cls, 1) + [n] + logits
            # the counters are copied in their order in the payload: next, beats, ended, done,
            # overruns, errors, room
            status_payload = ([snap[:8], self._version, n, self._parallel]
                              + [snap[o:o + 8] for o in range(8, len(status_volatile), 8)] + _field(model_id, 4))
        else:
            result_payload = ([self.seq.payload] + _field(res.cls, 1) + [n] + logits
                              + _field(res.cycles, 4))
            status_payload = ([snap[:8], P.VERSION, n, self._parallel] + _field(beats_done, 2)
                              + [snap[8:16], snap[16:24]] + [self._window & 0xFF, self._window >> 8]
                              + _field(model_id, 4))
        result_type = P.BEAT_EVENT if v2 else P.RESULT
        frames = {      # kind: (type, payload bytes)
            _LAST_ERROR: (P.ERROR, [snap[:8], snap[8:16]]),
            _LAST_RESULT: (result_type, result_payload),
            _LAST_STATUS: (P.STATUS, status_payload),
        }
        assert len(frames[_LAST_STATUS][1]) == (P.STATUS2_LEN if v2 else P.STATUS_LEN)
        assert len(frames[_LAST_RESULT][1]) == (P.beat_event_len(n) if v2 else P.result_len(n))

        # ---- whose turn: the kinds that wait, in the order ERROR, RESULT, STATUS after the last sent
        want_e = err_pending
        want_r = self.results.valid & seq_valid
        want_s = status_pending
        last = Signal(2)

        def last_is(kind):
            # ``last`` is 0, 1 or 2 (never 3): a kind is one bit of it (STATUS: neither)
            return ~last.any() if kind == _LAST_STATUS else last[kind - 1]
        pick_e, pick_r, pick_s = Signal(), Signal(), Signal()
        with m.If(last_is(_LAST_ERROR)):
            m.d.comb += [pick_r.eq(want_r), pick_s.eq(~want_r & want_s),
                         pick_e.eq(~want_r & ~want_s & want_e)]
        with m.Elif(last_is(_LAST_RESULT)):
            m.d.comb += [pick_s.eq(want_s), pick_e.eq(~want_s & want_e),
                         pick_r.eq(~want_s & ~want_e & want_r)]
        with m.Else():
            m.d.comb += [pick_e.eq(want_e), pick_r.eq(~want_e & want_r),
                         pick_s.eq(~want_e & ~want_r & want_s)]

        sending = Signal()
        longest = max(len(payload) for _, payload in frames.values())
        idx = Signal(range(P.HEADER + longest + P.TRAILER))
        with m.If(~sending):
            with m.If(pick_e):
                m.d.sync += [snap.eq(Cat(err_code, Const(0, 8 - len(err_code)), err_detail)), sending.eq(1),
                             err_pending.eq(0), last.eq(_LAST_ERROR)]
            with m.Elif(pick_r):
                if not v2:
                    m.d.sync += beats_done.eq(beats_done + 1)
                m.d.sync += [sending.eq(1), self.last_cls.eq(res.cls), last.eq(_LAST_RESULT)]
            with m.Elif(pick_s):
                m.d.sync += [snap.eq(status_volatile), sending.eq(1), status_pending.eq(0),
                             last.eq(_LAST_STATUS)]
                with m.If(self.status.valid):            # a new request in this very cycle stays
                    m.d.sync += status_pending.eq(1)

        # an error event latches unless one is already waiting (it is still counted)
        with m.If(ev & ~err_pending):
            m.d.sync += [err_pending.eq(1), err_code.eq(self.event.payload.code),
                         err_detail.eq(self.event.payload.detail)]

        # ---- the byte at ``idx`` of the frame of kind ``last`` (a ROM or multiplexers), whether
        # the CRC takes it (VER .. CRC_HI) and whether it is the frame's last (CRC_LO). The CRC
        # takes its own high byte too: that leaves its low byte in the high one
        # (``crc16_step(crc, crc[8:]) == crc[:8] << 8``), so that both CRC bytes are ``crc[8:]``,
        # one variable byte fewer for the multiplexers
        crc = Signal(16)
        rows = {kind: [P.SOF, self._version, ftype, len(payload) & 0xFF, len(payload) >> 8] + payload
                + [crc[8:], crc[8:]] for kind, (ftype, payload) in frames.items()}
        idx_next = Signal.like(idx)
        m.d.comb += idx_next.eq(Mux(sending, idx + self.tx.ready, 0))
        with m.If(~sending | self.tx.ready):
            m.d.sync += idx.eq(idx_next)
        if self._rom:
            last_next = Signal.like(last)
            m.d.comb += last_next.eq(last)
            with m.If(~sending):
                with m.If(pick_e):
                    m.d.comb += last_next.eq(_LAST_ERROR)
                with m.Elif(pick_r):
                    m.d.comb += last_next.eq(_LAST_RESULT)
                with m.Elif(pick_s):
                    m.d.comb += last_next.eq(_LAST_STATUS)
            byte, update, final = _from_rom(m, rows, Cat(idx_next, last_next), len(idx))
        else:
            byte, update, final = _from_multiplexers(m, rows, idx, last_is)
        m.d.comb += [self.tx.valid.eq(sending), self.tx.payload.eq(byte)]
        with m.If(sending & self.tx.ready):
            with m.If(idx == 0):
                m.d.sync += crc.eq(0xFFFF)
            with m.Elif(update):
                m.d.sync += crc.eq(crc16_step(crc, byte))
            with m.If(final):
                m.d.sync += sending.eq(0)
                with m.If(last_is(_LAST_RESULT)):         # the result and its seq were read: taken
                    m.d.comb += self.results.ready.eq(1)
                    if not v2:
                        m.d.comb += self.seq.ready.eq(1)
        return m


def _from_rom(m, rows, addr, idx_bits):
    """The byte of ``rows`` (per kind: ints, constants, and 8-bit values) at the position and kind
    that ``addr`` (``Cat(idx, kind)``) held in the previous cycle, from a ROM (block RAM) of one
    word per kind and position: the constant byte, the number of the variable byte (0: none; the
    byte is the constant OR that variable byte, chosen by a multiplexer on the number), whether
    the CRC takes the byte and whether it is the frame's last (CRC_LO). A number rather than one
    enable per variable byte keeps the word at 16 bits for up to 63 variable bytes: one iCE40
    block RAM (256 x 16) instead of one per 16 bits of enables, for about the same logic (a
    multiplexer on the number in place of an AND-OR over the enables). Returns
    ``(byte, update, final)``."""
    variable, keys = [], {}
    for row in rows.values():
        for v in row:
            if not isinstance(v, int) and repr(v) not in keys:
                keys[repr(v)] = len(variable) + 1
                variable.append(v)
    sel_bits = len(variable).bit_length()
    width = 8 + sel_bits + 2
    words = [0] * (4 << idx_bits)
    for kind, row in rows.items():
        for i, v in enumerate(row):
            word = v if isinstance(v, int) else keys[repr(v)] << 8
            if 0 < i < len(row) - 1:                           # VER .. CRC_HI: into the CRC
                word |= 1 << (width - 2)
            if i == len(row) - 1:                              # CRC_LO: the frame's last byte
                word |= 1 << (width - 1)
            words[(kind << idx_bits) | i] = word
    m.submodules.rom = rom = memory.Memory(shape=unsigned(width), depth=len(words), init=words,
                                           attrs={"rom_style": "block"})
    rp = rom.read_port()
    m.d.comb += rp.addr.eq(addr)
    sel = rp.data[8:8 + sel_bits]
    leaves = [Const(0, 8)] + [Value.cast(v) for v in variable]
    for bit in range(sel_bits):                 # a tree of 2:1 multiplexers on the number's bits
        if len(leaves) % 2:
            leaves.append(leaves[-1])
        leaves = [Mux(sel[bit], b, a) for a, b in zip(leaves[::2], leaves[1::2])]
    return rp.data[:8] | leaves[0], rp.data[width - 2], rp.data[width - 1]


def _from_multiplexers(m, rows, idx, last_is):
    """The byte of ``rows`` at ``idx`` of the kind ``last_is`` selects, as multiplexers: a tree of
    2:1 multiplexers on the bits of ``idx`` over the positions up to PAYLOAD, at each position the
    kinds that have a byte there, then the CRC's byte at the two last positions (both CRC bytes are
    the same value, no decoder per byte). Returns ``(byte, update, final)``."""
    crc_hi, final = Signal(), Signal()
    for kind, row in rows.items():
        with m.If(last_is(kind)):
            m.d.comb += [crc_hi.eq(idx == len(row) - 2), final.eq(idx == len(row) - 1)]
    heads = {k: r[:-P.TRAILER] for k, r in rows.items()}
    crc_byte = next(iter(rows.values()))[-1]            # CRC_HI and CRC_LO alike
    leaves = []
    for i in range(max(len(r) for r in heads.values())):
        here = [(k, Const(r[i], 8) if isinstance(r[i], int) else r[i]) for k, r in heads.items() if i < len(r)]
        value = here[-1][1]
        for k, v in here[-2::-1]:
            if not (isinstance(v, Const) and isinstance(value, Const) and v.value == value.value):
                value = Mux(last_is(k), v, value)
        leaves.append(value)
    for bit in range(len(idx)):                 # past the end: the last value (don't care)
        if len(leaves) == 1:
            break
        if len(leaves) % 2:
            leaves.append(leaves[-1])
        leaves = [a if b is a else Mux(idx[bit], b, a) for a, b in zip(leaves[::2], leaves[1::2])]
    byte = Mux(crc_hi | final, crc_byte, leaves[0])
    return byte, ~final, final


def _field(value, nbytes):
    """``value`` as ``nbytes`` little-endian bytes: each an 8-bit value, or the int 0 past the end
    of an unsigned value (a signed value is sign-extended)."""
    signed = value.shape().signed
    value = value.as_unsigned()
    w = len(value)
    out = []
    for lo in range(0, 8 * nbytes, 8):
        if lo + 8 <= w:
            out.append(value[lo:lo + 8])
        elif lo >= w:
            out.append(value[w - 1].replicate(8) if signed else 0)
        else:
            fill = value[w - 1].replicate(lo + 8 - w) if signed else Const(0, lo + 8 - w)
            out.append(Cat(value[lo:], fill))
    return out
