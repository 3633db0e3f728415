"""Instruction-level model of the front-end micro-sequencer (hw/qrs_isa.py), in plain Python.

:class:`Machine` executes an assembled :class:`~ternecg.hw.qrs_isa.Program` exactly as the
gateware (hw/qrs_sequencer.py) does, instruction by instruction, and counts the clock cycles the
gateware takes for each (when its input is waiting and its output is taken at once). It is the
fast check of the programs against the golden references (tests/hw/test_qrs_program.py) and the
reference the gateware is tested against (same outputs, same cycle counts).

Inputs are queues of ``(data, last)`` items per port (:meth:`Machine.put`); :meth:`Machine.run`
executes until an ``IN`` finds its port empty and returns the output transfers produced meanwhile
(each a dict of the output fields). The data memory starts with random contents (an iCE40 SPRAM
has no initial value), so a program that reads a cell it never wrote is caught; the return stack
is kept apart and checked (16 entries), and so is PSQ's operand range.
"""

from __future__ import annotations

import random
from collections import deque

from .qrs_isa import (CELLS, CONDS, DIRECT_BASE, HISTORY_BASE, K_BITS, LINE_CELLS, P_BITS, PSQ_BITS,
                      RING_BASE, RING_FIELDS, STACK_BASE, STACK_DEPTH, X_BITS, decode_word)

__all__ = ["Machine", "MachineError"]

M32 = 0xFFFFFFFF
K_MASK = (1 << K_BITS) - 1
X_MASK = (1 << X_BITS) - 1
P_MASK = (1 << P_BITS) - 1

# one integer kind per instruction (memory ops, immediates, MISC, branches)
_K = {name: i for i, name in enumerate(
    ["LD", "ADD", "SUB", "CMP", "MAX", "MIN", "ST", "STK", "STP", "LDI", "ADDI", "SUBI", "CMPI",
     "SHR", "SHL", "PSQ", "TAX", "ADDX", "TAP", "ADDP", "TAK", "IN", "OUT", "SEND", "NOP", "RET"]
    + ["B" + c for c in CONDS])}


class MachineError(RuntimeError):
    """The program did something the hardware cannot (a bug in the program)."""


def _s32(v):
    v &= M32
    return v - (1 << 32) if v >> 31 else v


