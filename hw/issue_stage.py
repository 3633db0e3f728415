"""The conv engine's issue stage: one tap ``(t, c, j)`` of the current pass per cycle."""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .engine_layout import addr_width, check_schedule, phase_layout

__all__ = ["IssueStage"]


class IssueStage(Checked, wiring.Component):
    """Walks the taps of a pass and issues the feature-bank and weight-ROM reads for each.

    From ``start`` on, every cycle that the stage advances issues the next tap ``(t, c, j)``
    (output step ``t``, input channel ``c`` of the pass's group, kernel tap ``j``, ``j`` fastest):
    it reads input position ``pos = stride * t - pad + j`` of channel ``c`` (bank address
    ``in_base + c * lin + pos``; ``in_range`` is low outside ``0 <= pos < lin``, the engine then
    uses 0) and weight row ``w_start + c * k + j``. The reads are synchronous, so their data
    arrive together with the tap's transfer on ``o`` one cycle later (:attr:`latency`). The stage
    advances when ``o`` is empty or taken (``rd_en``: the read ports hold their data otherwise).
    ``issuing`` falls after the last tap of the pass.

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (sizes the counters).

    Members
    -------
    phase : ``In(phase_layout)``
        The current phase descriptor (``lin``, ``cin_g``, ``lout``, ``stride``, ``t_step``).
    start : ``In(1)``
        Load the pass: ``in_base``, ``w_start``, ``k`` and ``pad`` are its values (``k`` must stay
        valid during the pass).
    rd_addr : ``Out(addr_width)``, w_addr : ``Out(range(weights))``, rd_en : ``Out(1)``
        The tap's bank and weight-ROM read addresses and the read enable of both.
    o : ``Out(stream.Signature(StructLayout({"in_range", "first", "last", "t"})))``
        One transfer per tap, with the read data: ``first`` is the pass's first tap of a
        position (``c = j = 0``), ``last`` its last, ``t`` the output position of lane 0.
    issuing : ``Out(1)``
        Taps of the pass remain to be issued.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    #: cycles from a tap issued (addresses out) to its transfer on ``o`` (the synchronous reads)
    latency = 1

    @classmethod
    def check_arguments(cls, schedule):
        check_schedule("IssueStage", schedule)

    def __init__(self, schedule):
        s = self._s = schedule
        self._widths = widths = s.field_widths()
        self._aw = aw = addr_width(s)
        self.tap_layout = data.StructLayout({"in_range": 1, "first": 1, "last": 1,
                                             "t": unsigned(widths["length"] + 1)})
        super().__init__({
            "phase": In(phase_layout(s)),
            "start": In(1),
            "in_base": In(aw + 1),
            "w_start": In(range(max(len(s.weights), 2))),
            "k": In(widths["k"]),
            "pad": In(widths["pad"]),
            "rd_addr": Out(aw),
            "w_addr": Out(range(max(len(s.weights), 2))),
            "rd_en": Out(1),
            "o": Out(stream.Signature(self.tap_layout)),
            "issuing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        widths, aw = self._widths, self._aw
        cur = self.phase
        t = Signal(widths["lout"])
        c = Signal(widths["cin_g"])
        j = Signal(widths["k"])
        pos_t = Signal(signed(max(widths["lin"], widths["pad"]) + 2))
        tpos = Signal(widths["length"] + 1)          # output position of lane 0 at step t
        ch_base = Signal(aw + 1)
        w_row = self.w_addr
        issuing = self.issuing

        pos = Signal(signed(pos_t.shape().width + 1))
        m.d.comb += pos.eq(pos_t + j)
        in_range = Signal()
        m.d.comb += in_range.eq((pos >= 0) & (pos < cur.lin))
        m.d.comb += self.rd_addr.eq(ch_base + pos[:aw + 1])

        first = (c == 0) & (j == 0)
        last_tap = (c == cur.cin_g - 1) & (j == self.k - 1)
        advance = Signal()
        m.d.comb += [advance.eq(~(self.o.valid & ~self.o.ready)), self.rd_en.eq(advance)]

        with m.If(advance):
            m.d.sync += [self.o.valid.eq(issuing), self.o.payload.in_range.eq(in_range),
                         self.o.payload.first.eq(first), self.o.payload.last.eq(last_tap),
                         self.o.payload.t.eq(tpos)]
            with m.If(issuing):
                m.d.sync += w_row.eq(w_row + 1)
                with m.If(j == self.k - 1):
                    m.d.sync += j.eq(0)
                    with m.If(c == cur.cin_g - 1):
                        m.d.sync += [c.eq(0), ch_base.eq(self.in_base), w_row.eq(self.w_start),
                                     t.eq(t + 1), tpos.eq(tpos + cur.t_step),
                                     pos_t.eq(pos_t + cur.stride)]
                        with m.If(t == cur.lout - 1):
                            m.d.sync += issuing.eq(0)
                    with m.Else():
                        m.d.sync += [c.eq(c + 1), ch_base.eq(ch_base + cur.lin)]
                with m.Else():
                    m.d.sync += j.eq(j + 1)

        with m.If(self.start):
            m.d.sync += [t.eq(0), tpos.eq(0), c.eq(0), j.eq(0), pos_t.eq(-self.pad),
                         ch_base.eq(self.in_base), w_row.eq(self.w_start), issuing.eq(1)]
        return m
