"""The input ring (hw/sample_ring.py) in Amaranth's simulator, on a small ring (so that it wraps):
the replay is the input in order under idle input and back-pressure, a stalled replay fills the
ring and holds the input (nothing lost, each held sample one overrun), a 3,000-cycle hold keeps
the payload, a reset mid-stream starts empty."""

import random

import pytest
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.sim import Simulator

from streams import add_stream_checker
from ternecg.hw.sample_ring import SampleRing

DEPTH = 16


def simulate(dut, samples, *, idle=0.0, stall=0.0, seed=0, hold=None, max_cycles=60_000):
    """Feed ``samples`` (the last one flagged); return (replayed, the checker's stats).
    ``hold = (start, length)``: the replay's ready low then."""
    rng = random.Random(seed)
    replayed = []

    async def source(ctx):
        for i, v in enumerate(samples):
            while rng.random() < idle:
                await ctx.tick()
            ctx.set(dut.samples.valid, 1)
            ctx.set(dut.samples.payload.sample, v)
            ctx.set(dut.samples.payload.last, int(i == len(samples) - 1))
            await ctx.tick().until(dut.samples.ready == 1)
            ctx.set(dut.samples.valid, 0)

    async def sink(ctx):
        cyc = 0
        while len(replayed) < len(samples) and cyc < max_cycles:
            held = hold is not None and hold[0] <= cyc < hold[0] + hold[1]
            ctx.set(dut.replay.ready, int(not held and rng.random() >= stall))
            _, _, v, r, s, last = await ctx.tick().sample(dut.replay.valid, dut.replay.ready,
                                                          dut.replay.payload.sample, dut.replay.payload.last)
            if v and r:
                replayed.append((s, last))
            cyc += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    stats = add_stream_checker(sim, dut.replay, "replay")
    sim.run()
    return replayed, stats


def signal(n, seed=1):
    rng = random.Random(seed)
    return [rng.randrange(2048) for _ in range(n)]


@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.3, 0.5), (0.0, 0.8), (0.6, 0.1)])
def test_replay_is_the_input(idle, stall):
    """Twenty times round the ring: the replay is the input, in order, with the last flag."""
    x = signal(20 * DEPTH + 5)
    replayed, stats = simulate(SampleRing(depth=DEPTH, spram=False), x, idle=idle, stall=stall, seed=7)
    assert replayed == [(v, int(i == len(x) - 1)) for i, v in enumerate(x)]
    if stall > 0.5:
        assert stats["pending"] > 0


def test_a_held_replay_fills_the_ring_and_keeps_its_payload():
    """The replay consumer holds still for 3,000 cycles: the ring takes ``depth`` samples ahead
    (one more in the replay's register), then holds the input; nothing is lost."""
    x = signal(200, seed=2)
    replayed, stats = simulate(SampleRing(depth=DEPTH, spram=False), x, hold=(30, 3000), seed=1)
    assert replayed == [(v, int(i == len(x) - 1)) for i, v in enumerate(x)]
    assert stats["pending"] > 2900


def test_overrun_counter():
    """``overruns`` counts the samples that found ``samples.ready`` low when first offered (back
    to back input, the replay held: the ring fills)."""
    dut = SampleRing(depth=DEPTH, spram=False)
    got = {"waited": 0, "accepted": 0}

    async def bench(ctx):
        ctx.set(dut.replay.ready, 0)
        ctx.set(dut.samples.valid, 1)
        fresh = True
        for _ in range(DEPTH + 400):
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
    assert got["accepted"] == DEPTH + 1                  # and one in the replay's register
    assert got["overruns"] == got["waited"] >= 1


def test_reset_mid_stream():
    """A reset (ResetInserter on the sync domain) in the middle of the input: the ring starts
    empty, the replay restarts with the first sample after the reset."""
    dut = SampleRing(depth=DEPTH, spram=False)
    rst = Signal()
    top = Module()
    top.submodules.dut = ResetInserter(rst)(dut)
    got = []

    async def bench(ctx):
        ctx.set(dut.replay.ready, 0)
        for phase, base in ((0, 100), (1, 1000)):
            for i in range(12):
                ctx.set(dut.samples.valid, 1)
                ctx.set(dut.samples.payload.sample, base + i)
                await ctx.tick().until(dut.samples.ready == 1)
            ctx.set(dut.samples.valid, 0)
            if phase == 0:
                await ctx.tick().repeat(3)
                ctx.set(rst, 1)
                await ctx.tick()
                ctx.set(rst, 0)
        ctx.set(dut.replay.ready, 1)
        for _ in range(100):
            _, _, v, s = await ctx.tick().sample(dut.replay.valid, dut.replay.payload.sample)
            if v:
                got.append(s)

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == list(range(1000, 1012))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(depth=1000), ValueError, "power of two"),
    (dict(depth=1), ValueError, "depth"),
    (dict(depth=32768), ValueError, "depth"),
    (dict(spram="yes"), TypeError, "spram"),
    (dict(depth=2.5), TypeError, "depth"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SampleRing(**kwargs)
