"""Framer: frame bytes and CRC, ERROR / RESULT / STATUS taking turns, the event latch, the counters."""

import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from ternecg.boards import protocol as P
from ternecg.boards.framer import Framer

LAYOUT = data.StructLayout({"cls": unsigned(1), "logits": data.ArrayLayout(signed(14), 2),
                            "cycles": unsigned(24)})


def run(script, *, cycles=400, tx_ready_every=1):
    """script: {cycle: [(what, value)]} with what in event / status / result. Returns the decoded
    frames in order. A result is offered (with its seq) until taken."""
    dut = Framer(LAYOUT, n_classes=2, parallel=3, model_id=0x12345678)
    out = bytearray()

    async def bench(ctx):
        pending = []
        for cycle in range(cycles):
            for what, value in script.get(cycle, []):
                if what == "result":
                    pending.append(value)
            ctx.set(dut.event.valid, 0)
            ctx.set(dut.status.valid, 0)
            for what, value in script.get(cycle, []):
                if what == "event":
                    ctx.set(dut.event.valid, 1)
                    ctx.set(dut.event.payload, {"code": value[0], "detail": value[1]})
                elif what == "status":
                    ctx.set(dut.status.valid, 1)
                    ctx.set(dut.status.payload, value)
            if pending:
                seq, cls, logits = pending[0]
                ctx.set(dut.results.valid, 1)
                ctx.set(dut.seq.valid, 1)
                ctx.set(dut.seq.payload, seq)
                ctx.set(dut.results.payload, {"cls": cls, "logits": logits, "cycles": 777})
            else:
                ctx.set(dut.results.valid, 0)
                ctx.set(dut.seq.valid, 0)
            ctx.set(dut.tx.ready, cycle % tx_ready_every == 0)
            if ctx.get(dut.tx.valid) and ctx.get(dut.tx.ready):
                out.append(ctx.get(dut.tx.payload))
            if pending and ctx.get(dut.results.ready):
                assert ctx.get(dut.seq.ready)
                pending.pop(0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    d = P.Decoder(accept=P.DEVICE_TYPES, lengths={P.STATUS: P.STATUS_LEN, P.ERROR: P.ERROR_LEN})
    events = d.feed(out)
    assert all(isinstance(e, P.Frame) for e in events), events
    return [e.parse() for e in events]


def test_frames_and_counters():
    frames = run({0: [("status", 0x42)], 60: [("event", (P.E_CRC, P.BEAT))],
                  100: [("result", (7, 1, [-5, 300]))], 200: [("status", 0x43)]})
    assert frames == [P.Status(0x42, 1, 2, 3, 0, 0, 240, 0x12345678), P.Error(P.E_CRC, P.BEAT),
                      P.Result(7, 1, [-5, 300], 777), P.Status(0x43, 1, 2, 3, 1, 1, 240, 0x12345678)]


def test_turns_when_everything_waits():
    """All three kinds waiting at once, and errors arriving all the time: ERROR, RESULT, STATUS in
    turn; an event while an ERROR waits is counted but not reported."""
    flood = {c: [("event", (P.E_VERSION, c & 0xFF))] for c in range(0, 300, 2)}
    flood[1] = [("result", (1, 0, [1, 2])), ("status", 9)]
    flood[3] = [("result", (2, 1, [3, 4]))]
    frames = run(flood, cycles=320)
    kinds = [type(f).__name__ for f in frames]
    assert kinds[:5] == ["Error", "Result", "Status", "Error", "Result"]
    assert [f.seq for f in frames if isinstance(f, P.Result)] == [1, 2]
    status = next(f for f in frames if isinstance(f, P.Status))
    assert status.errors > 2 and len([f for f in frames if isinstance(f, P.Error)]) < 150


def test_status_request_during_its_start_is_kept():
    """A PING whose STATUS request arrives in the cycle the previous STATUS starts still gets one."""
    frames = run({0: [("status", 1)], 1: [("status", 2)]}, cycles=200)
    assert [f.token for f in frames] == [1, 2]


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_classes": 0}, ValueError, "n_classes"), ({"n_classes": 17}, ValueError, "n_classes"),
    ({"parallel": 256}, ValueError, "parallel"), ({"model_id": 1 << 32}, ValueError, "model_id"),
    ({"model_id": "x"}, TypeError, "model_id"),
])
def test_bad_arguments(kwargs, exc, match, no_unused_warning):
    args = {"n_classes": 2, "parallel": 1, "model_id": 0, **kwargs}
    with pytest.raises(exc, match=f"Framer {match}"):
        Framer(LAYOUT, **args)
    with pytest.raises(TypeError, match="result_layout"):
        Framer(unsigned(8), n_classes=2, parallel=1, model_id=0)


