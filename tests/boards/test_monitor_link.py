"""boards/monitor_link.py (protocol version 2) in Amaranth's simulator at the byte level, with a
stub monitor: SAMPLES frames in order, END, lost / repeated / damaged / out-of-range frames,
BUSY when the sample buffer is full, v1 frames refused, STATUS counters; and a random stream of
good and damaged frames whose every event boards/protocol.py predicts (SamplesTracker)."""

import random

import pytest
from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect
from amaranth.sim import Simulator

from ternecg.boards import protocol as P
from ternecg.boards.monitor_link import FIFO_DEPTH, MonitorLink
from ternecg.hw.beat_window import SAMPLE_LAYOUT

BEAT = data.StructLayout({"index": unsigned(32), "cls": unsigned(2), "logits": data.ArrayLayout(signed(20), 3)})
TIMEOUT = 400
MODEL_ID = 0x12345678


class StubMonitor(wiring.Component):
    """Takes samples (``ready`` follows ``hold``: low while set) and emits a beat for every 16th
    sample of a record and for its last: ``{index: i, cls: sample & 3, logits: [sample, -i,
    record]}``; pulses ``done`` after a record's last beat was taken; counts beats."""
    samples: In(stream.Signature(SAMPLE_LAYOUT))
    beats: Out(stream.Signature(BEAT))
    count: Out(32)
    done: Out(1)
    hold: In(1)

    def elaborate(self, platform):
        m = Module()
        i = Signal(32)
        record = Signal(8)
        full = Signal()
        was_last = Signal()
        m.d.comb += self.samples.ready.eq(~full & ~self.hold)
        with m.If(self.samples.valid & self.samples.ready):
            s = self.samples.payload
            m.d.sync += i.eq(i + 1)
            with m.If(s.last):
                m.d.sync += [i.eq(0), record.eq(record + 1)]
            with m.If(s.last | (i[:4] == 15)):
                m.d.sync += [full.eq(1), was_last.eq(s.last), self.beats.payload.index.eq(i),
                             self.beats.payload.cls.eq(s.sample[:2]),
                             self.beats.payload.logits[0].eq(s.sample),
                             self.beats.payload.logits[1].eq(-i[:16]),
                             self.beats.payload.logits[2].eq(record)]
        m.d.comb += self.beats.valid.eq(full)
        with m.If(self.beats.valid & self.beats.ready):
            m.d.sync += [full.eq(0), self.count.eq(self.count + 1)]
            m.d.comb += self.done.eq(was_last)
        return m


def stub_beats(records, unfinished=()):
    """The stub's beats for the records' samples (each a list), then an unfinished record's."""
    out = []
    for r, x in enumerate([*records, list(unfinished)]):
        for i, v in enumerate(x):
            if i % 16 == 15 or (r < len(records) and i == len(x) - 1):
                out.append(P.BeatEvent(i, v & 3, [v, -i, r]))
    return out


