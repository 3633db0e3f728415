"""Lanes: R streams x L ternary add/sub/skip accumulators; a tile's sums leave with its last tap;
``hold`` stops them."""

import random

import pytest
from amaranth.sim import Simulator

from ternecg.hw.lanes import Lanes

from streams import add_stream_checker, stream_get, stream_put

WEIGHT = {0: 0, 1: 1, 2: 0, 3: -1}       # 2-bit codes: skip, add, (unused: skip), subtract


def tiles(rng, R, L, count):
    """Random tiles: taps (x[R], w, first, last) and the expected sums[r][l]."""
    out = []
    for _ in range(count):
        n = rng.randrange(1, 9)
        taps, sums = [], [[0] * L for _ in range(R)]
        for k in range(n):
            xs = [rng.randrange(-256, 256) for _ in range(R)]
            codes = [rng.randrange(4) for _ in range(R * L)]
            for r in range(R):
                for l in range(L):
                    sums[r][l] += WEIGHT[codes[r * L + l]] * xs[r]
            w = sum(code << (2 * i) for i, code in enumerate(codes))
            taps.append({"x": xs, "w": w, "first": int(k == 0), "last": int(k == n - 1)})
        out.append((taps, sums))
    return out


@pytest.mark.parametrize("streams, lanes", [(1, 1), (1, 3), (2, 3), (6, 2)])
def test_sums_under_idle_back_pressure_and_hold(streams, lanes):
    dut = Lanes(streams, lanes, 14)
    rng = random.Random(streams * 10 + lanes)
    ts = tiles(rng, streams, lanes, 40)
    got = []

    async def source(ctx):
        for taps, _ in ts:
            for tap in taps:
                await stream_put(ctx, dut.i, tap, rng=rng, idle=0.3)

    async def sink(ctx):
        for _ in ts:
            p = await stream_get(ctx, dut.o, rng=rng, stall=0.5)
            got.append([[int(v) for v in row] for row in p.sums])

    async def holder(ctx):
        async for _ in ctx.tick():
            ctx.set(dut.hold, int(rng.random() < 0.2))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.add_testbench(holder, background=True)
    stats = add_stream_checker(sim, dut.o, "lanes.o")
    sim.run()
    assert got == [sums for _, sums in ts]
    assert stats["pending"] > 0
    assert Lanes.latency == 0 and dut.parallel == streams * lanes


@pytest.mark.parametrize("args, exc, match", [
    ((0, 1, 14), ValueError, "streams"), ((1, 0, 14), ValueError, "lanes"), ((2, 2, 1), ValueError, "acc_width"),
    (("2", 1, 14), TypeError, "streams"),
])
def test_bad_arguments(args, exc, match, no_unused_warning):
    with pytest.raises(exc, match=f"Lanes {match}"):
        Lanes(*args)
