"""The micro-sequencer gateware (hw/qrs_sequencer.py) against the instruction-level model
(hw/qrs_model.py) in Amaranth's simulator: every instruction's result, flags and cycle count,
the memory operand modes, pairs of short instructions, the ports (IN / IV / SEND on two streams
under back-pressure with long holds) and a reset in the middle of a program."""

import random

import pytest
from amaranth.sim import Simulator

from streams import add_stream_checker
from ternecg.hw.qrs_isa import Asm, Program
from ternecg.hw.qrs_model import Machine
from ternecg.hw.qrs_sequencer import QrsSequencer

M32 = 0xFFFFFFFF


def isa_program(seed=0):
    """Every ALU operation on edge values (MAX / MIN both ways); after each, A and the flags (N Z C
    as a 3-bit code built with branches) go out on stream 0, so both implementations show every
    result; immediates, shifts, PSQ, every memory operand mode, the registers, nested calls and a
    short RET, the ports."""
    rng = random.Random(seed)
    a = Asm("isa")
    a.out_fields = [("flags", 3), ("spare", 32)]
    a.out_streams = [("o", ["flags"]), ("p", ["spare"])]
    a.in_ports = [("i", 12), ("j", 32)]
    a.new_line("l0").new_line("l1")
    a.var("c", "d", "fl", "s")
    a.var("keep", persistent=True)
    a.ring("r", 2)
    edge = [0, 1, 2, 3, 0x7FFFFFFF, 0x80000000 - 1, 1 << 30, 5000, 2498, 123456789, 0xFFFF, 0x10000]
    ops = ["ADD", "SUB", "CMP", "MAX", "MIN", "LD"]

    def report():
        a.CALL("report")

    for i in range(40):
        x, y = rng.choice(edge), rng.choice(edge)
        if rng.random() < 0.3:
            x = M32 - x if x else 0             # negative values as 32-bit patterns
        op = ops[i % len(ops)]
        a.LDK(y & 0x7FFFFFFF).ST("c")
        if y >> 31:
            a.LDI(0).SUB("c").ST("c")
        a.LDK(x & 0x7FFFFFFF)
        if x >> 31:
            a.ST("d").LDI(0).SUB("d")
        a.__getattr__(op)("c")
        report()
    # immediates, shifts, the pseudo-square
    for v in (0, 1, 2, 3, 5, 1000, 6141, 4096, 8191):
        a.LDK(v).PSQ()
        report()
    for v in (0, 3, 1000, 0x12345):
        a.LDK(v).ADDI(1000).CMPI(993)
        report()
        a.ADDI(-2047).SUBI(5).CMPI(v & 0x7FF)
        report()
        a.LDK(v + 3).SHR(2).SHL(5).SHR(31)
        report()
        a.LDK(v).SHL(17).SHR(3)
        report()
    a.LDI(0).SUBI(1000).SHR(3)
    report()
    a.SHR(2).SHL(2).SHL(1).SHR(1)
    report()
    # memory operand modes: lines with X, ring fields with P, direct cells (hot, cleared through
    # line 7, persistent), pairs
    a.LDI(5).TAX().LDI(77).ST(a.at("l0", 0)).ADDX(3).LDI(0).SUBI(1).ST(a.at("l1", 1))
    a.ADDX(-3).LD(a.at("l0", 0))
    report()
    a.ADDX(4).LD(a.at("l1", 2)).ADD(a.at("l0", 4))
    report()
    a.LDI(99).ST(a.scalars(0)).ADDX(1).LDI(7).ST(a.scalars(0)).ADDX(-1).LD(a.scalars(0))
    report()
    a.LDK(2040).TAX().LDI(123).ST(a.history()).ADDX(10).LDI(45).ST(a.history()).ADDX(-10)
    a.LD(a.history())
    report()
    a.ADDX(10).LD(a.history()).ADD(a.at("l0", 0))           # X = 2, line 0 at position 2
    report()
    a.LDI(2).TAP().LDI(33).ST(a.slot("r", 1)).ADDP(-1).ADDP(1).LD(a.slot("r", 1))
    report()
    a.STP("s").LD("s")
    report()
    a.LDI(31).TAP().ADDP(1).STP("s").LD("s")
    report()
    a.LDI(0).SUBI(5).ST("keep").LDI(0).LD("keep")
    report()
    a.LDI(3).TAK().LDI(0).ST("s")
    a.label("loop").LD("s").ADDI(2).ST("s").DJNZ("loop")
    report()
    a.LDI(200).TAK().STK("s").LD("s")
    report()
    # calls three deep; the innermost returns from the second half of a pair
    a.LDI(0).CALL("sub1")
    report()
    # ports: wait for port 1 (IV), then read it (32 bits); stream 1 under back-pressure
    a.label("wait").BIV1("got").JMP("wait")
    a.label("got").IN(1).OUT(1).SEND(1).IN(0).BF("lastflag").SEND(1)
    a.label("lastflag").ADDI(1).SEND(1)
    a.label("end").JMP("end")
    a.label("sub1").CALL("sub2").ADDI(100).RET()
    a.label("sub2").CALL("sub3").ADDI(10).RET()
    a.label("sub3").ADDI(1).LDI(5).RET()
    # report: A (the stream's value; kept in "s") and the flags N Z C as a 3-bit code (branches
    # only: nothing in between changes a flag) on field 0, one transfer on stream 0
    a.label("report").ST("s").BLT("n1").BEQ("n0z1").BCS("v1").JMP("v0")
    a.label("n0z1").BCS("v3").JMP("v2")
    a.label("n1").BEQ("n1z1").BCS("v5").JMP("v4")
    a.label("n1z1").BCS("v7").JMP("v6")
    for v in range(8):
        a.label(f"v{v}").LDI(v).JMP("rp_out")
    a.label("rp_out").OUT(0).LD("s").SEND().RET()
    return a.assemble()


