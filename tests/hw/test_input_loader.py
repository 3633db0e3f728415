"""InputLoader: one beat into bank 0 (addresses 0..length-1), held off while loaded or busy."""

import random

import pytest
from amaranth.sim import Simulator

from ternecg.hw.input_loader import InputLoader

from streams import stream_put


def test_loads_a_beat_then_waits_for_clear():
    n = 12
    dut = InputLoader(n)
    rng = random.Random(1)
    beats = [[rng.randrange(-128, 128) for _ in range(n)] for _ in range(2)]
    writes, log = [], {}

    async def monitor(ctx):
        async for _, _, valid, addr, data in ctx.tick().sample(dut.wr.valid, dut.wr.payload.addr,
                                                               dut.wr.payload.data):
            if valid:
                writes.append((addr, data))

    async def bench(ctx):
        for k, beat in enumerate(beats):
            for v in beat:
                await stream_put(ctx, dut.x, v, rng=rng, idle=0.3)
            await ctx.tick()
            log[f"loaded{k}"] = ctx.get(dut.loaded)
            ctx.set(dut.x.valid, 1)
            await ctx.tick().repeat(3)
            log[f"ready_while_loaded{k}"] = ctx.get(dut.x.ready)
            ctx.set(dut.x.valid, 0)
            ctx.set(dut.busy, 1)                 # the engine computes: still no samples
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            log[f"ready_while_busy{k}"] = ctx.get(dut.x.ready)
            log[f"loaded_after_clear{k}"] = ctx.get(dut.loaded)
            ctx.set(dut.busy, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(monitor)
    sim.add_testbench(bench)
    sim.run()
    assert writes == [(a, v) for beat in beats for a, v in enumerate(beat)]
    for k in range(2):
        assert log[f"loaded{k}"] == 1 and log[f"ready_while_loaded{k}"] == 0
        assert log[f"ready_while_busy{k}"] == 0 and log[f"loaded_after_clear{k}"] == 0


@pytest.mark.parametrize("length, exc", [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_arguments(length, exc, no_unused_warning):
    with pytest.raises(exc, match="InputLoader length"):
        InputLoader(length)
