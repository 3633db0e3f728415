"""RR table: adds a beat's RR-interval terms to its logits, one table lookup per feature, no multiplier."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, MemoryData, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ternecg.golden.spec.modelfile import RR_ENTRY_BITS
from ternecg.golden.spec.rr import FEATURES

from .checks import Checked, check_int
from .params import MIN_DEPTH, ROM_ATTRS

__all__ = ["RRTable"]


class RRTable(Checked, wiring.Component):
    """Adds a beat's RR-interval terms to its logits.

    A model with an RR path (config ``rr_bits``) receives, with every beat, ``F`` RR codes of
    ``b`` bits (:mod:`ternecg.golden.rr`; ``F = 3``, one more for each of the template and
    irregularity codes, configs ``rr_template`` and ``rr_irregular``); logit ``k`` of the beat becomes

        logit[k] + T[k][0][code_0] + ... + T[k][F-1][code_(F-1)]

    exactly as ``integer_ref.rr_sum``. The whole table is one parameter ROM (``rr.table``,
    ``classes x F x 2^b`` signed 16-bit words, entry ``T[k][f][c]`` at ``(k * F + f) * 2^b + c``,
    hw/params.py), so another model's table can be patched into a bitstream like its weights. When
    a beat's codes arrive, its ``classes x F`` entries are read one per cycle and summed per class
    into a shift register of the classes' RR terms (one adder); each logit then takes its class's
    term (a second adder). So the table costs one block-RAM ROM (two on the iCE40 from 257 words)
    instead of one per feature, and the logits still pass one per cycle, one cycle late, once the
    terms are ready: ``classes x F + 2`` cycles after the codes (:attr:`sum_cycles`), which in the
    accelerator arrive while the engine computes the beat, long before its logits.

    Parameters
    ----------
    table : ``(classes, features, 2^b)`` integers
        ``IntModel.rr_table``; entries fit ``RR_ENTRY_BITS`` signed bits.
    logit_width : int
        Width of the signed logits on ``i``.
    rule_bounds : list of lists of int (keyword-only)
        The bounds of the model's RR rules (``rule["max_codes"]`` of each of
        ``IntModel.rr_rules``, one code per feature, docs/arithmetic.md 6): adds :attr:`hit`.

    Members
    -------
    i : ``In(stream.Signature(signed(logit_width)))``
        The engine's logits, one per transfer, ``n_classes`` transfers per beat, in class order.
    rr : ``In(stream.Signature(unsigned(F * b)))``
        One transfer per beat: code ``f`` in bits ``[f*b, (f+1)*b)`` (:attr:`code_layout`). It may arrive any time
        before the beat's first logit (a one-beat buffer: the next beat's codes are accepted with
        the last logit of the current beat); a logit waits for its beat's RR terms,
        :attr:`sum_cycles` after its codes.
    o : ``Out(stream.Signature(signed(out_width)))``
        The logits plus their RR terms, one per transfer, :attr:`latency` cycle after each
        accepted logit, one per cycle without stalls when ``o.ready`` stays high and the terms are
        ready; ``o.payload`` is stable while ``o.valid`` and not ``o.ready``.
    hit : ``Out(len(rule_bounds))``
        Only with ``rule_bounds``: bit ``j`` is 1 while ``o`` holds a logit of a beat whose every
        code ``f`` is at most ``rule_bounds[j][f]`` (registered with ``o.payload``: the head
        samples it with the beat's last logit, hw/head.py ``rules``).

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @staticmethod
    def _rows(table):
        try:
            rows = [list(map(list, cls)) for cls in (table.tolist() if hasattr(table, "tolist") else table)]
        except TypeError:
            raise TypeError(f"RRTable table must be a (classes, features, 2^b) array, "
                            f"not {type(table).__name__}") from None
        ok = (rows and rows[0] and all(len(c) == len(rows[0]) for c in rows)
              and all(len(f) == len(rows[0][0]) for c in rows for f in c))
        n_codes = len(rows[0][0]) if ok else 0
        if not ok or n_codes < 2 or n_codes & (n_codes - 1):
            raise ValueError(f"RRTable needs a (classes, features, 2^b) table with b >= 1, got a "
                             f"table of {len(rows)} classes")
        lim = 1 << (RR_ENTRY_BITS - 1)
        for c in rows:
            for f in c:
                for v in f:
                    check_int("RRTable", "entry", v)
                    if not -lim <= v < lim:
                        raise ValueError(f"RRTable: entries must fit {RR_ENTRY_BITS} signed bits, "
                                         f"not {v}")
        return rows

    @classmethod
    def check_arguments(cls, table, logit_width, *, rule_bounds=()):
        check_int("RRTable", "logit width", logit_width, minimum=1)
        rows = cls._rows(table)
        if not isinstance(rule_bounds, (list, tuple)):
            raise TypeError(f"RRTable rule_bounds must be a list of bound lists, not {rule_bounds!r}")
        features, n_codes = len(rows[0]), len(rows[0][0])
        for max_codes in rule_bounds:
            if not isinstance(max_codes, (list, tuple)) or len(max_codes) != features:
                raise ValueError(f"RRTable rule bounds must be lists of {features} codes, not {max_codes!r}")
            for v in max_codes:
                check_int("RRTable", "rule bound", v, minimum=0, maximum=n_codes - 1)

    @classmethod
    def output_width(cls, table, logit_width):
        """Width of ``o``: a logit plus one table entry per feature, without overflow."""
        features = len(cls._rows(table)[0])
        return max(logit_width, RR_ENTRY_BITS) + features.bit_length()

    def __init__(self, table, logit_width, *, rule_bounds=()):
        rows = self._rows(table)
        self._bounds = [[int(v) for v in max_codes] for max_codes in rule_bounds]
        n_codes = len(rows[0][0])
        self._n = len(rows)
        self._features = len(rows[0])
        self._bits = n_codes.bit_length() - 1
        self._logit_width = logit_width
        self.out_width = self.output_width(table, logit_width)
        #: the packing of ``rr.payload``: code ``f`` (feature ``FEATURES[f]`` of golden/spec/rr.py;
        #: ``code3``, ``code4``: the template / irregularity codes, golden/spec/rr.py
        #: ``feature_names``) in bits ``[f*b, (f+1)*b)``
        self.code_layout = data.StructLayout({(FEATURES[f] if f < len(FEATURES) else f"code{f}"): unsigned(self._bits)
                                              for f in range(self._features)})
        depth = max(MIN_DEPTH, (self._n * self._features) << self._bits)
        self.table = MemoryData(shape=signed(RR_ENTRY_BITS), depth=depth,
                                init=[rows[k][f][c] for k in range(self._n) for f in range(self._features)
                                      for c in range(n_codes)])
        members = {
            "i": In(stream.Signature(signed(logit_width))),
            "rr": In(stream.Signature(unsigned(self._features * self._bits))),
            "o": Out(stream.Signature(signed(self.out_width))),
        }
        if self._bounds:
            members["hit"] = Out(len(self._bounds))
        super().__init__(members)

    def param_roms(self):
        """``{name: MemoryData}``: the table's one ROM (hw/params.py)."""
        return {"rr.table": self.table}

    @property
    def latency(self):
        """Cycles from a logit accepted on ``i`` to its sum valid on ``o``."""
        return 1

    @property
    def sum_cycles(self):
        """Cycles from a beat's codes accepted on ``rr`` to the earliest cycle its first logit can
        be accepted on ``i``: ``classes x F`` reads, the last one's data, then the shift into place."""
        return self._n * self._features + 2

    def elaborate(self, platform):
        m = Module()
        b, n, nf = self._bits, self._n, self._features
        have = Signal()                                 # the current beat's codes are held
        codes = Signal(self.code_layout)
        fields = [codes[name] for name, _ in self.code_layout]

        # ---- the beat's RR terms, one per class, when its codes arrive ---------------------------
        # read r = k * F + f (class k, feature f) is the entry at r * 2^b + code_f
        reads = n * nf
        rd = Signal(range(max(2, reads)))               # the next read
        f = Signal(range(max(2, nf)))                   # its feature
        reading = Signal()                              # reads remain for the held codes
        dv, dfirst, dlast, dfinal = Signal(), Signal(), Signal(), Signal()  # the data read last cycle
        acc = Signal(signed(self.out_width))            # the running sum of a class's entries
        terms = [Signal(signed(self.out_width), name=f"term{k}") for k in range(n)]  # class 0 first
        terms_ready = Signal()                          # every class's term is in ``terms``
        rom = memory.Memory(data=self.table, attrs=ROM_ATTRS)
        m.submodules.rom = rom                          # (not "table": a Verilog keyword)
        port = rom.read_port(domain="sync", transparent_for=())
        m.d.comb += [port.addr.eq(Cat(Array(fields)[f], rd)), port.en.eq(reading)]
        with m.If(reading):
            m.d.sync += [rd.eq(rd + 1), f.eq(Mux(f == nf - 1, 0, f + 1))]
            with m.If(rd == reads - 1):
                m.d.sync += [reading.eq(0), rd.eq(0)]
        m.d.sync += [dv.eq(reading), dfirst.eq(f == 0), dlast.eq(f == nf - 1), dfinal.eq(rd == reads - 1)]
        total = Signal(signed(self.out_width))
        m.d.comb += total.eq(Mux(dfirst, 0, acc) + port.data)
        with m.If(dv):
            m.d.sync += acc.eq(total)
            with m.If(dfinal):
                m.d.sync += terms_ready.eq(1)

        # ---- the logits, each with its class's term ----------------------------------------------
        cls = Signal(range(max(2, n)))                  # class of the next logit
        x1 = Signal(signed(self._logit_width))          # the logit in the output stage
        t1 = Signal(signed(self.out_width))             # its term
        s1 = Signal()                                   # output stage full
        advance = ~s1 | self.o.ready
        take = Signal()
        last = cls == n - 1
        m.d.comb += [
            self.i.ready.eq(have & terms_ready & advance),
            take.eq(self.i.valid & self.i.ready),
            self.rr.ready.eq(~have | (take & last)),
        ]
        # one shift register: a class's term goes in at the end when summed (dv & dlast), the
        # first comes out with each logit (take); never in the same cycle (a beat's logits wait
        # for all its terms; the next beat's reads start after its codes, taken with the last logit)
        with m.If((dv & dlast) | take):
            m.d.sync += [terms[k].eq(terms[k + 1]) for k in range(n - 1)] + [terms[n - 1].eq(total)]
        with m.If(take):
            m.d.sync += [x1.eq(self.i.payload), t1.eq(terms[0]), s1.eq(1), cls.eq(0 if n == 1 else (cls + 1))]
            for j, max_codes in enumerate(self._bounds):
                # only the bounds below the largest code need a comparator
                inside = [fields[k] <= v for k, v in enumerate(max_codes) if v < (1 << b) - 1]
                m.d.sync += self.hit[j].eq(Cat(*inside).all() if inside else 1)
            with m.If(last):
                m.d.sync += [cls.eq(0), have.eq(0), terms_ready.eq(0)]
        with m.Elif(self.o.ready):
            m.d.sync += s1.eq(0)
        with m.If(self.rr.valid & self.rr.ready):
            m.d.sync += [codes.eq(self.rr.payload), have.eq(1), reading.eq(1), rd.eq(0), f.eq(0)]
        m.d.comb += [self.o.valid.eq(s1), self.o.payload.eq(x1 + t1)]
        return m
