"""Lanes: ternary add/sub/skip accumulators; a position's sums leave with its last tap."""

import random

import pytest
from amaranth.sim import Simulator

from ternecg.hw.lanes import Lanes

from streams import add_stream_checker, stream_get, stream_put

WEIGHT = {0: 0, 1: 1, 2: 0, 3: -1}       # 2-bit codes: skip, add, (unused: skip), subtract


def positions(rng, parallel, count):
    """Random positions: taps (x, w, first, last, t) and the expected lane sums."""
    out = []
    for t in range(count):
        n = rng.randrange(1, 9)
        taps, sums = [], [0] * parallel
        for k in range(n):
            x = rng.randrange(-256, 256)
            codes = [rng.randrange(4) for _ in range(parallel)]
            for l, code in enumerate(codes):
                sums[l] += WEIGHT[code] * x
            w = sum(code << (2 * l) for l, code in enumerate(codes))
            taps.append({"x": x, "w": w, "first": int(k == 0), "last": int(k == n - 1), "t": t})
        out.append((taps, sums))
    return out


@pytest.mark.parametrize("parallel", [1, 3, 6])
def test_sums_under_idle_and_back_pressure(parallel):
    dut = Lanes(parallel, 14, t_width=6)
    rng = random.Random(parallel)
    pos = positions(rng, parallel, 60)
    got = []

    async def source(ctx):
        for taps, _ in pos:
            for tap in taps:
                await stream_put(ctx, dut.i, tap, rng=rng, idle=0.3)

    async def sink(ctx):
        for _ in pos:
            p = await stream_get(ctx, dut.o, rng=rng, stall=0.5)
            got.append(([int(v) for v in p.sums], p.t))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    stats = add_stream_checker(sim, dut.o, "lanes.o")
    sim.run()
    assert got == [(sums, t) for t, (_, sums) in enumerate(pos)]
    assert stats["pending"] > 0
    assert Lanes.latency == 0


@pytest.mark.parametrize("args, exc, match", [
    ((0, 14), ValueError, "parallel"), ((2, 1), ValueError, "acc_width"), (("2", 14), TypeError, "parallel"),
])
def test_bad_arguments(args, exc, match, no_unused_warning):
    with pytest.raises(exc, match=f"Lanes {match}"):
        Lanes(*args, t_width=4)
