"""The beat window (hw/beat_window.py) in Amaranth's simulator, on a small ring (so that it wraps):
replay in order, windows cut exactly, nothing overwritten before it is read (the lag limit, a
stalled window stream), overruns counted, long holds on both outputs, a reset mid-stream."""

import random

import pytest
from amaranth.sim import Simulator

from streams import add_stream_checker
from ternecg.hw.beat_window import BeatWindow

DEPTH, LENGTH, LATE = 256, 24, 100


def simulate(dut, samples, commands, *, idle=0.0, stall=0.0, seed=0, replay_stall=0.0,
             hold=None, o_hold=0, max_cycles=60_000):
    """Feed ``samples`` (ints; the last one flagged); send window commands (``(after, address)``:
    once ``after`` samples were replayed); return (replayed, windows, stats). ``hold = (start,
    length)``: the replay's ready low then; ``o_hold``: the window output's ready low for that
    many cycles from its first valid."""
    rng = random.Random(seed)
    replayed, windows, cur = [], [], []
    done = {"n": 0}

    async def source(ctx):
        i = 0
        while i < len(samples):
            while rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.samples.valid, 1)
            ctx.set(dut.samples.payload.sample, samples[i])
            ctx.set(dut.samples.payload.last, int(i == len(samples) - 1))
            await ctx.tick().until(dut.samples.ready == 1)
            i += 1
            ctx.set(dut.samples.valid, 0)

    async def replay_sink(ctx):
        cyc = 0
        while len(replayed) < len(samples) and cyc < max_cycles:
            held = hold is not None and hold[0] <= cyc < hold[0] + hold[1]
            ctx.set(dut.replay.ready, int(not held and rng.random() >= replay_stall))
            _, _, v, r, s, last = await ctx.tick().sample(dut.replay.valid, dut.replay.ready,
                                                          dut.replay.payload.sample, dut.replay.payload.last)
            if v and r:
                replayed.append((s, last))
            cyc += 1

    async def commander(ctx):
        for after, address in commands:
            while len(replayed) < after:
                await ctx.tick()
            ctx.set(dut.windows.valid, 1)
            ctx.set(dut.windows.payload, address)
            await ctx.tick().until(dut.windows.ready == 1)
            ctx.set(dut.windows.valid, 0)

    async def window_sink(ctx):
        cyc, first = 0, None
        while len(windows) < len(commands) and cyc < max_cycles:
            held = first is not None and cyc < first + o_hold
            ctx.set(dut.o.ready, int(not held and rng.random() >= stall))
            _, _, v, r, s, last = await ctx.tick().sample(dut.o.valid, dut.o.ready,
                                                          dut.o.payload.sample, dut.o.payload.last)
            if v and first is None:
                first = cyc
            if v and r:
                cur.append(s)
                if last:
                    windows.append(list(cur))
                    cur.clear()
            cyc += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (source, replay_sink, commander, window_sink):
        sim.add_testbench(tb)
    stats = {"o": add_stream_checker(sim, dut.o, "o"), "replay": add_stream_checker(sim, dut.replay, "replay")}
    sim.run()
    return replayed, windows, stats


def signal(n, seed=1):
    rng = random.Random(seed)
    return [rng.randrange(2048) for _ in range(n)]


@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.3, 0.5), (0.0, 0.8)])
def test_replay_and_windows(idle, stall):
    """Three times round the ring: the replay is the input, and each window is the ``LENGTH``
    samples from its address (the latest window: ``LATE`` samples behind the replay)."""
    x = signal(3 * DEPTH + 50)
    cmds = [(LENGTH + 5, 3), (200, 200 - LATE), (400, (400 - LENGTH) % DEPTH), (700, (700 - 60) % DEPTH)]
    dut = BeatWindow(depth=DEPTH, length=LENGTH, max_late=LATE, spram=False)
    replayed, windows, stats = simulate(dut, x, cmds, idle=idle, stall=stall, replay_stall=stall / 2, seed=7)
    assert replayed == [(v, int(i == len(x) - 1)) for i, v in enumerate(x)]
    want = []
    for after, address in cmds:
        start = next(i for i in range(after - LATE - 1, after) if i % DEPTH == address)
        want.append(x[start:start + LENGTH])
    assert windows == want
    if stall:
        assert stats["o"]["pending"] > 0


