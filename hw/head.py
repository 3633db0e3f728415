"""Classification head: argmax over one beat's logits, ties broken by the lowest class index."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .checks import Checked, check_bool, check_int

__all__ = ["Head"]


class Head(Checked, wiring.Component):
    """Argmax of a beat's logits, streamed in class order, bit-exact to ``integer_ref.argmax_lowest``.

    The logits of one beat arrive on ``i`` one per transfer, class 0 first. While scanning, the
    running best is replaced only by a *strictly* greater logit, so ties go to the lowest index.
    After the last logit of a beat the unit emits one ``(cls, logits)`` result on ``o``.

    Buffering: the scan state and the output register are separate, so while a result waits on
    ``o`` the unit keeps accepting the next beat's logits, except the last one, which is held off
    (``i.ready`` low) until the waiting result has been taken (the cycle after its transfer).
    Hence the output payload (``tag`` and ``err`` included) is stable while ``o.valid`` and not
    ``o.ready``, a stream of logits flows at one per cycle without stalls whenever each result is
    taken before the next beat's last logit, and ``i.ready`` is a flip-flop (with ``order``,
    ``beats`` must come from registers: a buffered FIFO, whose output changes only by a read or by
    turning valid; in the cycle after it turns valid ``i.ready`` may still be low) — the ready
    chain of the producer starts at the head's flip-flop, not at the consumer of ``o``.

    Dropped beats (``order=True``): ``beats`` says, in beat order, whether each beat's result
    comes from logits (0) or the beat was dropped upstream (1). The output register is loaded in
    that order: for a 0 by the beat's last logit (which waits for it), for a 1 by an *error
    result* (``err`` = 1, ``cls``, ``logits`` and ``tag`` all 0: a dropped beat has no class),
    as soon as the output register is free. The other logits of the next beat flow into the
    scan state meanwhile (they belong to the next beat with logits, whatever comes before it).

    Parameters
    ----------
    n_classes : int
        Number of logits per beat (at least 1).
    logit_width : int
        Width of the signed logits.
    tag_width : int
        Width of ``tag`` (keyword-only; 0: no tag).
    order : bool
        Add ``beats`` and the ``err`` field (keyword-only).
    rules : list of (int, int)
        ``(from, to)`` of each of the model's RR rules, in order (docs/arithmetic.md 6;
        keyword-only): adds ``hit``; rule ``j`` gives a beat whose class (after the argmax and
        the rules before ``j``) is ``from`` and whose ``hit[j]`` is 1 the class ``to`` (its
        logits stay).

    Members
    -------
    i : ``In(stream.Signature(signed(logit_width)))``
        Logits, one per transfer, ``n_classes`` consecutive transfers per beat, in class order.
    tag : ``In(tag_width)``
        Only with ``tag_width``: a value sampled with the beat's last logit (in the cycle it is
        accepted) and carried in its result (the accelerator's compute cycles).
    hit : ``In(len(rules))``
        Only with ``rules``: sampled with the beat's last logit, like ``tag`` (hw/rr_table.py
        ``hit``: bit ``j``, the beat's RR codes are within rule ``j``'s bounds).
    beats : ``In(stream.Signature(1))``
        Only with ``order``: one transfer per result, in order, taken when the result is loaded
        into the output register: 0 = from the logits, 1 = an error result.
    o : ``Out(stream.Signature(StructLayout({"cls", "logits"[, "tag"][, "err"]})))``
        One transfer per beat: ``cls`` is ``unsigned(max(1, ceil_log2(n_classes)))``, ``logits`` is
        ``ArrayLayout(signed(logit_width), n_classes)`` holding the beat's logits, ``tag`` is
        ``unsigned(tag_width)``, ``err`` 1 bit.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, n_classes, logit_width, *, tag_width=0, order=False, rules=()):
        check_int("Head", "n_classes", n_classes, minimum=1)
        check_int("Head", "logit_width", logit_width, minimum=1)
        check_int("Head", "tag_width", tag_width, minimum=0)
        check_bool("Head", "order", order)
        if not isinstance(rules, (list, tuple)):
            raise TypeError(f"Head rules must be a list of (from, to) pairs of classes, not {rules!r}")
        for rule in rules:
            if not isinstance(rule, (list, tuple)) or len(rule) != 2:
                raise TypeError(f"Head rule must be a (from, to) pair of classes, not {rule!r}")
            for v in rule:
                check_int("Head", "rule class", v, minimum=0, maximum=n_classes - 1)
            if rule[0] == rule[1]:
                raise ValueError(f"Head rule {tuple(rule)}: from and to must be different classes")

    def __init__(self, n_classes, logit_width, *, tag_width=0, order=False, rules=()):
        self._rules = [(int(a), int(b)) for a, b in rules]
        self._n_classes = n_classes
        self._logit_width = logit_width
        self._tag_width = tag_width
        self._order = order
        fields = {
            "cls": unsigned(max(1, ceil_log2(n_classes))),
            "logits": data.ArrayLayout(signed(logit_width), n_classes),
        }
        if tag_width:
            fields["tag"] = unsigned(tag_width)
        if order:
            fields["err"] = unsigned(1)
        members = {
            "i": In(stream.Signature(signed(logit_width))),
            "o": Out(stream.Signature(data.StructLayout(fields))),
        }
        if tag_width:
            members["tag"] = In(tag_width)
        if order:
            members["beats"] = In(stream.Signature(1))
        if self._rules:
            members["hit"] = In(len(self._rules))
        super().__init__(members)

    @property
    def n_classes(self):
        return self._n_classes

    @property
    def logit_width(self):
        return self._logit_width

    @property
    def latency(self):
        """Cycles from the beat's last logit accepted on ``i`` to its result valid on ``o``."""
        return 1

    def elaborate(self, platform):
        m = Module()
        n = self._n_classes
        cls_shape = self.o.payload.cls.shape()

        # Scan state of the beat being received.
        index = Signal(range(n), name="index")                  # class of the next logit
        # the running best logit: with two classes it is the first logit, which ``work`` holds
        best = Signal(signed(self._logit_width), name="best") if n > 2 else None
        best_cls = Signal(cls_shape, name="best_cls")
        work = Signal(data.ArrayLayout(signed(self._logit_width), n), name="work")

        last = Signal()
        free = Signal()                 # the output register can be loaded in this cycle
        from_logits = Signal()          # the next result comes from the logits
        drop = Signal()                 # load an error result in this cycle
        m.d.comb += [last.eq(index == n - 1), free.eq(~self.o.valid | self.o.ready)]
        if self._order:
            m.d.comb += [from_logits.eq(self.beats.valid & ~self.beats.payload),
                         drop.eq(self.beats.valid & self.beats.payload & free)]
        else:
            m.d.comb += from_logits.eq(1)
        # Only the last logit needs the output register; hold it while a result waits. The last
        # logit waits for an empty register (not for one being emptied in this cycle). ``i.ready``
        # is itself a flip-flop, loaded with what ``~last | (~o.valid & from_logits)`` will be in
        # the next cycle (at the end of this method), so the producer's ready chain starts at a
        # flip-flop's output, not behind this unit's LUTs (hw-report's critical path at P = 1).
        ready = Signal(init=int(n > 1 or not self._order), name="ready")
        m.d.comb += self.i.ready.eq(ready)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        x = self.i.payload
        # Class index of this logit after the strict comparison against the running best.
        take = Signal()
        m.d.comb += take.eq((index == 0) | (x > (best if n > 2 else work[0])))
        new_cls = Signal(cls_shape)
        m.d.comb += new_cls.eq(best_cls)
        with m.If(take):
            m.d.comb += new_cls.eq(index)
        out_cls = new_cls
        for j, (c_from, c_to) in enumerate(self._rules):
            ruled = Signal(cls_shape, name="out_cls" if j == 0 else f"out_cls{j}")
            m.d.comb += ruled.eq(out_cls)
            with m.If(self.hit[j] & (out_cls == c_from)):
                m.d.comb += ruled.eq(c_to)
            out_cls = ruled

        with m.If(self.i.valid & self.i.ready):
            for k in range(n - 1):
                with m.If(index == k):
                    m.d.sync += work[k].eq(x)
            with m.If(take):
                m.d.sync += best_cls.eq(index)
                if n > 2:
                    m.d.sync += best.eq(x)
            with m.If(last):
                m.d.sync += [
                    index.eq(0),
                    self.o.valid.eq(1),
                    self.o.payload.cls.eq(out_cls),
                ]
                for k in range(n - 1):
                    m.d.sync += self.o.payload.logits[k].eq(work[k])
                m.d.sync += self.o.payload.logits[n - 1].eq(x)
                if self._tag_width:
                    m.d.sync += self.o.payload.tag.eq(self.tag)
                if self._order:
                    m.d.sync += self.o.payload.err.eq(0)
            with m.Else():
                m.d.sync += index.eq(index + 1)
        if self._order:
            m.d.comb += self.beats.ready.eq(drop | (self.i.valid & self.i.ready & last))
            # an error result: every field 0 but err (a synchronous clear of the output
            # register: free on FPGA flip-flops)
            with m.If(drop):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(0), self.o.payload.err.eq(1)]

        # ---- the next cycle's ``i.ready``: the next index and output valid exactly (as assigned
        # above), ``from_logits`` as now. A buffered FIFO's output only changes by a read or by
        # turning valid, and a read here comes with the last logit (the output register is loaded)
        # or with a dropped beat (loaded too; ``from_logits`` was 0): so the flip-flop equals the
        # combinational rule but in the cycle after ``beats`` turns valid, where it may be low (a
        # last logit then waits one cycle more; the accelerator does not count cycles in which a
        # logit waits, so its cycle figures stay exact).
        taken = self.i.valid & self.i.ready
        last_next = Signal()
        o_valid_next = Signal()
        m.d.comb += [last_next.eq(Mux(taken, Mux(last, n == 1, index == n - 2), last)),
                     o_valid_next.eq((taken & last) | drop | (self.o.valid & ~self.o.ready))]
        m.d.sync += ready.eq(~last_next | (~o_valid_next & from_logits))
        return m
