"""MuxSkip: GAP select, bit-shift average and write-back, bit-exact to integer_ref.forward.

The unit is driven as the engine drives it: a depthwise pass per channel (results written at the
channel's shuffled slot and summed, then a ``finish`` strobe with ``length = L``), then the
grouped passes of ``P`` lanes (skipped when ``all_selected``), reading ``qa`` back from a RAM
(a test-only wrapper with an Amaranth Memory on ``rd_addr``/``rd_data`` and ``wr``). The final
RAM image must equal the golden block output ``forward(...).layers[li]`` (shuffled), and the
writes of the grouped passes must be exactly the lanes with ``S = 0``.
"""

import random

import pytest
import torch
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from ternecg.golden import fixture, integer_ref
from ternecg.golden.spec import modelfile
from ternecg.golden.spec.modelfile import IntMux
from ternecg.hw.mux_skip import MuxSkip
from ternecg.hw.schedule import MODE_DW, MODE_GRP, MODE_PLAIN

REAL_BEATS = [0, 1, 135]          # beat 135: channel 6 of the first block selects (S = 1)


def _bits(n):
    return max(1, int(n).bit_length())


class Harness(Elaboratable):
    """MuxSkip + the output bank it reads and writes (synchronous read, as the engine's banks)."""

    def __init__(self, act_bits, channels, max_length, parallel):
        depth = channels * max_length
        self.depth = depth
        self.mux = MuxSkip(act_bits=act_bits, addr_width=_bits(depth - 1), lane_width=_bits(parallel - 1),
                           n_select=channels, sel_width=_bits(channels),
                           length_width=_bits(max_length), parallel=parallel)
        self.mem = Memory(shape=unsigned(act_bits), depth=depth, init=[])

    def elaborate(self, platform):
        m = Module()
        m.submodules.mux = mux = self.mux
        m.submodules.mem = mem = self.mem
        rp, wp = mem.read_port(), mem.write_port()
        m.d.comb += [rp.addr.eq(mux.rd_addr), rp.en.eq(1), mux.rd_data.eq(rp.data),
                     wp.addr.eq(mux.wr.payload.addr), wp.data.eq(mux.wr.payload.data),
                     wp.en.eq(mux.wr.valid)]
        return m


def golden_block(qa, qg, act_bits, groups, shuffled):
    """(select (C,), output image (C, L) after the optional shuffle) of one beat's block."""
    sel = integer_ref.mux_select(qa.unsqueeze(0), act_bits)[0]
    y = torch.where(sel.unsqueeze(-1), qa, (qa + qg) >> 1).unsqueeze(0)
    if shuffled:
        y = integer_ref.shuffle(y, groups)
    return sel, y[0]


def slots(channels, groups, shuffled):
    """Feature-map position of each output channel (inverse of shuffle_permutation)."""
    if not shuffled:
        return list(range(channels))
    perm = integer_ref.shuffle_permutation(channels, groups)
    inv = [0] * channels
    for new, old in enumerate(perm):
        inv[old] = new
    return inv


def run_blocks(h, blocks, *, seed, idle=0.3):
    """Run each block ``(qa, qg, slot)`` (qa/qg: (C, L) ints) through the harness.

    Returns per block: the RAM image (C*L list), the ``all_selected`` answer of every grouped
    pass, the per-channel answers of every ``query_base`` (and P), and the set of channels
    written by the grouped passes."""
    mux, P = h.mux, h.mux.parallel
    rng = random.Random(seed)
    results = []
    log = []                                    # (mode, addr, data) of every write

    async def monitor(ctx):
        async for _, _, valid, mode, addr, data in ctx.tick().sample(
                mux.wr.valid, mux.mode, mux.wr.payload.addr, mux.wr.payload.data):
            if valid:
                log.append((mode, addr, data))

    async def feed(ctx, items):
        for item in items:
            while rng.random() < idle:
                ctx.set(mux.i.valid, 0)
                await ctx.tick()
            ctx.set(mux.i.valid, 1)
            ctx.set(mux.i.payload, item)
            await ctx.tick()
        ctx.set(mux.i.valid, 0)
        while ctx.get(mux.busy):
            await ctx.tick()
        for _ in range(rng.randrange(3)):
            await ctx.tick()

    async def finish(ctx):
        ctx.set(mux.finish, 1)
        await ctx.tick()
        ctx.set(mux.finish, 0)

    async def bench(ctx):
        for qa, qg, slot in blocks:
            C, L = len(qa), len(qa[0])
            ctx.set(mux.length, L)
            # depthwise passes: one channel each
            ctx.set(mux.mode, MODE_DW)
            for c in range(C):
                ctx.set(mux.sel_base, c)
                await feed(ctx, [{"q": qa[c][t], "lane": 0, "addr": slot[c] * L + t} for t in range(L)])
                await finish(ctx)
            # every query_base (as the engine would never ask, also unaligned ones)
            queries = []
            for qb in range(C + 1):
                ctx.set(mux.query_base, qb)
                queries.append(ctx.get(mux.all_selected))
            # grouped passes of P lanes, skipped when all lanes select the depthwise branch
            ctx.set(mux.mode, MODE_GRP)
            n_log = len(log)
            passes = []
            for oc0 in range(0, C, P):
                ctx.set(mux.sel_base, oc0)
                ctx.set(mux.query_base, oc0)
                skip = ctx.get(mux.all_selected)
                passes.append(skip)
                if skip:
                    continue
                await feed(ctx, [{"q": qg[oc0 + ln][t], "lane": ln, "addr": slot[oc0 + ln] * L + t}
                                 for t in range(L) for ln in range(P)])
                await finish(ctx)
            grp_writes = log[n_log:]
            image = [ctx.get(h.mem.data[a]) for a in range(C * L)]
            results.append({"image": image, "passes": passes, "queries": queries,
                            "grp_writes": grp_writes})

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return results, log


