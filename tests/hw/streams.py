"""Reusable lib.stream helpers for Amaranth simulator testbenches.

``stream_put`` / ``stream_get`` transfer one payload (modelled on Glasgow's gateware test
helpers), optionally after a random number of idle (valid low) or back-pressure (ready low)
cycles drawn from a seeded ``random.Random``. ``add_stream_checker`` adds a background testbench
that fails the simulation when a source breaks the stream rules: once ``valid`` is asserted it
must stay asserted, with the payload unchanged, until the transfer happens.
"""

from __future__ import annotations

from amaranth.hdl import Value


async def stream_put(ctx, stream, payload, *, rng=None, idle=0.0):
    """Drive one transfer into ``stream`` (a sink of the DUT). Before asserting ``valid``,
    wait one cycle with probability ``idle`` per cycle (geometric idle time)."""
    if rng is not None:
        while rng.random() < idle:
            await ctx.tick()
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready == 1)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, rng=None, stall=0.0):
    """Take one transfer from ``stream`` (a source of the DUT) and return its payload. Before
    asserting ``ready``, keep it low one more cycle with probability ``stall`` per cycle."""
    if rng is not None:
        while rng.random() < stall:
            await ctx.tick()
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid == 1)
    ctx.set(stream.ready, 0)
    return payload


async def stream_put_all(ctx, stream, payloads, *, rng=None, idle=0.0):
    """Drive every payload of ``payloads`` in order."""
    for p in payloads:
        await stream_put(ctx, stream, p, rng=rng, idle=idle)


async def stream_get_n(ctx, stream, count, *, rng=None, stall=0.0):
    """Take ``count`` transfers and return their payloads as a list."""
    return [await stream_get(ctx, stream, rng=rng, stall=stall) for _ in range(count)]


def add_stream_checker(sim, stream, name="stream"):
    """Fail the simulation if ``stream``'s source drops ``valid`` or changes the payload while
    a transfer is pending (``valid`` high, ``ready`` low). Returns a dict counting the edges
    checked (``"pending"``: edges with a pending transfer, ``"transfers"``: completed ones)."""
    stats = {"pending": 0, "transfers": 0}
    payload = Value.cast(stream.payload)

    async def checker(ctx):
        prev = None                           # payload of a pending transfer at the previous edge
        async for _, _, valid, ready, value in ctx.tick().sample(stream.valid, stream.ready, payload):
            if prev is not None:
                assert valid, f"{name}: valid dropped while a transfer was pending"
                assert value == prev, (f"{name}: payload changed from {prev:#x} to {value:#x} "
                                       f"while a transfer was pending")
            if valid and not ready:
                stats["pending"] += 1
                prev = value
            else:
                prev = None
                if valid:
                    stats["transfers"] += 1

    sim.add_testbench(checker, background=True)
    return stats
