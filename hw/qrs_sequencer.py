"""The front end's micro-sequencer: runs a program of hw/qrs_isa.py (gateware).

A multi-cycle 32-bit accumulator machine on a 16-bit datapath: the program in a block-RAM ROM
(16-bit words), the data in a :class:`~ternecg.hw.qrs_ram.SinglePortRam` (16-bit words, two per
32-bit cell; one SPRAM on the iCE40 UP5K), and one 16-bit adder through which every 32-bit
operation runs as two *digit steps*: the low halves in the cycle the RAM delivers the operand's
low word, the high halves (with the carry) in the next. A digit step reads ``X`` (the
accumulator's half) and ``Y`` (one of four sources: the RAM word, the immediate, the accumulator
half shifted by one bit, the input port) and writes the result, ``Y`` itself (loads, shifts,
input) or nothing (compares) back into that half. The return stack lives in the data RAM.
Every instruction takes exactly the cycles :mod:`ternecg.hw.qrs_model` counts (the instruction set
table in hw/qrs_isa.py), so the model predicts the cycle count of any input: the tests check the
gateware against it, and the model against the golden references.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .params import ROM_ATTRS
from .qrs_isa import (CELLS, CONDS, DIRECT_BASE, K_BITS, MISC, OPS, P_BITS, PSQ_BITS, ROM_WORDS,
                      SHIFT_CODES, STACK_BASE, X_BITS, Program)
from .qrs_ram import SinglePortRam

__all__ = ["QrsSequencer"]

RAM_WORDS = 2 * CELLS            # 8,192 words of 16 bits


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
        An assembled program (hw/qrs_program.py); the ROM holds its words (its program counter
        is as wide as they need).
    spram : bool or None (keyword-only)
        The data RAM: passed to :class:`~ternecg.hw.qrs_ram.SinglePortRam`.

    Members
    -------
    <in_port> : ``In(stream.Signature({data: unsigned(w), last: 1}))``
        One per input port of the program (``program.in_ports``, named as there; ``w`` up to
        32). ``IN p`` takes a transfer in its second cycle; ``ready`` is high only while ``IN p``
        waits without data and in that transfer cycle.
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
        It has no words, more than 1,024, no input port, or a port or field wider than 32 bits.
    """

    @classmethod
    def check_arguments(cls, program, *, spram=None):
        if not isinstance(program, Program):
            raise TypeError(f"QrsSequencer needs an assembled Program (hw/qrs_program.py), "
                            f"not {type(program).__name__}")
        if not 1 <= len(program.words) <= ROM_WORDS:
            raise ValueError(f"QrsSequencer: program {program.name!r} has {len(program.words)} "
                             f"words; 1 .. {ROM_WORDS} fit the 10-bit branch targets")
        if not program.in_ports:
            raise ValueError(f"QrsSequencer: program {program.name!r} has no input port")
        for name, width in list(program.in_ports) + list(program.out_fields):
            if not 1 <= width <= 32:
                raise ValueError(f"QrsSequencer: program {program.name!r}: {name!r} is {width} bits "
                                 f"wide; ports and fields have 1 .. 32 (the accumulator)")

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
        pcw = max(1, (len(prog.words) - 1).bit_length())
        m.submodules.ram = ram = SinglePortRam(depth=RAM_WORDS, spram=self._spram)
        m.submodules.rom = rom = Memory(shape=16, depth=max(2, len(prog.words)), init=prog.words,
                                        attrs=ROM_ATTRS)
        fetch = rom.read_port(domain="sync", transparent_for=())

        # --- architectural registers -----------------------------------------------------------
        al, ah = Signal(16), Signal(16)     # the accumulator A = ah:al
        fn, fz, fc, ff = Signal(), Signal(), Signal(), Signal()
        x = Signal(X_BITS)
        p = Signal(P_BITS)
        k = Signal(K_BITS)
        sp = Signal(4)                      # return stack entries
        pc = Signal(pcw)
        half = Signal()                     # executing the second short instruction of a pair
        zlo = Signal()                      # the low digit's result was 0
        cd = Signal()                       # carry (or shifted-out bit) from the low digit
        cnt = Signal(5)                     # shift bits still to do after the current one
        again = Signal()                    # MAX / MIN: the second pass, A = M

        # --- decode: one long-form view (op, operand) of the current instruction ---------------
        # a short instruction is its long operation 0..7 with the operand r in bits 3..0
        ir = fetch.data
        short = Signal(7)
        m.d.comb += short.eq(Mux(half, ir[0:7], ir[7:14]))
        is_pair = ir[15] & ir[14]
        is_br = ir[15] & ~ir[14]
        cond = ir[10:14]
        op = Signal(4)
        operand = Signal(11)
        m.d.comb += [op.eq(Mux(is_pair, short[4:7], ir[11:15])),
                     operand.eq(Mux(is_pair, short[0:4], ir[0:11]))]
        sub = operand[0:4]
        arg = operand[4:11]

        def is_op(*names):
            return ~is_br & Cat(*(op == OPS[n] for n in names)).any()

        def is_sub(*names):
            codes = [c for n in names for c in SHIFT_CODES.get(n, (MISC[n],))]
            return is_op("MISC") & Cat(*(sub == c for c in codes)).any()

        rd_op = is_op("LD", "ADD", "SUB", "CMP", "MAX", "MIN")
        st_op = is_op("ST", "STK", "STP")
        imm_op = is_op("LDI", "ADDI", "SUBI", "CMPI")
        maxmin = is_op("MAX", "MIN")
        shift_op = is_sub("SHR", "SHL", "PSQ")
        left_op = is_sub("SHL", "PSQ")
        in_op = is_sub("IN")
        is_call = is_br & (cond == CONDS["CALL"])

        # --- the ports ---------------------------------------------------------------------------
        ins = [getattr(self, name) for name, _ in prog.in_ports]
        outs = [getattr(self, name) for name, _ in prog.out_streams]
        port_sel = arg[0:max(1, (len(ins) - 1).bit_length())]
        in_data = Signal(32)
        in_valid = Signal()
        in_last = Signal()
        m.d.comb += [in_data.eq(ins[0].payload.data), in_valid.eq(ins[0].valid),
                     in_last.eq(ins[0].payload.last)]
        for i, port in enumerate(ins[1:], 1):
            with m.If(port_sel == i):
                m.d.comb += [in_data.eq(port.payload.data), in_valid.eq(port.valid),
                             in_last.eq(port.payload.last)]
        in_ready = Signal()
        for i, port in enumerate(ins):
            m.d.comb += port.ready.eq(in_ready & (port_sel == i))
        field_regs = {f: Signal(w, name=f"field_{f}") for f, w in prog.out_fields}
        for f, reg in field_regs.items():
            m.d.comb += getattr(self.fields, f).eq(reg)
        for s, o in enumerate(outs):
            m.d.comb += o.payload.value.eq(Cat(al, ah))
            for f in prog.out_streams[s][1]:
                m.d.comb += getattr(o.payload, f).eq(field_regs[f])
        out_valid = [Signal(name=f"valid_{name}") for name, _ in prog.out_streams]
        for o, v in zip(outs, out_valid):
            m.d.comb += o.valid.eq(v)

        # --- the digit step: X (a half of A) op Y -> that half of A ------------------------------
        d = Signal()                        # the digit: 0 low, 1 high
        step = Signal()                     # a digit step happens in this cycle
        xd = Signal(16)
        imm_digit = Mux(d, 0, operand)              # unsigned: the high half is 0
        shifted = Mux(left_op, Cat(d & cd, xd[0:15]), Cat(xd[1:16], Mux(d, xd[15], ah[0])))
        in_digit = Mux(d, in_data[16:32], in_data[0:16])
        y = Signal(16)
        m.d.comb += y.eq((ram.rdata & rd_op.replicate(16)) | (imm_digit & imm_op.replicate(16))
                         | (shifted & shift_op.replicate(16)) | (in_digit & in_op.replicate(16)))
        load = is_op("LD", "LDI") | again | shift_op | in_op        # A = Y
        inv = ~again & is_op("SUB", "SUBI", "CMP", "MAX", "MIN", "CMPI")
        yv = Signal(16)
        m.d.comb += yv.eq(y ^ inv.replicate(16))
        total = Signal(17)
        m.d.comb += total.eq(xd + yv + Mux(d, cd, inv))
        result = Signal(16)
        m.d.comb += result.eq(Mux(load, yv, total[0:16]))
        write_a = ~is_op("CMP", "CMPI") & ~(maxmin & ~again)
        flags = (rd_op | imm_op) & ~again
        keep_c = is_op("LD", "LDI")
        with m.If(step):
            with m.If(write_a):
                with m.If(d):
                    m.d.sync += ah.eq(result)
                with m.Else():
                    m.d.sync += al.eq(result)
            with m.If(~d):
                m.d.sync += [cd.eq(Mux(left_op, xd[15], total[16])), zlo.eq(result == 0)]
            with m.Elif(flags):
                m.d.sync += [fn.eq(result[15]), fz.eq(zlo & (result == 0))]
                with m.If(~keep_c):
                    m.d.sync += fc.eq(total[16])

        # --- data address: the operand's cell (line, ring field, history, direct) or the stack ---
        second = Signal()                   # the high word of the cell
        cell = Signal(12)
        stack = Signal()                    # a CALL writes or a RET reads the return stack
        with m.If(stack):
            m.d.comb += cell.eq(DIRECT_BASE + STACK_BASE + sp)
        with m.Elif(operand[10]):
            m.d.comb += cell.eq(Cat((x[0:7] - operand[0:7])[0:7], operand[7:10]))
        with m.Elif(operand[9] & operand[8]):
            m.d.comb += cell.eq(Cat(x, Const(1, 1)))
        with m.Elif(operand[9]):
            m.d.comb += cell.eq(Cat(operand[0:5], p, Const(1, 1)))
        with m.Else():
            m.d.comb += cell.eq(DIRECT_BASE + operand[0:8])
        # the write data: a half of A (ST), or a register (CALL: the return address, STK, STP;
        # their high word 0); xd is 0 for those (the adder is idle then)
        small = is_call | is_op("STK", "STP")
        m.d.comb += [ram.addr.eq(Cat(second, cell)),
                     ram.wdata.eq(xd | Mux(is_call, pc + 1, 0)
                                  | Mux(is_op("STK") & ~d, k, 0) | Mux(is_op("STP") & ~d, p, 0))]

        m.d.comb += xd.eq(Mux(d, ah, al) & ~small.replicate(16))

        # --- control -----------------------------------------------------------------------------
        done = Signal()                     # the current instruction ends in this cycle
        pc_next = Signal(pcw)
        taken = Signal()
        from_stack = Signal()
        m.d.comb += [fetch.en.eq(0), fetch.addr.eq(pc_next),
                     pc_next.eq(Mux(from_stack, ram.rdata[0:pcw], Mux(taken, ir[0:pcw], pc + 1)))]

        # PSQ: its shifts less one, bitlength(A) - 2, from bits PSQ_BITS-1..1 of A (A >= 2)
        psq_cnt = Signal(4)
        for i in range(1, PSQ_BITS):
            with m.If(al[i]):
                m.d.comb += psq_cnt.eq(i - 1)

        conds = {"EQ": fz, "NE": ~fz, "LT": fn, "GE": ~fn, "GT": ~fn & ~fz, "LE": fn | fz,
                 "CS": fc, "CC": ~fc, "F": ff, "NF": ~ff, "JMP": Const(1), "CALL": Const(1),
                 "DJNZ": k != 1}
        for i in range(2):
            conds[f"IV{i}"] = ins[i].valid if i < len(ins) else Const(0)
        with m.If(is_br):
            with m.Switch(cond):
                for name, code in CONDS.items():
                    with m.Case(code):
                        m.d.comb += taken.eq(conds[name])

        with m.FSM():
            with m.State("BOOT"):
                m.d.comb += [pc_next.eq(0), fetch.en.eq(1)]
                m.next = "EXEC"
            with m.State("EXEC"):
                with m.If(is_br):
                    with m.If(cond == CONDS["DJNZ"]):
                        m.d.sync += k.eq(k - 1)
                    with m.If(is_call):
                        m.d.sync += sp.eq(sp + 1)
                        m.next = "CALL"
                    with m.Else():
                        m.d.comb += done.eq(1)
                with m.Elif(rd_op):
                    m.next = "LOW"
                with m.Elif(st_op):
                    m.d.comb += ram.we.eq(1)
                    m.next = "STORE"
                with m.Elif(imm_op):
                    m.d.comb += step.eq(1)
                    m.next = "HIGH"
                with m.Else():
                    with m.Switch(sub):
                        with m.Case(*SHIFT_CODES["SHL"], *SHIFT_CODES["SHR"]):
                            m.d.comb += step.eq(1)
                            m.d.sync += cnt.eq(Cat(sub[0], arg[0:4]))
                            m.next = "HIGH"
                        with m.Case(MISC["PSQ"]):
                            m.d.sync += cnt.eq(psq_cnt)
                            with m.If(al[1:PSQ_BITS] == 0):
                                m.d.comb += done.eq(1)
                            with m.Else():
                                m.d.comb += step.eq(1)
                                m.next = "HIGH"
                        with m.Case(MISC["TAX"]):
                            m.d.sync += x.eq(al)
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["ADDX"]):
                            m.d.sync += x.eq(x + arg.as_signed() + 1)
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["TAP"]):
                            m.d.sync += p.eq(al)
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["ADDP"]):
                            m.d.sync += p.eq(p + arg + 1)
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["RET"]):
                            m.d.comb += stack.eq(1)
                            m.next = "RET"
                        with m.Case(MISC["TAK"]):
                            m.d.sync += k.eq(al)
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["IN"]):
                            m.d.comb += in_ready.eq(~in_valid)
                            with m.If(in_valid):
                                m.d.comb += step.eq(1)
                                m.next = "HIGH"
                        with m.Case(MISC["OUT"]):
                            for i, reg in enumerate(field_regs.values()):
                                with m.If(arg == i):
                                    m.d.sync += reg.eq(Cat(al, ah))
                            m.d.comb += done.eq(1)
                        with m.Case(MISC["SEND"]):
                            for i, v in enumerate(out_valid):
                                with m.If(arg == i):
                                    m.d.sync += v.eq(1)
                            m.next = "SEND"
                        with m.Default():                     # NOP
                            m.d.comb += done.eq(1)
            with m.State("LOW"):                # the operand's low word arrives; read the high one
                m.d.comb += [step.eq(1), second.eq(1)]
                m.next = "HIGH"
            with m.State("HIGH"):
                m.d.comb += [step.eq(1), d.eq(1)]
                with m.If(maxmin & ~again & (result[15] ^ is_op("MIN"))):
                    m.d.sync += again.eq(1)             # A takes M: read it again
                    m.next = "LOW"
                with m.Elif(shift_op & (cnt != 0)):
                    m.d.sync += cnt.eq(cnt - 1)
                    m.next = "LOW"
                with m.Else():
                    m.d.comb += done.eq(1)
                    m.d.sync += again.eq(0)
                    m.next = "EXEC"
                with m.If(in_op):
                    m.d.comb += in_ready.eq(1)
                    m.d.sync += ff.eq(in_last)
            with m.State("STORE"):
                m.d.comb += [d.eq(1), second.eq(1), ram.we.eq(1), done.eq(1)]
                m.next = "EXEC"
            with m.State("CALL"):               # push the next word's address
                m.d.comb += [stack.eq(1), ram.we.eq(1), done.eq(1)]
                m.next = "EXEC"
            with m.State("RET"):                # the return address arrives
                m.d.comb += [from_stack.eq(1), done.eq(1)]
                m.d.sync += sp.eq(sp - 1)
                m.next = "EXEC"
            with m.State("SEND"):
                for i, (o, v) in enumerate(zip(outs, out_valid)):
                    with m.If((arg == i) & o.ready):
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
