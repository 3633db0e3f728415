"""Classification head: argmax over one beat's logits, ties broken by the lowest class index."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .checks import Checked, check_int

__all__ = ["Head"]


class Head(Checked, wiring.Component):
    """Argmax of a beat's logits, streamed in class order, bit-exact to ``integer_ref.argmax_lowest``.

    The logits of one beat arrive on ``i`` one per transfer, class 0 first. While scanning, the
    running best is replaced only by a *strictly* greater logit, so ties go to the lowest index.
    After the last logit of a beat the unit emits one ``(cls, logits)`` result on ``o``.

    Buffering: the scan state and the output register are separate, so while a result waits on
    ``o`` the unit keeps accepting the next beat's logits, except the last one, which is held off
    (``i.ready`` low) until the waiting result is taken. Hence the output payload is stable while
    ``o.valid`` and not ``o.ready``, a stream of logits flows at one per cycle without stalls,
    and ``i.ready`` depends combinationally on ``o.ready``.

    Parameters
    ----------
    n_classes : int
        Number of logits per beat (at least 1).
    logit_width : int
        Width of the signed logits.

    Members
    -------
    i : ``In(stream.Signature(signed(logit_width)))``
        Logits, one per transfer, ``n_classes`` consecutive transfers per beat, in class order.
    o : ``Out(stream.Signature(StructLayout({"cls", "logits"})))``
        One transfer per beat: ``cls`` is ``unsigned(max(1, ceil_log2(n_classes)))``, ``logits`` is
        ``ArrayLayout(signed(logit_width), n_classes)`` holding the beat's logits.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, n_classes, logit_width):
        check_int("Head", "n_classes", n_classes, minimum=1)
        check_int("Head", "logit_width", logit_width, minimum=1)

    def __init__(self, n_classes, logit_width):
        self._n_classes = n_classes
        self._logit_width = logit_width
        o_layout = data.StructLayout({
            "cls": unsigned(max(1, ceil_log2(n_classes))),
            "logits": data.ArrayLayout(signed(logit_width), n_classes),
        })
        super().__init__({
            "i": In(stream.Signature(signed(logit_width))),
            "o": Out(stream.Signature(o_layout)),
        })

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
        best = Signal(signed(self._logit_width), name="best")
        best_cls = Signal(cls_shape, name="best_cls")
        work = Signal(data.ArrayLayout(signed(self._logit_width), n), name="work")

        last = Signal()
        m.d.comb += [
            last.eq(index == n - 1),
            # Only the last logit needs the output register; hold it while a result waits.
            self.i.ready.eq(~last | ~self.o.valid | self.o.ready),
        ]

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        x = self.i.payload
        # Class index of this logit after the strict comparison against the running best.
        take = Signal()
        m.d.comb += take.eq((index == 0) | (x > best))
        new_cls = Signal(cls_shape)
        m.d.comb += new_cls.eq(best_cls)
        with m.If(take):
            m.d.comb += new_cls.eq(index)

        with m.If(self.i.valid & self.i.ready):
            for k in range(n - 1):
                with m.If(index == k):
                    m.d.sync += work[k].eq(x)
            with m.If(take):
                m.d.sync += [best.eq(x), best_cls.eq(index)]
            with m.If(last):
                m.d.sync += [
                    index.eq(0),
                    self.o.valid.eq(1),
                    self.o.payload.cls.eq(new_cls),
                ]
                for k in range(n - 1):
                    m.d.sync += self.o.payload.logits[k].eq(work[k])
                m.d.sync += self.o.payload.logits[n - 1].eq(x)
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m
