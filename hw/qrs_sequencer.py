"""The front end's micro-sequencer: runs a program of hw/qrs_isa.py (gateware).

A multi-cycle 32-bit accumulator machine: the program in a block-RAM ROM (16-bit words), the data
in a :class:`~ternecg.hw.qrs_ram.SinglePortRam` (16-bit words, two per 32-bit cell; one SPRAM on
the iCE40 UP5K), one 32-bit adder for every arithmetic operation and comparison, a one-bit
shifter (``SHR``/``SHL``/``PSQ`` take a cycle per bit), and the stream ports the program names.
Every instruction takes exactly the cycles :mod:`ternecg.hw.qrs_model` counts (the instruction set
table in hw/qrs_isa.py), so the model predicts the cycle count of any input: the tests check the
gateware against it, and the model against the golden references.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .params import ROM_ATTRS
from .qrs_isa import CELLS, CONDS, MISC, OPS, SHORT_MISC, Program
from .qrs_ram import SinglePortRam

__all__ = ["QrsSequencer"]

RAM_WORDS = 2 * CELLS            # 4,096 words of 16 bits


def in_layout(width):
    return data.StructLayout({"data": unsigned(width), "last": 1})


def out_layout(program, stream_index):
    """``{value: 32 (A), <the stream's fields>}``."""
    widths = dict(program.out_fields)
    fields = {"value": unsigned(32)}
    fields.update({f: unsigned(widths[f]) for f in program.out_streams[stream_index][1]})
    return data.StructLayout(fields)


class QrsSequencer(Checked, wiring.Component):
    """Runs ``program`` from reset: the shared engine of the R-peak detector, the RR unit and the
    monitor's front end (hw/qrs_detector.py, hw/rr_unit.py, hw/qrs_front_end.py).

    Parameters
    ----------
    program : :class:`~ternecg.hw.qrs_isa.Program`
        An assembled program (hw/qrs_program.py); the ROM holds its words.
    spram : bool or None (keyword-only)
        The data RAM: passed to :class:`~ternecg.hw.qrs_ram.SinglePortRam`.

    Members
    -------
    <in_port> : ``In(stream.Signature({data: unsigned(w), last: 1}))``
        One per input port of the program (``program.in_ports``, named as there); ``IN p``
        takes a transfer (``ready`` is high only while ``IN p`` waits).
    <out_stream> : ``Out(stream.Signature({value: unsigned(32), field: unsigned(width), ...}))``
        One per output stream (``program.out_streams``): ``A`` and the output fields it carries;
        ``SEND s`` raises ``valid`` until the transfer (A and the fields unchanged meanwhile).
    fields : ``Out({field: unsigned(width), ...})``
        Every output field, always visible (a program can publish a status value with ``OUT``).

    Raises
    ------
    TypeError
        ``program`` is not an assembled :class:`~ternecg.hw.qrs_isa.Program`.
    ValueError
        It has no words, more than 1,024, or no input port.
    """

    @classmethod
    def check_arguments(cls, program, *, spram=None):
        if not isinstance(program, Program):
            raise TypeError(f"QrsSequencer needs an assembled Program (hw/qrs_program.py), "
                            f"not {type(program).__name__}")
        if not 1 <= len(program.words) <= 1024:
            raise ValueError(f"QrsSequencer: program {program.name!r} has {len(program.words)} "
                             f"words; 1 .. 1024 fit the 10-bit program counter")
        if not program.in_ports:
            raise ValueError(f"QrsSequencer: program {program.name!r} has no input port")

    def __init__(self, program, *, spram=None):
        self._program = program
        self._spram = spram
        members = {}
        for name, width in program.in_ports:
            members[name] = In(stream.Signature(in_layout(width)))
        for s, (name, _fields) in enumerate(program.out_streams):
            members[name] = Out(stream.Signature(out_layout(program, s)))
        members["fields"] = Out(data.StructLayout({f: unsigned(w) for f, w in program.out_fields}))
        super().__init__(members)

    @property
    def program(self):
        return self._program

    @property
    def rom_words(self):
        return len(self._program.words)

    def elaborate(self, platform):
        m = Module()
        prog = self._program
        m.submodules.ram = ram = SinglePortRam(depth=RAM_WORDS, spram=self._spram)
        m.submodules.rom = rom = Memory(shape=16, depth=max(2, len(prog.words)), init=prog.words,
                                        attrs=ROM_ATTRS)
        fetch = rom.read_port(domain="sync", transparent_for=())

        # --- architectural registers -----------------------------------------------------------
        a = Signal(32)
        fn, fz, fc, ff = Signal(), Signal(), Signal(), Signal()
        x = Signal(7)
        p = Signal(10)
        k = Signal(10)
        link = Signal(10)
        pc = Signal(10)
        half = Signal()                     # executing the second short instruction of a pair
        lo = Signal(16)                     # the low word of a memory operand
        shcnt = Signal(5)
        shleft = Signal()                   # the SHIFT state's direction

        # --- decode: one long-form view of the current (long, branch or short) instruction ----
        ir = fetch.data
        short = Signal(7)
        m.d.comb += short.eq(Mux(half, ir[0:7], ir[7:14]))
        is_pair = ir[15] & ir[14]
        op = Signal(4)                      # long operation (OPS), when not a branch
        operand = Signal(11)
        is_br = Signal()
        cond = Signal(4)
        target = Signal(10)
        sub = Signal(4)                     # MISC sub-operation
        marg = Signal(7)
        m.d.comb += [target.eq(ir[0:10])]
        with m.If(~ir[15]):
            m.d.comb += [op.eq(ir[11:15]), operand.eq(ir[0:11]), sub.eq(ir[7:11]), marg.eq(ir[0:7])]
        with m.Elif(~ir[14]):
            m.d.comb += [is_br.eq(1), cond.eq(ir[10:14])]
        with m.Else():
            so, sr = short[4:7], short[0:4]
            with m.Switch(so):
                with m.Case(0, 1, 2, 3, 4):             # LD ST ADD SUB CMP on hot cell sr
                    m.d.comb += [op.eq(so), operand.eq(sr)]
                with m.Case(5):
                    m.d.comb += [op.eq(OPS["LDI"]), operand.eq(sr.as_signed())]
                with m.Case(6):
                    m.d.comb += [op.eq(OPS["ADDI"]), operand.eq(sr.as_signed())]
                with m.Case(7):
                    m.d.comb += op.eq(OPS["MISC"])
                    with m.Switch(sr):
                        for name, code in SHORT_MISC.items():
                            with m.Case(code):
                                if name == "RET":
                                    m.d.comb += [is_br.eq(1), cond.eq(CONDS["RET"])]
                                elif name[:3] in ("SHR", "SHL"):
                                    m.d.comb += [sub.eq(MISC[name[:3]]), marg.eq(int(name[3:]))]
                                else:
                                    m.d.comb += sub.eq(MISC[name])
        is_mem = ~is_br & (op <= OPS["SBC"])
        is_imm = ~is_br & (op >= OPS["LDI"]) & (op <= OPS["CMPI"])
        is_misc = ~is_br & (op == OPS["MISC"])
        imm = Signal(32)
        m.d.comb += imm.eq(operand.as_signed())

        # --- data address: cell (operand, X, P) and the word within it --------------------------
        second = Signal()                   # the high word of the cell
        cell = Signal(11)
        with m.If(operand[10]):
            m.d.comb += cell.eq(Cat((x - operand[0:7])[0:7], operand[7:10], Const(0, 1)))
        with m.Elif(operand[9]):
            m.d.comb += cell.eq(Cat((p | operand[0:9])[0:10], Const(1, 1)))
        with m.Else():
            m.d.comb += cell.eq(Cat(operand[0:9], Const(0, 1), Const(1, 1)))
        m.d.comb += [ram.addr.eq(Cat(second, cell)), ram.wdata.eq(Mux(second, a[16:32], a[0:16]))]

        # --- the adder: every arithmetic operation and comparison ------------------------------
        operand_m = Signal(32)              # M: the memory operand (RD2) or the immediate (EXEC)
        m.d.comb += operand_m.eq(Mux(is_mem, Cat(lo, ram.rdata), imm))
        is_load = (op == OPS["LD"]) | (op == OPS["LDI"])       # A = M, flags of M, C kept
        subtract = ((op == OPS["SUB"]) | (op == OPS["CMP"]) | (op == OPS["MAX"]) | (op == OPS["MIN"])
                    | (op == OPS["SBC"]) | (op == OPS["CMPI"]))
        with_carry = (op == OPS["ADC"]) | (op == OPS["SBC"])
        total = Signal(33)
        m.d.comb += total.eq(a + (operand_m ^ Mux(subtract, 0xFFFFFFFF, 0)) + Mux(with_carry, fc, subtract))
        result = total[0:32]
        alu = Signal()                      # this cycle applies the adder (flags, maybe A)

        # --- A: one write enable, one source select ----------------------------------------------
        SEL_ALU, SEL_M, SEL_SHIFT, SEL_IN, SEL_REG, SEL_ZERO = range(6)
        a_we = Signal()
        a_sel = Signal(3)
        in_data = Signal(32)
        reg_val = Signal(10)
        left = Signal()                     # shift direction
        m.d.comb += left.eq(shleft)
        a_next = Signal(32)
        with m.Switch(a_sel):
            with m.Case(SEL_ALU):
                m.d.comb += a_next.eq(result)
            with m.Case(SEL_M):
                m.d.comb += a_next.eq(operand_m)
            with m.Case(SEL_SHIFT):
                m.d.comb += a_next.eq(Mux(left, Cat(Const(0, 1), a[0:31]), Cat(a[1:32], a[31])))
            with m.Case(SEL_IN):
                m.d.comb += a_next.eq(in_data)
            with m.Case(SEL_REG):
                m.d.comb += a_next.eq(reg_val)
        with m.If(a_we):
            m.d.sync += a.eq(a_next)
        with m.If(alu):
            with m.If(is_load):
                m.d.sync += [fn.eq(operand_m[31]), fz.eq(operand_m == 0)]
            with m.Else():
                m.d.sync += [fn.eq(result[31]), fz.eq(result == 0), fc.eq(total[32])]
            with m.Switch(op):
                with m.Case(OPS["CMP"], OPS["CMPI"]):
                    pass
                with m.Case(OPS["LD"], OPS["LDI"]):
                    m.d.comb += [a_sel.eq(SEL_M), a_we.eq(1)]
                with m.Case(OPS["MAX"]):
                    m.d.comb += [a_sel.eq(SEL_M), a_we.eq(result[31])]
                with m.Case(OPS["MIN"]):
                    m.d.comb += [a_sel.eq(SEL_M), a_we.eq(~result[31])]
                with m.Default():
                    m.d.comb += [a_sel.eq(SEL_ALU), a_we.eq(1)]

        # --- the ports ---------------------------------------------------------------------------
        ins = [getattr(self, name) for name, _ in prog.in_ports]
        outs = [getattr(self, name) for name, _ in prog.out_streams]
        port_sel = marg[0:max(1, (len(ins) - 1).bit_length())]
        m.d.comb += in_data.eq(ins[0].payload.data)
        for i, port in enumerate(ins[1:], 1):
            with m.If(port_sel == i):
                m.d.comb += in_data.eq(port.payload.data)
        field_regs = {f: Signal(w, name=f"field_{f}") for f, w in prog.out_fields}
        for f, reg in field_regs.items():
            m.d.comb += getattr(self.fields, f).eq(reg)
        for s, o in enumerate(outs):
            m.d.comb += o.payload.value.eq(a)
            for f in prog.out_streams[s][1]:
                m.d.comb += getattr(o.payload, f).eq(field_regs[f])
        out_valid = [Signal(name=f"valid_{name}") for name, _ in prog.out_streams]
        for o, v in zip(outs, out_valid):
            m.d.comb += o.valid.eq(v)

        # --- small registers: one write enable and value each ------------------------------------
        x_we, p_we, k_we, l_we = Signal(), Signal(), Signal(), Signal()
        x_new, p_new, k_new, l_new = Signal(7), Signal(10), Signal(10), Signal(10)
        with m.If(x_we):
            m.d.sync += x.eq(x_new)
        with m.If(p_we):
            m.d.sync += p.eq(p_new)
        with m.If(k_we):
            m.d.sync += k.eq(k_new)
        with m.If(l_we):
            m.d.sync += link.eq(l_new)
        add_reg = marg.as_signed()          # ADDX / ADDP step (a 7-bit signed argument)
        m.d.comb += [
            x_new.eq(Mux(sub == MISC["TAX"], a[0:7], x + add_reg)),
            p_new.eq(Mux(sub == MISC["TAP"], a[0:10], p + add_reg)),
            k_new.eq(Mux(is_br, k - 1, a[0:10])),
            l_new.eq(Mux(is_br, pc + 1, a[0:10])),
        ]
        with m.Switch(sub):
            with m.Case(MISC["TPA"]):
                m.d.comb += reg_val.eq(p)
            with m.Case(MISC["TKA"]):
                m.d.comb += reg_val.eq(k)
            with m.Default():
                m.d.comb += reg_val.eq(link)

        # --- control -----------------------------------------------------------------------------
        done = Signal()                     # the current instruction ends in this cycle
        pc_next = Signal(10)
        taken = Signal()
        m.d.comb += [fetch.en.eq(0), fetch.addr.eq(pc_next),
                     pc_next.eq(Mux(is_br & (cond == CONDS["RET"]), link, Mux(taken, target, pc + 1)))]

        # priority encoder for PSQ: bitlength(A) - 1 over the low 16 bits
        top = Signal(4)
        for i in range(16):
            with m.If(a[i]):
                m.d.comb += top.eq(i)

        flags = {"EQ": fz, "NE": ~fz, "LT": fn, "GE": ~fn, "GT": ~fn & ~fz, "LE": fn | fz,
                 "CS": fc, "CC": ~fc, "F": ff, "NF": ~ff, "JMP": Const(1), "CALL": Const(1),
                 "RET": Const(0), "DJNZ": k != 1}
        for i in range(2):
            flags[f"IV{i}"] = ins[i].valid if i < len(ins) else Const(0)

        with m.FSM():
            with m.State("BOOT"):
                m.d.comb += [pc_next.eq(0), fetch.en.eq(1)]
                m.next = "EXEC"
            with m.State("EXEC"):
                with m.If(is_br):
                    with m.Switch(cond):
                        for name, code in CONDS.items():
                            with m.Case(code):
                                m.d.comb += taken.eq(flags[name])
                    m.d.comb += [k_we.eq(cond == CONDS["DJNZ"]), l_we.eq(cond == CONDS["CALL"]),
                                 done.eq(1)]
                with m.Elif(is_mem):
                    m.d.comb += ram.we.eq(op == OPS["ST"])
                    with m.If(op == OPS["ST"]):
                        m.next = "WR1"
                    with m.Else():
                        m.next = "RD1"
                with m.Elif(is_imm):
                    m.d.comb += [alu.eq(1), done.eq(1)]
                with m.Else():
                    with m.Switch(sub):
                        with m.Case(MISC["SHR"], MISC["SHL"]):
                            m.d.comb += [a_sel.eq(SEL_SHIFT), a_we.eq(1), left.eq(sub == MISC["SHL"])]
                            m.d.sync += [shcnt.eq(marg - 1), shleft.eq(sub == MISC["SHL"])]
                            with m.If(marg == 1):
                                m.d.comb += done.eq(1)
                            with m.Else():
                                m.next = "SHIFT"
                        with m.Case(MISC["PSQ"]):
                            m.d.sync += [shleft.eq(1), shcnt.eq(top)]
                            with m.If(a[31] | (a == 0)):
                                m.d.comb += [a_sel.eq(SEL_ZERO), a_we.eq(1), done.eq(1)]
                            with m.Elif(top == 0):
                                m.d.comb += done.eq(1)
                            with m.Else():
                                m.next = "SHIFT"
                        with m.Case(MISC["TAX"], MISC["ADDX"]):
                            m.d.comb += [x_we.eq(1), done.eq(1)]
                        with m.Case(MISC["TAP"], MISC["ADDP"]):
                            m.d.comb += [p_we.eq(1), done.eq(1)]
                        with m.Case(MISC["TAK"]):
                            m.d.comb += [k_we.eq(1), done.eq(1)]
                        with m.Case(MISC["TAL"]):
                            m.d.comb += [l_we.eq(1), done.eq(1)]
                        with m.Case(MISC["TPA"], MISC["TKA"], MISC["TLA"]):
                            m.d.comb += [a_sel.eq(SEL_REG), a_we.eq(1), done.eq(1)]
                        with m.Case(MISC["IN"]):
                            for i, port in enumerate(ins):
                                with m.If(port_sel == i):
                                    m.d.comb += port.ready.eq(1)
                                    with m.If(port.valid):
                                        m.d.sync += ff.eq(port.payload.last)
                                        m.d.comb += [a_sel.eq(SEL_IN), a_we.eq(1), done.eq(1)]
                        with m.Case(MISC["OUT"]):
                            for i, reg in enumerate(field_regs.values()):
                                with m.If(marg == i):
                                    m.d.sync += reg.eq(a)
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["SEND"]):
                            for i, v in enumerate(out_valid):
                                with m.If(marg == i):
                                    m.d.sync += v.eq(1)
                            m.next = "SENDW"
                        with m.Default():                     # NOP
                            m.d.comb += done.eq(1)
            with m.State("RD1"):
                m.d.comb += second.eq(1)
                m.d.sync += lo.eq(ram.rdata)
                m.next = "RD2"
            with m.State("RD2"):
                m.d.comb += [alu.eq(1), done.eq(1)]
                m.next = "EXEC"
            with m.State("WR1"):
                m.d.comb += [second.eq(1), ram.we.eq(1), done.eq(1)]
                m.next = "EXEC"
            with m.State("SHIFT"):
                m.d.comb += [a_sel.eq(SEL_SHIFT), a_we.eq(1)]
                m.d.sync += shcnt.eq(shcnt - 1)
                with m.If(shcnt == 1):
                    m.d.comb += done.eq(1)
                    m.next = "EXEC"
            with m.State("SENDW"):
                for i, (o, v) in enumerate(zip(outs, out_valid)):
                    with m.If((marg == i) & o.ready):
                        m.d.sync += v.eq(0)
                        m.d.comb += done.eq(1)
                        m.next = "EXEC"

        # next instruction: the second half of a pair, or the word at pc_next
        with m.If(done):
            with m.If(is_pair & ~half & ~is_br):
                m.d.sync += half.eq(1)
            with m.Else():
                m.d.sync += [half.eq(0), pc.eq(pc_next)]
                m.d.comb += fetch.en.eq(1)
        return m