def check_blocks(h, blocks, results, act_bits, groups, shuffled):
    P = h.mux.parallel
    n_sel = 0
    for (qa, qg, slot), res in zip(blocks, results):
        C, L = len(qa), len(qa[0])
        sel, y = golden_block(torch.tensor(qa), torch.tensor(qg), act_bits, groups, shuffled)
        sel = [bool(s) for s in sel.tolist()]
        n_sel += sum(sel)
        assert res["image"] == y.flatten().tolist()
        assert res["passes"] == [all(sel[oc0:oc0 + P]) for oc0 in range(0, C, P)]
        assert res["queries"] == [qb + P <= C and all(sel[qb:qb + P]) for qb in range(C + 1)]
        # grouped writes: exactly the (position, channel) of non-selected channels, averaged
        want = sorted((slot[c] * L + t, (qa[c][t] + qg[c][t]) >> 1)
                      for c in range(C) if not sel[c] for t in range(L))
        got = sorted((a, d) for mode, a, d in res["grp_writes"])
        assert all(mode == MODE_GRP for mode, _, _ in res["grp_writes"])
        assert got == want
    return n_sel


@pytest.fixture(scope="module")
def model():
    return modelfile.load()


@pytest.fixture(scope="module")
def trace(model):
    raw = torch.as_tensor(fixture.load()["raw"]).to(torch.int64)
    return integer_ref.forward(model, raw[REAL_BEATS])


def mux_layers(model):
    return [li for li, layer in enumerate(model.layers) if isinstance(layer, IntMux)]


