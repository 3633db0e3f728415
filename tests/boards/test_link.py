"""boards/link.py in Amaranth's simulator at the byte level, with a stub accelerator: every frame
type, every fault of docs/protocol.md, and UART RX/TX bit-level loopback."""

import pytest
from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, connect
from amaranth.sim import Simulator

from ternecg.boards import protocol as P
from ternecg.boards.link import Link
from ternecg.boards.uart import UARTRx, UARTTx, divisor_for
from ternecg.errors import TernEcgError
from ternecg.hw.normalizer import sample_layout

LAYOUT = data.StructLayout({"cls": unsigned(1), "logits": data.ArrayLayout(signed(14), 2),
                            "cycles": unsigned(24)})
TIMEOUT = 300


class StubAccel(wiring.Component):
    """Sums a beat's 240 samples: cls = sum & 1, logits = [sum, -sum], cycles = 1234 (0 if
    ``last`` was not set on the 240th sample alone)."""
    i: In(stream.Signature(sample_layout(11)))
    o: Out(stream.Signature(LAYOUT))

    def elaborate(self, platform):
        m = Module()
        acc = Signal(20)
        n = Signal(range(241))
        bad = Signal()
        with m.If(n < 240):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [acc.eq(acc + self.i.payload.sample), n.eq(n + 1)]
                with m.If(self.i.payload.last != (n == 239)):
                    m.d.sync += bad.eq(1)
        with m.Else():
            m.d.comb += [self.o.valid.eq(1), self.o.payload.cls.eq(acc[0]),
                         self.o.payload.logits[0].eq(acc[:13]), self.o.payload.logits[1].eq(-acc[:13]),
                         self.o.payload.cycles.eq(Mux(bad, 0, 1234))]
            with m.If(self.o.ready):
                m.d.sync += [acc.eq(0), n.eq(0), bad.eq(0)]
        return m


