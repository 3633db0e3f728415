"""boards/protocol.py: CRC, encode/decode round trips, resynchronisation after every kind of fault."""

import random

import pytest

from ternecg.boards import protocol as P


def test_crc16_ccitt_false_check_value():
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc16(b"") == 0xFFFF


def test_frame_layout():
    f = P.encode(P.PING, b"\x07")
    assert f[:5] == bytes([0xA5, 1, P.PING, 1, 0]) and f[5] == 7
    crc = P.crc16(f[1:6])
    assert f[6:] == bytes([crc >> 8, crc & 0xFF])
    assert len(P.encode_beat(3, [0] * 240)) == P.HEADER + P.BEAT_LEN + P.TRAILER == 488


def test_beat_round_trip():
    samples = [random.Random(1).randrange(2048) for _ in range(240)]
    frames = P.Decoder(accept=P.HOST_TYPES).feed(P.encode_beat(300, samples))
    assert len(frames) == 1 and isinstance(frames[0], P.Frame)
    assert frames[0].parse() == (300 & 0xFF, samples)


@pytest.mark.parametrize("bad", [[2048] + [0] * 239, [-1] + [0] * 239, [0] * 239])
def test_beat_rejects_bad_samples(bad):
    with pytest.raises(ValueError):
        P.encode_beat(0, bad)


def test_device_frames_round_trip():
    d = P.Decoder()
    stream = (P.encode(P.RESULT, P.result_payload(9, 1, [-5, 1234], 85353))
              + P.encode(P.STATUS, P.status_payload(0x5A, 2, 1, 70000, 3, 0xDEADBEEF))
              + P.encode(P.ERROR, bytes([P.E_CRC, P.BEAT])))
    out = [f.parse() for f in d.feed(stream)]
    assert out[0] == P.Result(9, 1, [-5, 1234], 85353)
    assert out[1] == P.Status(0x5A, P.VERSION, 2, 1, 70000 & 0xFFFF, 3, 240, 0xDEADBEEF)
    assert out[2] == P.Error(P.E_CRC, P.BEAT) and out[2].name == "CRC" and not out[2].info_only


def test_byte_by_byte_equals_bulk():
    stream = P.encode_ping(1) + b"\x00\x11" + P.encode_ping(2)
    a = P.Decoder(accept=P.HOST_TYPES).feed(stream)
    d = P.Decoder(accept=P.HOST_TYPES)
    b = [e for byte in stream for e in d.feed(bytes([byte]))]
    assert a == b
    assert [type(e).__name__ for e in a] == ["Frame", "DecodeError", "Frame"]
    assert a[1] == P.DecodeError(P.E_SYNC, 2)


def _events(data, d=None):
    d = d or P.Decoder(accept=P.HOST_TYPES)
    return d.feed(data)


def test_resync_after_garbage_bad_crc_bad_header():
    good = P.encode_ping(5)
    bad_crc = bytearray(P.encode_ping(6))
    bad_crc[5] ^= 1
    cases = {
        "garbage": (bytes(range(1, 40)), P.E_SYNC),
        "crc": (bytes(bad_crc), P.E_CRC),
        "version": (bytes([P.SOF, 9]), P.E_VERSION),
        "type": (bytes([P.SOF, 1, 0x77]), P.E_TYPE),
        "length": (bytes([P.SOF, 1, P.BEAT, 5, 0]), P.E_LENGTH),
        "device type from host": (P.encode(P.RESULT, P.result_payload(1, 0, [1, 2], 3)), P.E_TYPE),
    }
    for name, (junk, code) in cases.items():
        ev = _events(junk + good)
        errors = [e for e in ev if isinstance(e, P.DecodeError)]
        frames = [e for e in ev if isinstance(e, P.Frame)]
        assert errors and errors[0].code == code, name
        assert frames == [P.Frame(P.PING, b"\x05")], name


def test_truncated_frame_timeout():
    d = P.Decoder(accept=P.HOST_TYPES)
    frame = P.encode_beat(1, [100] * 240)
    assert d.feed(frame[:100]) == []
    assert d.in_frame
    assert d.timeout() == [P.DecodeError(P.E_TIMEOUT, P.BEAT)]
    assert d.feed(frame) == [P.Frame(P.BEAT, frame[5:-2])]


def test_truncated_frame_swallows_next_then_resyncs():
    """A truncated frame eats the next frame's bytes (CRC error); the one after is decoded."""
    f1, f2, f3 = (P.encode_beat(k, [k] * 240) for k in (1, 2, 3))
    ev = _events(f1[:50] + f2 + f3)
    assert ev[0] == P.DecodeError(P.E_CRC, P.BEAT)
    assert [e.parse()[0] for e in ev if isinstance(e, P.Frame)][-1] == 3


def test_random_noise_never_locks_up():
    """Random noise then valid frames: the decoder always recovers once the noise stops."""
    rng = random.Random(0)
    for trial in range(50):
        noise = bytes(rng.choice([P.SOF, 1, 2, 0, 0xFF, rng.randrange(256)]) for _ in range(rng.randrange(600)))
        d = P.Decoder(accept=P.HOST_TYPES)
        d.feed(noise)
        d.timeout()                                   # the sender pauses: the receiver times out
        frames = [e for e in d.feed(P.encode_ping(trial) + P.encode_ping(trial + 1)) if isinstance(e, P.Frame)]
        assert [f.payload[0] for f in frames] == [trial, trial + 1]