def with_sum(rng, length, total, q_max):
    """A random row of ``length`` values in [0, q_max] summing to ``total``."""
    row = [total // length + (t < total % length) for t in range(length)]
    for _ in range(4 * length):
        a, b = rng.randrange(length), rng.randrange(length)
        d = rng.randint(0, min(row[a], q_max - row[b]))
        row[a] -= d
        row[b] += d
    assert sum(row) == total and all(0 <= v <= q_max for v in row)
    return row


def crafted(qa, qg, act_bits, seed):
    """A block with selecting channels: all-max group (0..2: one skipped pass for P = 3), the
    exact select boundary (3: 2*sum == Q*L -> S = 0, 4: one more -> S = 1, 5: one less), scaled-up
    real qa (every other channel) and all-zero / all-max channels, with real qg."""
    rng = random.Random(seed)
    q_max = (1 << act_bits) - 1
    C, L = len(qa), len(qa[0])
    half = q_max * L // 2                      # largest sum with 2*sum <= Q*L
    out = [list(r) for r in qa]
    out[0] = out[1] = out[2] = [q_max] * L
    out[3] = with_sum(rng, L, half, q_max)
    out[4] = with_sum(rng, L, half + 1, q_max)
    out[5] = with_sum(rng, L, half - 1, q_max)
    for c in range(6, C, 2):
        out[c] = [min(v * 4, q_max) for v in qa[c]]
    out[C - 1] = [0] * L
    out[C - 2] = [q_max] * L
    return out, [list(r) for r in qg]


@pytest.mark.parametrize("parallel", [1, 3])
def test_real_blocks(model, trace, parallel):
    """Real qa/qg of every MUX-skip block for a few fixture beats (including one whose select
    fires), then a crafted block with many selecting channels; images equal forward().layers."""
    b = model.cfg.act_bits
    lis = mux_layers(model)
    assert lis
    specs = [model.layers[li].spec for li in lis]
    C = max(s.cout for s in specs)
    h = Harness(b, C, max(s.lout for s in specs), parallel)
    blocks, expect_layers, meta = [], [], []
    for n in range(len(REAL_BEATS)):
        for li, spec in zip(lis, specs):
            qa = trace.mux[li]["qa"][n].tolist()
            qg = trace.mux[li]["qg"][n].tolist()
            blocks.append((qa, qg, slots(spec.cout, spec.grp.groups, spec.shuffle)))
            expect_layers.append(trace.layers[li][n].flatten().tolist())
            meta.append(spec)
    real = len(blocks)
    for k, li in enumerate(lis):
        qa, qg = crafted(trace.mux[li]["qa"][0].tolist(), trace.mux[li]["qg"][0].tolist(), b, k)
        blocks.append((qa, qg, slots(specs[k].cout, specs[k].grp.groups, specs[k].shuffle)))
        meta.append(specs[k])
    results, log = run_blocks(h, blocks, seed=parallel)
    # real blocks: the RAM image is the golden layer output itself
    for k in range(real):
        assert results[k]["image"] == expect_layers[k], f"block {k}: image differs from forward()"
    n_sel = 0
    for spec, blk, res in zip(meta, blocks, results):
        n_sel += check_blocks(h, [blk], [res], b, spec.grp.groups, spec.shuffle)
    assert sum(bool(trace.mux[li]["select"].any()) for li in lis) >= 1, "no real select fired"
    assert n_sel >= 2 * 5 + 1
    if parallel == 3:
        assert any(any(r["passes"]) for r in results[real:]), "no grouped pass was skipped"
    assert any(mode == MODE_DW for mode, _, _ in log)


def test_plain_and_gap_reset():
    """Plain passes are written unchanged and do not touch the GAP; a finish after a grouped
    or plain pass leaves the next depthwise sum starting from zero."""
    b, L = 4, 6
    h = Harness(b, 4, L, 1)
    mux = h.mux
    seen = []

    async def bench(ctx):
        ctx.set(mux.length, L)
        ctx.set(mux.mode, MODE_PLAIN)
        for t in range(L):                     # plain: written as is, nothing summed
            ctx.set(mux.i.valid, 1)
            ctx.set(mux.i.payload, {"q": 15, "lane": 0, "addr": t})
            await ctx.tick()
        ctx.set(mux.i.valid, 0)
        await ctx.tick()
        await ctx.tick()
        ctx.set(mux.mode, MODE_DW)             # depthwise: 6 * 7 = 42 -> 2*42 > 90? no
        ctx.set(mux.sel_base, 1)
        for t in range(L):
            ctx.set(mux.i.valid, 1)
            ctx.set(mux.i.payload, {"q": 7, "lane": 0, "addr": L + t})
            await ctx.tick()
        ctx.set(mux.i.valid, 0)
        await ctx.tick()
        ctx.set(mux.finish, 1)
        await ctx.tick()
        ctx.set(mux.finish, 0)
        ctx.set(mux.query_base, 1)
        seen.append(ctx.get(mux.all_selected))
        ctx.set(mux.sel_base, 2)               # 6 * 8 = 48 -> 96 > 90: selects
        for t in range(L):
            ctx.set(mux.i.valid, 1)
            ctx.set(mux.i.payload, {"q": 8, "lane": 0, "addr": 2 * L + t})
            await ctx.tick()
        ctx.set(mux.i.valid, 0)
        await ctx.tick()
        ctx.set(mux.finish, 1)
        await ctx.tick()
        ctx.set(mux.finish, 0)
        ctx.set(mux.query_base, 2)
        seen.append(ctx.get(mux.all_selected))
        seen.append([ctx.get(h.mem.data[a]) for a in range(3 * L)])

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0, 1, [15] * L + [7] * L + [8] * L]


@pytest.mark.parametrize("name", ["act_bits", "addr_width", "n_select", "parallel"])
@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (2.0, TypeError), ("3", TypeError)])
def test_bad_parameters(name, bad, exc, no_unused_warning):
    args = {"act_bits": 4, "addr_width": 10, "lane_width": 2, "n_select": 18, "sel_width": 5,
            "length_width": 5, "parallel": 3}
    args[name] = bad
    with pytest.raises(exc, match=rf"^MuxSkip {name} must be an integer( >= 1)?, not {bad!r}$"):
        MuxSkip(**args)


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        MuxSkip(4, 10, 2, 18, 5, 5, 3)
