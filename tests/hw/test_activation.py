"""ActivationUnit: bit-exact to integer_ref.activate on real and boundary accumulators, under stalls."""

import random
from pathlib import Path

import pytest
import torch
from amaranth.sim import Simulator

from streams import add_stream_checker, stream_get_n, stream_put_all
from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.modelfile import IntConv, IntMux, acc_bound, input_bound
from ternecg.hw.activation import ActivationUnit, activation_channels, activation_thresholds
from ternecg.hw.activation_serial import SerialActivationUnit

UNITS = pytest.mark.parametrize("unit", [ActivationUnit, SerialActivationUnit])

REPO = Path(__file__).resolve().parents[2]
TAG_WIDTH = 12


@pytest.fixture(scope="module")
def model():
    for path in (modelfile.DEFAULT_MODEL, REPO / "build" / "tmp_model.json"):
        if path.is_file():
            return modelfile.load(path)
    pytest.skip("no model file (models/default.json or build/tmp_model.json)")


@pytest.fixture(scope="module")
def trace(model):
    raw = torch.as_tensor(fixture.load()["raw"][:64]).to(torch.int64)
    return integer_ref.forward(model, raw)


def channel_convs(model):
    """IntConv of every global activation channel."""
    return [getattr(model.layers[li], br) if br else model.layers[li]
            for li, br, _ in activation_channels(model)]


def branch_accs(model, tr):
    """(layer_index, branch) -> accumulators (N, C, L) of every activated conv of the model."""
    out = {}
    for li, layer in enumerate(model.layers):
        if isinstance(layer, IntMux):
            x = tr.input.unsqueeze(1) if li == 0 else tr.layers[li - 1]
            out[(li, "dw")] = integer_ref.conv_acc(layer.dw, x)
            out[(li, "grp")] = integer_ref.conv_acc(layer.grp, x)
        elif not layer.spec.final:
            out[(li, None)] = tr.accs[li]
    return out


def reference(convs, channels, items):
    """integer_ref.activate of each (global channel, acc) item, through the conv's own thresholds."""
    out = []
    for n, acc in items:
        conv, c = convs[n], channels[n][2]
        a = torch.zeros(1, conv.thresholds.shape[0], 1, dtype=torch.int64)
        a[0, c, 0] = acc
        out.append(int(integer_ref.activate(conv, a)[0, c, 0]))
    return out