def test_parse_rejects_wrong_lengths():
    with pytest.raises(ValueError):
        P.parse(P.RESULT, b"\x00\x00\x02")
    with pytest.raises(ValueError):
        P.parse(P.STATUS, b"\x00")
    with pytest.raises(ValueError):
        P.parse(0x55, b"")


def test_model_id():
    assert P.model_id("deadbeef" + "0" * 56) == 0xDEADBEEF


def test_beat_rr_round_trip_and_bad_codes():
    samples = [(11 * k) % 2048 for k in range(P.WINDOW)]
    frame = P.encode_beat_rr(200, [8, 0, 15], samples, rr_bits=4)
    assert len(frame) == P.HEADER + P.BEAT_RR_LEN + P.TRAILER
    d = P.Decoder(accept=P.HOST_TYPES)
    (f,) = d.feed(frame)
    assert f.type == P.BEAT_RR and f.parse() == (200, [8, 0, 15], samples)
    for codes in ([8, 16, 0], [], [1] * 9, [-1, 0, 0]):
        with pytest.raises(ValueError, match="RR codes"):
            P.encode_beat_rr(1, codes, samples, rr_bits=4)


def test_beat_rr_carries_the_models_codes():
    """A model with the irregularity code reads four codes: its BEAT_RR is one byte longer, and
    a board takes only its own model's length (LENGTH for the other)."""
    samples = [(13 * k) % 2048 for k in range(P.WINDOW)]
    four, three = P.encode_beat_rr(7, [8, 0, 15, 3], samples, 4), P.encode_beat_rr(8, [1, 2, 3], samples, 4)
    assert len(four) == len(three) + 1 == P.HEADER + P.beat_rr_len(4) + P.TRAILER
    assert P.beat_rr_len(4) == 485 and P.beat_rr_len() == P.BEAT_RR_LEN == 484
    board4 = P.board_decoder(rr_bits=4, n_codes=4)
    (f,) = board4.feed(four)
    assert f.parse() == (7, [8, 0, 15, 3], samples)
    assert board4.feed(three) == [P.DecodeError(P.E_LENGTH, P.BEAT_RR)]
    assert P.board_decoder(rr_bits=4).feed(four) == [P.DecodeError(P.E_LENGTH, P.BEAT_RR)]
    for n in (0, 9, 3.0):
        with pytest.raises(ValueError, match="1..8 RR codes"):
            P.beat_rr_len(n)


def test_uart_error_ends_the_frame_with_one_event():
    """A framing error inside a frame is its only event; the next frame is decoded (issue 16 #12)."""
    d = P.board_decoder()
    f1, f2 = P.encode_beat(1, [5] * 240), P.encode_beat(2, [6] * 240)
    assert d.feed(f1[:100]) == []
    assert d.uart_error(P.E_FRAMING) == [P.DecodeError(P.E_FRAMING, 0)]
    assert not d.in_frame
    assert d.feed(f2) == [P.Frame(P.BEAT, f2[5:-2])]
    assert d.timeout() == []                       # nothing pending: no TIMEOUT afterwards
    # hunting: the event, and the bytes discarded around it are still one SYNC at the next SOF
    assert d.feed(b"\x00\x01") == []
    assert d.uart_error(P.E_OVERRUN) == [P.DecodeError(P.E_OVERRUN, 0)]
    assert d.feed(b"\x02" + f1)[0] == P.DecodeError(P.E_SYNC, 3)
    with pytest.raises(ValueError, match="E_FRAMING or E_OVERRUN"):
        d.uart_error(P.E_CRC)


def test_board_decoder_accepts_what_the_board_accepts():
    plain, rr = P.board_decoder(), P.board_decoder(rr_bits=4)
    samples = [7] * 240
    beat, beat_rr = P.encode_beat(1, samples), P.encode_beat_rr(2, [1, 2, 3], samples, 4)
    assert plain.feed(beat)[0].type == P.BEAT
    assert plain.feed(beat_rr) == [P.DecodeError(P.E_TYPE, P.BEAT_RR)]
    assert rr.feed(beat) == [P.DecodeError(P.E_TYPE, P.BEAT)]
    rr.feed(P.encode_ping(0))
    assert rr.feed(beat_rr)[0].type == P.BEAT_RR
    assert P.board_decoder().feed(P.encode(P.PING, b"\x01\x02")) == [P.DecodeError(P.E_LENGTH, P.PING)]
    assert P.board_decoder().feed(P.encode(P.RESULT, b"\x00")) == [P.DecodeError(P.E_TYPE, P.RESULT)]


def test_beat_error_is_range():
    ok = P.Frame(P.BEAT, P.beat_payload(3, [2047] * 240))
    assert P.beat_error(ok) is None
    bad = bytearray(ok.payload)
    bad[1 + 2 * 17 + 1] = 0x08                    # sample 17 = 2048 + ...
    assert P.beat_error(P.Frame(P.BEAT, bytes(bad))) == P.DecodeError(P.E_RANGE, 3)
    body = bytearray(P.beat_rr_payload(9, [15, 0, 3], [0] * 240, 8))
    assert P.beat_error(P.Frame(P.BEAT_RR, bytes(body)), rr_bits=4) is None
    body[2] = 16                                  # code 1 = 16 needs 5 bits
    assert P.beat_error(P.Frame(P.BEAT_RR, bytes(body)), rr_bits=4) == P.DecodeError(P.E_RANGE, 9)
    assert P.beat_error(P.Frame(P.PING, b"\x01")) is None
