"""Drive the Accelerator in Amaranth's simulator with real beats; collect layers, results, cycles."""

from __future__ import annotations

import random

import torch
from amaranth.sim import Simulator

from ternecg.golden import integer_ref
from ternecg.hw.top import Accelerator

from streams import check_streams, stream_get, stream_put


def run_top(model, raws, parallel=1, seed=0, idle=0.0, stall=0.0, dut=None, rr=None):
    """Returns (accelerator, per-beat {"writes": {layer: {addr: data}}, "cls", "logits", "cycles",
    "err"}), one entry per beat sent, and checks the stream rule on every stream of the core.

    ``raws``: the beats, each a list of raw samples (``last`` goes on each one's final sample: a
    beat of another length than the model's is dropped by the core and gives an error result);
    ``dut``: an ``Accelerator(..., debug=True)`` to run instead of the one of ``model``; ``rr``:
    per beat (dropped ones included), the RR codes of a model with an RR path (sent on ``rr``,
    with idle cycles)."""
    dut = dut if dut is not None else Accelerator(model, parallel, debug=True)
    raws = [[int(v) for v in r] for r in raws]
    results = [{"writes": {}} for _ in raws]
    computed = []                       # bank writes of each computed (not dropped) beat, in order
    rng = random.Random(seed)

    async def feeder(ctx):
        for r in raws:
            for j, v in enumerate(r):
                await stream_put(ctx, dut.i, {"sample": v, "last": int(j == len(r) - 1)}, rng=rng, idle=idle)

    async def rr_feeder(ctx):
        bits = model.cfg.rr_bits
        for codes in rr:
            await stream_put(ctx, dut.rr, sum(int(c) << (f * bits) for f, c in enumerate(codes)),
                             rng=rng, idle=idle)

    async def taker(ctx):
        for bi in range(len(raws)):
            p = await stream_get(ctx, dut.o, rng=rng, stall=stall)
            results[bi].update(cls=p.cls, logits=[int(v) for v in p.logits], cycles=p.cycles, err=p.err)

    async def monitor(ctx):
        # bank writes belong to the beat the engine is computing: beat k's writes all happen
        # before its logits, and the engine starts beat k+1 only after that
        prev = None
        async for _, _, valid, payload in ctx.tick().sample(dut.dbg.valid, dut.dbg.payload):
            if valid:
                if prev is None or payload.layer < prev:
                    computed.append({})
                prev = payload.layer
                writes = computed[-1].setdefault(payload.layer, {})
                if hasattr(payload, "en"):              # several streams: up to R writes per cycle
                    for r in range(len(payload.addr)):
                        if (int(payload.en) >> r) & 1:
                            writes[int(payload.addr[r])] = int(payload.data[r])
                else:
                    writes[payload.addr] = payload.data

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(taker)
    if rr is not None:
        sim.add_testbench(rr_feeder)
    sim.add_process(monitor)
    check_streams(sim, dut)
    sim.run()
    kept = [res for res in results if not res["err"]]
    for res, writes in zip(kept, computed):
        res["writes"] = writes
    return dut, results


def compare(model, dut, raws, results, rr=None):
    """Bit-exact comparison with the integer reference: every layer, logits, class, cycles (and no
    error flag). ``raws`` and ``rr``: the beats that were kept.

    Returns the number of values compared."""
    tr = integer_ref.forward(model, torch.as_tensor(raws, dtype=torch.int64), rr)
    compared = 0
    for bi, res in enumerate(results):
        assert not res["err"], f"beat {bi}: an error result"
        for li in range(len(model.layers) - 1):
            ref = tr.layers[li][bi].flatten().tolist()
            got = res["writes"].get(li, {})
            length = tr.layers[li].shape[-1]
            for addr, v in enumerate(ref):
                assert got.get(addr) == v, (
                    f"beat {bi} layer {li} channel {addr // length} position {addr % length}: "
                    f"hardware {got.get(addr)} != golden {v}")
                compared += 1
        assert res["logits"] == tr.logits[bi].tolist(), f"beat {bi}: logits {res['logits']} != {tr.logits[bi].tolist()}"
        assert res["cls"] == int(tr.cls[bi]), f"beat {bi}: class {res['cls']} != {int(tr.cls[bi])}"
        selects = {li: v["select"][bi].tolist() for li, v in tr.mux.items()}
        assert res["cycles"] == dut.engine_cycles(selects), (
            f"beat {bi}: measured {res['cycles']} cycles, analytical {dut.engine_cycles(selects)}")
        compared += len(res["logits"]) + 2
    return compared, tr
