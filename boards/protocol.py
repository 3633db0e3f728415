"""The serial link protocol between the host and a board (pure Python; see docs/protocol.md).

Frame (all multi-byte fields little-endian except the CRC)::

    SOF(0xA5)  VER  TYPE  LEN_LO  LEN_HI  PAYLOAD[LEN]  CRC_HI  CRC_LO

The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final
xor) over ``VER .. PAYLOAD``. Every type has exactly one valid length on a board (see :data:`LENGTHS`;
BEAT_RR's is :func:`beat_rr_len` of the board's model: its RR codes, 3 or 4).

Two versions share this framing, CRC and error rules: **version 1** (``VER`` 0x01), the beat
classifier (BEAT / BEAT_RR frames in, RESULT frames out; boards/link.py, boards/host.py), and
**version 2** (``VER`` 0x02), the live monitor (SAMPLES frames of raw samples in, BEAT_EVENT
frames out; boards/monitor_link.py, boards/monitor_host.py). A board speaks one version and
rejects frames of the other with ERROR VERSION.

This module is shared by the hosts, the gateware (which imports the constants) and the tests:
:func:`encode` builds a frame, :class:`Decoder` parses a byte stream with the same
resynchronisation rules as the gateware, :func:`board_decoder`, :func:`beat_error`,
:func:`samples_error` and :class:`SamplesTracker` predict a board's every event.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SOF = 0xA5
VERSION = 1         # the beat classifier's protocol
VERSION_MONITOR = 2  # the live monitor's protocol
VERSIONS = (VERSION, VERSION_MONITOR)
HEADER = 5          # SOF VER TYPE LEN_LO LEN_HI
TRAILER = 2         # CRC_HI CRC_LO

WINDOW = 240        # samples per beat
SAMPLE_MAX = 2047   # 11-bit unsigned raw samples

# frame types: host -> device
BEAT = 0x01
PING = 0x02
BEAT_RR = 0x03      # a beat with its RR codes (a model with an RR path accepts only these)
SAMPLES = 0x04      # version 2: a chunk of raw samples with its running sample index
# device -> host
RESULT = 0x81
STATUS = 0x82
BEAT_EVENT = 0x83   # version 2: one beat of the monitor (R-peak sample, class, logits)
ERROR = 0xE0

HOST_TYPES = (BEAT, PING, BEAT_RR)
DEVICE_TYPES = (RESULT, STATUS, ERROR)
MONITOR_HOST_TYPES = (SAMPLES, PING)
MONITOR_DEVICE_TYPES = (BEAT_EVENT, STATUS, ERROR)
TYPE_NAMES = {BEAT: "BEAT", PING: "PING", BEAT_RR: "BEAT_RR", SAMPLES: "SAMPLES", RESULT: "RESULT",
              STATUS: "STATUS", BEAT_EVENT: "BEAT_EVENT", ERROR: "ERROR"}

BEAT_LEN = 1 + 2 * WINDOW       # seq, 240 x u16
RR_FEATURES = 3                 # RR codes per beat of a model with the three RR features (golden/rr.py)
RR_MAX_CODES = 8                # a BEAT_RR carries the model's RR codes: 1..RR_MAX_CODES of them


def beat_rr_len(n_codes: int = RR_FEATURES) -> int:
    """seq, ``n_codes`` x u8 RR codes (the model's: 3, plus 1 for the template code and 1 for the
    irregularity code), 240 x u16."""
    if not isinstance(n_codes, int) or not 1 <= n_codes <= RR_MAX_CODES:
        raise ValueError(f"a BEAT_RR frame carries 1..{RR_MAX_CODES} RR codes, not {n_codes!r}")
    return 1 + n_codes + 2 * WINDOW


BEAT_RR_LEN = beat_rr_len(RR_FEATURES)          # 484: the three-code models' BEAT_RR
PING_LEN = 1                    # token
STATUS_LEN = 14                 # token ver n_classes parallel beats(2) errors(2) window(2) model_id(4)
ERROR_LEN = 2                   # code detail


def result_len(n_classes: int) -> int:
    """seq, cls, n_classes, n_classes x i32 logits, u32 cycles."""
    return 3 + 4 * n_classes + 4


MAX_CLASSES = 16
LENGTHS = {BEAT: BEAT_LEN, PING: PING_LEN, BEAT_RR: BEAT_RR_LEN, STATUS: STATUS_LEN, ERROR: ERROR_LEN}

# ---- version 2: the live monitor ------------------------------------------------------------
CHUNK = 32                      # sample slots per SAMPLES frame
SAMPLES_HEAD = 6                # index u32, n u8, flags u8
SAMPLES_LEN = SAMPLES_HEAD + 2 * CHUNK          # 70
FLAG_END = 0x01                 # SAMPLES flags: the frame's last used sample ends the record
#: STATUS (version 2): token ver n_classes parallel next(4) beats(4) ended(2) done(2) overruns(2)
#: errors(2) room(2) model_id(4)
STATUS2_LEN = 26
INDEX_MAX = 0xFFFFFFFF          # sample indices are u32 (wrap after 138 days at 360 Hz)
MONITOR_LENGTHS = {SAMPLES: SAMPLES_LEN, PING: PING_LEN, STATUS: STATUS2_LEN, ERROR: ERROR_LEN}


def beat_event_len(n_classes: int) -> int:
    """index u32, cls, n_classes, n_classes x i32 logits."""
    return 6 + 4 * n_classes


def lengths(version: int = VERSION) -> dict:
    """type -> its one valid length in protocol ``version`` (RESULT / BEAT_EVENT: by class count)."""
    if version == VERSION:
        return dict(LENGTHS)
    if version == VERSION_MONITOR:
        return dict(MONITOR_LENGTHS)
    raise ValueError(f"protocol version {version!r}: 1 (beat classifier) or 2 (monitor)")

# error codes (ERROR frame: code, detail)
E_SYNC = 0x01       # bytes discarded while hunting for SOF; detail = count (saturating at 255)
E_VERSION = 0x02    # bad version byte; detail = the byte
E_TYPE = 0x03       # unknown / not accepted frame type; detail = the type
E_LENGTH = 0x04     # length does not match the type; detail = the type
E_CRC = 0x05        # CRC mismatch; detail = the type
E_TIMEOUT = 0x06    # truncated frame (no byte for the inter-byte timeout); detail = type or 0
E_OVERRUN = 0x07    # UART receive overrun (a byte was lost)
E_FRAMING = 0x08    # UART framing error (stop bit low); the byte is dropped
E_BUSY = 0x09       # BEAT dropped: the beat buffer is still in use; detail = seq
E_RANGE = 0x0A      # BEAT dropped: a sample above 2047 or an RR code above 2^rr_bits - 1; detail = seq
#                     (version 2: SAMPLES dropped, a sample above 2047, n not 1..32 or an unknown flag;
#                     detail = the low byte of its index; BUSY likewise)
E_INDEX = 0x0B      # version 2: SAMPLES dropped, its index is not the expected one; detail = INDEX_*
ERROR_NAMES = {E_SYNC: "SYNC", E_VERSION: "VERSION", E_TYPE: "TYPE", E_LENGTH: "LENGTH",
               E_CRC: "CRC", E_TIMEOUT: "TIMEOUT", E_OVERRUN: "OVERRUN", E_FRAMING: "FRAMING",
               E_BUSY: "BUSY", E_RANGE: "RANGE", E_INDEX: "INDEX"}
#: E_INDEX details: the frame starts after the expected index (samples are missing: a frame was
#: lost), or before it (a repeated frame)
INDEX_GAP, INDEX_REPEAT = 1, 2
#: errors that do not mean a frame was lost (informational)
INFO_ERRORS = (E_SYNC,)


def crc16(data, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (check value of b"123456789": 0x29B1)."""
    for byte in bytes(data):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def expected_length(ftype: int, n_classes: int | None = None) -> int | None:
    if ftype == RESULT:
        return None if n_classes is None else result_len(n_classes)
    return LENGTHS.get(ftype)


