"""Drive the Engine in Amaranth's simulator with real beats; collect bank writes, logits, cycles."""

from __future__ import annotations

import random

import torch
from amaranth.sim import Simulator

from ternecg.golden import integer_ref
from ternecg.golden.normalize import normalize
from ternecg.hw.engine import Engine
from ternecg.hw.schedule import compile_schedule

from streams import stream_get, stream_put


def run_engine(model, raws, parallel=1, seed=0, idle=0.0, stall=0.0):
    """Returns per beat {"writes": {layer: {addr: data}}, "logits": [...], "cycles": int}."""
    sch = compile_schedule(model, parallel)
    dut = Engine(sch)
    xs = normalize(torch.as_tensor(raws, dtype=torch.int64)).tolist()
    n_cls = sch.n_classes
    results = [{"writes": {}, "logits": [], "cycles": 0} for _ in xs]
    rng = random.Random(seed)
    state = {"beat": 0, "done": False}

    async def feeder(ctx):
        for x in xs:
            for v in x:
                await stream_put(ctx, dut.x, v, rng=rng, idle=idle)

    async def taker(ctx):
        for bi in range(len(xs)):
            for _ in range(n_cls):
                results[bi]["logits"].append(await stream_get(ctx, dut.logits, rng=rng, stall=stall))
            state["beat"] = bi + 1
        state["done"] = True

    async def monitor(ctx):
        async for _, _, valid, payload, busy in ctx.tick().sample(dut.dbg.valid, dut.dbg.payload, dut.busy):
            bi = state["beat"]
            if bi < len(xs):
                if busy:
                    results[bi]["cycles"] += 1
                if valid:
                    results[bi]["writes"].setdefault(payload.layer, {})[payload.addr] = payload.data

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(taker)
    sim.add_process(monitor)
    sim.run()
    assert state["done"], "engine did not deliver all logits"
    return sch, results


def compare(model, raws, results):
    """Bit-exact comparison with the integer reference; returns the number of values compared."""
    tr = integer_ref.forward(model, torch.as_tensor(raws, dtype=torch.int64))
    compared = 0
    for bi, res in enumerate(results):
        for li in range(len(model.layers) - 1):
            ref = tr.layers[li][bi].flatten().tolist()
            got = res["writes"].get(li, {})
            for addr, v in enumerate(ref):
                assert got.get(addr) == v, (
                    f"beat {bi} layer {li} channel {addr // tr.layers[li].shape[-1]} "
                    f"position {addr % tr.layers[li].shape[-1]}: hw {got.get(addr)} != golden {v}")
                compared += 1
        assert res["logits"] == tr.logits[bi].tolist(), f"beat {bi}: logits {res['logits']} != {tr.logits[bi].tolist()}"
        compared += len(res["logits"])
    return compared, tr
