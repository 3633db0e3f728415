"""InputLoader: beats into the two halves of bank 0 (Cat(n, half)), two held at most, freed by clear."""

import random

import pytest
from amaranth.sim import Simulator

from ternecg.hw.input_loader import InputLoader

from streams import stream_put


def test_two_halves_then_wait_for_clear():
    n = 12
    dut = InputLoader(n)
    assert dut.half_bits == 4 and dut.depth == 32
    rng = random.Random(1)
    beats = [[rng.randrange(-128, 128) for _ in range(n)] for _ in range(4)]
    writes, log = [], {}

    async def monitor(ctx):
        async for _, _, valid, addr, data in ctx.tick().sample(dut.wr.valid, dut.wr.payload.addr,
                                                               dut.wr.payload.data):
            if valid:
                writes.append((addr, data))

    async def bench(ctx):
        async def load(beat):
            for v in beat:
                await stream_put(ctx, dut.x, v, rng=rng, idle=0.3)
        log["loaded_at_start"] = ctx.get(dut.loaded)
        await load(beats[0])
        await ctx.tick()
        log["after_one"] = (ctx.get(dut.loaded), ctx.get(dut.x.ready), ctx.get(dut.rd_half))
        await load(beats[1])                     # the second half while the first is "computed"
        await ctx.tick()
        ctx.set(dut.x.valid, 1)
        await ctx.tick().repeat(3)
        log["full"] = (ctx.get(dut.loaded), ctx.get(dut.x.ready))
        ctx.set(dut.x.valid, 0)
        ctx.set(dut.clear, 1)                    # beat 0 done: half 0 is free, half 1 is next
        await ctx.tick()
        ctx.set(dut.clear, 0)
        log["after_clear"] = (ctx.get(dut.loaded), ctx.get(dut.x.ready), ctx.get(dut.rd_half))
        await load(beats[2])                     # into half 0 again
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        log["empty"] = (ctx.get(dut.loaded), ctx.get(dut.rd_half))
        await load(beats[3])                     # into half 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(monitor)
    sim.add_testbench(bench)
    sim.run()
    assert writes == [(a + 16 * (k % 2), v) for k, beat in enumerate(beats) for a, v in enumerate(beat)]
    assert log["loaded_at_start"] == 0
    assert log["after_one"] == (1, 1, 0)
    assert log["full"] == (1, 0)
    assert log["after_clear"] == (1, 1, 1)
    assert log["empty"] == (0, 1)


def test_clear_and_last_sample_in_one_cycle():
    """The engine finishes a beat in the very cycle the next one completes: still two halves in
    use, in order."""
    dut = InputLoader(3)
    seen = []

    async def bench(ctx):
        for v in (1, 2, 3, 4, 5):
            await stream_put(ctx, dut.x, v)
        ctx.set(dut.x.valid, 1)
        ctx.set(dut.x.payload, 6)
        ctx.set(dut.clear, 1)                    # beat 0 done as beat 1's last sample goes in
        _, _, took = await ctx.tick().sample(dut.x.ready)
        ctx.set(dut.clear, 0)
        ctx.set(dut.x.valid, 0)
        seen.append((took, ctx.get(dut.loaded), ctx.get(dut.x.ready), ctx.get(dut.rd_half)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(1, 1, 1, 1)]                 # one beat (1) held, in half 1; half 0 free


@pytest.mark.parametrize("length, exc", [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_arguments(length, exc, no_unused_warning):
    with pytest.raises(exc, match="InputLoader length"):
        InputLoader(length)