def encode(ftype: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """One complete frame (``VER`` = ``version``)."""
    payload = bytes(payload)
    if not 0 <= ftype <= 0xFF:
        raise ValueError(f"frame type {ftype} is not a byte")
    if not 0 <= version <= 0xFF:
        raise ValueError(f"version {version} is not a byte")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes is too long (max 65535)")
    body = bytes([version, ftype, len(payload) & 0xFF, len(payload) >> 8]) + payload
    crc = crc16(body)
    return bytes([SOF]) + body + bytes([crc >> 8, crc & 0xFF])


# ---- payloads -------------------------------------------------------------------------------

def beat_payload(seq: int, samples) -> bytes:
    samples = [int(s) for s in samples]
    if len(samples) != WINDOW:
        raise ValueError(f"a beat has {WINDOW} samples, not {len(samples)}")
    bad = [s for s in samples if not 0 <= s <= SAMPLE_MAX]
    if bad:
        raise ValueError(f"beat samples must be 0..{SAMPLE_MAX} (11-bit raw MIT-BIH), got {bad[0]}")
    return bytes([seq & 0xFF]) + struct.pack(f"<{WINDOW}H", *samples)


def encode_beat(seq: int, samples) -> bytes:
    return encode(BEAT, beat_payload(seq, samples))


def beat_rr_payload(seq: int, codes, samples, rr_bits: int = 8) -> bytes:
    """A BEAT_RR payload: ``seq``, the beat's RR codes (as many as the model reads, 1..RR_MAX_CODES,
    each of ``rr_bits`` bits), its 240 samples."""
    codes = [int(c) for c in codes]
    if not 1 <= len(codes) <= RR_MAX_CODES or not all(0 <= c < (1 << rr_bits) for c in codes):
        raise ValueError(f"a beat has 1..{RR_MAX_CODES} RR codes of 0..{(1 << rr_bits) - 1}, got {codes}")
    body = beat_payload(seq, samples)
    return body[:1] + bytes(codes) + body[1:]


def encode_beat_rr(seq: int, codes, samples, rr_bits: int = 8) -> bytes:
    return encode(BEAT_RR, beat_rr_payload(seq, codes, samples, rr_bits))


def encode_ping(token: int = 0, version: int = VERSION) -> bytes:
    return encode(PING, bytes([token & 0xFF]), version)


def samples_payload(index: int, samples, end: bool = False) -> bytes:
    """A SAMPLES payload: ``samples`` (1..CHUNK raw 11-bit samples) starting at sample ``index`` of
    the record; ``end``: the last of them is the record's last sample. Unused slots are 0."""
    samples = [int(s) for s in samples]
    if not 1 <= len(samples) <= CHUNK:
        raise ValueError(f"a SAMPLES frame carries 1..{CHUNK} samples, not {len(samples)}")
    bad = [s for s in samples if not 0 <= s <= SAMPLE_MAX]
    if bad:
        raise ValueError(f"samples must be 0..{SAMPLE_MAX} (11-bit raw MIT-BIH), got {bad[0]}")
    if not 0 <= int(index) <= INDEX_MAX:
        raise ValueError(f"sample index {index} is not a u32")
    return (struct.pack("<IBB", int(index), len(samples), FLAG_END if end else 0)
            + struct.pack(f"<{CHUNK}H", *samples, *([0] * (CHUNK - len(samples)))))


def encode_samples(index: int, samples, end: bool = False) -> bytes:
    return encode(SAMPLES, samples_payload(index, samples, end), VERSION_MONITOR)


@dataclass
class Result:
    seq: int
    cls: int
    logits: list
    cycles: int


@dataclass
class Status:
    token: int
    version: int
    n_classes: int
    parallel: int
    beats: int
    errors: int
    window: int
    model_id: int


@dataclass
class BeatEvent:
    """One beat of the monitor (version 2): R-peak sample index in its record, class, logits."""
    index: int
    cls: int
    logits: list


@dataclass
class MonitorStatus:
    """STATUS of protocol version 2 (docs/protocol.md)."""
    token: int
    version: int
    n_classes: int
    parallel: int
    next: int           # the index the next SAMPLES frame must carry (0 at a record boundary)
    beats: int          # BEAT_EVENT frames sent since reset (wrapping at 2^32)
    ended: int          # SAMPLES frames with END accepted since reset (wrapping at 2^16)
    done: int           # records finished: every BEAT_EVENT of the record sent (wrapping at 2^16)
    overruns: int       # samples that found the monitor's ring full and waited (wrapping at 2^16)
    errors: int         # error events (wrapping at 2^16)
    room: int           # free sample slots in the board's sample buffer
    model_id: int


@dataclass
class SamplesChunk:
    """A parsed SAMPLES payload: the used samples only."""
    index: int
    samples: list
    end: bool
    n: int
    flags: int
    raw: list           # all CHUNK slots as sent


@dataclass
class Error:
    code: int
    detail: int

    @property
    def name(self):
        return ERROR_NAMES.get(self.code, f"0x{self.code:02x}")

    @property
    def info_only(self):
        return self.code in INFO_ERRORS


def result_payload(seq, cls, logits, cycles) -> bytes:
    return bytes([seq & 0xFF, cls & 0xFF, len(logits)]) + struct.pack(
        f"<{len(logits)}iI", *[int(v) for v in logits], int(cycles))


def status_payload(token, n_classes, parallel, beats, errors, model_id, window=WINDOW) -> bytes:
    return struct.pack("<BBBBHHHI", token & 0xFF, VERSION, n_classes, parallel, beats & 0xFFFF,
                       errors & 0xFFFF, window, model_id & 0xFFFFFFFF)


def beat_event_payload(index, cls, logits) -> bytes:
    return struct.pack("<IBB", int(index) & INDEX_MAX, cls & 0xFF, len(logits)) + struct.pack(
        f"<{len(logits)}i", *[int(v) for v in logits])


def monitor_status_payload(token, n_classes, parallel, *, next=0, beats=0, ended=0, done=0, overruns=0,
                           errors=0, room=0, model_id=0) -> bytes:
    return struct.pack("<BBBBIIHHHHHI", token & 0xFF, VERSION_MONITOR, n_classes, parallel, next & INDEX_MAX,
                       beats & 0xFFFFFFFF, ended & 0xFFFF, done & 0xFFFF, overruns & 0xFFFF, errors & 0xFFFF,
                       room & 0xFFFF, model_id & 0xFFFFFFFF)


def model_id(sha256_hex: str) -> int:
    """The 32-bit model id a board reports in STATUS: the first 4 bytes of the model's sha256."""
    return int(sha256_hex[:8], 16)


def parse(ftype: int, payload: bytes, version: int = VERSION):
    """Payload of a frame -> :class:`Result` / :class:`Status` / :class:`Error` (version 1),
    :class:`BeatEvent` / :class:`MonitorStatus` / :class:`SamplesChunk` (version 2), ...

    Raises ValueError for a length that does not fit the type."""
    p = bytes(payload)
    if version == VERSION_MONITOR:
        return _parse_v2(ftype, p)
    if ftype == RESULT:
        if len(p) < 3 or len(p) != result_len(p[2]):
            raise ValueError(f"RESULT payload of {len(p)} bytes")
        n = p[2]
        *logits, cycles = struct.unpack(f"<{n}iI", p[3:])
        return Result(p[0], p[1], list(logits), cycles)
    if ftype == STATUS:
        if len(p) != STATUS_LEN:
            raise ValueError(f"STATUS payload of {len(p)} bytes")
        return Status(*struct.unpack("<BBBBHHHI", p))
    if ftype == ERROR:
        if len(p) != ERROR_LEN:
            raise ValueError(f"ERROR payload of {len(p)} bytes")
        return Error(p[0], p[1])
    if ftype == BEAT:
        if len(p) != BEAT_LEN:
            raise ValueError(f"BEAT payload of {len(p)} bytes")
        return (p[0], list(struct.unpack(f"<{WINDOW}H", p[1:])))
    if ftype == BEAT_RR:
        n_codes = len(p) - BEAT_LEN
        if not 1 <= n_codes <= RR_MAX_CODES:
            raise ValueError(f"BEAT_RR payload of {len(p)} bytes")
        return (p[0], list(p[1:1 + n_codes]), list(struct.unpack(f"<{WINDOW}H", p[1 + n_codes:])))
    if ftype == PING:
        if len(p) != PING_LEN:
            raise ValueError(f"PING payload of {len(p)} bytes")
        return p[0]
    raise ValueError(f"unknown frame type 0x{ftype:02x}")


def _parse_v2(ftype: int, p: bytes):
    if ftype == BEAT_EVENT:
        if len(p) < 6 or len(p) != beat_event_len(p[5]):
            raise ValueError(f"BEAT_EVENT payload of {len(p)} bytes")
        index, cls, n = struct.unpack("<IBB", p[:6])
        return BeatEvent(index, cls, list(struct.unpack(f"<{n}i", p[6:])))
    if ftype == STATUS:
        if len(p) != STATUS2_LEN:
            raise ValueError(f"STATUS payload of {len(p)} bytes (version 2: {STATUS2_LEN})")
        return MonitorStatus(*struct.unpack("<BBBBIIHHHHHI", p))
    if ftype == SAMPLES:
        if len(p) != SAMPLES_LEN:
            raise ValueError(f"SAMPLES payload of {len(p)} bytes")
        index, n, flags = struct.unpack("<IBB", p[:SAMPLES_HEAD])
        raw = list(struct.unpack(f"<{CHUNK}H", p[SAMPLES_HEAD:]))
        return SamplesChunk(index, raw[:n], bool(flags & FLAG_END), n, flags, raw)
    if ftype in (ERROR, PING):
        return parse(ftype, p, VERSION)
    raise ValueError(f"unknown frame type 0x{ftype:02x} in protocol version 2")


# ---- stream decoder -------------------------------------------------------------------------

def board_decoder(rr_bits: int = 0, version: int = VERSION, n_codes: int = RR_FEATURES) -> "Decoder":
    """A :class:`Decoder` with the board's receive rules: it accepts BEAT (or, for a model with an
    RR path, BEAT_RR with the model's ``n_codes`` RR codes) and PING frames, each with its one length. With :func:`beat_error` and
    :meth:`Decoder.uart_error` / :meth:`Decoder.timeout` it predicts every error event of the board
    (boards/deframer.py) except BUSY, which depends on the accelerator's timing.

    ``version=2``: the monitor board's rules (SAMPLES and PING frames of version 2); with a
    :class:`SamplesTracker` for the SAMPLES frames it accepts, every event but BUSY."""
    if version == VERSION_MONITOR:
        return Decoder(accept=MONITOR_HOST_TYPES, lengths={SAMPLES: SAMPLES_LEN, PING: PING_LEN},
                       version=VERSION_MONITOR)
    beat = BEAT_RR if rr_bits else BEAT
    beat_len = beat_rr_len(n_codes) if rr_bits else BEAT_LEN
    return Decoder(accept=(beat, PING), lengths={beat: beat_len, PING: PING_LEN})


def samples_error(frame: "Frame", expected: int) -> "DecodeError | None":
    """What the monitor board does with a SAMPLES frame whose CRC matched, when it expects sample
    index ``expected``: RANGE (a used sample above ``SAMPLE_MAX``, ``n`` not 1..CHUNK, or a flag
    other than END; detail: the low byte of the frame's index), else INDEX (detail
    :data:`INDEX_GAP` / :data:`INDEX_REPEAT`) when the index is not ``expected``, else ``None``
    (accepted). BUSY (no room in the sample buffer) is the one event it cannot predict."""
    c = frame.parse()
    if not 1 <= c.n <= CHUNK or c.flags & ~FLAG_END or any(v > SAMPLE_MAX for v in c.raw[:min(c.n, CHUNK)]):
        return DecodeError(E_RANGE, c.index & 0xFF)
    if c.index != expected:
        ahead = (c.index - expected) & INDEX_MAX
        return DecodeError(E_INDEX, INDEX_GAP if ahead < 1 << 31 else INDEX_REPEAT)
    return None


class SamplesTracker:
    """The monitor board's sample index (docs/protocol.md, version 2): which SAMPLES frames it
    accepts. ``next`` is the index the next frame must carry; :meth:`feed` takes a frame whose
    CRC matched and returns its error (RANGE / INDEX) or ``None`` when it is accepted (then
    ``next`` moves on by its ``n`` samples, or to 0 after END)."""

    def __init__(self):
        self.next = 0
        self.ended = 0

    def feed(self, frame: "Frame") -> "DecodeError | None":
        err = samples_error(frame, self.next)
        if err is None:
            c = frame.parse()
            if c.end:
                self.next = 0
                self.ended += 1
            else:
                self.next = (self.next + c.n) & INDEX_MAX
        return err


def beat_error(frame: "Frame", rr_bits: int = 0) -> "DecodeError | None":
    """RANGE (detail: seq) for a BEAT / BEAT_RR frame with a sample above ``SAMPLE_MAX`` or an RR
    code of ``rr_bits`` or more bits, which the board drops after its CRC; else ``None``."""
    if frame.type == BEAT_RR:
        seq, codes, samples = frame.parse()
        if any(c >> rr_bits for c in codes):
            return DecodeError(E_RANGE, seq)
    elif frame.type == BEAT:
        seq, samples = frame.parse()
    else:
        return None
    if any(v > SAMPLE_MAX for v in samples):
        return DecodeError(E_RANGE, seq)
    return None


@dataclass
class Frame:
    type: int
    payload: bytes
    version: int = VERSION

    def parse(self):
        return parse(self.type, self.payload, self.version)


@dataclass
class DecodeError:
    """A receive-side problem (same codes as the device's ERROR frames)."""
    code: int
    detail: int = 0

    @property
    def name(self):
        return ERROR_NAMES.get(self.code, f"0x{self.code:02x}")


@dataclass
class Decoder:
    """Incremental frame parser with resynchronisation (the gateware's rules).

    ``accept`` is the set of frame types this side accepts (others: E_TYPE); ``lengths`` maps a type
    to its one valid length (a missing entry accepts up to ``max_len``). Bytes outside frames are
    discarded and reported once as E_SYNC (count) when the next SOF arrives or on :meth:`timeout`.
    After a bad header the decoder hunts for the next SOF (the rejected bytes are not rescanned),
    except that a SOF where the version is expected restarts the frame (E_SYNC, 1): a stray SOF
    (e.g. the last byte of a damaged frame) right before a real frame must not cost that frame.
    ``version``: the VER byte this side accepts (others: E_VERSION with the byte as detail).
    """
    accept: tuple = DEVICE_TYPES
    lengths: dict = field(default_factory=lambda: dict(LENGTHS))
    max_len: int = 4096
    version: int = VERSION
    _state: str = "hunt"
    _buf: bytearray = field(default_factory=bytearray)
    _type: int = 0
    _len: int = 0
    _discarded: int = 0

    def reset(self):
        self._state, self._buf = "hunt", bytearray()

    @property
    def in_frame(self):
        return self._state != "hunt"

    def timeout(self):
        """The inter-byte timeout expired: abandon a partial frame. Returns the events."""
        out = []
        if self._state != "hunt":
            out.append(DecodeError(E_TIMEOUT, self._type if len(self._buf) >= 2 else 0))
        elif self._discarded:
            out.append(DecodeError(E_SYNC, min(self._discarded, 255)))
            self._discarded = 0
        self.reset()
        return out

    def uart_error(self, code: int = E_FRAMING) -> list:
        """The UART reported a framing error (``E_FRAMING``: a stop bit was low, the byte is
        dropped) or an overrun (``E_OVERRUN``: a byte was lost). Returns the one event; a frame in
        progress is abandoned without a second event (the receiver hunts for the next SOF), and
        bytes discarded while hunting are still reported as SYNC at the next SOF or timeout."""
        if code not in (E_FRAMING, E_OVERRUN):
            raise ValueError(f"a UART error is E_FRAMING or E_OVERRUN, not {code!r}")
        self._state, self._buf = "hunt", bytearray()
        return [DecodeError(code, 0)]

    def feed(self, data) -> list:
        """Bytes in -> list of :class:`Frame` and :class:`DecodeError`, in order."""
        out = []
        for b in bytes(data):
            st = self._state
            if st == "hunt":
                if b == SOF:
                    if self._discarded:
                        out.append(DecodeError(E_SYNC, min(self._discarded, 255)))
                        self._discarded = 0
                    self._state, self._buf = "header", bytearray()
                else:
                    self._discarded += 1
                continue
            self._buf.append(b)
            if st == "header":
                n = len(self._buf)
                if n == 1 and b == SOF:             # the first SOF was a stray byte: restart
                    out.append(DecodeError(E_SYNC, 1))
                    self._buf = bytearray()
                elif n == 1 and b != self.version:
                    out.append(DecodeError(E_VERSION, b))
                    self.reset()
                elif n == 2:
                    self._type = b
                    if b not in self.accept:
                        out.append(DecodeError(E_TYPE, b))
                        self.reset()
                elif n == 4:
                    self._len = self._buf[2] | (self._buf[3] << 8)
                    want = self.lengths.get(self._type)
                    if (want is not None and self._len != want) or self._len > self.max_len:
                        out.append(DecodeError(E_LENGTH, self._type))
                        self.reset()
                    else:
                        self._state = "body"
            elif st == "body":
                if len(self._buf) == 4 + self._len + TRAILER:
                    body, crc = self._buf[:-2], (self._buf[-2] << 8) | self._buf[-1]
                    if crc16(body) != crc:
                        out.append(DecodeError(E_CRC, self._type))
                    else:
                        out.append(Frame(self._type, bytes(body[4:]), self.version))
                    self.reset()
        return out