class Machine:
    """Runs a program; see the module docstring.

    Parameters
    ----------
    program : :class:`~ternecg.hw.qrs_isa.Program`
    seed : int or None
        Seed of the random initial memory (None: zeros).
    """

    def __init__(self, program, *, seed=1):
        self.program = program
        self._code, self._word_start = [], []
        for w in program.words:
            self._word_start.append(len(self._code))
            self._code.extend(self._compile(i) for i in decode_word(w))
        self._word_start.append(len(self._code))
        # branch targets and return addresses are word addresses; the model runs instructions
        ws = self._word_start
        self._code = [(k, ws[a]) if k >= _K["BJMP"] else (k, a) for k, a in self._code]
        self._word_of = {}
        for wi in range(len(program.words)):
            for ii in range(ws[wi], ws[wi + 1]):
                self._word_of[ii] = wi
        self.widths = [w for _, w in program.out_fields]
        rng = random.Random(seed) if seed is not None else None
        self.mem = [rng.getrandbits(32) if rng else 0 for _ in range(CELLS)]
        self.inputs = [deque() for _ in range(max(1, len(program.in_ports)))]
        self.reset()

    def reset(self):
        """Registers to their reset values (the memory keeps its contents, as the SPRAM does)."""
        self.pc = 0
        self.a = 0
        self.n = self.z = self.c = self.f = 0
        self.x = self.p = self.k = 0
        self.stack = []
        self.out = [0] * len(self.widths)
        self.cycles = 0
        self.instructions = 0
        for q in self.inputs:
            q.clear()

    @staticmethod
    def _compile(ins):
        return (_K[ins.op], ins.arg)

    def put(self, port, data, last=False):
        """Queue one input transfer on ``port``."""
        self.inputs[port].append((int(data), int(bool(last))))

    # ------------------------------------------------------------------------------------------
    def run(self, max_instructions=None):
        """Execute until an ``IN`` waits on an empty port; return the output transfers (dicts)."""
        out = []
        code, mem = self._code, self.mem
        pc, a, fn, fz, fc, ff = self.pc, self.a, self.n, self.z, self.c, self.f
        x, p, k, stack = self.x, self.p, self.k, self.stack
        cycles = self.cycles
        count = 0
        names = [nm for nm, _ in self.program.out_fields]
        K = _K
        LD, ADD, SUB, CMP, MAX, MIN = (K[n] for n in ("LD", "ADD", "SUB", "CMP", "MAX", "MIN"))
        ST, STK, STP = K["ST"], K["STK"], K["STP"]
        LDI, ADDI, SUBI, CMPI = K["LDI"], K["ADDI"], K["SUBI"], K["CMPI"]
        B0 = K["BJMP"]
        ws, word_of = self._word_start, self._word_of
        SHR, SHL, PSQ = K["SHR"], K["SHL"], K["PSQ"]
        limit = max_instructions
        try:
            while True:
                if limit is not None and count >= limit:
                    break
                kind, arg = code[pc]
                count += 1
                if kind <= STP:                                  # memory operand
                    if arg & 0x400:
                        cell = ((arg >> 7) & 7) * LINE_CELLS + ((x - arg) & 0x7F)
                    elif arg & 0x300 == 0x300:
                        cell = HISTORY_BASE + x
                    elif arg & 0x200:
                        cell = RING_BASE + RING_FIELDS * p + (arg & 0x1F)
                    else:
                        cell = DIRECT_BASE + (arg & 0xFF)
                        if (arg & 0xFF) >= STACK_BASE:
                            raise MachineError(f"{self.program.name}: direct cell {arg & 0xFF} at "
                                               f"{pc} is the return stack's")
                    if kind >= ST:
                        mem[cell] = a if kind == ST else (k if kind == STK else p)
                        cycles += 2
                        pc += 1
                        continue
                    m = mem[cell]
                    cycles += 3
                elif kind <= CMPI:
                    m = arg
                    cycles += 2
                else:
                    m = None
                if m is not None:
                    # the adder: A (or, for LD/LDI, nothing) + (M or ~M) + carry-in
                    if kind == LD or kind == LDI:
                        r = m
                        carry = fc                               # LD/LDI keep C
                    elif kind == ADD or kind == ADDI:
                        t = a + m
                        r, carry = t & M32, t >> 32
                    else:                                        # SUB SUBI CMP MAX MIN CMPI
                        t = a + (m ^ M32) + 1
                        r, carry = t & M32, t >> 32
                    fn, fz, fc = r >> 31, int(r == 0), carry
                    if kind == CMP or kind == CMPI:
                        pass
                    elif kind == MAX:
                        if fn:
                            a = m
                            cycles += 2                          # M read again
                    elif kind == MIN:
                        if not fn:
                            a = m
                            cycles += 2
                    else:
                        a = r
                    pc += 1
                    continue
                if kind >= B0:                                   # branches
                    cond = kind - B0
                    cycles += 1
                    if cond == 0:
                        taken = True
                    elif cond == 1:
                        if len(stack) >= STACK_DEPTH:
                            raise MachineError(f"{self.program.name}: CALL at {pc}: the return "
                                               f"stack holds {STACK_DEPTH} entries")
                        stack.append(word_of[pc] + 1)
                        cycles += 1
                        taken = True
                    elif cond == 2:
                        taken = fz
                    elif cond == 3:
                        taken = not fz
                    elif cond == 4:
                        taken = fn
                    elif cond == 5:
                        taken = not fn
                    elif cond == 6:
                        taken = not fn and not fz
                    elif cond == 7:
                        taken = fn or fz
                    elif cond == 8:
                        taken = fc
                    elif cond == 9:
                        taken = not fc
                    elif cond == 10:
                        k = (k - 1) & K_MASK
                        taken = k != 0
                    elif cond == 11:
                        taken = ff
                    elif cond == 12:
                        taken = not ff
                    else:
                        port = cond - 13
                        taken = port < len(self.inputs) and bool(self.inputs[port])
                    pc = arg if taken else pc + 1
                    continue
                # MISC
                if kind == SHR:
                    a = (_s32(a) >> arg) & M32
                    cycles += 2 * arg
                elif kind == SHL:
                    a = (a << arg) & M32
                    cycles += 2 * arg
                elif kind == PSQ:
                    if a >= 1 << PSQ_BITS:
                        raise MachineError(f"{self.program.name}: PSQ of {_s32(a)} at {pc}: the "
                                           f"operand must be 0 .. 2^{PSQ_BITS} - 1")
                    bl = a.bit_length()
                    if bl > 1:
                        a <<= bl - 1
                        cycles += 2 * (bl - 1)
                    else:
                        cycles += 1
                elif kind == K["TAX"]:
                    x = a & X_MASK
                    cycles += 1
                elif kind == K["ADDX"]:
                    x = (x + arg) & X_MASK
                    cycles += 1
                elif kind == K["TAP"]:
                    p = a & P_MASK
                    cycles += 1
                elif kind == K["ADDP"]:
                    p = (p + arg) & P_MASK
                    cycles += 1
                elif kind == K["TAK"]:
                    k = a & K_MASK
                    cycles += 1
                elif kind == K["IN"]:
                    q = self.inputs[arg]
                    if not q:
                        count -= 1
                        break                                    # wait for input (PC stays)
                    data, ff = q.popleft()
                    a = data & M32
                    cycles += 2
                elif kind == K["OUT"]:
                    self.out[arg] = a & ((1 << self.widths[arg]) - 1)
                    cycles += 1
                elif kind == K["SEND"]:
                    item = dict(zip(names, self.out))
                    item["value"] = a
                    item["stream"] = arg
                    item["cycle"] = cycles + 1            # the transfer's cycle (no back-pressure)
                    out.append(item)
                    cycles += 2
                elif kind == K["NOP"]:
                    cycles += 1
                elif kind == K["RET"]:
                    if not stack:
                        raise MachineError(f"{self.program.name}: RET at {pc} with an empty "
                                           f"return stack")
                    pc = ws[stack.pop()]
                    cycles += 2
                    continue
                else:
                    raise MachineError(f"unknown instruction kind {kind} at {pc}")
                pc += 1
        except IndexError:
            raise MachineError(f"{self.program.name}: PC {pc} ran off the program") from None
        self.pc, self.a, self.n, self.z, self.c, self.f = pc, a, fn, fz, fc, ff
        self.x, self.p, self.k = x, p, k
        self.cycles = cycles
        self.instructions += count
        return out

    # ------------------------------------------------------------------------------------------
    def cell(self, name):
        """Value of a named direct cell (signed 32-bit)."""
        return _s32(self.mem[DIRECT_BASE + self.program.cells[name]])
