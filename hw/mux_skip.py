"""The MUX-skip unit: global average pool, per-channel select, bit-shift average, write-back.

Every activation result of the engine passes through this unit on its way into a feature bank
(see :class:`MuxSkip`).
"""

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked, check_int
from .schedule import MODE_DW, MODE_GRP

__all__ = ["MuxSkip"]


class MuxSkip(Checked, wiring.Component):
    """Global average pool, per-channel select and bit-shift average of the MUX-skip blocks.

    What happens to a result on ``i`` depends on the pass's ``mode``:

    - plain passes: it is written as is;
    - depthwise passes of a MUX-skip block (one channel each): written as is, and summed over the
      positions (the GAP numerator). At the end of the pass (``finish``) the unit stores
      ``S[c] = 2 * sum > (2^b - 1) * L`` in its select register (the threshold ``> 0.5 * max`` of
      the GAP, in integers), ``c = sel_base`` and ``L = length``;
    - grouped passes of the block: the depthwise value ``qa`` is read back from the output bank
      (``rd_addr`` / ``rd_data``, one cycle), and ``(qa + qg) >> 1`` is written where
      ``S[sel_base + lane] = 0``; where it is 1 nothing is written (``qa`` stays). The engine asks
      ``all_selected`` before a grouped pass and skips the pass entirely when every lane selects
      the depthwise branch.

    Latency: a result accepted on ``i`` in cycle ``t`` is written (``wr.valid``) in cycle
    ``t + 1`` (:attr:`latency`); ``busy`` is high while a write is pending.

    Parameters
    ----------
    act_bits : int
        Width ``b`` of the activations.
    addr_width : int
        Width of the feature-bank addresses.
    lane_width : int
        Width of the ``lane`` field (0 for one lane).
    n_select : int
        Select bits to hold (the widest MUX-skip block's channels).
    sel_width : int
        Width of ``sel_base`` and ``query_base``.
    length_width : int
        Width of ``length``.
    parallel : int
        Lanes of a pass (``all_selected`` looks at ``parallel`` select bits).
    max_length : int
        Longest depthwise output (sizes the GAP accumulator).

    All are keyword-only.

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"q", "lane", "addr"}), always_ready=True))``
        One activation result per transfer: its value, lane of the pass and bank address.
    wr : ``Out(stream.Signature(StructLayout({"addr", "data"}), always_ready=True))``
        One bank write per transfer (the bank takes one per cycle).
    rd_addr : ``Out(addr_width)``, rd_data : ``In(act_bits)``
        Read port of the output bank (``qa`` of grouped passes; data one cycle after the address).
    mode : ``In(2)``, sel_base : ``In(sel_width)``, length : ``In(length_width)``
        The pass (hw/schedule.py ``MODE_*``), its first select bit and its true output length.
    finish : ``In(1)``
        End of a pass (depthwise passes: latch the select bit).
    query_base : ``In(sel_width)``, all_selected : ``Out(1)``
        Whether the ``parallel`` select bits from ``query_base`` are all set.
    busy : ``Out(1)``
        A write is pending.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    @classmethod
    def check_arguments(cls, *, act_bits, addr_width, lane_width, n_select, sel_width, length_width,
                        parallel, max_length=4096):
        for name, v in (("act_bits", act_bits), ("addr_width", addr_width), ("n_select", n_select),
                        ("sel_width", sel_width), ("length_width", length_width),
                        ("parallel", parallel), ("max_length", max_length)):
            check_int("MuxSkip", name, v, minimum=1)
        check_int("MuxSkip", "lane_width", lane_width, minimum=0)

    def __init__(self, *, act_bits, addr_width, lane_width, n_select, sel_width, length_width,
                 parallel, max_length=4096):
        self._b = act_bits
        self._n = max(n_select, parallel)
        self._p = parallel
        self._max_length = max_length
        self.in_layout = data.StructLayout({"q": unsigned(act_bits), "lane": unsigned(lane_width),
                                            "addr": unsigned(addr_width)})
        self.wr_layout = data.StructLayout({"addr": unsigned(addr_width), "data": unsigned(act_bits)})
        super().__init__({
            "i": In(stream.Signature(self.in_layout, always_ready=True)),
            "wr": Out(stream.Signature(self.wr_layout, always_ready=True)),
            "rd_addr": Out(addr_width),
            "rd_data": In(act_bits),
            "mode": In(2),
            "sel_base": In(sel_width),
            "length": In(length_width),
            "finish": In(1),
            "query_base": In(sel_width),
            "all_selected": Out(1),
            "busy": Out(1),
        })

    @property
    def parallel(self):
        return self._p

    @property
    def latency(self):
        """Cycles from a result accepted on ``i`` to its write on ``wr``."""
        return 1

    def elaborate(self, platform):
        m = Module()
        b, n = self._b, self._n
        q_max = (1 << b) - 1
        sel = Signal(n + self._p)          # padded so bit_select never runs off the end
        gap = Signal(range(q_max * self._max_length + 1))      # the GAP numerator of one channel

        m.d.comb += self.all_selected.eq(sel.bit_select(self.query_base, self._p) == (1 << self._p) - 1)

        # stage 1: register the result, look up the lane's select bit, read qa (grouped passes)
        s1 = Signal(self.in_layout)
        s1_valid = Signal()
        s1_sel = Signal()
        m.d.sync += [s1.eq(self.i.payload), s1_valid.eq(self.i.valid),
                     s1_sel.eq(sel.bit_select(self.sel_base + self.i.payload.lane, 1))]
        m.d.comb += self.rd_addr.eq(self.i.payload.addr)

        with m.If(self.i.valid & (self.mode == MODE_DW)):
            m.d.sync += gap.eq(gap + self.i.payload.q)
        with m.If(self.finish):
            m.d.sync += gap.eq(0)
            with m.If(self.mode == MODE_DW):
                above = (gap << 1) > ((self.length << b) - self.length)
                for c in range(n):
                    with m.If(self.sel_base == c):
                        m.d.sync += sel[c].eq(above)

        # stage 2: write (plain / depthwise value, or the bit-shift average where not selected)
        m.d.comb += self.wr.payload.addr.eq(s1.addr)
        with m.If(self.mode == MODE_GRP):
            m.d.comb += [self.wr.payload.data.eq((self.rd_data + s1.q) >> 1),
                         self.wr.valid.eq(s1_valid & ~s1_sel)]
        with m.Else():
            m.d.comb += [self.wr.payload.data.eq(s1.q), self.wr.valid.eq(s1_valid)]
        m.d.comb += self.busy.eq(s1_valid)
        return m
