"""The RR rule (docs/arithmetic.md 6) in hardware: RRTable's ``hit`` and Head's ``rule`` chained as
in hw/top.py, bit-exact to integer_ref.forward with the rule, under stalls and long holds."""

import copy
import random

import pytest
import torch
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import connect
from amaranth.sim import Simulator

from streams import add_stream_checker, hold, stream_get_n, stream_put_all
from ternecg.golden import integer_ref
from ternecg.hw.head import Head
from ternecg.hw.rr_table import RRTable


class Chain(wiring.Component):
    """RR table -> head, the wiring of hw/top.py."""

    def __init__(self, model, width):
        rules = model.rr_rules
        self.rr_table = RRTable(model.rr_table, width, rule_bounds=[r["max_codes"] for r in rules])
        self.head = Head(len(model.classes), self.rr_table.out_width, rules=[(r["from"], r["to"]) for r in rules])
        super().__init__({"i": wiring.In(self.rr_table.i.signature.flip()),
                          "rr": wiring.In(self.rr_table.rr.signature.flip()),
                          "o": wiring.Out(self.head.o.signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rr_table, m.submodules.head = rr, head = self.rr_table, self.head
        connect(m, wiring.flipped(self.i), rr.i)
        connect(m, wiring.flipped(self.rr), rr.rr)
        connect(m, rr.o, head.i)
        connect(m, head.o, wiring.flipped(self.o))
        m.d.comb += head.hit.eq(rr.hit)
        return m


def with_rule(model, rule):
    m = copy.copy(model)
    m.layers = list(model.layers)
    m.layers[-1] = copy.copy(model.layers[-1])
    m.layers[-1].rr_rules = [rule]
    return m


def run(dut, logits, codes, bits, *, seed, idle, stall, holds=False):
    rng = random.Random(seed)
    flat = [int(v) for row in logits for v in row]
    words = [sum(int(c) << (f * bits) for f, c in enumerate(row)) for row in codes]
    out = []

    async def logit_src(ctx):
        await stream_put_all(ctx, dut.i, flat, rng=random.Random(seed + 1), idle=idle)

    async def code_src(ctx):
        await stream_put_all(ctx, dut.rr, words, rng=random.Random(seed + 2), idle=idle)

    async def sink(ctx):
        for k in range(len(codes)):
            if holds and k % 7 == 3:               # the result is held (the checker: unchanged), once for
                await hold(ctx, dut.o, 3000 if k == 3 else 300)   # 3,000 cycles (test_head: 100,000)
            out.extend(await stream_get_n(ctx, dut.o, 1, rng=rng, stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in (logit_src, code_src, sink):
        sim.add_testbench(tb)
    stats = add_stream_checker(sim, dut.o, "o")
    sim.run()
    return [(int(r.cls), [int(v) for v in r.logits]) for r in out], stats


@pytest.mark.parametrize("idle,stall,holds", [(0.0, 0.0, False), (0.4, 0.6, True)])
def test_rule_bit_exact_on_real_beats(inter_model, beats, idle, stall, holds):
    """The inter-patient model's fixture beats with a rule N -> abnormal for pre/local <= 6 (and
    one on post/pre): the class changes exactly where integer_ref says, the logits never."""
    n = min(120, len(beats["raw"]))
    raw, codes = torch.as_tensor(beats["raw"][:n]).to(torch.int64), torch.as_tensor(beats["rr"][:n])
    for rule in ({"from": 0, "to": 1, "max_codes": [6, 15, 15]},
                 {"from": 0, "to": 1, "max_codes": [8, 15, 9]}):
        model = with_rule(inter_model, rule)
        tr = integer_ref.forward(model, raw, codes)
        plain = integer_ref.argmax_lowest(tr.logits)
        changed = int((plain != tr.cls).sum())
        assert changed > 0 and int((plain == 0).sum()) > changed      # the rule fires, not everywhere
        dut = Chain(model, inter_model.layers[-1].acc_bits + 2)
        got, stats = run(dut, (tr.logits - tr.rr).tolist(), codes.tolist(), model.cfg.rr_bits,
                         seed=n, idle=idle, stall=stall, holds=holds)
        assert [g[0] for g in got] == tr.cls.tolist()
        assert [g[1] for g in got] == tr.logits.tolist()
        if stall:
            assert stats["pending"] > 0


def test_every_bound_of_a_four_code_rule():
    """Hand-made: a 4-class, 4-feature table of zeros and logits that make N the argmax; codes on
    each side of each bound of {from 0 -> to 1, max [5, 15, 15, 3]} (15: no comparator)."""
    bits, n, f = 4, 4, 4
    table = torch.zeros((n, f, 1 << bits), dtype=torch.int64)
    rule = {"from": 0, "to": 1, "max_codes": [5, 15, 15, 3]}
    codes = [[c0, c1, c2, c3] for c0 in (0, 5, 6, 15) for c1 in (0, 15) for c2 in (7,) for c3 in (0, 3, 4)]
    logits = [[10, 3, 2, 1] if k % 3 else [1, 3, 10, 2] for k in range(len(codes))]   # N, or V (never changed)
    t = torch.as_tensor(logits)
    expect = integer_ref.apply_rule(rule, integer_ref.argmax_lowest(t), torch.as_tensor(codes)).tolist()
    assert expect.count(1) == sum(1 for k, c in enumerate(codes) if k % 3 and c[0] <= 5 and c[3] <= 3) > 0

    class M:
        pass
    m = M()
    m.rr_table, m.rr_rules, m.classes = table, [rule], range(n)
    dut = Chain(m, 8)
    got, _ = run(dut, logits, codes, bits, seed=3, idle=0.2, stall=0.3)
    assert [g[0] for g in got] == expect


def test_two_rules_in_order():
    """Hand-made: the four-class models' two rules (V -> N on the template code <= 4, then N -> S on
    pre/local <= 6 and irregularity <= 5) over 5 codes: every combination of argmax N or V with
    codes on each side of each bound. A V beat the first rule moves is moved on to S by the second
    where its codes allow, exactly as integer_ref.apply_rules, and the logits never change."""
    bits, n, f = 4, 4, 5
    table = torch.zeros((n, f, 1 << bits), dtype=torch.int64)
    rules = [{"from": 2, "to": 0, "max_codes": [15, 15, 15, 4, 15]},
             {"from": 0, "to": 1, "max_codes": [6, 15, 15, 15, 5]}]
    codes = [[c0, 8, 8, c3, c4] for c0 in (0, 6, 7) for c3 in (0, 4, 5, 15) for c4 in (5, 6)]
    logits = [row for row in ([10, 3, 2, 1], [1, 3, 10, 2], [2, 1, 3, 10]) for _ in codes]   # N, V, F
    codes = codes * 3
    expect = integer_ref.apply_rules(rules, integer_ref.argmax_lowest(torch.as_tensor(logits)),
                                     torch.as_tensor(codes)).tolist()
    assert {0, 1, 2, 3} <= set(expect)
    assert sum(1 for k, c in enumerate(codes) if logits[k][2] == 10 and expect[k] == 1) > 0    # V -> N -> S

    class M:
        pass
    m = M()
    m.rr_table, m.rr_rules, m.classes = table, rules, range(n)
    dut = Chain(m, 8)
    got, stats = run(dut, logits, codes, bits, seed=5, idle=0.3, stall=0.5, holds=True)
    assert [g[0] for g in got] == expect
    assert [g[1] for g in got] == logits
    assert stats["pending"] > 0


@pytest.mark.parametrize("kw,exc,match", [
    ({"rule_bounds": [[1, 2]]}, ValueError, "lists of 3 codes"),
    ({"rule_bounds": [[1, 2, 3], [1, 2, 16]]}, ValueError, "rule bound"),
    ({"rule_bounds": [1, 2, 3]}, ValueError, "lists of 3 codes"),
])
def test_bad_rr_table_rule(kw, exc, match):
    table = torch.zeros((2, 3, 16), dtype=torch.int64)
    with pytest.raises(exc, match=match):
        RRTable(table, 8, **kw)


@pytest.mark.parametrize("rule,exc,match", [((0, 0), ValueError, "different"), ((0, 4), ValueError, "rule class"),
                                            ((1,), TypeError, "pair")])
def test_bad_head_rule(rule, exc, match):
    with pytest.raises(exc, match=match):
        Head(4, 8, rules=[(1, 2), rule])
