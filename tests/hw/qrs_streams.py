"""Shared Amaranth-simulator driver for the front end's stream components (tests/hw)."""

import random

from amaranth.sim import Simulator

from streams import add_stream_checker


def run_stream(dut, items, out, *, set_item, get_item, idle=0.0, stall=0.0, seed=0, hold=0,
               until=None, max_cycles=400_000, top=None, reset=None):
    """Drive ``items`` into input stream ``dut.<in>`` (``set_item(ctx, item)``), collect every
    transfer of output stream ``out`` (``get_item(payload) -> value``) until ``until(outputs)``;
    ``hold``: ready low for that many cycles from the first valid; ``reset = (signal, after)``:
    pulse ``signal`` (a ResetInserter's) once ``after`` items went in. Returns (outputs, stats)."""
    rng = random.Random(seed)
    got = []
    state = {"sent": 0}

    async def source(ctx, in_stream):
        i = 0
        while i < len(items):
            while rng.random() < idle:
                await ctx.tick()
            if reset is not None and i == reset[1] and not state.get("reset"):
                state["reset"] = True
                ctx.set(reset[0], 1)
                await ctx.tick()
                ctx.set(reset[0], 0)
            ctx.set(in_stream.valid, 1)
            set_item(ctx, items[i])
            await ctx.tick().until(in_stream.ready == 1)
            i += 1
            state["sent"] = i
            ctx.set(in_stream.valid, 0)

    async def sink(ctx):
        cyc, first = 0, None
        while cyc < max_cycles and not (until and until(got)):
            held = first is not None and cyc < first + hold
            ctx.set(out.ready, int(not held and rng.random() >= stall))
            _, _, v, r, p = await ctx.tick().sample(out.valid, out.ready, out.payload)
            if v and first is None:
                first = cyc
            if v and r:
                got.append((get_item(p), state["sent"]))
            cyc += 1

    return source, sink, got


def simulate(dut, in_stream, out, items, *, top=None, **kwargs):
    source, sink, got = run_stream(dut, items, out, **kwargs)
    sim = Simulator(top if top is not None else dut)
    sim.add_clock(1e-6)
    async def feed(ctx):
        await source(ctx, in_stream)
    sim.add_testbench(feed)
    sim.add_testbench(sink)
    stats = add_stream_checker(sim, out, "out")
    sim.run()
    return got, stats
