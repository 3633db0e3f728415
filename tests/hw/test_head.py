"""Head: argmax with lowest-index ties, bit-exact to integer_ref.argmax_lowest, under stalls."""

import random
from pathlib import Path

import pytest
import torch
from amaranth.sim import Simulator

from streams import HOLD_CYCLES, add_stream_checker, check_streams, hold, stream_get, stream_get_n, stream_put_all
from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.hw.head import Head

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    for path in (modelfile.DEFAULT_MODEL, REPO / "build" / "tmp_model.json"):
        if path.is_file():
            return modelfile.load(path)
    pytest.skip("no model file (models/default.json or build/tmp_model.json)")


def run_head(dut, beats, *, seed, idle=0.3, stall=0.5):
    """Stream each beat's logits through ``dut``; return [(cls, logits)] and the checker stats."""
    rng_in, rng_out = random.Random(seed), random.Random(seed + 1)
    flat = [v for beat in beats for v in beat]
    results = []

    async def producer(ctx):
        await stream_put_all(ctx, dut.i, flat, rng=rng_in, idle=idle)

    async def consumer(ctx):
        results.extend(await stream_get_n(ctx, dut.o, len(beats), rng=rng_out, stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    stats = add_stream_checker(sim, dut.o, "o")
    sim.run()
    return [(int(r.cls), [int(v) for v in r.logits]) for r in results], stats


def check(dut, beats, seed, **kw):
    got, stats = run_head(dut, beats, seed=seed, **kw)
    expect = integer_ref.argmax_lowest(torch.tensor(beats, dtype=torch.int64)).tolist()
    assert len(got) == len(beats) > 0
    assert [g[1] for g in got] == beats, "logits not passed through"
    bad = [(beats[k], got[k][0], expect[k]) for k in range(len(beats)) if got[k][0] != expect[k]]
    assert not bad, f"{len(bad)} mismatches, first: {bad[:5]}"
    return got, stats


def test_real_logits(model):
    """Real logits of the fixture beats through the model, plus crafted ties."""
    raw = torch.as_tensor(fixture.load()["raw"]).to(torch.int64)
    tr = integer_ref.forward(model, raw)
    beats = tr.logits.tolist()
    n = len(model.classes)
    assert n == tr.logits.shape[1]
    width = max(int(tr.logits.abs().max()).bit_length() + 1, model.layers[-1].acc_bits + 1)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    beats += [[v] * n for v in (0, lo, hi, -1, 7)]                       # all tied
    beats += [[lo] * (n - 1) + [hi], [hi] + [lo] * (n - 1)]
    beats += [beat[:1] * n for beat in beats[:20]]                     # real values, tied
    dut = Head(n, width)
    got, stats = check(dut, beats, seed=1)
    assert stats["pending"] > 0
    assert len({c for c, _ in got}) == n                               # every class occurs


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_ties_many_classes(n):
    """Crafted ties among several classes: small value range so ties are frequent."""
    rng = random.Random(n)
    beats = [[rng.randint(-3, 2) for _ in range(n)] for _ in range(300)]
    beats += [[-8] * n, [7] * n, list(range(n)), list(range(n))[::-1]]
    dut = Head(n, 4)
    got, _ = check(dut, beats, seed=n, idle=0.2, stall=0.4)
    if n > 1:
        ties = sum(beat.count(max(beat)) > 1 for beat in beats)
        assert ties > 10


def test_latency_and_throughput():
    """With a ready sink the head takes one logit per cycle and each result appears `latency`
    cycles after its beat's last logit."""
    n, beats = 3, [[1, 5, 5], [-2, -4, -2], [0, 0, 9], [3, 2, 1]]
    flat = [v for b in beats for v in b]
    dut = Head(n, 5)
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for cycle in range(len(flat) + dut.latency + 2):
            ctx.set(dut.i.payload, flat[min(cycle, len(flat) - 1)])
            if cycle == len(flat):
                ctx.set(dut.i.valid, 0)
            _, _, fire, o_valid, cls = await ctx.tick().sample(
                dut.i.valid & dut.i.ready, dut.o.valid, dut.o.payload.cls)
            if cycle < len(flat):
                assert fire
            if o_valid:
                seen.append((cycle, cls))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert dut.latency == 1
    assert seen == [(n * k + n - 1 + dut.latency, c) for k, c in enumerate([1, 0, 2, 0])]


def test_back_pressure_holds_last_logit():
    """While a result waits, the next beat's logits but the last are accepted; the last waits
    until the cycle after the result is taken, whatever ``o.ready`` does meanwhile."""
    dut = Head(3, 6)

    async def bench(ctx):
        for v in (4, 9, 9):                        # beat 0 -> class 1
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, v)
            await ctx.tick().until(dut.i.ready)
        for v in (-1, -1):                         # first two logits of beat 1 still accepted
            ctx.set(dut.i.payload, v)
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            assert ready
        ctx.set(dut.i.payload, 20)                 # last logit of beat 1: held off
        for _ in range(5):
            _, _, ready, valid, cls = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.cls)
            assert not ready and valid and cls == 1
        ctx.set(dut.o.ready, 1)                    # take beat 0; the last logit waits for the
        _, _, ready, taken = await ctx.tick().sample(dut.i.ready, dut.o.valid)   # empty register:
        assert not ready and taken                 # i.ready reads registers only (no o.ready path)
        ctx.set(dut.o.ready, 0)
        _, _, ready, valid = await ctx.tick().sample(dut.i.ready, dut.o.valid)
        assert ready and not valid                 # goes in the cycle after
        ctx.set(dut.i.valid, 0)
        _, _, valid, cls, logits = await ctx.tick().sample(
            dut.o.valid, dut.o.payload.cls, dut.o.payload.logits)
        assert valid and cls == 2 and [int(v) for v in logits] == [-1, -1, 20]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_dropped_beats_give_error_results_in_order():
    """``order=True``: the flags on ``beats`` (0 = from logits, 1 = dropped) set the order of the
    results; an error result has err = 1 and every other field 0; the tag travels with its beat;
    under idle and stall patterns, every stream rule-checked."""
    rng = random.Random(4)
    flags = [0, 1, 1, 0, 0, 1, 0, 1]
    beats = [[rng.randint(-9, 9) for _ in range(3)] for f in flags if not f]
    dut = Head(3, 5, tag_width=6, order=True)
    got = []

    async def logits(ctx):
        k = 0
        for b in beats:
            for v in b:
                ctx.set(dut.tag, k)              # the tag is sampled with a beat's last logit
                await stream_put_all(ctx, dut.i, [v], rng=rng, idle=0.3)
            k += 1

    async def order(ctx):
        await stream_put_all(ctx, dut.beats, flags, rng=rng, idle=0.5)

    async def sink(ctx):
        got.extend(await stream_get_n(ctx, dut.o, len(flags), rng=rng, stall=0.5))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (logits, order, sink):
        sim.add_testbench(tb)
    stats = check_streams(sim, dut, inputs=True)
    sim.run()
    want, b = [], 0
    for f in flags:
        if f:
            want.append((0, [0, 0, 0], 0, 1))
        else:
            expect = integer_ref.argmax_lowest(torch.tensor([beats[b]])).item()
            want.append((expect, beats[b], b, 0))
            b += 1
    assert [(int(g.cls), [int(v) for v in g.logits], int(g.tag), int(g.err)) for g in got] == want
    assert stats["o"]["pending"] > 0 and stats["beats"]["transfers"] == len(flags)


