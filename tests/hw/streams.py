"""Reusable lib.stream helpers for Amaranth simulator testbenches.

Driving: ``stream_put`` / ``stream_get`` transfer one payload (modelled on Glasgow's gateware test
helpers), optionally after a random number of idle (valid low) or back-pressure (ready low)
cycles drawn from a seeded ``random.Random``; ``hold`` keeps a sink's ``ready`` low for a long
time without waking Python every cycle.

Checking (the stream rule, docs/core.md "Streams"): once a source raises ``valid`` it keeps it high,
with every payload bit unchanged, until the transfer (``valid & ready`` at a clock edge).

* ``add_stream_checker(sim, stream, name)``: a background monitor of one stream; the simulation
  fails (AssertionError naming the stream, the cycle and the bits) when ``valid`` falls or a
  payload bit changes while a transfer is pending.
* ``check_streams(sim, component)``: one monitor on every output stream of a component's
  signature (``inputs=True``: the input streams too, i.e. the testbench's own driving).

* ``check_every_simulation(monkeypatch)``: from then on every ``amaranth.sim.Simulator`` whose
  toplevel is a ``wiring.Component`` checks all its output streams. tests/hw/conftest.py and
  tests/boards/conftest.py install it for every test (an autouse fixture), so **every stream test
  of every component checks the rule** without a line of its own; call ``check_streams`` /
  ``add_stream_checker`` yourself for the streams of a submodule, for input streams, or to read
  the counts. A stream is checked once per simulation, however often it is asked for.

They are the project's one definition of the rule in Amaranth's simulator;
:class:`ternecg.sim.tb.StreamRule` is the same for cocotb.

The monitors sleep while ``valid`` is low and check every clock edge while it is high (about
1.4 s of Python per 100,000 cycles of a hold); ``hold`` itself sleeps through its cycles (one
wake-up), so a 100,000-cycle hold costs little more than the simulator's own time.
"""

from __future__ import annotations

import weakref

from amaranth.hdl import Signal, Value
from amaranth.lib import stream as _stream
from amaranth.lib import wiring

__all__ = ["stream_put", "stream_get", "stream_put_all", "stream_get_n", "hold", "add_stream_checker",
           "check_streams", "check_every_simulation", "HOLD_CYCLES"]

#: the streams checked in each simulation: {simulator: {id(stream): stats}}
_CHECKED = weakref.WeakKeyDictionary()

#: the long hold of the stream tests: 100,000 cycles of ``ready`` low on a waiting output (an
#: hour at the board's 12 MHz would be 4.3e10 cycles; a stuck sink of 100,000 cycles is as long
#: as a beat at one lane and exercises every counter that could wrap or time out in that time)
HOLD_CYCLES = 100_000


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


async def hold(ctx, stream, cycles=HOLD_CYCLES, *, period=1e-6):
    """Wait until ``stream`` (a source of the DUT) is valid, then keep its ``ready`` low for
    ``cycles`` more clock cycles of ``period`` seconds (the testbench sleeps through them: one
    wake-up, whatever ``cycles``). Returns the payload seen when the hold began."""
    ctx.set(stream.ready, 0)
    if not ctx.get(stream.valid):
        await ctx.tick().until(stream.valid == 1)
    payload = ctx.get(stream.payload)
    await ctx.delay(cycles * period)
    return payload


def add_stream_checker(sim, stream, name="stream"):
    """Fail the simulation if ``stream``'s source drops ``valid`` or changes the payload while
    a transfer is pending (``valid`` high, ``ready`` low at a clock edge). Returns a dict counting
    the edges checked: ``"pending"``: edges with a pending transfer, ``"transfers"``: completed
    transfers, ``"longest_stall"``: the most edges one transfer was pending."""
    checked = _CHECKED.setdefault(sim, {})
    if id(stream) in checked:
        return checked[id(stream)]
    stats = checked[id(stream)] = {"pending": 0, "transfers": 0, "longest_stall": 0}
    payload = Value.cast(stream.payload)
    valid, ready = stream.valid, stream.ready

    async def checker(ctx):
        # a simulator process (not a testbench): it sleeps through idle stretches without
        # disturbing the testbenches' own waits, and reads values as sampled at clock edges
        while True:
            if isinstance(valid, Signal):
                await ctx.changed(valid)                    # idle: sleep until valid moves
            held = None                                     # payload of a pending transfer
            run = 0                                         # edges it has been pending
            async for _, _, v, r, p in ctx.tick().sample(valid, ready, payload):
                if held is not None:
                    assert v, f"{name}: valid dropped while a transfer was pending"
                    assert p == held, (f"{name}: payload changed from {held:#x} to {p:#x} while a "
                                       f"transfer was pending")
                if v and not r:
                    stats["pending"] += 1
                    held = p
                    run += 1
                    stats["longest_stall"] = max(stats["longest_stall"], run)
                else:
                    held = None
                    run = 0
                    stats["transfers"] += bool(v)
                    if not v:
                        break                               # idle again

    sim.add_process(checker)
    return stats


def check_streams(sim, component, *, inputs=False, prefix=""):
    """:func:`add_stream_checker` on every ``lib.stream`` member of ``component``'s signature with
    flow ``Out`` (and ``In`` with ``inputs``), nested signatures included; returns
    ``{member path: stats}``."""
    out = {}
    for path, member in _stream_members(component.signature.members, ()):
        if member.flow == wiring.Out or inputs:
            obj = component
            for part in path:
                obj = getattr(obj, part)
            key = prefix + ".".join(path)
            out[key] = add_stream_checker(sim, obj, key)
    return out


def _stream_members(members, path):
    for name, member in members.items():
        if not member.is_signature:
            continue
        if isinstance(member.signature, _stream.Signature):
            yield (*path, name), member
        else:
            yield from _stream_members(member.signature.members, (*path, name))


def check_every_simulation(monkeypatch):
    """Make every ``Simulator(component)`` check the stream rule on the component's output streams
    (:func:`check_streams`) until ``monkeypatch`` is undone (the end of a test)."""
    from amaranth.sim import Simulator
    init = Simulator.__init__

    def checked_init(self, toplevel, *args, **kwargs):
        init(self, toplevel, *args, **kwargs)
        if isinstance(toplevel, wiring.Component):
            check_streams(self, toplevel)

    monkeypatch.setattr(Simulator, "__init__", checked_init)
