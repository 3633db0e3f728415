"""Sequencer: the taps it issues equal the schedule's tiles expanded tap by tap (hw/schedule_run.py),
with the tile bases of each, one beat after another, under stalls; grouped blocks whose select bits
are set are skipped (one cycle each); a phase is START + its taps + skips + the drain."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from ternecg.hw.engine_layout import descriptor_layout, descriptor_rows, select_shift
from ternecg.hw.phase_table import PhaseTable
from ternecg.hw.schedule import MODE_DW, MODE_FINAL, MODE_GRP, compile_schedule, skipped_blocks
from ternecg.hw.schedule_run import tiles
from ternecg.hw.sequencer import Sequencer

from tiny_model import tiny_model


class Harness(Elaboratable):
    def __init__(self, s):
        self.seq = Sequencer(s)
        self.table = PhaseTable(descriptor_layout(s), descriptor_rows(s))

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = self.seq
        m.submodules.table = table = self.table
        m.d.comb += [table.addr.eq(seq.phase_index), seq.phase.eq(table.data)]
        return m


def expected_taps(s, select=None):
    """Per phase: the issued taps ``(row, mod, pos, w, kx, first, last, tile...)`` and the
    number of skipped blocks."""
    g = s.geometry
    M = g.mems
    out = []
    w_start = act = 0
    for ph in s.phases:
        sel = None if select is None else select.get(ph.layer)
        skipped = set(skipped_blocks(ph, g, sel))
        taps = []
        for t in tiles(ph, w_start, act):
            if t.gi * ph.n_blocks + t.b in skipped:
                continue
            k = ph.taps[t.kx]
            for c in range(ph.cin_g):
                for j in range(k):
                    tile = {"out_row": t.out_slot * ph.lq_out, "t0": t.t0, "act": t.act,
                            "tile_last": int(t.last_of_block), "tile_first": int(t.tau == 0),
                            "last_block": int(t.b == ph.n_blocks - 1)}
                    if M > 1:
                        tile.update(out_mod=(t.out_slot + t.t0) % M, laddr=t.out_slot * ph.lout + t.t0)
                    if not select_shift(s) and ph.mode in (MODE_DW, MODE_GRP):
                        tile["sel"] = t.sel          # (a don't-care elsewhere)
                    taps.append({"row": (t.in_slot + c) * ph.lq_in, "mod": (t.in_slot + c) % M if M > 1 else 0,
                                 "pos": t.pos0 + j, "w": t.w_start + c * k + j, "kx": t.kx,
                                 "first": int(c == 0 and j == 0),
                                 "last": int(c == ph.cin_g - 1 and j == k - 1), **tile})
        out.append((taps, len(skipped)))
        w_start += sum(ph.cin_g * ph.taps[gi if ph.multi_kernel else 0] for gi in range(ph.n_groups)) * ph.n_blocks
        act += ph.blocks * ph.act_block_step if ph.mode != MODE_FINAL else 0
    return out


def run_beats(s, *, beats=2, stall=0.0, selects=0, seed=0, shift_bits=None):
    """Per beat: per phase the issued taps and the cycles from START to the next START.

    ``shift_bits``: with a shift-register select file, the bits it holds in order (as
    hw/mux_skip.py shifts them out: ``selects`` shows the next ones, ``consume`` drops them)."""
    h = Harness(s)
    seq = h.seq
    rng = random.Random(seed)
    shift = select_shift(s)
    record = []

    bits = list(shift_bits or [])

    async def bench(ctx):
        ctx.set(seq.booted, 1)
        ctx.set(seq.selects, selects)
        for _ in range(beats):
            ctx.set(seq.loaded, 1)
            while not ctx.get(seq.busy):
                await ctx.tick()
            ctx.set(seq.loaded, 0)
            phases, cycles, start = [], 0, None
            prev_phase = None
            consumed = 0
            while True:
                adv = int(rng.random() >= stall)
                ctx.set(seq.advance, adv)
                if shift_bits is not None:
                    ctx.set(seq.selects, sum(b << i for i, b in enumerate(bits[:len(seq.selects)])))
                ctx.set(seq.drained, 1)
                ph = ctx.get(seq.phase_index)
                if ph != prev_phase:
                    phases.append({"taps": [], "start": cycles})
                    prev_phase = ph
                if ctx.get(seq.issuing) and adv:
                    tap, tile = ctx.get(seq.tap), ctx.get(seq.tile)
                    d = {k: int(getattr(tap, k)) for k in ("row", "mod", "pos", "w", "kx", "first", "last")}
                    for k in ("out_row", "t0", "act", "last_block", "out_mod", "laddr", "sel"):
                        if hasattr(tile, k):
                            d[k] = int(getattr(tile, k))
                    d["tile_last"], d["tile_first"] = int(tile.last), int(tile.first)
                    phases[-1]["taps"].append(d)
                if shift:
                    consumed += ctx.get(seq.consume)
                    if shift_bits is not None:
                        del bits[:ctx.get(seq.consume)]
                done = ctx.get(seq.done)
                await ctx.tick()
                cycles += 1
                if done:
                    break
            record.append({"phases": phases, "cycles": cycles, "consumed": consumed})

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return record


@pytest.mark.parametrize("parallel", [1, 4, 6])
def test_taps_equal_the_schedule(parallel):
    """Every tap and its tile's bases, in order, as hw/schedule_run.py walks them; under random
    stalls; two beats in a row; phase cycles START + taps + drain (drained given at once)."""
    m = tiny_model(0)
    s = compile_schedule(m, parallel)
    want = expected_taps(s)
    for rec in run_beats(s, stall=0.3, seed=parallel):
        _expand_compare(s, rec, want)


def _expand_compare(s, rec, want):
    got = rec["phases"]
    assert len(got) == len(s.phases)
    for i, (g, (w, _)) in enumerate(zip(got, want)):
        assert len(g["taps"]) == len(w), f"phase {i}: {len(g['taps'])} taps issued, {len(w)} expected"
        for n, (a, b) in enumerate(zip(g["taps"], w)):
            for k, v in b.items():
                assert a[k] == v, f"phase {i} tap {n}: {k} = {a[k]}, expected {v}"


@pytest.mark.parametrize("parallel", [4, 12])
def test_skipped_blocks(parallel):
    """With the select bits of some grouped blocks all set, those blocks issue nothing and cost
    one cycle each; the phase takes START + taps + skips + 1 (drained at once)."""
    m = tiny_model(0)
    s = compile_schedule(m, parallel)
    assert not select_shift(s)
    pattern = [1, 1, 0, 1]
    bits = sum(b << i for i, b in enumerate(pattern))
    grp = [ph for ph in s.phases if ph.mode == MODE_GRP]
    select = {ph.layer: pattern for ph in grp}
    want = expected_taps(s, select)
    assert any(n for _, n in want)
    rec = run_beats(s, beats=1, selects=bits)[0]
    _expand_compare(s, rec, want)
    starts = [p["start"] for p in rec["phases"]] + [rec["cycles"]]
    for i, (taps, n_skip) in enumerate(want):
        done = int(i == len(want) - 1)          # the DONE cycle after the last phase
        assert starts[i + 1] - starts[i] == 1 + len(taps) + n_skip + 1 + done, i


def test_shift_select_file_consumes_each_blocks_bits():
    """One stream: no select index; each grouped block consumes its select bits (``consume``)."""
    m = tiny_model(0)
    s = compile_schedule(m, 1)
    assert select_shift(s)
    rec = run_beats(s, beats=1)[0]
    grp = [ph for ph in s.phases if ph.mode == MODE_GRP]
    assert rec["consumed"] == sum(ph.cout for ph in grp)


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_skipped_blocks_one_lane(stall):
    """One lane, the shift-register select file: the grouped blocks whose select bit is set issue
    nothing and cost one cycle each, and the weight rows of the next block follow the skipped
    one's (at one lane the weight row is ``w0 + wo``, hw/sequencer.py)."""
    m = tiny_model(0)
    s = compile_schedule(m, 1)
    assert select_shift(s)
    grp = [ph for ph in s.phases if ph.mode == MODE_GRP]
    rng = random.Random(7)
    select = {ph.layer: [rng.randrange(2) for _ in range(ph.cout)] for ph in grp}
    select[grp[0].layer][:3] = [1, 1, 0]                # the first block skipped, two in a row
    select[grp[-1].layer][-1] = 1                       # and the phase's last block
    want = expected_taps(s, select)
    assert all(n for (_, n), ph in zip(want, s.phases) if ph.mode == MODE_GRP)
    rec = run_beats(s, beats=1, stall=stall, shift_bits=[b for ph in grp for b in select[ph.layer]])[0]
    _expand_compare(s, rec, want)
    assert rec["consumed"] == sum(ph.cout for ph in grp)
    if not stall:
        starts = [p["start"] for p in rec["phases"]] + [rec["cycles"]]
        for i, (taps, n_skip) in enumerate(want):
            done = int(i == len(want) - 1)
            assert starts[i + 1] - starts[i] == 1 + len(taps) + n_skip + 1 + done, i
