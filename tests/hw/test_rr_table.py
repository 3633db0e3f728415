"""RRTable: RR terms added to each logit, bit-exact to integer_ref.rr_sum, under idle and stalls."""

import random

import pytest
import torch
from amaranth.sim import Simulator

from streams import add_stream_checker, stream_get_n, stream_put_all
from ternecg.golden import integer_ref
from ternecg.golden.spec.modelfile import RR_ENTRY_BITS
from ternecg.hw.rr_table import RRTable


def pack(codes, bits):
    return sum(int(c) << (f * bits) for f, c in enumerate(codes))


def run_rr(dut, logits, codes, bits, *, seed, idle=0.3, stall=0.5):
    """Stream logits (N, classes) and codes (N, F) through ``dut``; return the N x classes outputs."""
    rng_i, rng_r, rng_o = random.Random(seed), random.Random(seed + 1), random.Random(seed + 2)
    flat = [int(v) for row in logits for v in row]
    out = []

    async def logit_src(ctx):
        await stream_put_all(ctx, dut.i, flat, rng=rng_i, idle=idle)

    async def code_src(ctx):
        await stream_put_all(ctx, dut.rr, [pack(c, bits) for c in codes], rng=rng_r, idle=idle)

    async def sink(ctx):
        out.extend(int(v) for v in await stream_get_n(ctx, dut.o, len(flat), rng=rng_o, stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (logit_src, code_src, sink):
        sim.add_testbench(tb)
    stats = add_stream_checker(sim, dut.o, "o")
    sim.run()
    n = len(logits[0])
    return [out[k:k + n] for k in range(0, len(out), n)], stats


def real_case(inter_model, beats):
    tr = integer_ref.forward(inter_model, torch.as_tensor(beats["raw"]).to(torch.int64), beats["rr"])
    engine_logits = tr.logits - tr.rr                   # what the engine hands to the RR table
    return engine_logits, torch.as_tensor(beats["rr"]), tr


@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.3, 0.5), (0.6, 0.8)])
def test_real_beats_bit_exact(inter_model, beats, idle, stall):
    """Every fixture beat: the engine's logits plus the RR terms of its real codes."""
    logits, codes, tr = real_case(inter_model, beats)
    width = inter_model.layers[-1].acc_bits + 2
    dut = RRTable(inter_model.rr_table, width)
    got, stats = run_rr(dut, logits.tolist(), codes.tolist(), inter_model.cfg.rr_bits,
                        seed=len(codes), idle=idle, stall=stall)
    assert got == tr.logits.tolist()
    assert len({tuple(c) for c in codes.tolist()}) > 5        # several distinct rhythms
    if stall:
        assert stats["pending"] > 0


def test_every_table_entry_and_extreme_logits():
    """A random full-range table: every (class, feature, code) entry is read at least once, with
    the most negative and most positive logits, so the widths are exercised."""
    rng = random.Random(2)
    n, f, bits, width = 3, 3, 4, 10
    lim = 1 << (RR_ENTRY_BITS - 1)
    table = torch.tensor([[[rng.randrange(-lim, lim) for _ in range(1 << bits)] for _ in range(f)]
                          for _ in range(n)])
    table[0, :, 0], table[1, :, 1] = -lim, lim - 1
    codes = torch.tensor([[c, (c + 5) % 16, 15 - c] for c in range(16)] * 2)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    logits = torch.tensor([[lo, hi, rng.randrange(lo, hi)] for _ in range(len(codes))])
    expect = logits + integer_ref.rr_sum(table, codes)
    dut = RRTable(table, width)
    got, _ = run_rr(dut, logits.tolist(), codes.tolist(), bits, seed=9)
    assert got == expect.tolist()
    assert dut.out_width == RR_ENTRY_BITS + 2


def test_latency_throughput_and_early_codes():
    """Logits and codes always offered, a ready sink: a beat's first logit is taken
    ``sum_cycles`` after its codes (its RR terms are summed from the one ROM meanwhile), the
    beat's logits one per cycle, each sum ``latency`` cycle later; the next beat's codes are taken
    with the current beat's last logit."""
    table = torch.arange(2 * 3 * 4).view(2, 3, 4)
    dut = RRTable(table, 8)
    beats = [([5, -7], [1, 2, 3]), ([0, 100], [3, 0, 1]), ([-128, 127], [2, 2, 2])]
    flat = [v for lg, _ in beats for v in lg]
    fired, taken, seen = [], [], []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.rr.valid, 1)
        ctx.set(dut.i.valid, 1)
        nb = nl = 0
        for cycle in range(60):
            ctx.set(dut.rr.payload, pack(beats[min(nb, 2)][1], 2))
            ctx.set(dut.rr.valid, nb < len(beats))
            ctx.set(dut.i.payload, flat[min(nl, len(flat) - 1)])
            ctx.set(dut.i.valid, nl < len(flat))
            _, _, fire, rr_fire, o_valid, o = await ctx.tick().sample(
                dut.i.valid & dut.i.ready, dut.rr.valid & dut.rr.ready, dut.o.valid, dut.o.payload)
            if fire:
                fired.append(cycle)
                nl += 1
            if rr_fire:
                taken.append(cycle)
                nb += 1
            if o_valid:
                seen.append((cycle, int(o)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    expect = [lg[k] + int(integer_ref.rr_sum(table, torch.tensor([c]))[0, k]) for lg, c in beats for k in range(2)]
    assert dut.latency == 1 and dut.sum_cycles == 2 * 3 + 2
    assert taken == [0, fired[1], fired[3]]                # beat 0 at once, then with each beat's last logit
    for k in range(3):                                      # each beat: sum_cycles after its codes, then one per cycle
        assert fired[2 * k] == taken[k] + dut.sum_cycles and fired[2 * k + 1] == fired[2 * k] + 1
    assert seen == [(c + dut.latency, v) for c, v in zip(fired, expect)]


@pytest.mark.parametrize("table, width, exc, match", [
    (torch.zeros(2, 3, 3, dtype=torch.int64), 8, ValueError, "2\\^b"),
    (torch.zeros(2, 3, 4, dtype=torch.int64), 0, ValueError, "logit width"),
    (torch.full((2, 3, 4), 1 << 15, dtype=torch.int64), 8, ValueError, "16 signed bits"),
    (5, 8, TypeError, "table must be"),
])
def test_bad_arguments_one_message(table, width, exc, match, no_unused_warning):
    with pytest.raises(exc, match=match):
        RRTable(table, width)
