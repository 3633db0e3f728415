"""IssueStage: the taps of real passes (addresses, in-range flags, first/last, t) under back-pressure."""

import random

import pytest
from amaranth.sim import Simulator

from ternecg.hw.engine_layout import addr_width, phase_descriptors
from ternecg.hw.issue_stage import IssueStage
from ternecg.hw.schedule import compile_schedule, iterate_passes

from streams import add_stream_checker


def expected_taps(p, aw):
    """(rd_addr or None when out of range, w_addr, in_range, first, last, t) of every tap."""
    out = []
    for t in range(p.lout):
        for c in range(p.cin_g):
            for j in range(p.k):
                pos = p.stride * t - p.pad + j
                inr = 0 <= pos < p.lin
                out.append(((p.in_base + c * p.lin + pos) % (1 << aw) if inr else None,
                            p.w_base + c * p.k + j, int(inr), int(c == 0 and j == 0),
                            int(c == p.cin_g - 1 and j == p.k - 1), t * p.t_step))
    return out


def passes_with_phase(s):
    """(phase index, pass) of every pass, in order."""
    out = []
    for ph_index, ph in enumerate(s.phases):
        out += [(ph_index, p) for p in iterate_passes([ph])]
    return out


def run_passes(s, picks, *, seed, stall):
    dut = IssueStage(s)
    aw = addr_width(s)
    descriptors = phase_descriptors(s)
    rng = random.Random(seed)
    issued, taps = [], []
    cycles = [0]

    async def sink(ctx):
        async for _, _, valid, ready, payload in ctx.tick().sample(dut.o.valid, dut.o.ready, dut.o.payload):
            if valid and ready:
                taps.append((payload.in_range, payload.first, payload.last, payload.t))
            ctx.set(dut.o.ready, rng.random() >= stall)

    async def bench(ctx):
        for ph_index, p in picks:
            ctx.set(dut.phase, descriptors[ph_index])
            ctx.set(dut.in_base, p.in_base)
            ctx.set(dut.w_start, p.w_base)
            ctx.set(dut.k, p.k)
            ctx.set(dut.pad, p.pad)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            while True:
                issuing, en, rd, w = ctx.get(dut.issuing), ctx.get(dut.rd_en), ctx.get(dut.rd_addr), ctx.get(dut.w_addr)
                if issuing and en:
                    issued.append((rd, w))
                if not issuing and not ctx.get(dut.o.valid):
                    break
                await ctx.tick()
                cycles[0] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(sink)
    sim.add_testbench(bench)
    stats = add_stream_checker(sim, dut.o, "issue.o")
    sim.run()
    want = [tap for _, p in picks for tap in expected_taps(p, aw)]
    assert len(issued) == len(want) == len(taps)
    for k, ((rd, w), exp) in enumerate(zip(issued, want)):
        assert w == exp[1], f"tap {k}: weight row {w} != {exp[1]}"
        if exp[0] is not None:
            assert rd == exp[0], f"tap {k}: bank address {rd} != {exp[0]}"
    assert taps == [exp[2:] for exp in want]
    stats["cycles"] = cycles[0]
    return stats


@pytest.mark.parametrize("parallel", [1, 3, 6])
def test_taps_of_every_phase(model, parallel):
    """The first pass of every phase (every kind: plain, depthwise or polyphase, grouped, logits)
    and the second pass where there is one (other base addresses and weight rows)."""
    s = compile_schedule(model, parallel)
    seen, picks = {}, []
    for ph_index, p in passes_with_phase(s):
        if seen.get(ph_index, 0) < 2:
            seen[ph_index] = seen.get(ph_index, 0) + 1
            picks.append((ph_index, p))
    stats = run_passes(s, picks, seed=parallel, stall=0.3)
    assert stats["pending"] > 100


def test_latency_and_full_speed(model):
    """Without back-pressure one tap per cycle, each one cycle after its addresses."""
    s = compile_schedule(model, 1)
    assert IssueStage.latency == 1
    picks = passes_with_phase(s)[:1]
    stats = run_passes(s, picks, seed=0, stall=0.0)
    p = picks[0][1]
    assert stats["pending"] == 0 and stats["cycles"] == p.lout * p.taps + IssueStage.latency


@pytest.mark.parametrize("bad, exc", [(None, TypeError), ("schedule", TypeError)])
def test_bad_arguments(bad, exc, no_unused_warning):
    with pytest.raises(exc, match="IssueStage needs a compiled Schedule"):
        IssueStage(bad)
