"""Sequencer: the pass values it hands the issue stage equal the schedule's passes (with and without
skipped grouped passes), one beat after another; FETCH + LOAD per pass, SKIP_CYCLES per skipped one."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from ternecg.hw.engine_layout import phase_descriptors, phase_layout
from ternecg.hw.phase_table import PhaseTable
from ternecg.hw.schedule import FETCH_LOAD, MODE_GRP, SKIP_CYCLES, compile_schedule
from ternecg.hw.sequencer import Sequencer


class Harness(Elaboratable):
    def __init__(self, s):
        self.seq = Sequencer(s)
        self.table = PhaseTable(phase_layout(s), phase_descriptors(s))

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = self.seq
        m.submodules.table = table = self.table
        m.d.comb += [table.addr.eq(seq.phase_index), seq.phase.eq(table.data)]
        return m


def run_beats(s, skips, *, beats=2, seed=0):
    """Per beat: the values at every ``start`` and the cycles from ``busy`` to ``done``."""
    h = Harness(s)
    seq = h.seq
    index = {p.w_base: i for i, p in enumerate(s.passes)}
    rng = random.Random(seed)
    out = []

    async def bench(ctx):
        ctx.set(seq.booted, 1)
        for _ in range(beats):
            ctx.set(seq.loaded, 1)
            started, cycles, drain_in, run_cycles = [], 0, None, 0
            while not ctx.get(seq.busy):
                await ctx.tick()
            ctx.set(seq.loaded, 0)
            while True:
                i = index.get(ctx.get(seq.w_start))
                ctx.set(seq.all_selected, i in skips)
                ctx.set(seq.drained, drain_in == 0)
                if ctx.get(seq.start):
                    started.append({k: ctx.get(getattr(seq, k)) for k in
                                    ("in_base", "out_base", "w_start", "sel", "act_base", "k", "pad")})
                    drain_in = rng.randrange(1, 6)
                    run_cycles += drain_in + 1
                elif drain_in:
                    drain_in -= 1
                if ctx.get(seq.finish):
                    drain_in = None
                done = ctx.get(seq.done)
                await ctx.tick()
                cycles += 1
                if done:
                    break
            out.append((started, cycles, run_cycles))

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


def expected(s, skips):
    return [{"in_base": p.in_base, "out_base": p.out_base, "w_start": p.w_base, "sel": p.sel_base,
             "act_base": p.act_base, "k": p.k, "pad": p.pad}
            for i, p in enumerate(s.passes) if i not in skips]


@pytest.mark.parametrize("parallel", [1, 3])
def test_pass_values_and_skips(model, parallel):
    s = compile_schedule(model, parallel)
    grouped = [i for i, p in enumerate(s.passes) if p.mode == MODE_GRP]
    skips = set(random.Random(parallel).sample(grouped, len(grouped) // 2))
    for case in (set(), skips):
        beats = run_beats(s, case, seed=parallel)
        executed = len(s.passes) - len(case)
        for started, cycles, run_cycles in beats:
            assert started == expected(s, case)
            # per executed pass FETCH + LOAD + RUN, per skipped one SKIP_CYCLES, plus DONE
            assert cycles == executed * FETCH_LOAD + run_cycles + len(case) * SKIP_CYCLES + 1


def test_bad_arguments(no_unused_warning):
    with pytest.raises(TypeError, match="Sequencer needs a compiled Schedule"):
        Sequencer(object())