def run_unit(dut, items, *, seed, idle=0.3, stall=0.3):
    """Feed (channel, acc) items through ``dut`` with random stalls; return the q of each,
    checking order via the tag and the output stream rules. Returns (qs, checker stats)."""
    results = []
    rng_in, rng_out = random.Random(seed), random.Random(seed + 1)
    mask = (1 << dut.tag_width) - 1
    payloads = [{"channel": c, "acc": a, "tag": k & mask} for k, (c, a) in enumerate(items)]

    async def producer(ctx):
        await stream_put_all(ctx, dut.i, payloads, rng=rng_in, idle=idle)

    async def consumer(ctx):
        results.extend(await stream_get_n(ctx, dut.o, len(items), rng=rng_out, stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    stats = add_stream_checker(sim, dut.o, "o")
    sim.run()
    assert [r.tag for r in results] == [p["tag"] for p in payloads], "results out of order"
    return [int(r.q) for r in results], stats


def test_channel_numbering(model):
    chans = activation_channels(model)
    expect = []
    for li, layer in enumerate(model.layers):
        if isinstance(layer, IntMux):
            expect += [(li, "dw", c) for c in range(layer.dw.spec.cout)]
            expect += [(li, "grp", c) for c in range(layer.grp.spec.cout)]
        elif not layer.spec.final:
            expect += [(li, None, c) for c in range(layer.spec.cout)]
    assert chans == expect and len(chans) > 0
    rows, width = activation_thresholds(model)
    assert len(rows) == len(chans)
    assert width == max(conv.acc_bits for conv in channel_convs(model))
    for (li, br, c), row, conv in zip(chans, rows, channel_convs(model)):
        assert row == conv.thresholds[c].tolist()


@pytest.mark.parametrize("unit", [ActivationUnit, pytest.param(SerialActivationUnit, marks=pytest.mark.slow)])
def test_real_accumulators(model, trace, unit):
    """Real accumulators of every activated layer (48 per channel, fixture beats), plus every
    threshold boundary of every channel (T_j - 1, T_j, T_j + 1), its reachable range limits
    (-B, B, B + 1) and the input range limits, under random idle and back-pressure."""
    rows, width = activation_thresholds(model)
    chans, convs = activation_channels(model), channel_convs(model)
    accs = branch_accs(model, trace)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    rng = random.Random(1)
    items = []
    for n, (li, br, c) in enumerate(chans):
        a = accs[(li, br)][:, c, :].flatten().tolist()
        items += [(n, v) for v in rng.sample(a, 48)]
        for j in range(len(rows[n])):
            items += [(n, min(max(rows[n][j] + d, lo), hi)) for d in (-1, 0, 1)]
        bound = acc_bound(convs[n].codes, input_bound(model.cfg.act_bits, li))
        items += [(n, v) for v in (-bound, bound, min(bound + 1, hi), lo, hi)]
    rng.shuffle(items)

    dut = unit(rows, acc_width=width, act_bits=model.cfg.act_bits, tag_width=TAG_WIDTH)
    got, stats = run_unit(dut, items, seed=2)
    expect = reference(convs, chans, items)
    assert len(got) == len(expect) == len(items) > 1000
    mismatches = [(items[k], got[k], expect[k]) for k in range(len(items)) if got[k] != expect[k]]
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
    assert stats["pending"] > 0 and stats["transfers"] == len(items)
    # The real data exercises more than one activation level.
    assert len(set(got)) > 4


@UNITS
def test_range_limit_thresholds(unit):
    """Thresholds clamped at the reachable limits (-B always fires, B+1 never fires), repeated
    thresholds, and thresholds at the accumulator range limits, every boundary checked."""
    width, b, bound = 8, 3, 100
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    rows = [
        [-bound] * 7,
        [bound + 1] * 7,
        [-bound, -bound, -5, 0, 0, bound + 1, bound + 1],
        [-bound, -3, -2, -1, 0, 1, 2],
        [lo, lo, lo, 0, hi, hi, hi],                # +2^(w-1): never reached, needs a wider ROM
        [lo + 1, -60, -20, 20, 60, hi - 2, hi - 1],
    ]
    conv = IntConv(spec=None, codes=[], thresholds=torch.tensor(rows), bias=None, acc_bits=width)
    items = []
    for n, row in enumerate(rows):
        vals = {lo, hi - 1, -bound, -bound - 1, bound, bound + 1}
        vals |= {v + d for v in row for d in (-1, 0, 1)}
        items += [(n, v) for v in sorted(vals) if lo <= v <= hi - 1]
    random.Random(3).shuffle(items)
    dut = unit(rows, acc_width=width, act_bits=b, tag_width=4)
    got, _ = run_unit(dut, items, seed=4)
    a = torch.zeros(len(items), len(rows), 1, dtype=torch.int64)
    for k, (n, v) in enumerate(items):
        a[k, n, 0] = v
    q = integer_ref.activate(conv, a)
    expect = [int(q[k, n, 0]) for k, (n, _) in enumerate(items)]
    assert len(items) > 50 and got == expect
    assert set(got) == set(range(8))


@UNITS
@pytest.mark.parametrize("act_bits", [1, 2, 5])
def test_other_widths(act_bits, unit):
    """Other activation widths, one and several channels (including a zero-width channel field)."""
    rng = random.Random(act_bits)
    for n_ch in (1, 5):
        rows = [sorted(rng.randint(-40, 40) for _ in range((1 << act_bits) - 1)) for _ in range(n_ch)]
        items = [(rng.randrange(n_ch), rng.randint(-64, 63)) for _ in range(150)]
        dut = unit(rows, acc_width=7, act_bits=act_bits, tag_width=3)
        got, _ = run_unit(dut, items, seed=act_bits, idle=0.2, stall=0.4)
        expect = [sum(v >= t for t in rows[c]) for c, v in items]
        assert len(got) == 150 and got == expect


def test_latency_and_throughput():
    """Without stalls the first result appears `latency` cycles after its input is accepted,
    then one result per cycle."""
    rows = [[-3, -1, 0, 2, 4, 6, 9], [0, 1, 2, 3, 4, 5, 6]]
    dut = ActivationUnit(rows, acc_width=6, act_bits=3, tag_width=5)
    n_items = 20
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for cycle in range(n_items + dut.latency + 3):
            k = min(cycle, n_items - 1)
            ctx.set(dut.i.payload, {"channel": k % 2, "acc": k - 8, "tag": k})
            if cycle == n_items:
                ctx.set(dut.i.valid, 0)
            _, _, i_fire, o_valid, tag, q = await ctx.tick().sample(
                dut.i.valid & dut.i.ready, dut.o.valid, dut.o.payload.tag, dut.o.payload.q)
            if cycle < n_items:
                assert i_fire
            if o_valid:
                seen.append((cycle, tag, q))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert dut.latency == 4
    assert [c for c, _, _ in seen] == list(range(dut.latency, dut.latency + n_items))
    assert [t for _, t, _ in seen] == list(range(n_items))
    assert [q for _, _, q in seen] == [sum(k - 8 >= t for t in rows[k % 2]) for k in range(n_items)]


@pytest.mark.parametrize("args, exc, match", [
    (([[1, 0, 2]], 8, 2, 0), ValueError, "not ascending"),
    (([[0, 1]], 8, 2, 0), ValueError, "has 2 thresholds"),
    (([[0, 1, 200]], 8, 2, 0), ValueError, "200 is outside"),
    (([[-129, 1, 2]], 8, 2, 0), ValueError, "-129 is outside"),
    (([[0, 1.5, 2]], 8, 2, 0), TypeError, "1.5"),
    (([], 8, 2, 0), ValueError, "empty"),
    (([[0, 1, 2]], 0, 2, 0), ValueError, "acc_width"),
    (([[0, 1, 2]], 8, 0, 0), ValueError, "act_bits"),
    (([[0, 1, 2]], 8, 17, 0), ValueError, "act_bits must be an integer in 1..16, not 17"),
    (([[0, 1, 2]], 8, 2, -1), ValueError, "tag_width"),
    (([[0, 1, 2]], 8, 2, True), TypeError, "tag_width must be an integer, not True"),
    ((5, 8, 2, 0), TypeError, "thresholds must be"),
])
@UNITS
def test_bad_parameters(unit, args, exc, match, no_unused_warning):
    rows, acc_width, act_bits, tag_width = args
    with pytest.raises(exc, match=match):
        unit(rows, acc_width=acc_width, act_bits=act_bits, tag_width=tag_width)


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        ActivationUnit([[0, 1, 2]], 8, 2, 0)


def test_serial_unit_latency_and_interval():
    """The serial unit: first result `latency` cycles after acceptance, one input per `interval`."""
    rows = [[-3, -1, 0, 2, 4, 6, 9], [0] * 7]
    dut = SerialActivationUnit(rows, acc_width=6, act_bits=3, tag_width=5)
    n_items = 6
    accepted, seen = [], []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        sent = 0
        for cycle in range(n_items * dut.interval + dut.latency + 3):
            ctx.set(dut.i.valid, sent < n_items)
            ctx.set(dut.i.payload, {"channel": sent % 2, "acc": sent - 2, "tag": sent})
            if ctx.get(dut.i.ready) and sent < n_items:
                accepted.append(cycle)
                sent += 1
            if ctx.get(dut.o.valid):
                seen.append((cycle, ctx.get(dut.o.payload.q), ctx.get(dut.o.payload.tag)))
            await ctx.tick()

    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert dut.latency == dut.interval == 4
    assert accepted == [k * dut.interval for k in range(n_items)]
    assert [c for c, _, _ in seen] == [a + dut.latency for a in accepted]
    assert [q for _, q, _ in seen] == [sum((k - 2) >= t for t in rows[k % 2]) for k in range(n_items)]