def test_lag_limit_holds_the_input_and_counts_overruns():
    """The replay consumer holds still for 3,000 cycles: the ring accepts ``lag_limit`` samples
    ahead, then holds the input (nothing is lost: the replay later continues in order); each held
    sample is one overrun; the window output holds its payload through the same stretch."""
    x = signal(600, seed=2)
    dut = BeatWindow(depth=DEPTH, length=LENGTH, max_late=LATE, spram=False)
    replayed, windows, stats = simulate(dut, x, [(10, 2)], hold=(400, 3000), o_hold=3000, seed=1)
    assert dut.lag_limit == 128                 # the power of two up to DEPTH - LATE - 1
    assert replayed == [(v, int(i == len(x) - 1)) for i, v in enumerate(x)]
    assert windows == [x[2:2 + LENGTH]]
    assert stats["replay"]["pending"] > 2500 and stats["o"]["pending"] > 2900


def test_overrun_counter():
    """``overruns`` counts the samples that found ``samples.ready`` low when first offered (back
    to back input, the replay held: the ring fills to its lag limit)."""
    dut = BeatWindow(depth=DEPTH, length=LENGTH, max_late=LATE, spram=False)
    got = {"waited": 0, "accepted": 0}

    async def bench(ctx):
        ctx.set(dut.replay.ready, 0)
        ctx.set(dut.samples.valid, 1)
        fresh = True
        for _ in range(dut.lag_limit + 400):
            _, _, ready = await ctx.tick().sample(dut.samples.ready)
            if fresh and not ready:
                got["waited"] += 1
            fresh = bool(ready)
            got["accepted"] += ready
        got["overruns"] = ctx.get(dut.overruns)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got["accepted"] == dut.lag_limit + 1            # and one in the replay's register
    assert got["overruns"] == got["waited"] >= 1


def test_reset_mid_stream():
    """A reset (ResetInserter on the sync domain) in the middle of the input: the ring starts
    empty, the replay restarts with the first sample after the reset, a window stream ends."""
    from amaranth.hdl import Module, ResetInserter, Signal

    dut = BeatWindow(depth=DEPTH, length=LENGTH, max_late=LATE, spram=False)
    rst = Signal()
    top = Module()
    top.submodules.dut = ResetInserter(rst)(dut)
    got = []

    async def bench(ctx):
        ctx.set(dut.replay.ready, 1)
        ctx.set(dut.o.ready, 0)
        for phase, base in ((0, 100), (1, 1000)):
            for i in range(40):
                ctx.set(dut.samples.valid, 1)
                ctx.set(dut.samples.payload.sample, base + i)
                await ctx.tick().until(dut.samples.ready == 1)
            ctx.set(dut.samples.valid, 0)
            if phase == 0:
                ctx.set(dut.windows.valid, 1)
                ctx.set(dut.windows.payload, 0)
                await ctx.tick().until(dut.windows.ready == 1)
                ctx.set(dut.windows.valid, 0)
                await ctx.tick().repeat(5)
                ctx.set(rst, 1)
                await ctx.tick()
                ctx.set(rst, 0)
                got.clear()
            for _ in range(200):
                _, _, v, s, ov = await ctx.tick().sample(dut.replay.valid, dut.replay.payload.sample, dut.o.valid)
                if v:
                    got.append(s)
                if phase:
                    assert not ov

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == list(range(1000, 1040))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(depth=1000), ValueError, "power of two"),
    (dict(depth=256, length=200), ValueError, "length"),
    (dict(depth=256, length=24, max_late=300), ValueError, "ring"),
    (dict(depth=2048, spram="yes"), TypeError, "spram"),
    (dict(depth=2.5), TypeError, "depth"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        BeatWindow(**kwargs)
