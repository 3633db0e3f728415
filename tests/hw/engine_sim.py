"""Drive the conv engine alone in Amaranth's simulator: normalised beats in, every bank write (the
debug tap), logits and compute cycles out; checked against golden and the cycle model.

Faster than the whole accelerator (no normaliser, no head) and usable with any model, e.g. the
tiny one of tests/hw/tiny_model.py. The compute cycles are counted as hw/top.py counts them: from
the engine's first busy cycle to the cycle that hands its last logit on, without the cycles in
which a logit waits.
"""

from __future__ import annotations

import random

import torch
from amaranth.sim import Simulator

from ternecg.golden import integer_ref
from ternecg.hw.engine import Engine
from ternecg.hw.schedule import compile_schedule

from streams import add_stream_checker, stream_put


def run_engine(model, raws, parallel=1, *, seed=0, idle=0.0, stall=0.0, spy=None, streams=(),
               geometry_streams=None, read_stages=None, hold=0):
    """Returns (engine, trace, per-beat {"writes": {layer: {addr: data}}, "logits", "cycles"}).

    ``spy(engine)``: an extra simulator process factory (e.g. a port monitor); ``streams``: names
    ``"part.port"`` of the engine's inner streams (``Engine.parts``) checked for the stream rule
    (tests/hw/streams.py ``add_stream_checker``); their counts are in ``engine.stream_stats``;
    ``geometry_streams``, ``read_stages``: force the schedule's stream count or read stages
    (``compile_schedule(..., streams=, read_stages=)``); ``hold``: every logit first waits this
    many cycles with ``ready`` low (a long stall of the whole engine), then ``stall`` applies."""
    raws = torch.as_tensor(raws, dtype=torch.int64)
    tr = integer_ref.forward(model, raws)
    dut = Engine(compile_schedule(model, parallel, streams=geometry_streams, read_stages=read_stages))
    n = model.cfg.classes.__len__()
    rng = random.Random(seed)
    results = [{"writes": {}, "logits": []} for _ in range(len(raws))]

    async def feeder(ctx):
        for x in tr.input.tolist():
            for v in x:
                await stream_put(ctx, dut.x, int(v), rng=rng, idle=idle)

    async def taker(ctx):
        count, busy_d, beat, held = 0, 0, 0, 0
        async for _, _, busy, valid, ready, logit in ctx.tick().sample(
                dut.busy, dut.logits.valid, dut.logits.ready, dut.logits.payload):
            if busy and not busy_d:
                count = 1
            elif busy and not (valid and not ready):
                count += 1
            busy_d = busy
            if valid and ready:
                results[beat]["logits"].append(int(logit))
                if len(results[beat]["logits"]) == n:
                    results[beat]["cycles"] = count
                    beat += 1
                    if beat == len(raws):
                        return
            if valid and ready:
                held = 0
            if valid and held < hold:
                held += 1
                ctx.set(dut.logits.ready, 0)
            else:
                ctx.set(dut.logits.ready, int(rng.random() >= stall))

    async def monitor(ctx):
        beat, prev = 0, None
        async for _, _, valid, payload in ctx.tick().sample(dut.dbg.valid, dut.dbg.payload):
            if valid:
                if prev is not None and payload.layer < prev:
                    beat += 1
                prev = payload.layer
                w = results[min(beat, len(raws) - 1)]["writes"].setdefault(int(payload.layer), {})
                if hasattr(payload, "en"):              # several streams: up to R writes per cycle
                    for r in range(len(payload.addr)):
                        if (int(payload.en) >> r) & 1:
                            w[int(payload.addr[r])] = int(payload.data[r])
                else:
                    w[int(payload.addr)] = int(payload.data)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(taker)
    sim.add_process(monitor)
    if spy is not None:
        sim.add_process(spy(dut))
    dut.stream_stats = {}
    for name in streams:
        part, port = name.split(".")
        dut.stream_stats[name] = add_stream_checker(sim, getattr(dut.parts[part], port), name)
    sim.run()
    return dut, tr, results


def check_engine(model, dut, tr, results):
    """Every layer, the logits and the cycles equal golden and the schedule's cycle model."""
    from ternecg.hw.schedule import cycles
    for bi, res in enumerate(results):
        for li in range(len(model.layers) - 1):
            ref = tr.layers[li][bi].flatten().tolist()
            got = res["writes"].get(li, {})
            length = tr.layers[li].shape[-1]
            for addr, v in enumerate(ref):
                assert got.get(addr) == v, (
                    f"beat {bi} layer {li} channel {addr // length} position {addr % length}: "
                    f"hardware {got.get(addr)} != golden {v}")
        assert res["logits"] == tr.logits[bi].tolist(), f"beat {bi}: logits {res['logits']} != {tr.logits[bi].tolist()}"
        sel = {li: v["select"][bi].tolist() for li, v in tr.mux.items()}
        want = cycles(dut._s, dut.act_latency, sel)
        assert res["cycles"] == want, f"beat {bi}: {res['cycles']} cycles, model {want}"