class Harness(wiring.Component):
    rx: In(stream.Signature(unsigned(8)))
    tx: Out(stream.Signature(unsigned(8)))
    framing: In(1)
    overrun: In(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = Link(LAYOUT, 2, parallel=1, model_id=0xCAFEF00D, timeout_cycles=TIMEOUT)
        m.submodules.acc = acc = StubAccel()
        m.d.comb += [link.uart_framing.eq(self.framing), link.uart_overrun.eq(self.overrun)]
        connect(m, wiring.flipped(self.rx), link.rx)
        connect(m, link.tx, wiring.flipped(self.tx))
        connect(m, link.samples, acc.i)
        connect(m, acc.o, link.results)
        return m


FRAMING, OVERRUN = "framing", "overrun"


def run_link(chunks, tail=3000, frames=False, harness=None):
    """chunks: bytes (sent one byte every 2 cycles), int (idle cycles) or FRAMING / OVERRUN (a
    one-cycle UART error pulse). Returns the decoded events (with ``frames``: (events, the frames
    with their first byte's cycle, the cycle the chunks ended)). ``harness``: a ready component
    in place of :class:`Harness`."""
    dut = harness if harness is not None else Harness()
    out = []
    end = []

    async def collect(ctx):
        cycle = 0
        async for _clk, _rst, valid, payload in ctx.tick().sample(dut.tx.valid, dut.tx.payload):
            if valid:
                out.append((cycle, payload))
            cycle += 1

    async def bench(ctx):
        ctx.set(dut.tx.ready, 1)
        cycle = 0
        for chunk in chunks:
            if isinstance(chunk, int):
                await ctx.tick().repeat(chunk)
                cycle += chunk
                continue
            if chunk in (FRAMING, OVERRUN):
                ctx.set(getattr(dut, chunk), 1)
                await ctx.tick()
                ctx.set(getattr(dut, chunk), 0)
                await ctx.tick()
                cycle += 2
                continue
            for byte in chunk:
                ctx.set(dut.rx.valid, 1)
                ctx.set(dut.rx.payload, byte)
                await ctx.tick()
                ctx.set(dut.rx.valid, 0)
                await ctx.tick()
                cycle += 2
        end.append(cycle)
        await ctx.tick().repeat(tail)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(collect)
    sim.add_testbench(bench)
    sim.run()
    d = P.Decoder(accept=P.DEVICE_TYPES, lengths={P.STATUS: P.STATUS_LEN, P.ERROR: P.ERROR_LEN})
    events, starts, count = [], [], 0
    for cycle, byte in out:
        if not d.in_frame:
            start = cycle
        got = d.feed(bytes([byte]))
        events += got
        starts += [start] * len(got)
    assert not [e for e in events if isinstance(e, P.DecodeError)], events
    parsed = [e.parse() for e in events]
    return (parsed, starts, end[0]) if frames else parsed


def beat(seq, value=3):
    samples = [(value * k) % 2048 for k in range(240)]
    return P.encode_beat(seq, samples), sum(samples)


def result(seq, s):
    return P.Result(seq, s & 1, [P_sext(s & 0x1FFF), P_sext(-(s & 0x1FFF) & 0x3FFF)], 1234)


def P_sext(v, w=14):
    return v - (1 << w) if v >> (w - 1) else v


def test_ping_status_and_beats():
    f1, s1 = beat(7, 3)
    f2, s2 = beat(8, 5)
    ev = run_link([P.encode_ping(0x42), f1, 400, f2, 400, P.encode_ping(1)])
    assert ev[0] == P.Status(0x42, 1, 2, 1, 0, 0, 240, 0xCAFEF00D)
    assert ev[1:3] == [result(7, s1), result(8, s2)]
    assert ev[3] == P.Status(1, 1, 2, 1, 2, 0, 240, 0xCAFEF00D)


def test_faults_give_one_error_and_resync():
    f1, s1 = beat(1, 3)
    f2, s2 = beat(2, 7)
    bad = bytearray(f2)
    bad[300] ^= 4
    rng = bytes([P.SOF, 1, P.BEAT, 0xE1, 0x01, 5]) + bytes([0, 0x08] + [0, 0] * 239)   # sample 2048
    rng = rng + P.crc16(rng[1:]).to_bytes(2, "big")
    ev = run_link([b"\x00\x13garbage", f1, 400,             # SYNC then result
                   bytes(bad), 200,                         # CRC, no result
                   f2[:60], TIMEOUT + 50,                   # TIMEOUT
                   bytes([P.SOF, 9]), bytes([P.SOF, 1, 0x55]), bytes([P.SOF, 1, P.PING, 2, 0]),
                   50, bytes([P.SOF]), f2, 400,             # stray SOF right before a frame
                   rng, 100])
    errors = [e for e in ev if isinstance(e, P.Error)]
    results = [e for e in ev if isinstance(e, P.Result)]
    assert results == [result(1, s1), result(2, s2)]
    assert [(e.name, e.detail) for e in errors] == [
        ("SYNC", 9), ("CRC", P.BEAT), ("TIMEOUT", P.BEAT), ("VERSION", 9), ("TYPE", 0x55),
        ("LENGTH", P.PING), ("SYNC", 1), ("RANGE", 5)]


def test_busy_when_beat_buffer_in_use():
    """A second BEAT straight after the first while the stub still holds the first result: the
    buffer drains into the stub only after the first result is taken, so a third is BUSY."""
    frames = [beat(k, k + 1) for k in range(3)]
    ev = run_link([frames[0][0], frames[1][0], frames[2][0]])
    assert [e for e in ev if isinstance(e, P.Result)][0] == result(0, frames[0][1])
    # every BEAT got exactly one answer: a RESULT or a BUSY error with its seq
    answered = sorted([e.seq for e in ev if isinstance(e, P.Result)]
                      + [e.detail for e in ev if isinstance(e, P.Error) and e.name == "BUSY"])
    assert answered == [0, 1, 2]


def test_uart_loopback_and_errors():
    """UARTTx -> UARTRx at divisor 5 (bytes arrive intact); a stop bit low gives `framing`."""
    m = Module()
    m.submodules.tx = tx = UARTTx(5)
    m.submodules.rx = rx = UARTRx(5)
    line = Signal(init=1)
    force_low = Signal()
    m.d.comb += rx.rx.eq(tx.tx & ~force_low)
    got, framing = [], []
    data_in = [0x00, 0xFF, 0xA5, 0x5A, 0x01, 0x80]

    async def bench(ctx):
        ctx.set(rx.o.ready, 1)
        for byte in data_in:
            ctx.set(tx.i.valid, 1)
            ctx.set(tx.i.payload, byte)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
            for _ in range(60):
                if ctx.get(rx.o.valid):
                    got.append(ctx.get(rx.o.payload))
                await ctx.tick()
        ctx.set(force_low, 1)                     # a break: framing error, then recovery
        for _ in range(120):
            if ctx.get(rx.framing):
                framing.append(1)
            await ctx.tick()
        ctx.set(force_low, 0)
        for _ in range(20):
            await ctx.tick()
        ctx.set(tx.i.valid, 1)
        ctx.set(tx.i.payload, 0x3C)
        await ctx.tick().until(tx.i.ready)
        ctx.set(tx.i.valid, 0)
        for _ in range(60):
            if ctx.get(rx.o.valid):
                got.append(ctx.get(rx.o.payload))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == data_in + [0x3C]
    assert framing


@pytest.mark.parametrize("clk,baud,div", [(12e6, 115200, 104), (25e6, 115200, 217), (12e6, 1_000_000, 12)])
def test_divisor(clk, baud, div):
    assert divisor_for(clk, baud) == div


def test_divisor_errors(no_unused_warning):
    with pytest.raises(TernEcgError, match="too fast"):
        divisor_for(12e6, 6_000_000)
    with pytest.raises(TernEcgError, match="cannot be made"):
        divisor_for(12e6, 1_400_000)
    for bad in (0, -9600, 115200.0, float("nan"), True):
        with pytest.raises(TernEcgError, match="baud rate must be a positive integer"):
            divisor_for(12e6, bad)
    with pytest.raises(ValueError, match="UARTRx divisor .* must be an integer >= 4, not 2"):
        UARTRx(2)
    with pytest.raises(TypeError, match="UARTTx divisor"):
        UARTTx(8.0)
    with pytest.raises(ValueError, match="Link inflight"):
        Link(LAYOUT, 2, inflight=0)
    with pytest.raises(ValueError, match="Framer n_classes must be an integer in 1..16, not 17"):
        Link(LAYOUT, 17)


# ---- a link for a model with an RR path: BEAT_RR frames, codes on ``rr`` before the samples ----

class StubAccelRR(wiring.Component):
    """Like StubAccel, but first takes one word of ``width`` bits of RR codes: logits = [sum, codes]."""

    def __init__(self, width):
        self.width = width
        super().__init__({"i": In(stream.Signature(sample_layout(11))), "o": Out(stream.Signature(LAYOUT)),
                          "rr": In(stream.Signature(unsigned(width)))})

    def elaborate(self, platform):
        m = Module()
        acc = Signal(20)
        codes = Signal(self.width)
        have = Signal()
        n = Signal(range(241))
        m.d.comb += self.rr.ready.eq(~have)
        with m.If(self.rr.valid & ~have):
            m.d.sync += [codes.eq(self.rr.payload), have.eq(1)]
        with m.If(n < 240):
            m.d.comb += self.i.ready.eq(have)       # samples only after the beat's codes
            with m.If(self.i.valid & have):
                m.d.sync += [acc.eq(acc + self.i.payload.sample), n.eq(n + 1)]
        with m.Else():
            m.d.comb += [self.o.valid.eq(1), self.o.payload.cls.eq(acc[0]),
                         self.o.payload.logits[0].eq(acc[:13]), self.o.payload.logits[1].eq(codes),
                         self.o.payload.cycles.eq(1234)]
            with m.If(self.o.ready):
                m.d.sync += [acc.eq(0), n.eq(0), have.eq(0)]
        return m


class HarnessRR(Harness):
    """Harness of a link with ``n_codes`` RR codes of ``rr_bits`` bits per BEAT_RR."""

    def __init__(self, n_codes, rr_bits):
        self.n_codes, self.rr_bits = n_codes, rr_bits
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = Link(LAYOUT, 2, parallel=1, model_id=0xCAFEF00D, timeout_cycles=TIMEOUT,
                                        rr_bits=self.rr_bits, n_codes=self.n_codes)
        m.submodules.acc = acc = StubAccelRR(self.n_codes * self.rr_bits)
        connect(m, wiring.flipped(self.rx), link.rx)
        connect(m, link.tx, wiring.flipped(self.tx))
        connect(m, link.samples, acc.i)
        connect(m, link.rr, acc.rr)
        connect(m, acc.o, link.results)
        return m


@pytest.mark.parametrize("n_codes, rr_bits", [(3, 4), (4, 3), (5, 2)])
def test_rr_beats_carry_their_codes(n_codes, rr_bits):
    """BEAT_RR frames with the model's codes (three; four for a model with the irregularity code:
    the samples' bytes then start at the other parity; five for one with the template code too,
    at 2 bits so that the stub's 14-bit logit holds the codes word): each result carries its own beat's
    codes (handed over before the samples) and the sum of its samples; a plain BEAT is refused
    (TYPE), a BEAT_RR with the other code count (LENGTH), a code above 2^b - 1 drops the beat
    (RANGE)."""
    top = (1 << rr_bits) - 1
    beats = [(k, [(k + 5 * f * (k + 1)) % (top + 1) for f in range(n_codes - 1)] + [top - k % (top + 1)],
              [(5 * k + 7 * t) % 2048 for t in range(240)]) for k in range(4)]
    frames = [P.encode_beat_rr(seq, codes, samples, rr_bits) for seq, codes, samples in beats]
    bad_code = P.encode_beat_rr(9, [1, top + 1] + [2] * (n_codes - 2), beats[0][2])
    other = P.encode_beat_rr(8, [1] * (7 - n_codes), beats[0][2], rr_bits)
    ev = run_link([frames[0], 400, frames[1], 400, beat(5)[0], 100, bad_code, 100, frames[2], 400,
                   other, 100, frames[3], 400], harness=HarnessRR(n_codes, rr_bits))
    results = [e for e in ev if isinstance(e, P.Result)]
    errors = [(e.name, e.detail) for e in ev if isinstance(e, P.Error)]
    want = []
    for seq, codes, samples in beats:
        word = sum(c << (rr_bits * f) for f, c in enumerate(codes))
        want.append(P.Result(seq, sum(samples) & 1, [P_sext(sum(samples) & 0x1FFF), word], 1234))
    assert results == want
    # the refused frames' remaining bytes are hunted through (SYNC, and VERSION at a stray SOF)
    assert errors[0] == ("TYPE", P.BEAT)
    assert errors.index(("RANGE", 9)) < errors.index(("LENGTH", P.BEAT_RR))
    assert {name for name, _ in errors} <= {"TYPE", "RANGE", "LENGTH", "SYNC", "VERSION"}
    assert P.beat_rr_len(n_codes) == 481 + n_codes


# ---- UART errors and the turn order of the transmitter (issue 16 item 12) ----------------------

def test_framing_error_ends_the_frame_with_one_event():
    """A framing error inside a frame: one FRAMING event, no TIMEOUT or CRC for that frame, and the
    next frame, arriving well within the timeout, is received (its beat gets its result)."""
    f1, s1 = beat(1, 3)
    f2, s2 = beat(2, 5)
    ev = run_link([f1[:200], FRAMING, 20, f2, 400, f1[:7], OVERRUN, P.encode_ping(4), 100])
    errors = [(e.name, e.detail) for e in ev if isinstance(e, P.Error)]
    assert errors == [("FRAMING", 0), ("OVERRUN", 0)]
    assert [e for e in ev if isinstance(e, P.Result)] == [result(2, s2)]
    assert ev[-1] == P.Status(4, 1, 2, 1, 1, 2, 240, 0xCAFEF00D)      # 2 events counted


def test_framing_error_while_hunting():
    """Outside a frame: one FRAMING event; the bytes discarded before it are still one SYNC."""
    f1, s1 = beat(1, 3)
    ev = run_link([b"\x00\x01\x02", FRAMING, b"\x03", f1, 400])
    errors = [(e.name, e.detail) for e in ev if isinstance(e, P.Error)]
    assert errors == [("FRAMING", 0), ("SYNC", 4)]
    assert [e for e in ev if isinstance(e, P.Result)] == [result(1, s1)]


def test_result_and_status_not_held_back_by_a_flood_of_bad_bytes():
    """While bad headers raise an ERROR after another, a waiting RESULT and a PING's STATUS still go
    out (ERROR, RESULT and STATUS take turns), long before the flood ends."""
    f1, s1 = beat(1, 3)
    flood = bytes([P.SOF, 9] * 600)                    # a VERSION error every 2 bytes
    ev, starts, end = run_link([f1, flood[:200], P.encode_ping(7), flood], frames=True)
    kinds = [type(e).__name__ for e in ev]
    i_res, i_status = kinds.index("Result"), kinds.index("Status")
    assert ev[i_res] == result(1, s1) and ev[i_status].token == 7
    assert starts[i_res] < end - 1000 and starts[i_status] < end - 1000
    assert "Error" in kinds[:i_res] and "Error" in kinds[i_res + 1:]   # ... during the flood