def run_gateware(prog, inputs, *, cycles, stall=0.0, seed=0, hold=None):
    """``[(stream, fields, cycle)]`` of the gateware's output transfers (cycle counted from the
    first edge) and the stream checkers' counts; ``inputs``: {port: [(data, last)]}; ``stall``:
    probability of ``ready`` low per cycle; ``hold = (start, length)``: ready low throughout."""
    dut = QrsSequencer(prog, spram=False)
    names = [n for n, _ in prog.out_streams]
    ports = [n for n, _ in prog.in_ports]
    rng = random.Random(seed)
    transfers = []

    async def drive(ctx):
        pending = {p: list(inputs.get(p, [])) for p in range(len(ports))}
        port_objs = [getattr(dut, n) for n in ports]
        streams = [getattr(dut, n) for n in names]
        for cyc in range(cycles):
            for p, items in pending.items():
                if items:
                    ctx.set(port_objs[p].valid, 1)
                    ctx.set(port_objs[p].payload.data, items[0][0])
                    ctx.set(port_objs[p].payload.last, items[0][1])
                else:
                    ctx.set(port_objs[p].valid, 0)
            held = hold is not None and hold[0] <= cyc < hold[0] + hold[1]
            for o in streams:
                ctx.set(o.ready, int(not held and rng.random() >= stall))
            args = [x for p in port_objs for x in (p.valid, p.ready)]
            args += [x for o in streams for x in (o.valid, o.ready, o.payload)]
            _, _, *vals = await ctx.tick().sample(*args)
            for p in range(len(port_objs)):
                if vals[2 * p] and vals[2 * p + 1]:
                    pending[p].pop(0)
            base = 2 * len(port_objs)
            for s_ in range(len(streams)):
                v, r, pay = vals[base + 3 * s_: base + 3 * s_ + 3]
                if v and r:
                    fields = ["value"] + prog.out_streams[s_][1]
                    transfers.append((s_, {f: int(getattr(pay, f)) for f in fields}, cyc))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    stats = [add_stream_checker(sim, getattr(dut, n), n) for n in names]
    sim.run()
    return transfers, stats


def run_model(prog, inputs):
    m = Machine(prog, seed=None)
    for p, items in inputs.items():
        for d, l in items:
            m.put(p, d, l)
    outs = m.run(max_instructions=200_000)
    return [(o["stream"], {f: o[f] for f in ["value"] + prog.out_streams[o["stream"]][1]}, o["cycle"])
            for o in outs]


INPUTS = {1: [(0xDEADBEEF, 0)], 0: [(0x7FF, 0), (0x123, 1)]}


def test_every_instruction_matches_the_model():
    """Results, flags and the cycle of every transfer (no back-pressure: the model's count; the
    gateware's first instruction runs one cycle after its boot cycle)."""
    prog = isa_program()
    want = run_model(prog, INPUTS)
    got, _ = run_gateware(prog, INPUTS, cycles=want[-1][2] + 50)
    assert [(s, v) for s, v, _ in got] == [(s, v) for s, v, _ in want]
    offset = got[0][2] - want[0][2]
    assert offset == 1                                  # the boot cycle
    assert [c - offset for _, _, c in got] == [c for _, _, c in want]
    assert len(want) > 50


@pytest.mark.slow
def test_back_pressure_and_long_holds():
    """Outputs under random back-pressure and a stretch of 4,000 cycles with ready low on both
    streams: same values in order; every payload stays stable while valid and not ready."""
    prog = isa_program(seed=1)
    want = run_model(prog, INPUTS)
    got, stats = run_gateware(prog, INPUTS, cycles=want[-1][2] * 3 + 6000, stall=0.6, seed=3,
                              hold=(want[len(want) // 2][2], 4000))
    assert [(s, v) for s, v, _ in got] == [(s, v) for s, v, _ in want]
    assert sum(s["pending"] for s in stats) > 100


def test_rejects_what_it_cannot_run():
    with pytest.raises(TypeError, match="assembled Program"):
        QrsSequencer("a program")
    empty = Program("empty", [], {}, {}, {}, [], [("i", 8)], [])
    with pytest.raises(ValueError, match="words"):
        QrsSequencer(empty)
    noin = Program("noin", [0], {}, {}, {}, [], [], [])
    with pytest.raises(ValueError, match="no input port"):
        QrsSequencer(noin)