class Harness(wiring.Component):
    rx: In(stream.Signature(unsigned(8)))
    tx: Out(stream.Signature(unsigned(8)))
    framing: In(1)
    overrun: In(1)
    hold: In(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = MonitorLink(BEAT, n_classes=3, parallel=2, timeout_cycles=TIMEOUT)
        m.submodules.mon = mon = StubMonitor()
        m.d.comb += [link.uart_framing.eq(self.framing), link.uart_overrun.eq(self.overrun),
                     link.model_id.eq(MODEL_ID), link.monitor_beats.eq(mon.count), link.overruns.eq(7),
                     link.record_done.eq(mon.done), mon.hold.eq(self.hold)]
        connect(m, wiring.flipped(self.rx), link.rx)
        connect(m, link.tx, wiring.flipped(self.tx))
        connect(m, link.samples, mon.samples)
        connect(m, mon.beats, link.beats)
        return m


HOLD, RELEASE = "hold", "release"


def run_link(chunks, tail=3000):
    """chunks: bytes (one byte every 2 cycles), int (idle cycles), HOLD / RELEASE (the stub's
    ready). Returns the decoded device frames (version 2)."""
    dut = Harness()
    out = []

    async def collect(ctx):
        async for _clk, _rst, valid, payload in ctx.tick().sample(dut.tx.valid, dut.tx.payload):
            if valid:
                out.append(payload)

    async def bench(ctx):
        ctx.set(dut.tx.ready, 1)
        for chunk in chunks:
            if isinstance(chunk, int):
                await ctx.tick().repeat(chunk)
            elif chunk in (HOLD, RELEASE):
                ctx.set(dut.hold, chunk == HOLD)
            else:
                for byte in chunk:
                    ctx.set(dut.rx.valid, 1)
                    ctx.set(dut.rx.payload, byte)
                    await ctx.tick()
                    ctx.set(dut.rx.valid, 0)
                    await ctx.tick()
        await ctx.tick().repeat(tail)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(collect)
    sim.add_testbench(bench)
    sim.run()
    d = P.Decoder(accept=P.MONITOR_DEVICE_TYPES, lengths={P.STATUS: P.STATUS2_LEN, P.ERROR: P.ERROR_LEN},
                  version=P.VERSION_MONITOR)
    events = d.feed(bytes(out))
    assert not [e for e in events if isinstance(e, P.DecodeError)], events
    return [e.parse() for e in events]


def frames_of(x, start=0, end=True, n=P.CHUNK):
    """SAMPLES frames of the samples ``x`` from index ``start`` (END on the last one)."""
    out = []
    for k in range(0, len(x), n):
        part = x[k:k + n]
        out.append(P.encode_samples(start + k, part, end=end and k + n >= len(x)))
    return out


def ping(token):
    return P.encode_ping(token, P.VERSION_MONITOR)


def status(ev):
    return [e for e in ev if isinstance(e, P.MonitorStatus)]


def test_status_samples_in_order_and_end():
    rng = random.Random(1)
    a = [rng.randrange(2048) for _ in range(100)]          # 4 frames, the last one 4 samples
    b = [rng.randrange(2048) for _ in range(40)]
    ev = run_link([ping(0x42), 200, *frames_of(a[:64], end=False), ping(1), 300, *frames_of(a[64:], 64),
                   ping(2), 600, *frames_of(b), 600, ping(3)])
    st = status(ev)
    assert st[0] == P.MonitorStatus(0x42, 2, 3, 2, 0, 0, 0, 0, 7, 0, FIFO_DEPTH, MODEL_ID)
    assert (st[1].token, st[1].next, st[1].ended, st[1].done) == (1, 64, 0, 0)
    assert (st[2].next, st[2].ended, st[2].done) == (0, 1, 1)
    beats = [e for e in ev if isinstance(e, P.BeatEvent)]
    assert beats == stub_beats([a, b])
    assert (st[3].next, st[3].ended, st[3].done, st[3].beats, st[3].errors) == (0, 2, 2, len(beats), 0)
    assert not [e for e in ev if isinstance(e, P.Error)]


def test_lost_and_repeated_frames_are_reported_not_merged():
    x = list(range(1, 161))                                  # 5 frames
    f = frames_of(x)
    ev = run_link([f[0], f[2], ping(1), 300,                   # f[1] lost: f[2] is a gap
                   f[1], f[1], ping(2), 300,                   # then f[1] twice: a repeat
                   f[2], f[3], f[4], 800, ping(3)])
    errors = [(e.name, e.detail) for e in ev if isinstance(e, P.Error)]
    assert errors == [("INDEX", P.INDEX_GAP), ("INDEX", P.INDEX_REPEAT)]
    st = status(ev)
    assert [s.next for s in st] == [32, 64, 0] and st[-1].errors == 2 and st[-1].done == 1
    assert [e for e in ev if isinstance(e, P.BeatEvent)] == stub_beats([x])


def test_damaged_and_out_of_range_frames_are_dropped():
    x = [5] * 64
    good = frames_of(x)
    bad_crc = bytearray(good[0])
    bad_crc[40] ^= 1
    big = bytearray(P.encode_samples(0, [2047] * 32))
    body = bytearray(big[1:-2])
    body[4 + P.SAMPLES_HEAD + 2 * 7 + 1] = 0x08               # sample 7 = 2048
    rng = bytes([P.SOF]) + bytes(body) + P.crc16(body).to_bytes(2, "big")

    def with_head(n, flags):
        payload = bytearray(P.samples_payload(0, [1] * 32))
        payload[4], payload[5] = n, flags
        return P.encode(P.SAMPLES, bytes(payload), P.VERSION_MONITOR)
    # a sample above 2047 in an unused slot is ignored
    unused = bytearray(P.samples_payload(0, [3] * 4, end=False))
    unused[P.SAMPLES_HEAD + 2 * 10 + 1] = 0xFF
    ev = run_link([bytes(bad_crc), rng, with_head(0, 0), with_head(33, 0), with_head(4, 2), 100,
                   P.encode_ping(9), P.encode(P.BEAT, bytes(P.BEAT_LEN)), 100,    # version 1 frames
                   good[0][:30], TIMEOUT + 50,                                  # truncated
                   P.encode(P.SAMPLES, bytes(unused), P.VERSION_MONITOR), 300, ping(4), 300])
    errors = [(e.name, e.detail) for e in ev if isinstance(e, P.Error)]
    assert errors == [("CRC", P.SAMPLES), ("RANGE", 0), ("RANGE", 0), ("RANGE", 0), ("RANGE", 0),
                      ("VERSION", 1), ("SYNC", 6), ("VERSION", 1), ("SYNC", 255), ("TIMEOUT", P.SAMPLES)]
    assert status(ev)[-1].next == 4


def test_busy_when_the_sample_buffer_is_full():
    """The stub takes nothing: 8 frames fill the 256-sample buffer, the 9th is BUSY; STATUS room
    says so; after release every sample arrives."""
    x = [k % 2048 for k in range(9 * 32)]
    f = frames_of(x)
    ev = run_link([HOLD, *f[:8], ping(1), 300, f[8], ping(2), 300, RELEASE, 2000, ping(3), 200, f[8], 1500])
    st = status(ev)
    # (the first sample waits in the buffer's output register: one slot is free)
    assert (st[0].room, st[0].next) == (1, 256) and st[1].next == 256
    assert [(e.name, e.detail) for e in ev if isinstance(e, P.Error)] == [("BUSY", 0)]
    assert st[2].room == FIFO_DEPTH
    assert [e for e in ev if isinstance(e, P.BeatEvent)] == stub_beats([x])


@pytest.mark.parametrize("seed", [1, 2])
def test_random_frames_events_as_predicted(seed):
    """Good, lost, repeated, corrupted, truncated and out-of-range SAMPLES frames at random: every
    ERROR is the one boards/protocol.py predicts (board_decoder + SamplesTracker), in order, and
    the stub receives exactly the accepted samples."""
    rng = random.Random(seed)
    sent, want_errors, accepted_records = [], [], [[]]
    tracker = P.SamplesTracker()
    decoder = P.board_decoder(version=P.VERSION_MONITOR)
    index = 0
    for _ in range(40):
        kind = rng.choice(["good"] * 5 + ["lost", "repeat", "crc", "range", "truncated", "end"])
        n = rng.randrange(1, P.CHUNK + 1)
        samples = [rng.randrange(2048) for _ in range(n)]
        frame = P.encode_samples(index, samples, end=kind == "end")
        if kind == "lost":
            index += n
            continue
        if kind == "repeat" and index >= n:
            frame = P.encode_samples(index - n, samples)
        if kind == "crc":
            frame = bytearray(frame)
            frame[rng.randrange(5, len(frame) - 2)] ^= 1 << rng.randrange(8)
            frame = bytes(frame)
        if kind == "range":
            payload = bytearray(P.samples_payload(index, samples))
            k = rng.randrange(n)
            payload[P.SAMPLES_HEAD + 2 * k + 1] |= 0x08
            frame = P.encode(P.SAMPLES, bytes(payload), P.VERSION_MONITOR)
        if kind == "truncated":
            frame = frame[:rng.randrange(2, len(frame) - 1)]
            sent += [frame, TIMEOUT + 40]
            want_errors += decoder.feed(frame) + decoder.timeout()
            continue
        sent += [frame, 20]
        for ev in decoder.feed(frame):
            if isinstance(ev, P.Frame):
                err = tracker.feed(ev)
                if err is None:
                    c = ev.parse()
                    accepted_records[-1] += c.samples
                    if c.end:
                        accepted_records.append([])
                else:
                    want_errors.append(err)
            else:
                want_errors.append(ev)
        if kind in ("good", "end"):
            index = 0 if kind == "end" else index + n
    ev = run_link([*sent, 300, ping(7), 300], tail=4000)
    got = [(e.code, e.detail) for e in ev if isinstance(e, P.Error)]
    assert got == [(e.code, e.detail) for e in want_errors]
    assert status(ev)[-1].next == tracker.next and status(ev)[-1].errors == len(want_errors)
    beats = [e for e in ev if isinstance(e, P.BeatEvent)]
    assert beats == stub_beats(accepted_records[:-1], accepted_records[-1])
