"""Serializer: a position's lane sums one per transfer, to the activation unit (channel, tag) or out as
logits with their bias from the parameter ROM, under back-pressure."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from ternecg.hw.engine_layout import addr_width, lane_width, phase_descriptors
from ternecg.hw.params import ID_WORDS
from ternecg.hw.schedule import MODE_FINAL, compile_schedule
from ternecg.hw.serializer import Serializer

from streams import add_stream_checker, stream_get, stream_put


class Harness(Elaboratable):
    """The serializer and a parameter ROM holding ``bias`` after the model id words."""

    def __init__(self, s, bias):
        self.ser = Serializer(s)
        self.rom = Memory(shape=self.ser.bias.shape(), depth=ID_WORDS + len(bias),
                          init=[0] * ID_WORDS + list(bias))

    def elaborate(self, platform):
        m = Module()
        m.submodules.ser = ser = self.ser
        m.submodules.rom = rom = self.rom
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(ser.bias_addr), rp.en.eq(ser.bias_en), ser.bias.eq(rp.data)]
        return m


def run(s, phase, items, *, out_base=0, act_base=0, sels, bias=(), seed=0):
    """items: per position (sums, t); sels: the ``sel`` of each position. Returns the transfers."""
    h = Harness(s, bias or [0])
    ser = h.ser
    rng = random.Random(seed)
    final = phase["mode"] == MODE_FINAL
    n_out = phase["lanes"] * len(items)
    got = []

    async def source(ctx):
        ctx.set(ser.phase, phase)
        ctx.set(ser.out_base, out_base)
        ctx.set(ser.act_base, act_base)
        for (sums, t), sel in zip(items, sels):
            while ctx.get(ser.busy):                  # sel changes only between passes
                await ctx.tick()
            ctx.set(ser.sel, sel)
            await ctx.tick()
            await stream_put(ctx, ser.i, {"sums": sums, "t": t}, rng=rng, idle=0.3)

    async def sink(ctx):
        out = ser.logits if final else ser.act
        for _ in range(n_out):
            p = await stream_get(ctx, out, rng=rng, stall=0.5)
            got.append(int(p) if final else (p.channel, int(p.acc), p.tag))

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    stats = add_stream_checker(sim, ser.logits if final else ser.act, "serializer out")
    sim.run()
    return got, stats


@pytest.mark.parametrize("parallel", [3, 6])
def test_activation_channels_and_tags(model, parallel):
    s = compile_schedule(model, parallel)
    phase = next(d for d in phase_descriptors(s) if d["mode"] != MODE_FINAL and not d["poly"])
    rng = random.Random(parallel)
    items = [([rng.randrange(-500, 500) for _ in range(parallel)], t) for t in range(12)]
    got, stats = run(s, phase, items, out_base=40, act_base=9, sels=[0] * len(items), seed=parallel)
    lw, aw = lane_width(s), addr_width(s)
    want = [(9 + l, sums[l], l | ((40 + t + l * phase["out_stride"]) % (1 << aw)) << lw)
            for sums, t in items for l in range(phase["lanes"])]
    assert got == want and stats["pending"] > 0


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_logits_get_their_bias(model, parallel):
    """Every logit of the logits pass(es) plus the bias of its class, read one cycle ahead."""
    s = compile_schedule(model, parallel)
    phase = next(d for d in phase_descriptors(s) if d["mode"] == MODE_FINAL)
    bias = [37, -1000, 5, 9][:s.n_classes]
    lanes = phase["lanes"]
    passes = s.n_classes // lanes
    rng = random.Random(7)
    items = [([rng.randrange(-500, 500) for _ in range(parallel)], 0) for _ in range(passes)]
    got, stats = run(s, phase, items, sels=[k * lanes for k in range(passes)], bias=bias, seed=parallel)
    want = [sums[l] + bias[k * lanes + l] for k, (sums, _) in enumerate(items) for l in range(lanes)]
    assert got == want


def test_bad_arguments(no_unused_warning):
    with pytest.raises(TypeError, match="Serializer needs a compiled Schedule"):
        Serializer([])


def test_latency_and_one_sum_per_cycle(model):
    """Without stalls the first sum leaves `latency` cycles after its position was taken, then one
    per cycle; the next position is taken in the cycle after the last sum (lanes + 1 cycles each)."""
    s = compile_schedule(model, 3)
    phase = next(d for d in phase_descriptors(s) if d["mode"] != MODE_FINAL and not d["poly"])
    ser = Serializer(s)
    seen = []

    async def bench(ctx):
        ctx.set(ser.phase, phase)
        ctx.set(ser.act.ready, 1)
        ctx.set(ser.i.valid, 1)
        ctx.set(ser.i.payload, {"sums": [1, 2, 3], "t": 0})
        for cycle in range(12):
            taken = ctx.get(ser.i.ready)
            out = ctx.get(ser.act.valid)
            seen.append((cycle, taken, out))
            await ctx.tick()

    sim = Simulator(ser)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    taken = [c for c, t, _ in seen if t]
    outs = [c for c, _, o in seen if o]
    assert Serializer.latency == 1 and outs[0] == taken[0] + Serializer.latency
    lanes = phase["lanes"]
    assert taken == [0, lanes + 1, 2 * (lanes + 1)]
    assert outs == [t + Serializer.latency + k for t in taken for k in range(lanes)]
