"""The conv engine's serializer: a tile's lane sums, one lane per cycle per stream, to the activation
units, or one at a time as logits."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .checks import Checked
from .engine_layout import (Descriptor, Widths, bits, check_schedule, descriptor_layout, logit_width,
                            select_shift)
from .issue_stage import context_layout, needs_select_bits
from .params import ID_WORDS
from .schedule import MODE_FINAL

__all__ = ["Serializer", "result_tag_layout"]


def result_tag_layout(s):
    """What a result carries through the activation unit to the write-back: bank memory and word,
    whether it is written (``valid``), the end of a block (a depthwise channel's select bit is
    due); when needed its select bit, its logical address (debug tap; with one memory per bank
    the word is that address) and the block's select index (not with a shift-register select
    file, hw/engine_layout.py ``select_shift``)."""
    w = Widths(s)
    fields = {"mem": unsigned(max(1, w.m)), "word": unsigned(max(w.word)), "valid": 1, "block_end": 1}
    if needs_select_bits(s):
        fields["selbit"] = 1
    if w.M > 1:                         # with one memory per bank the word is the logical address
        fields["laddr"] = unsigned(w.laddr)
    if not select_shift(s):
        fields["sel"] = unsigned(w.sel)
    return data.StructLayout(fields)


class Serializer(Checked, wiring.Component):
    """Hands a tile's sums on: lane by lane (all streams at once) to the activation units, or one
    at a time, in class order, as logits.

    A transfer on ``i`` is one tile's sums with its context. In an activation phase they leave on
    ``act`` in L transfers (taken only when the serializer is empty), transfer l carrying
    lane l of every stream with its activation index and result tag (:func:`result_tag_layout`:
    where its value goes, computed from the context, the descriptor's per-stream and per-lane
    steps and the memory layout of hw/schedule.py); with one lane per stream (L = 1) they pass
    straight on in the transfer that takes them, with the context the issue stage still holds (no
    register, no cycle). In the logits phase the valid sums leave on
    ``logits`` (``sum + bias``) one per transfer; the bias of the next logit is read from the
    parameter ROM one cycle ahead (``bias_addr``, ``bias_en``, data on ``bias``; word ``ID_WORDS +
    class``, hw/params.py), so it adds no cycle.

    Parameters
    ----------
    schedule : :class:`~ternecg.hw.schedule.Schedule`
        The compiled schedule (geometry, widths).

    Members
    -------
    i : ``In(stream.Signature(StructLayout({"sums"})))``
        One tile per transfer (``Lanes.o``).
    ctx : ``In(context_layout)``
        The tile's bases (``IssueStage.ctx``), read when its sums are taken.
    phase : ``In(descriptor_layout)``
        The current phase.
    act : ``Out(stream.Signature(ArrayLayout(StructLayout({"channel", "acc", "tag"}), R)))``
        Per stream a sum to activate, one lane per transfer.
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

    @property
    def latency(self):
        """Cycles from a tile accepted on ``i`` to its first sums on ``act`` (0: one lane per
        stream, the sums pass straight on; 1: L lanes, held and handed on one per cycle)."""
        return 1 if self.buffers else 0

    @property
    def buffers(self):
        """Whether an activation tile's sums are held in registers (not with one lane per stream,
        where only logits are held)."""
        return self._w.L > 1

    @classmethod
    def check_arguments(cls, schedule):
        check_schedule("Serializer", schedule)

    def __init__(self, schedule):
        s = self._s = schedule
        self._w = w = Widths(s)
        self.logit_width = logit_width(s)
        self.tag_layout = result_tag_layout(s)
        # the activation units' channel width (the sequencer's counter has one more bit)
        chan_w = max(1, (max(1, s.act_channels) - 1).bit_length())
        self.act_layout = data.StructLayout({"channel": unsigned(chan_w), "acc": signed(s.acc_width),
                                             "tag": self.tag_layout})
        sums = data.StructLayout({
            "sums": data.ArrayLayout(data.ArrayLayout(signed(s.acc_width), w.L), w.R)})
        self.ctx_layout = context_layout(s)
        super().__init__({
            "i": In(stream.Signature(sums)),
            "ctx": In(self.ctx_layout),
            "phase": In(descriptor_layout(s)),
            "act": Out(stream.Signature(data.ArrayLayout(self.act_layout, w.R))),
            "logits": Out(stream.Signature(signed(self.logit_width))),
            "bias_addr": Out(bits(ID_WORDS + max(1, s.n_classes))),
            "bias_en": Out(1),
            "bias": In(signed(self.logit_width)),
            "busy": Out(1),
        })

    def _elaborate_one(self):
        """One stream of one lane: the lane's sum goes straight to the activation unit (which
        latches it; the tile's context stays in the issue stage until it is taken); a logit is
        held in one register (``sum + bias`` leaves from it, off the lanes' path)."""
        m = Module()
        s = self._s
        cur = Descriptor(s, self.phase)
        ctx = self.ctx
        is_final = cur.mode == MODE_FINAL
        total = self.i.payload.sums[0][0]
        p = self.act.payload[0]
        held = Signal(signed(s.acc_width))
        m.d.comb += [p.channel.eq(ctx.act), p.acc.eq(total),
                     p.tag.word.eq(ctx.out_row + ctx.t0), p.tag.valid.eq(1), p.tag.block_end.eq(ctx.last),
                     self.act.valid.eq(self.i.valid & ~is_final),
                     self.logits.payload.eq(held + self.bias),
                     self.i.ready.eq(Mux(is_final, ~self.logits.valid | self.logits.ready, self.act.ready)),
                     self.busy.eq(self.logits.valid)]
        if "sel" in self.tag_layout.members:
            m.d.comb += p.tag.sel.eq(ctx.sel)
        with m.If(self.logits.valid & self.logits.ready):
            m.d.sync += self.logits.valid.eq(0)
        with m.If(self.i.valid & self.i.ready & is_final):
            m.d.sync += [held.eq(total), self.logits.valid.eq(1)]
        # the bias of the held logit (word ID_WORDS + class) is read one cycle ahead: the next
        # class's in the cycle a logit is taken (the next logit may be loaded in that cycle)
        n = max(1, s.n_classes)
        cls = Signal(range(n + 1))
        taken = self.logits.valid & self.logits.ready
        m.d.comb += [self.bias_addr.eq(ID_WORDS + Mux(taken, Mux(cls == n - 1, 0, cls + 1), cls)),
                     self.bias_en.eq(1)]
        with m.If(taken):
            m.d.sync += cls.eq(Mux(cls == n - 1, 0, cls + 1))
        return m

    def elaborate(self, platform):
        if self._w.R == 1 and self._w.L == 1:
            return self._elaborate_one()
        m = Module()
        s, w = self._s, self._w
        R, L, M = w.R, w.L, w.M
        cur = Descriptor(s, self.phase)
        hold = Signal.like(self.i.payload.sums)
        ctx = Signal(self.ctx_layout)
        count = Signal(range(max(L, w.out_count) + 1))
        lane = Signal(range(L + 1))
        row = Signal(w.row_out)
        t = Signal(w.t)
        mod = Signal(max(1, w.m))
        laddr = Signal(w.laddr + 1)
        act = Signal(w.act)
        is_final = cur.mode == MODE_FINAL
        final_count = Mux(self.ctx.last_block, cur.final_count_last, cur.final_count)

        # one lane per stream (L = 1): an activation tile's sums go straight on, one per stream, with
        # the tile's context still in the issue stage (no cycle added); only logits are held
        bypass = L == 1
        if bypass:
            m.d.comb += [self.i.ready.eq(Mux(is_final, count == 0, self.act.ready)), self.busy.eq(count != 0)]
            with m.If(self.i.valid & self.i.ready & is_final):
                m.d.sync += [hold.eq(self.i.payload.sums), ctx.eq(self.ctx), count.eq(final_count)]
            src, first, lane_ = self.ctx, 1, 0
            t_, row_, mod_, laddr_, act_ = src.t0, src.out_row, src.out_mod, (src.laddr if M > 1 else 0), src.act
        else:
            m.d.comb += [self.i.ready.eq(count == 0), self.busy.eq(count != 0)]
            with m.If(self.i.valid & self.i.ready):
                c = self.ctx
                m.d.sync += [hold.eq(self.i.payload.sums), ctx.eq(c), lane.eq(0),
                             count.eq(Mux(is_final, final_count, L)),
                             row.eq(c.out_row), t.eq(c.t0), mod.eq(c.out_mod), act.eq(c.act)]
                if M > 1:
                    m.d.sync += laddr.eq(c.laddr)
            src, first, lane_ = ctx, count == 1, lane
            t_, row_, mod_, laddr_, act_ = t, row, mod, laddr, act

        # ---- activation phases: lane `lane` of every stream ---------------------------------------
        partial_t = _partial_tiles(s)
        for r in range(R):
            p = self.act.payload[r]
            tr = Signal(w.t + 1, name=f"t{r}")
            m.d.comb += tr.eq(t_ + cur.s_t[r])
            valid_r = Mux(src.last_block, cur.last_valid[r], L) if L > 1 or R > 1 else 1
            ok = chan_ok = (lane_ < valid_r) if (L > 1 or R > 1) else 1
            if partial_t:
                ok = ok & (tr < cur.lout)
            if bypass:
                acc = self.i.payload.sums[r][0]
            elif L > 1:
                acc = hold[r].as_value().word_select(lane[:max(1, (L - 1).bit_length())], s.acc_width).as_signed()
            else:
                acc = hold[r][0]
            m.d.comb += [
                p.channel.eq(act_),
                p.acc.eq(acc),
                p.tag.word.eq(row_ + cur.s_row_out[r] + (tr >> w.m)),
                p.tag.valid.eq(ok),
                # the block's end even where the last tile's last position lies beyond the map
                # (a depthwise channel's select bit is due), but only for a stream with a channel
                p.tag.block_end.eq(src.last & first & chan_ok),
            ]
            if M > 1:
                m.d.comb += p.tag.laddr.eq(laddr_ + cur.s_laddr[r])
            if "sel" in self.tag_layout.members:
                m.d.comb += p.tag.sel.eq(src.sel + cur.s_sel[r])
            if M > 1:
                m.d.comb += p.tag.mem.eq((mod_ + cur.s_mod_out[r])[:w.m])
            if "selbit" in self.tag_layout.members:
                m.d.comb += p.tag.selbit.eq(src.sel_bits[r].bit_select(lane[:max(1, (L - 1).bit_length())], 1)
                                            if L > 1 else src.sel_bits[r][0])
        if bypass:
            m.d.comb += self.act.valid.eq(self.i.valid & ~is_final)
        else:
            m.d.comb += self.act.valid.eq((count != 0) & ~is_final)

        # ---- the logits phase: sums in class order, one per transfer ---------------------------------
        # the sum of the next logit: flat index k = r * L + l, one counter (no multiplier on the
        # logits' path into the head's comparison: it set the ECP5's clock at every width)
        k = Signal(range(R * L + 1))
        n = max(1, s.n_classes)
        cls = Signal(range(n + 1))
        flat = [hold[r][l] for r in range(R) for l in range(L)]
        logit_sum = Signal(signed(s.acc_width))
        if len(flat) == 1:
            m.d.comb += logit_sum.eq(flat[0])
        else:
            with m.Switch(k):
                for i, v in enumerate(flat):
                    with m.Case(i):
                        m.d.comb += logit_sum.eq(v)
        m.d.comb += [self.logits.payload.eq(logit_sum + self.bias),
                     self.logits.valid.eq((count != 0) & is_final)]
        taken_logit = self.logits.valid & self.logits.ready
        m.d.comb += [self.bias_addr.eq(ID_WORDS + cls + (count != 0)),
                     self.bias_en.eq((count == 0) | taken_logit)]
        with m.If(taken_logit):
            m.d.sync += cls.eq(Mux(cls == n - 1, 0, cls + 1))
            m.d.sync += k.eq(k + 1)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += k.eq(0)

        # ---- stepping -------------------------------------------------------------------------------
        with m.If(taken_logit if bypass else (self.act.valid & self.act.ready) | taken_logit):
            m.d.sync += [count.eq(count - 1), lane.eq(lane + 1), row.eq(row + cur.lane_row),
                         t.eq(t + cur.lane_t), act.eq(act + cur.lane_act)]
            if M > 1:
                m.d.sync += [mod.eq(mod + cur.lane_mod), laddr.eq(laddr + cur.lane_laddr)]
        return m


def _partial_tiles(s):
    """Whether some tile has a position at or beyond its phase's output length."""
    g = s.geometry
    for ph in s.phases:
        if (ph.n_tiles - 1) * ph.t_tile_step + max(ph.stream_t) + (g.lanes - 1) * ph.lane_t_step >= ph.lout:
            return True
    return False
