"""The front end's micro-sequencer: instruction set, encoding and assembler (torch-free, numpy-free).

The R-peak detector (docs/arithmetic.md section 9), the RR codes (section 6) and the monitor's
beat bookkeeping (section 10.4) run as *programs* on one small sequencer (hw/qrs_sequencer.py):
a 32-bit accumulator machine with a 16-bit instruction ROM (iCE40 block RAM, 256 words each) and a
16-bit data RAM (one iCE40 UP5K SPRAM, hw/qrs_ram.py) that holds the delay lines, the candidate
table, the return stack, every register of the detector and the history of raw samples the
beat windows are cut from. This module defines the instruction
set and assembles programs written in Python (hw/qrs_program.py); hw/qrs_model.py runs them
instruction by instruction; the gateware runs the same words. As with the conv engine
(hw/schedule.py -> hw/engine.py), the hardware stays a thin interpreter and the algorithm is data
that plain Python can test.

The datapath is 16 bits wide: every 32-bit operation runs as two *digit steps* (low half, then
high half, the carry in between), which costs nothing for memory operands (the RAM delivers a cell
one 16-bit word per cycle anyway) and one cycle for an immediate; a shift moves one bit of the
whole accumulator per two cycles. Immediates are unsigned (``ADDI`` of a negative value is
assembled as ``SUBI``), so the high half of an immediate is always 0.

Machine state
-------------
``A``  32-bit accumulator.  ``N Z C`` flags (every ALU operation goes through the adder:
``N`` = bit 31 of the result, ``Z`` = result == 0, ``C`` = carry out; for a subtraction ``C`` =
no borrow, i.e. ``A >= M`` unsigned; ``LD``/``LDI`` set ``N Z`` of the value and keep ``C``;
shifts, ``IN`` and the register transfers keep every flag). ``F`` the ``last`` flag of the latest
``IN``.  ``X`` 11-bit position (delay lines use its low 7 bits), ``P`` 5-bit ring entry, ``K``
8-bit loop counter, ``SP`` 4-bit return stack pointer, ``PC``. Data memory: 4,096 cells of 32
bits, each two 16-bit RAM words (low word first).

Memory map and operands (11-bit field)
--------------------------------------
Cells 0..1023 are eight delay lines of 128 cells; lines 6 and 7 are also the 256 *direct* cells
(direct cell ``a`` is cell ``768 + a``): 0..127 the scalars that a record start clears (through
line 6, in the clearing loop over ``X``; 0..15 are the *hot* cells that short instructions
name), 128..239 persistent scalars, 240..255 the return stack (one entry per cell). Cells
1024..2047 are 32 ring entries of 32 fields (entry ``j``, field ``f``: cell ``1024 + 32 j + f``).
Cells 2048..4095 are the *history*: cell ``2048 + X`` (a record's raw sample ``n`` in cell
``2048 + n mod 2048``).

``1 lll ggggggg``  line ``l`` (0..7) at lag ``g``: cell ``l * 128 + ((X - g) mod 128)``. A delay
                   line keeps ``v[n]`` in cell ``l * 128 + n mod 128``, so with ``X = n mod 128``
                   the operand ``line(l, g)`` is ``v[n - g]`` (``g`` <= 127). Programs use lines
                   0..5; line 6 is the cleared scalars.
``01 0000 fffff``  ring field ``f`` (0..31) of entry ``P``: cell ``1024 + 32 P + f``.
``01 1000 00000``  the history at ``X``: cell ``2048 + X``.
``00 0 aaaaaaaa``  direct cell ``a`` (0..255): cell ``768 + a``.

Instruction words (16 bits)
---------------------------
``0 oooo xxxxxxxxxxx``   a long instruction: operation ``o`` (:data:`OPS`) with an 11-bit memory
                         operand, an unsigned immediate, or (``MISC``) a 7-bit argument ``a``
                         (bits 10..4) and a 4-bit sub-operation ``s`` (:data:`MISC`, bits 3..0).
``1 0 cccc tttttttttt``  branch to word ``t`` on condition ``c`` (:data:`CONDS`).
``1 1 sssssss sssssss``  two short instructions, the first in bits 13..7: ``ooo rrrr``, the long
                         operation ``ooo`` (0..7) with the operand ``r`` (bits 3..0; the others
                         0): ``LD ST ADD SUB`` on hot cell ``r``, ``SUBI LDI ADDI`` with the
                         immediate ``r`` (0..15), ``MISC`` sub-operation ``r`` with argument 0. A
                         short instruction does exactly what its long form does, in the same
                         cycles; a pair takes the sum.

========  ======  =============================================================  ======
op        operand  effect                                                          cycles
========  ======  =============================================================  ======
LD        mem     A = M (flags N Z)                                               3
ST        mem     M = A                                                           2
ADD       mem     A = A + M                                                       3
SUB       mem     A = A - M                                                       3
SUBI      imm     A = A - imm                                                     2
LDI       imm     A = imm (0..2047; flags N Z)                                    2
ADDI      imm     A = A + imm                                                     2
MISC      sub,arg :data:`MISC` operations                                         (below)
MAX       mem     flags of A - M; A = M if N                                      3, 5 if A = M
MIN       mem     flags of A - M; A = M unless N                                  3, 5 if A = M
CMPI      imm     flags of A - imm                                                2
STK       mem     M = K                                                           2
STP       mem     M = P                                                           2
CMP       mem     flags of A - M                                                  3
========  ======  =============================================================  ======

Comparisons are on the 32-bit difference (``N`` = its bit 31): exact for values whose difference
fits 31 bits, and wrap-safe for sample positions (``t - deadline`` is right across the 32-bit
wrap). ``C`` after ``CMP`` / ``CMPI`` / ``SUB`` is the unsigned ``A >= M``. ``MAX`` / ``MIN`` read
``M`` a second time when ``A`` takes it.

MISC (argument ``a``, 7 bits; the short form has ``a = 0``): ``SHL k`` and ``SHR k`` (shift left,
arithmetic shift right, by ``k`` = 1..31: sub-operations 12, 13 and 14, 15 with ``k - 1 = 2 a +
(s mod 2)``, so that the short forms shift by 1 and 2; ``2 k`` cycles), ``PSQ`` (``A = A <<
(bitlength(A) - 1)`` for ``0 <= A < 2^13``, 0 stays 0; ``max(1, 2 (bitlength - 1))`` cycles;
the detector's ``e`` is below 2^13 up to 384 Hz, docs/arithmetic.md 9.6),
``TAX`` (X = A mod 2048), ``ADDX k`` (X += k mod 2048, ``k = a + 1`` with ``a`` signed: -63..64), ``TAP``
(P = A mod 32), ``ADDP k`` (P += k mod 32, as ``ADDX``), ``TAK`` (K = A mod 256), ``IN p`` (wait
for input ``p``; A = its data, F = its ``last``; two cycles plus the wait; ``ready`` is high
while the port has no data and in the transfer cycle, the second), ``OUT f`` (output field ``f``
= the low bits of A; the fields are also visible as status), ``SEND s`` (offer ``A`` and the
stream's output fields on output stream ``s``: its ``valid`` until the transfer, A and the
fields unchanged meanwhile; 2 cycles plus the wait), ``RET`` (pop the return stack and jump
there; 2 cycles), ``NOP``. 1 cycle unless stated.

Conditions (1 cycle): ``JMP`` (always), ``CALL`` (push the next word's address on the return
stack; 2 cycles), ``EQ`` ``NE`` (Z), ``LT`` ``GE`` (N), ``GT`` ``LE``, ``CS`` ``CC`` (C), ``DJNZ``
(K = K - 1; taken if K != 0), ``F`` ``NF`` (the last flag), ``IV0`` ``IV1`` (input port 0/1 has
a transfer waiting: tested, not taken). The assembler spells the conditional ones ``BEQ`` ...
``BIV1``. The return stack holds 16 entries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["OPS", "MISC", "SHORT_OPS", "CONDS", "CELLS", "LINE_CELLS", "LINES", "DIRECT_BASE",
           "HOT_BASE", "HOT_CELLS", "RING_BASE", "RING_ENTRIES", "RING_FIELDS", "STACK_BASE",
           "HISTORY_BASE", "HISTORY_CELLS", "HISTORY_OPERAND", "X_BITS", "PSQ_BITS",
           "STACK_DEPTH", "ROM_WORDS", "K_BITS", "P_BITS", "Program", "Asm", "Instr",
           "decode_word", "line", "direct", "pointer", "misc_operand", "cycles"]

OPS = {"LD": 0, "ST": 1, "ADD": 2, "SUB": 3, "SUBI": 4, "LDI": 5, "ADDI": 6, "MISC": 7,
       "MAX": 8, "MIN": 9, "CMPI": 12, "STK": 13, "STP": 14, "CMP": 15}
#: operations with a memory operand that read it (into the adder)
READ_OPS = frozenset(["LD", "ADD", "SUB", "CMP", "MAX", "MIN"])
#: operations with a memory operand that write it
STORE_OPS = frozenset(["ST", "STK", "STP"])
MEM_OPS = READ_OPS | STORE_OPS
IMM_OPS = frozenset(["LDI", "ADDI", "SUBI", "CMPI"])
#: the largest immediate (11 bits, unsigned)
IMM_MAX = 2047
#: MISC sub-operations (``SHL`` is 12, 13 and ``SHR`` 14, 15: the shift's low bit)
MISC = {"NOP": 0, "TAX": 1, "TAP": 2, "TAK": 3, "PSQ": 4, "IN": 5, "OUT": 6, "SEND": 7, "RET": 8,
        "ADDX": 9, "ADDP": 10, "SHL": 12, "SHR": 14}
SHIFT_CODES = {"SHL": (12, 13), "SHR": (14, 15)}
CONDS = {name: i for i, name in enumerate(
    ["JMP", "CALL", "EQ", "NE", "LT", "GE", "GT", "LE", "CS", "CC", "DJNZ", "F", "NF", "IV0",
     "IV1"])}
#: short operations: the long operations 0..7
SHORT_OPS = {name: i for name, i in OPS.items() if i < 8}

#: data memory: cells of 32 bits (two 16-bit RAM words each)
CELLS = 4096
LINE_CELLS = 128                 # one delay line
LINES = 6                        # delay lines a program may declare (lines 6, 7: direct cells)
CLEAR_LINE = 6                   # line 6 = the direct cells 0..127 (cleared at a record start)
DIRECT_BASE = 768                # direct cell a is cell DIRECT_BASE + a
DIRECT_CELLS = 256
HOT_BASE = 0                     # direct cells 0..15: short instructions name them
HOT_CELLS = 16
CLEARED_END = 128                # direct cells HOT_BASE .. 127: cleared at a record start
PERSISTENT_BASE = 128            # direct cells 128..239: kept across records
STACK_BASE = 240                 # direct cells 240..255: the return stack
STACK_DEPTH = 16
RING_BASE = 1024                 # ring entry j, field f: cell RING_BASE + 32 j + f
RING_ENTRIES = 32
RING_FIELDS = 32
HISTORY_BASE = 2048              # the history: cell HISTORY_BASE + X
HISTORY_CELLS = 2048
HISTORY_OPERAND = 0x300
#: largest program: 1,024 words of 16 bits (the 10-bit branch targets); every 256 words are
#: one iCE40 block RAM
ROM_WORDS = 1024
#: register widths
K_BITS = 8
P_BITS = 5
X_BITS = 11
#: the shift count field (SHR / SHL by 1..31)
MAX_SHIFT = 31
#: PSQ takes A < 2^PSQ_BITS
PSQ_BITS = 13


def line(number: int, lag: int) -> int:
    """Operand: line ``number`` at ``lag`` (the value ``lag`` positions before ``X``)."""
    if not (0 <= number < 8 and 0 <= lag < LINE_CELLS):
        raise ValueError(f"line operand out of range: line {number}, lag {lag}")
    return 0x400 | (number << 7) | lag


def direct(address: int) -> int:
    """Operand: direct cell ``address`` (0..255)."""
    if not 0 <= address < DIRECT_CELLS:
        raise ValueError(f"direct cell {address} out of range 0..{DIRECT_CELLS - 1}")
    return address


def pointer(field: int) -> int:
    """Operand: field ``field`` (0..31) of ring entry ``P``."""
    if not 0 <= field < RING_FIELDS:
        raise ValueError(f"ring field {field} out of range 0..{RING_FIELDS - 1}")
    return 0x200 | field


def _sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def operand_cell(operand: int, x: int, p: int) -> int:
    """The cell an 11-bit memory operand names with ``X = x`` and ``P = p``."""
    if operand & 0x400:
        return ((operand >> 7) & 7) * LINE_CELLS + ((x - operand) & 0x7F)
    if operand & 0x300 == 0x300:
        return HISTORY_BASE + x % HISTORY_CELLS
    if operand & 0x200:
        return RING_BASE + RING_FIELDS * (p & 0x1F) + (operand & 0x1F)
    return DIRECT_BASE + (operand & 0xFF)


def cycles(op: str, arg: int = 0, *, taken: bool = False, a: int = 0) -> int:
    """Cycles of one instruction (no wait on a port): ``taken`` for MAX / MIN (A takes M),
    ``a`` the accumulator for PSQ."""
    if op in ("LD", "ADD", "SUB", "CMP"):
        return 3
    if op in ("MAX", "MIN"):
        return 5 if taken else 3
    if op in STORE_OPS or op in IMM_OPS or op in ("IN", "SEND", "RET", "BCALL"):
        return 2
    if op in ("SHR", "SHL"):
        return 2 * arg
    if op == "PSQ":
        return max(1, 2 * (a.bit_length() - 1)) if a > 0 else 1
    return 1


@dataclass(frozen=True)
class Instr:
    """One decoded instruction: ``op`` is the long mnemonic (memory, immediate or MISC
    operation, or ``B<cond>`` for a branch); ``arg`` the memory operand, the immediate (signed),
    the MISC argument (signed for ADDX/ADDP) or the branch target (a word address)."""
    op: str
    arg: int = 0

    def __str__(self):
        if self.op in MEM_OPS:
            return f"{self.op} {operand_text(self.arg)}"
        return f"{self.op} {self.arg}"


def operand_text(operand: int) -> str:
    if operand & 0x400:
        return f"L{(operand >> 7) & 7}[{operand & 0x7F}]"
    if operand & 0x300 == 0x300:
        return "H[X]"
    if operand & 0x200:
        return f"[P.{operand & 0x1F}]"
    return f"[{operand & 0xFF}]"


_OP_NAMES = {v: k for k, v in OPS.items()}
_MISC_NAMES = {v: k for k, v in MISC.items()}
_COND_NAMES = {v: k for k, v in CONDS.items()}
_SHORT_NAMES = {v: k for k, v in SHORT_OPS.items()}


def misc_operand(sub: str, k: int = 0) -> int:
    """The 11-bit operand of MISC ``sub`` with its argument ``k`` (the shift, the step, the port):
    argument bits 10..4, sub-operation bits 3..0."""
    if sub in SHIFT_CODES:
        if not 1 <= k <= MAX_SHIFT:
            raise ValueError(f"{sub} {k}: shift by 1..{MAX_SHIFT}")
        return (((k - 1) >> 1) << 4) | SHIFT_CODES[sub][(k - 1) & 1]
    if sub in ("ADDX", "ADDP"):
        if not -63 <= k <= 64:
            raise ValueError(f"{sub} {k}: -63..64")
        return (((k - 1) & 0x7F) << 4) | MISC[sub]
    if not 0 <= k < 128:
        raise ValueError(f"{sub} {k}: 0..127")
    return (k << 4) | MISC[sub]


def _decode_misc(operand: int) -> Instr:
    code, arg = operand & 0xF, (operand >> 4) & 0x7F
    for sub, codes in SHIFT_CODES.items():
        if code in codes:
            return Instr(sub, 2 * arg + (code & 1) + 1)
    sub = _MISC_NAMES.get(code)
    if sub is None:
        raise ValueError(f"MISC operand {operand:#05x}: unknown sub-operation")
    if sub in ("ADDX", "ADDP"):
        return Instr(sub, _sext(arg, 7) + 1)
    return Instr(sub, arg)


def _decode_short(s: int) -> Instr:
    op, operand = _SHORT_NAMES[(s >> 4) & 7], s & 0xF
    if op == "MISC":
        return _decode_misc(operand)
    return Instr(op, operand)                           # hot cell r, or the immediate r


def decode_word(word: int) -> list:
    """The one or two :class:`Instr` of an instruction word."""
    word &= 0xFFFF
    if not word & 0x8000:
        op = _OP_NAMES.get((word >> 11) & 0xF)
        if op is None:
            raise ValueError(f"instruction word {word:#06x}: unknown operation")
        if op == "MISC":
            return [_decode_misc(word & 0x7FF)]
        return [Instr(op, word & 0x7FF)]
    if not word & 0x4000:
        cond = _COND_NAMES.get((word >> 10) & 0xF)
        if cond is None:
            raise ValueError(f"instruction word {word:#06x}: unknown condition")
        return [Instr("B" + cond, word & 0x3FF)]
    return [_decode_short((word >> 7) & 0x7F), _decode_short(word & 0x7F)]


@dataclass
class Program:
    """An assembled program: ROM words, symbol tables and the I/O description.

    ``cells``: name -> direct cell address; ``lines``: name -> line number; ``labels``: name ->
    ROM word address; ``out_fields``: the output fields ``[(name, width)]`` in ``OUT`` order;
    ``in_ports``: input ports ``[(name, data width)]``; ``out_streams``: output streams
    ``[(name, [field names])]`` in ``SEND`` order (each carries ``A`` as ``value`` and those
    fields); ``instructions``: the number of instructions
    (a pair word holds two)."""
    name: str
    words: list
    labels: dict
    cells: dict
    lines: dict
    out_fields: list
    in_ports: list
    out_streams: list
    instructions: int = 0
    comments: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.words)

    def listing(self) -> str:
        """The program as text: address, word, instruction(s), labels and comments."""
        at = {}
        for k, v in self.labels.items():
            at.setdefault(v, []).append(k)
        out = []
        for pc, w in enumerate(self.words):
            for lab in at.get(pc, []):
                out.append(f"{lab}:")
            c = self.comments.get(pc, "")
            text = " ; ".join(str(i) for i in decode_word(w))
            out.append(f"  {pc:4d}  {w:04x}  {text:<28s}{('; ' + c) if c else ''}")
        return "\n".join(out)


class Asm:
    """A tiny assembler: one method per mnemonic (``LD``, ``BEQ``, ``SHR``, ...), symbolic labels,
    named cells and lines; :meth:`assemble` allocates the cells (the 16 most used by short-capable
    instructions become the hot cells), chooses the short form wherever it exists and packs
    consecutive short instructions in pairs.

    Memory operands are a cell name (``"spk"``, allocated by :meth:`var`), a line operand from
    :meth:`at` (``a.at("m", 60)``), a ring field from :meth:`slot`, or :meth:`scalars` (the
    cleared scalar cells through ``X``, for the clearing loop). Immediates may be callables
    evaluated at assembly. Branch targets are label names.
    """

    def __init__(self, name: str):
        self.name = name
        self._code = []                 # [kind, op, payload]
        self._labels = {}               # label -> instruction index
        self._vars = []                 # [(name, size, persistent)]
        self._lines = {}
        self._rings = {}                # name -> (first field, fields)
        self._comments = {}
        self.out_fields = []
        self.in_ports = []
        self.out_streams = []
        self._cells = None

    # --- symbols ---------------------------------------------------------------------------
    def var(self, *names, size=1, persistent=False):
        """Declare direct cells (``size`` consecutive cells each; the first is the name).
        ``persistent`` cells keep their value when a record start clears the others."""
        known = {n for n, _, _ in self._vars}
        for name in names:
            if name in known:
                raise ValueError(f"cell {name!r} declared twice")
            self._vars.append((name, size, persistent))
            known.add(name)
        return self

    def new_line(self, name: str):
        if len(self._lines) >= LINES:
            raise ValueError(f"out of delay lines (a program has {LINES})")
        self._lines[name] = len(self._lines)
        return self

    def at(self, line_name: str, lag: int):
        return ("line", self._lines[line_name], lag)

    def history(self):
        """The history cell at ``X`` (cell ``2048 + X``)."""
        return ("raw", HISTORY_OPERAND)

    def scalars(self, lag: int = 0):
        """Line operand over the cleared scalar cells (direct 0..127), for a loop over ``X``."""
        return ("line", CLEAR_LINE, lag)

    def ring(self, name: str, fields: int):
        """Reserve ``fields`` fields of the 32 ring entries for the table ``name``: entry ``j``,
        field ``f`` is :meth:`slot` ``(name, f)`` with ``P = j``; ``ADDP 1`` steps to the next
        entry (``P`` wraps after 32)."""
        first = sum(n for _, n in self._rings.values())
        if first + fields > RING_FIELDS:
            raise ValueError(f"ring {name!r}: no room for {fields} more fields")
        self._rings[name] = (first, fields)
        return self

    def slot(self, name: str, field: int = 0):
        first, fields = self._rings[name]
        if not 0 <= field < fields:
            raise ValueError(f"ring {name!r} has no field {field}")
        return ("raw", pointer(first + field))

    def hi(self, name: str):
        """The second cell of a two-cell variable ``name`` (declared with ``size=2``)."""
        return ("cell+", name, 1)

    # --- emitting ---------------------------------------------------------------------------
    def label(self, name: str):
        if name in self._labels:
            raise ValueError(f"label {name!r} defined twice")
        self._labels[name] = len(self._code)
        return self

    def comment(self, text: str):
        """Attach a comment to the next instruction (shown by :meth:`Program.listing`); several
        comments before one instruction are all kept, in order."""
        at = len(self._code)
        self._comments[at] = f"{self._comments[at]}; {text}" if at in self._comments else text
        return self

    def _emit(self, kind, op, payload):
        self._code.append((kind, op, payload))
        return self

    def __getattr__(self, name):
        if name in MEM_OPS:
            return lambda m: self._emit("mem", name, m)
        if name in IMM_OPS:
            return lambda v: self._emit("imm", name, v)
        if name == "SEND":
            return lambda k=0: self._emit("misc", name, k)
        if name in ("JMP", "CALL", "DJNZ"):
            return lambda t: self._emit("br", name, t)
        if name.startswith("B") and name[1:] in CONDS and name[1:] not in ("JMP", "CALL", "DJNZ"):
            return lambda t: self._emit("br", name[1:], t)
        if name in ("SHR", "SHL", "ADDX", "ADDP"):
            def with_arg(k):
                misc_operand(name, k)                         # checks the range
                return self._emit("misc", name, k)
            return with_arg
        if name in ("IN", "OUT"):
            return lambda k: self._emit("misc", name, k)
        if name in MISC:
            return lambda: self._emit("misc", name, 0)
        raise AttributeError(name)

    # --- macros -----------------------------------------------------------------------------
    def LDK(self, value: int):
        """A = value for any non-negative 32-bit constant: ``LDI`` of its top bits, then per
        further 10-bit chunk ``SHL``, ``ADDI`` (the chunk; skipped when 0)."""
        value = int(value)
        if 0 <= value <= IMM_MAX:
            return self.LDI(value)
        if not 0 <= value < 1 << 32:
            raise ValueError(f"LDK of {value}: a non-negative 32-bit constant")
        chunks = []
        while value > IMM_MAX:
            chunks.append(value & 1023)
            value >>= 10
        self.LDI(value)
        shift = 0
        for chunk in reversed(chunks):
            shift += 10
            if chunk:
                self.SHL(shift)
                self.ADDI(chunk)
                shift = 0
        if shift:
            self.SHL(shift)
        return self

    # --- assembly ---------------------------------------------------------------------------
    def _words(self, short_ok, starts) -> int:
        """Words of the program when instruction ``i`` has a short form iff ``short_ok[i]``."""
        words, i, n = 0, 0, len(self._code)
        while i < n:
            words += 1
            if (short_ok[i] and i + 1 < n and short_ok[i + 1] and i + 1 not in starts
                    and self._code[i][1] != "RET"):
                i += 2
            else:
                i += 1
        return words

    def _hot_cells(self) -> list:
        """The hot cells: the most used by short-capable instructions, then improved by swaps
        while the program gets shorter (the pairs depend on the neighbours)."""
        uses = Counter()
        for kind, op, m in self._code:
            if kind == "mem" and op in SHORT_OPS and isinstance(m, str):
                uses[m] += 1
        single = {n for n, s, p in self._vars if s == 1 and not p}
        ranked = [n for n, _ in uses.most_common() if n in single]
        hot = ranked[:HOT_CELLS]
        starts = set(self._labels.values())
        fixed = []                                  # short form regardless of the hot cells
        for kind, op, m in self._code:
            if kind == "mem":
                fixed.append(False)
            else:
                fixed.append(self._short(kind, op, m) is not None)

        def words(hot_set):
            ok = [f or (kind == "mem" and op in SHORT_OPS and m in hot_set)
                  for f, (kind, op, m) in zip(fixed, self._code)]
            return self._words(ok, starts)

        best = words(set(hot))
        improved = True
        while improved:
            improved = False
            for out in ranked[HOT_CELLS:]:
                for k in range(len(hot)):
                    trial = hot[:k] + [out] + hot[k + 1:]
                    w = words(set(trial))
                    if w < best:
                        best, hot, improved = w, trial, True
                        break
            ranked = hot + [n for n in ranked if n not in hot]
        return hot

    def _allocate(self):
        self._cells = {}
        hot = self._hot_cells()
        cells = {n: HOT_BASE + i for i, n in enumerate(hot)}
        for persistent, c, end in ((False, HOT_BASE + HOT_CELLS, CLEARED_END),
                                   (True, PERSISTENT_BASE, STACK_BASE)):
            for name, size, p in self._vars:
                if name in cells or p != persistent:
                    continue
                cells[name] = c
                c += size
            if c > end:
                base = PERSISTENT_BASE if persistent else HOT_BASE
                kind = "persistent" if persistent else "cleared"
                raise ValueError(f"{self.name}: {c - base} {kind} cells, more than the "
                                 f"{end - base} the memory map has (hw/qrs_isa.py)")
        self._cells = cells

    def _operand(self, m) -> int:
        if isinstance(m, int):
            return m                                          # an encoded operand
        if isinstance(m, str):
            if m not in self._cells:
                raise ValueError(f"{self.name}: no cell named {m!r}")
            return direct(self._cells[m])
        if m[0] == "cell+":
            return direct(self._cells[m[1]] + m[2])
        if m[0] == "line":
            return line(m[1], m[2])
        return m[1]                                           # ("raw", operand)

    @staticmethod
    def _immediate(op, payload):
        """``(op, v)`` with ``v`` the unsigned immediate: ``ADDI`` of a negative value is
        ``SUBI`` of its magnitude."""
        v = int(payload() if callable(payload) else payload)
        if op == "ADDI" and v < 0:
            op, v = "SUBI", -v
        return op, v

    def _short(self, kind, op, payload):
        """The 7-bit short form, or None."""
        if kind == "mem" and op in SHORT_OPS:
            operand = self._operand(payload)
            if HOT_BASE <= operand < HOT_BASE + HOT_CELLS:
                return (SHORT_OPS[op] << 4) | (operand - HOT_BASE)
        elif kind == "imm":
            op, v = self._immediate(op, payload)
            if op in SHORT_OPS and 0 <= v <= 15:
                return (SHORT_OPS[op] << 4) | v
        elif kind == "misc":
            operand = misc_operand(op, payload)
            if operand < 16:                                  # argument 0
                return (SHORT_OPS["MISC"] << 4) | operand
        return None

    def _long(self, kind, op, payload, labels) -> int:
        if kind == "mem":
            return (OPS[op] << 11) | self._operand(payload)
        if kind == "imm":
            op, v = self._immediate(op, payload)
            if not 0 <= v <= IMM_MAX:
                raise ValueError(f"{self.name}: {op} immediate {v} is not in 0 .. {IMM_MAX}")
            return (OPS[op] << 11) | v

        if kind == "misc":
            return (OPS["MISC"] << 11) | misc_operand(op, int(payload))
        target = 0
        if payload is not None:
            if payload not in labels:
                raise ValueError(f"{self.name}: undefined label {payload!r}")
            target = labels[payload]
        return 0x8000 | (CONDS[op] << 10) | target

    def assemble(self) -> Program:
        self._allocate()
        shorts = [self._short(*ins) for ins in self._code]
        starts = set(self._labels.values())
        # pack: instruction i pairs with i + 1 when both are short, i + 1 carries no label and
        # i is not a RET (a RET ends the pair)
        word_of, layout, i, n = {}, [], 0, len(self._code)
        while i < n:
            word_of[i] = len(layout)
            if (shorts[i] is not None and i + 1 < n and shorts[i + 1] is not None
                    and i + 1 not in starts and self._code[i][1] != "RET"):
                word_of[i + 1] = len(layout)
                layout.append((i, i + 1))
                i += 2
            else:
                layout.append((i,))
                i += 1
        word_of[n] = len(layout)
        labels = {k: word_of[v] for k, v in self._labels.items()}
        words = []
        for group in layout:
            if len(group) == 2:
                words.append(0xC000 | (shorts[group[0]] << 7) | shorts[group[1]])
            else:
                words.append(self._long(*self._code[group[0]], labels))
        if len(words) > ROM_WORDS:
            raise ValueError(f"program {self.name!r} has {len(words)} words, more than the "
                             f"{ROM_WORDS}-word ROM")
        comments = {}
        for idx, text in sorted(self._comments.items()):        # two packed instructions: both
            w = word_of.get(idx, len(layout))
            comments[w] = f"{comments[w]}; {text}" if w in comments else text
        return Program(self.name, words, labels, dict(self._cells), dict(self._lines),
                       list(self.out_fields), list(self.in_ports), list(self.out_streams), n,
                       comments)
