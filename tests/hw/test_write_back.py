"""WriteBack: activation unit -> MUX-skip unit -> bank writes, `busy` while a sum is inside."""

import random
from types import SimpleNamespace

import pytest
from amaranth.sim import Simulator

from ternecg.golden import integer_ref
from ternecg.hw.activation import ActivationUnit
from ternecg.hw.engine_layout import lane_width, phase_descriptors
from ternecg.hw.schedule import MODE_PLAIN, compile_schedule
from ternecg.hw.write_back import WriteBack

from streams import stream_put


@pytest.mark.parametrize("parallel", [1, 3])
def test_plain_pass_writes_activations(model, parallel):
    """A plain pass: every sum is activated with its channel's thresholds and written to its
    address, `latency` cycles after it entered without stalls; `busy` until the last write."""
    import torch
    s = compile_schedule(model, parallel)
    unit = Engine_unit(s)
    dut = WriteBack(s, act_unit=unit)
    phase = next(d for d in phase_descriptors(s) if d["mode"] == MODE_PLAIN)
    rng = random.Random(parallel)
    lw = lane_width(s)
    items = [(rng.randrange(len(s.thresholds)), rng.randrange(-300, 300), rng.randrange(parallel),
              rng.randrange(200)) for _ in range(40)]
    writes, busy_after = [], []

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, addr, data in ctx.tick().sample(dut.wr.valid, dut.wr.payload.addr,
                                                               dut.wr.payload.data):
            if valid:
                writes.append((cycle, addr, data))
            cycle += 1

    async def bench(ctx):
        ctx.set(dut.phase, phase)
        for ch, acc, lane, addr in items:
            await stream_put(ctx, dut.i, {"channel": ch, "acc": acc, "tag": lane | (addr << lw)})
        while ctx.get(dut.busy):
            await ctx.tick()
        busy_after.append(ctx.get(dut.busy))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(monitor)
    sim.add_testbench(bench)
    sim.run()
    want = [int(integer_ref.activate(SimpleNamespace(thresholds=[s.thresholds[ch]]),
                                     torch.tensor([[[acc]]]))[0, 0, 0]) for ch, acc, _, _ in items]
    assert [(a, d) for _, a, d in writes] == [(addr, q) for (_, _, _, addr), q in zip(items, want)]
    assert busy_after == [0]
    if parallel > 1:            # the pipelined unit: one per cycle, each `latency` cycles after it entered
        assert [c for c, _, _ in writes] == [k + dut.latency for k in range(len(items))]


def Engine_unit(s):
    from ternecg.hw.engine import Engine
    unit = Engine._unit(s)
    return unit(s.thresholds, **Engine._unit_args(s))


def test_bad_arguments(model, no_unused_warning):
    s = compile_schedule(model, 1)
    with pytest.raises(TypeError, match="WriteBack act_unit must be an ActivationUnit"):
        WriteBack(s, act_unit=None)
