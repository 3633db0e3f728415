"""The conv engine's serializer: a position's P lane sums, one per cycle, to the activation unit or out
as logits."""

from amaranth import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .checks import Checked
from .engine_layout import addr_width, bits, check_schedule, lane_width, logit_width, phase_layout
from .params import ID_WORDS
from .schedule import MODE_FINAL

__all__ = ["Serializer"]


class Serializer(Checked, wiring.Component):
    """Hands a position's lane sums on one at a time: activation channels or logits.

    A transfer on ``i`` (taken only when the serializer is empty) is one output position of the
    pass: its ``parallel`` lane sums and its step ``t``. They are held, and the pass's ``lanes``
    sums go out in lane order, one per transfer, on ``act`` (activation passes: channel
    ``act_base + lane``, or ``act_base`` for a polyphase depthwise pass; the tag is the lane and
    the bank address ``out_base + t + lane * out_stride``) or on ``logits`` (the logits pass:
    ``sum + bias``). The bias of the next logit is read from the parameter ROM one cycle ahead
    (``bias_addr``, ``bias_en``, the data on ``bias``; word ``ID_WORDS + class``, hw/params.py), so
    it adds no cycle: ``sel`` is constant during a pass, and while the serializer is empty the
    ROM reads lane 0's bias. With several lanes it reads the next lane's bias only when a logit is
    taken (the read enable, not the address, depends on the handshake: a short path into the RAM).

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (lanes, widths).

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"sums", "t"})))``
        One output position per transfer (``Lanes.o``).
    phase : ``In(phase_layout)``
        The current phase (``mode``, ``lanes``, ``poly``, ``out_stride``).
    out_base, act_base, sel : ``In``
        The pass's output base address, first activation channel and first class / select bit.
    act : ``Out(stream.Signature(StructLayout({"channel", "acc", "tag"})))``
        Sums to activate, one per transfer (``ActivationUnit.i``).
    logits : ``Out(stream.Signature(signed(logit_width)))``
        The logits, one per transfer, in class order.
    bias_addr : ``Out``, bias_en : ``Out(1)``, bias : ``In(signed(logit_width))``
        Synchronous read of the parameter ROM.
    busy : ``Out(1)``
        Sums are held.

    Raises
    ------
    TypeError, ValueError
        For a bad argument (before the component exists: hw/checks.py).
    """

    #: cycles from a position accepted on ``i`` to its first sum on ``act`` or ``logits``
    latency = 1

    @classmethod
    def check_arguments(cls, schedule):
        check_schedule("Serializer", schedule)

    def __init__(self, schedule):
        s = self._s = schedule
        P = s.parallel
        widths = s.field_widths()
        self._aw = aw = addr_width(s)
        self._lane_w = lw = lane_width(s)
        self.logit_width = lw_logit = logit_width(s)
        self.act_layout = data.StructLayout({"channel": unsigned(ceil_log2(len(s.thresholds))),
                                             "acc": signed(s.acc_width),
                                             "tag": unsigned(lw + aw)})
        sums = data.StructLayout({"sums": data.ArrayLayout(signed(s.acc_width), P),
                                  "t": unsigned(widths["length"] + 1)})
        sel_w = widths["sel_base"] + 1
        super().__init__({
            "i": In(stream.Signature(sums)),
            "phase": In(phase_layout(s)),
            "out_base": In(aw + 1),
            "act_base": In(range(len(s.thresholds) + P + 1)),
            "sel": In(sel_w),
            "act": Out(stream.Signature(self.act_layout)),
            "logits": Out(stream.Signature(signed(lw_logit))),
            "bias_addr": Out(bits(ID_WORDS + (1 << sel_w) + P + 1)),
            "bias_en": Out(1),
            "bias": In(signed(lw_logit)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        s, P = self._s, self._s.parallel
        cur = self.phase
        hold = Array(Signal(signed(s.acc_width), name=f"hold{l}") for l in range(P))
        count = Signal(range(P + 1))
        lane_reg = Signal(range(P + 1))
        addr = Signal(self._aw + 1)
        m.d.comb += [self.i.ready.eq(count == 0), self.busy.eq(count != 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [hold[l].eq(self.i.payload.sums[l]) for l in range(P)]
            m.d.sync += [count.eq(cur.lanes), lane_reg.eq(0), addr.eq(self.out_base + self.i.payload.t)]

        is_final = cur.mode == MODE_FINAL
        lane = lane_reg[:self._lane_w]
        m.d.comb += [
            self.act.payload.channel.eq(self.act_base + Mux(cur.poly, 0, lane)),
            self.act.payload.acc.eq(hold[lane]),
            self.act.payload.tag.eq(Cat(lane, addr[:self._aw])),
            self.act.valid.eq((count != 0) & ~is_final),
            self.logits.payload.eq(hold[lane] + self.bias),
            self.logits.valid.eq((count != 0) & is_final),
        ]
        if P > 1:
            m.d.comb += [self.bias_addr.eq(ID_WORDS + self.sel + Mux(count == 0, 0, lane_reg + 1)),
                         self.bias_en.eq((count == 0) | (self.logits.valid & self.logits.ready))]
        else:
            m.d.comb += [self.bias_addr.eq(ID_WORDS + self.sel), self.bias_en.eq(1)]
        with m.If((self.act.valid & self.act.ready) | (self.logits.valid & self.logits.ready)):
            m.d.sync += count.eq(count - 1)
            if P > 1:
                m.d.sync += [lane_reg.eq(lane_reg + 1), addr.eq(addr + cur.out_stride)]
        return m