def test_frames_read_at_their_start_while_sources_change():
    """The framer copies nothing but what may change while a frame goes out: an ERROR keeps the
    event it started with and a STATUS the error count at its start, while events keep arriving
    (the count crosses a byte boundary mid-frame); a RESULT is taken at its frame's last byte
    (read in place, held by the stream rule). A 100,000-cycle hold of ``tx`` mid-frame (the
    stream rule is checked on ``tx``)."""
    from streams import HOLD_CYCLES
    dut = Framer(LAYOUT, n_classes=2, parallel=3, model_id=0x12345678)
    out = bytearray()
    taken = []

    async def bench(ctx):
        cycle = 0

        async def tick(ready, event=None, status=None):
            nonlocal cycle
            ctx.set(dut.tx.ready, ready)
            ctx.set(dut.event.valid, event is not None)
            if event is not None:
                ctx.set(dut.event.payload, {"code": P.E_VERSION, "detail": event})
            ctx.set(dut.status.valid, status is not None)
            if status is not None:
                ctx.set(dut.status.payload, status)
            if ctx.get(dut.tx.valid) and ready:
                out.append(ctx.get(dut.tx.payload))
            if ctx.get(dut.results.ready):
                taken.append(len(out))
            await ctx.tick()
            cycle += 1

        for k in range(255):                          # the first ERROR starts, tx held: 255 events
            await tick(0, event=k)
        await tick(0, status=0x77)
        for _ in range(3):                            # ERROR (event 0) out, then STATUS starts
            await tick(1)
        ctx.set(dut.tx.ready, 0)                      # a long hold in the middle of the ERROR
        await ctx.delay(HOLD_CYCLES * 1e-6)
        while len(out) < 10:                          # the ERROR, and the STATUS's SOF
            await tick(1)
        ctx.set(dut.results.valid, 1)                 # a result waits during the STATUS
        ctx.set(dut.seq.valid, 1)
        ctx.set(dut.seq.payload, 5)
        ctx.set(dut.results.payload, {"cls": 1, "logits": [-2, 3], "cycles": 99})
        for k in range(60):                           # events during the STATUS: 255 -> 315
            await tick(1, event=200 + k)
        ctx.set(dut.results.valid, 0)
        ctx.set(dut.seq.valid, 0)
        for _ in range(200):
            await tick(1)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    d = P.Decoder(accept=P.DEVICE_TYPES, lengths={P.STATUS: P.STATUS_LEN, P.ERROR: P.ERROR_LEN})
    frames = [e.parse() for e in d.feed(out)]
    assert frames[:2] == [P.Error(P.E_VERSION, 0), P.Status(0x77, 1, 2, 3, 0, 255, 240, 0x12345678)]
    # event 1 came in the cycle the first ERROR started (still waiting then: counted only), event 2
    # latched while it went out
    assert frames[2] == P.Error(P.E_VERSION, 2)
    assert P.Result(5, 1, [-2, 3], 99) in frames
    frame = P.encode(P.RESULT, bytes([5, 1, 2]) + (-2).to_bytes(4, "little", signed=True)
                     + (3).to_bytes(4, "little", signed=True) + (99).to_bytes(4, "little"))
    end = bytes(out).index(frame) + len(frame)
    assert taken == [end]                                # taken with the frame's last byte