def test_result_held_for_100000_cycles():
    """A result waits 100,000 cycles (tests/hw/streams.py HOLD_CYCLES) while the next beat's logits
    and an error flag arrive: it does not change, and the next results follow in order."""
    dut = Head(2, 6, tag_width=8, order=True)
    got = []

    async def logits(ctx):
        ctx.set(dut.tag, 77)
        await stream_put_all(ctx, dut.i, [3, -4])
        ctx.set(dut.tag, 78)
        await stream_put_all(ctx, dut.i, [-1, 5])

    async def flags(ctx):
        await stream_put_all(ctx, dut.beats, [0, 1, 0])

    async def sink(ctx):
        got.append(await hold(ctx, dut.o, HOLD_CYCLES))
        got.extend([await stream_get(ctx, dut.o) for _ in range(3)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (logits, flags, sink):
        sim.add_testbench(tb)
    stats = check_streams(sim, dut)
    sim.run()
    view = [(int(g.cls), [int(v) for v in g.logits], int(g.tag), int(g.err)) for g in got]
    assert view == [(0, [3, -4], 77, 0), (0, [3, -4], 77, 0), (0, [0, 0], 0, 1), (1, [-1, 5], 78, 0)]
    assert stats["o"]["pending"] >= HOLD_CYCLES and stats["o"]["transfers"] == 3


@pytest.mark.parametrize("args, exc, match", [
    ((0, 8), ValueError, "^Head n_classes must be an integer >= 1, not 0$"),
    ((2, 0), ValueError, "^Head logit_width must be an integer >= 1, not 0$"),
    ((2.0, 8), TypeError, "n_classes"),
    ((True, 8), TypeError, "n_classes"),
])
def test_bad_parameters(args, exc, match, no_unused_warning):
    with pytest.raises(exc, match=match):
        Head(*args)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_ready_register_follows_the_rule(n):
    """``i.ready`` is a flip-flop: in every cycle it equals the combinational rule ``~last |
    (~o.valid & from_logits)`` (``last``: the next logit is a beat's last; ``from_logits``:
    ``beats`` valid with flag 0), except that it may be low (never high) in the cycle after
    ``beats`` turned valid; random idles and stalls, dropped beats among them."""
    rng = random.Random(11 + n)
    flags = [rng.random() < 0.3 for _ in range(40)]
    beats = [[rng.randint(-9, 9) for _ in range(n)] for f in flags if not f]
    dut = Head(n, 5, tag_width=0, order=True)
    seen = {"rule": set(), "lag": 0, "cycles": 0}
    got = []

    async def logits(ctx):
        await stream_put_all(ctx, dut.i, [v for b in beats for v in b], rng=rng, idle=0.3)

    async def order(ctx):
        await stream_put_all(ctx, dut.beats, [int(f) for f in flags], rng=rng, idle=0.6)

    async def sink(ctx):
        got.extend(await stream_get_n(ctx, dut.o, len(flags), rng=rng, stall=0.6))

    async def watch(ctx):
        index, prev_valid = 0, 0
        async for _, _, ready, iv, ov, bv, bp in ctx.tick().sample(
                dut.i.ready, dut.i.valid, dut.o.valid, dut.beats.valid, dut.beats.payload):
            # the values sampled are those of the cycle just ended
            rule = int(index != n - 1 or (not ov and bv and not bp))
            seen["rule"].add(rule)
            seen["cycles"] += 1
            assert ready <= rule, f"i.ready high where the rule is low (cycle {seen['cycles']})"
            if ready != rule:
                assert bv and not prev_valid, f"i.ready late (cycle {seen['cycles']})"
                seen["lag"] += 1
            if iv and ready:
                index = 0 if index == n - 1 else index + 1
            prev_valid = bv
            if len(got) == len(flags):
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (logits, order, sink):
        sim.add_testbench(tb)
    sim.add_testbench(watch, background=True)
    check_streams(sim, dut, inputs=True)
    sim.run()
    assert [int(g.err) for g in got] == [int(f) for f in flags]
    assert seen["rule"] == {0, 1} and seen["cycles"] > 100
